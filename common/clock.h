/* The one monotonic clock every process times itself with. */
#ifndef GRAFT_CLOCK_H
#define GRAFT_CLOCK_H

/* Seconds since an arbitrary start (CLOCK_MONOTONIC): for intervals only. Thread-safe. */
double graft_clock_now(void);

#endif

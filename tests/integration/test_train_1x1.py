"""Integration: a real mpirun MPMD job of 1 server(s) x 1 worker(s) on generated data."""
import train_check

train_check.main(1, 1)

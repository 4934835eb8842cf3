"""Waiting for jobs `graft submit` handed to Slurm: what graft scale --submit and graft tune
--submit share (docs/slurm.md, "Waiting for submitted jobs").

A job's batch script writes its exit status to OUT/exit-TAG as its last act (TAG is the job id,
or ARRAYJOB_TASK for a task of a job array), so a job has ended, with that status, when the file
is there. squeue only tells of a job that ended without writing it (cancelled, out of time, its
node lost): such a job is reported, with no status, once squeue has answered without listing it
for GRACE seconds, in case the file is still on its way over a shared file system. An squeue that
fails (a controller busy under load) proves nothing, so it is asked again; one that says it
knows none of the jobs (they ended long enough ago to be forgotten) lists none."""
import os
import subprocess
import sys
import time

GRACE = 30.0


def status_of(folder, tag):
    """The exit status a job's script wrote, or None while it has written none."""
    try:
        with open(os.path.join(folder, "exit-%s" % tag)) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def queued(job_ids):
    """The tags squeue lists for these jobs (array tasks one by one), or None when it failed."""
    q = subprocess.run(["squeue", "-h", "-r", "-j", ",".join(job_ids), "-o", "%i"], capture_output=True, text=True)
    if q.returncode != 0:
        # Jobs the controller has already forgotten (MinJobAge after they ended) are not queued.
        if "Invalid job id" in q.stderr:
            return set(), ""
        return None, q.stderr.strip()
    return set(q.stdout.split()), ""


def wait(job_ids, tags, folder_of, who, poll=2.0, grace=GRACE):
    """Yields (tag, status) for each of tags as its job ends, in the order they end; status is None
    for a job that ended without writing one. folder_of(tag) is the folder of its exit file."""
    pending = list(tags)
    gone_since = {}
    complained = False
    while pending:
        time.sleep(poll)
        for t in list(pending):
            rc = status_of(folder_of(t), t)
            if rc is not None:
                pending.remove(t)
                yield t, rc
        if not pending:
            return
        listed, err = queued(job_ids)
        if listed is None:
            if not complained:
                print("%s: squeue failed (%s); asking again" % (who, err[-200:]), file=sys.stderr, flush=True)
                complained = True
            continue
        complained = False
        now = time.time()
        for t in list(pending):
            if t in listed:
                gone_since.pop(t, None)
            elif now - gone_since.setdefault(t, now) >= grace:
                pending.remove(t)
                yield t, None

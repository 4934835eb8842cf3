"""Integration: how graft scale --submit and graft tune --submit wait for their jobs
(launch/slurmjobs.py), against a scripted squeue on PATH, so that what a real controller does
only under load happens every time: squeue fails for a while (the job has not ended), the
controller has forgotten a job ("Invalid job id"), a job leaves the queue without its status,
and a status file that arrives after squeue stopped listing its job still counts."""
import os
import stat
import sys
import time

import graftest as g

sys.path.insert(0, os.path.join(g.ROOT, "launch"))
import slurmjobs  # noqa: E402

d = g.tmpdir()
fake = os.path.join(d, "bin")
os.mkdir(fake)
# Each call answers with the next line of d/answers (the last one again once they run out) and
# counts itself in d/calls: "fail" (a controller that did not answer), "invalid" (a job it has
# forgotten), "write TAG STATUS" (the job's script writes its status, then nothing is listed), or
# the tags listed.
with open(os.path.join(fake, "squeue"), "w") as f:
    f.write("""#!/bin/bash
d=%s
n=$(( $(cat "$d/calls" 2>/dev/null || echo 0) + 1 )); echo $n > "$d/calls"
total=$(grep -c '' "$d/answers")
line=$(sed -n "$(( n < total ? n : total ))p" "$d/answers")
case "$line" in
  fail) echo "slurm_load_jobs error: Socket timed out on send/recv operation" >&2; exit 1 ;;
  invalid) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1 ;;
  write*) set -- $line; echo "$3" > "$d/exit-$2" ;;
  *) for t in $line; do echo "$t"; done ;;
esac
""" % d)
os.chmod(os.path.join(fake, "squeue"), stat.S_IRWXU)
os.environ["PATH"] = fake + os.pathsep + os.environ["PATH"]


def scenario(answers, tags, written=(), grace=0.6):
    for name in os.listdir(d):
        if name != "bin":
            os.remove(os.path.join(d, name))
    with open(os.path.join(d, "answers"), "w") as f:
        f.write("\n".join(answers) + "\n")
    for tag, rc in written:
        with open(os.path.join(d, "exit-" + tag), "w") as f:
            f.write("%d\n" % rc)
    t0 = time.time()
    got = list(slurmjobs.wait(["7"], tags, lambda _: d, "test", poll=0.05, grace=grace))
    calls = int(open(os.path.join(d, "calls")).read()) if os.path.exists(os.path.join(d, "calls")) else 0
    return got, calls, time.time() - t0


# A task that had ended is reported at once; squeue failing three times ends nothing; the other
# task is reported with the status its script wrote, once it wrote it.
got, calls, _ = scenario(["fail", "fail", "fail", "7_1", "write 7_1 3"], ["7_0", "7_1"], written=[("7_0", 0)])
g.check(got == [("7_0", 0), ("7_1", 3)] and calls == 5,
        "a failing squeue ends no job; each gets the status its script wrote (%r after %d calls)" % (got, calls))

# A job that leaves the queue without writing its status: reported with none, after the grace.
got, calls, secs = scenario(["7", ""], ["7"])
g.check(got == [("7", None)] and secs >= 0.6,
        "a job gone from the queue without a status is reported with none after the grace (%r, %.2f s)" % (got, secs))

# A controller that has forgotten the job lists none of it: the same, not a wait forever.
got, calls, secs = scenario(["invalid"], ["7"])
g.check(got == [("7", None)], "a job squeue no longer knows ('Invalid job id') has ended (%r)" % (got,))

# The status file arriving while squeue already lists nothing (a shared file system's delay).
got, calls, _ = scenario(["", "", "write 7 0"], ["7"], grace=5)
g.check(got == [("7", 0)], "a status written after the job left the queue, within the grace, counts (%r)" % (got,))
g.done()

"""Integration: heartbeats. A server that hangs (SIGSTOP: alive to mpirun, silent to its peers) is
noticed by the workers within the heartbeat deadline, and a hung worker by the servers; either
way the 2x2 job ends with status 3 and a message naming the lost peer, within the deadline plus
a margin, and no process of the job is left (the stopped one included). And an mpirun that hangs
after its ranks exited (Open MPI 4.1's finalize deadlock, here a stand-in that never reaps them)
is ended by the launcher, which reports the ranks' own status."""
import os
import signal
import subprocess
import time

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=2000, items=500, **{"ratings-per-user": 50})
DEADLINE = 4


def ranks(name):
    """Pids of this test's graft-server or graft-worker ranks, in start order."""
    return [pid for pid, cmd in sorted(g._procs_mentioning(d)) if cmd.split()[0].endswith(name)]


for victim, index, says in (("graft-server", 1, "did not answer within %d ms" % (DEADLINE * 1000)),
                            ("graft-worker", 1, "worker 1 has sent no heartbeat")):
    p = subprocess.Popen([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", train, "--test", test,
                          "--dim", "16", "--epochs", "100000", "--heartbeat", "1", "--heartbeat-timeout",
                          str(DEADLINE), "--timeout", "120", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=g.env(), start_new_session=True,
                         text=True)
    for _ in range(100):
        if len(ranks(victim)) == 2 and len(ranks("graft-worker")) == 2:
            break
        time.sleep(0.1)
    time.sleep(1.5)  # training under way
    pids = ranks(victim)
    if len(pids) != 2:
        g.kill_session(p.pid)
        g.fail("could not find the job's %s ranks (%s)" % (victim, pids))
    os.kill(pids[index], signal.SIGSTOP)
    t0 = time.time()
    try:
        out, err = p.communicate(timeout=DEADLINE + 30)
    except subprocess.TimeoutExpired:
        g.kill_session(p.pid)
        out, err = p.communicate()
        g.fail("the job with a stopped %s did not end; its log ends:\n%s" % (victim, err[-3000:]))
    took = time.time() - t0
    g.check(p.returncode == 3, "stopped %s %d: exit status 3 (%d)" % (victim, index, p.returncode))
    g.check(says in err and "GRAFT-PEER-LOST" in err,
            "stopped %s %d: the log names the lost peer (%r)" % (victim, index, err.strip()[-400:]))
    # The margin covers the launcher's watchdog (5 s) should mpirun hang after the ranks ended.
    g.check(took <= DEADLINE + 15, "stopped %s %d: noticed in %.1f s (deadline %d s)" % (victim, index, took, DEADLINE))
    left = []
    for _ in range(50):
        left = g._procs_mentioning(d)
        if not left:
            break
        time.sleep(0.1)
    if left:
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    g.check(not left, "stopped %s %d: no process of the job is left (%s)" % (victim, index, left))

# A stand-in mpirun: two "ranks" exit (0 and 3) and it sleeps without reaping them, as the hung
# mpirun does. The launcher must end it a few seconds later with the lost peer's status 3.
fake = os.path.join(d, "bin")
os.makedirs(fake)
with open(os.path.join(fake, "mpirun"), "w") as f:
    f.write("#!/usr/bin/env python3\nimport os, time\nfor code in (0, 3):\n    if os.fork() == 0:\n"
            "        os._exit(code)\ntime.sleep(120)  # %s\n" % d)
os.chmod(os.path.join(fake, "mpirun"), 0o755)
e = g.env()
e["PATH"] = fake + os.pathsep + e["PATH"]
t0 = time.time()
p = subprocess.run([g.GRAFT, "train", "--train", train, "--epochs", "1"], env=e, capture_output=True, text=True,
                   timeout=60, start_new_session=True)
took = time.time() - t0
g.check(p.returncode == 3 and "finalize hang" in p.stderr and took < 30,
        "an mpirun hung after its ranks exited is stopped in %.1f s with their status (%d, %r)"
        % (took, p.returncode, p.stderr.strip()[-300:]))
left = g._procs_mentioning(d)
for pid, _ in left:
    os.kill(pid, signal.SIGKILL)
g.check(not left, "the hung stand-in is gone (%s)" % left)
e["GRAFT_MPIRUN_GRACE"] = "soon"
p = subprocess.run([g.GRAFT, "train", "--train", train, "--epochs", "1"], env=e, capture_output=True, text=True,
                   timeout=60, start_new_session=True)
g.check(p.returncode == 2 and "GRAFT_MPIRUN_GRACE" in p.stderr and "soon" in p.stderr,
        "a bad GRAFT_MPIRUN_GRACE is exit 2, named (%d, %r)" % (p.returncode, p.stderr.strip()[-200:]))
g.done()

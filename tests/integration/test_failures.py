"""Integration: a server or a worker killed (kill -9) in the middle of a 2x2 job ends the whole
job within seconds, with exit status 3 and a message naming the lost process and its host, and
leaves no process behind."""
import os
import signal
import subprocess
import time

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=2000, items=500, **{"ratings-per-user": 60})


def pids(name):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and os.path.basename(cmd[0].decode(errors="replace")) == name and d.encode() in b" ".join(cmd):
            out.append(int(pid))
    return sorted(out)


for victim, index in (("graft-server", 1), ("graft-worker", 1)):
    m = os.path.join(d, "run-%s.jsonl" % victim)
    p = subprocess.Popen([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", train, "--test", test,
                          "--dim", "16", "--epochs", "1000", "--metrics", m], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=g.env(), start_new_session=True, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and (not os.path.exists(m) or open(m).read().count("epoch") < 2):
        time.sleep(0.2)
    procs = pids(victim)
    g.check(len(procs) == 2, "%s: two of them running after two epochs" % victim)
    killed = time.time()
    os.kill(procs[index], signal.SIGKILL)
    try:
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        g.fail("%s killed: the job did not end within 60 s" % victim)
    took = time.time() - killed
    role = victim.split("-")[1]
    g.check(p.returncode == 3, "%s killed: exit status 3 (got %d)" % (victim, p.returncode))
    g.check("graft: lost %s" % role in err and "exited on signal 9" in err and "on host" in err,
            "%s killed: the message names the lost %s and its host (%r)" % (victim, role, err.strip()[-300:]))
    g.check(took < 30, "%s killed: the job ended %.1f s later (bound 30 s)" % (victim, took))
    time.sleep(0.5)
    g.check(not pids("graft-server") and not pids("graft-worker"), "%s killed: no process left" % victim)
# A signal to the launcher (Ctrl-C, a batch system's TERM) stops the whole job.
p = subprocess.Popen([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", train, "--dim", "16",
                      "--epochs", "1000", "--metrics", os.path.join(d, "term.jsonl")], stdout=subprocess.PIPE,
                     stderr=subprocess.PIPE, env=g.env(), start_new_session=True, text=True)
deadline = time.time() + 120
while time.time() < deadline and len(pids("graft-worker")) < 2:
    time.sleep(0.2)
time.sleep(1)
p.send_signal(signal.SIGTERM)
try:
    p.communicate(timeout=60)
    g.check(p.returncode != 0, "TERM to the launcher: non-zero exit (%d)" % p.returncode)
except subprocess.TimeoutExpired:
    os.killpg(p.pid, signal.SIGKILL)
    p.communicate()
    g.check(False, "TERM to the launcher: the job did not stop within 60 s")
time.sleep(1)
g.check(not pids("graft-server") and not pids("graft-worker"), "TERM to the launcher: no process left")
g.done()

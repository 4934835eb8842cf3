"""Integration: a real one-node Slurm cluster (Debian's slurmctld, slurmd and munge, started
directly, with their state under a temporary folder). `graft submit` runs a job through the
mpirun template and through the srun --multi-prog template; each finishes within a bounded time
with its output and metrics next to it; `graft scale --submit` runs two sizes as two jobs and
writes its CSV; `graft tune --submit` runs its trials as one job array. Only the daemons this test started are stopped, by their pid files; a munged
that was already running is reused, and a second run on the same machine works the same way."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

import graftest as g

NEED = ["slurmctld", "slurmd", "munged", "sbatch", "squeue", "sinfo", "srun"]
missing = [b for b in NEED if not shutil.which(b) and not os.path.exists("/usr/sbin/" + b)]
if missing or os.geteuid() != 0:
    print("SKIP: needs root and Slurm's and munge's programs (missing: %s); launch/setup installs them"
          % ", ".join(missing))
    raise SystemExit(77)

d = g.tmpdir()
os.chmod(d, 0o755)
# The daemons' folder is not the jobs' one: g.run insists that nothing mentioning d outlives a
# command, and the daemons name their configuration on their command line.
sd = tempfile.mkdtemp(prefix="graft-slurm-")
host = socket.gethostname().split(".")[0]
started = []  # pid files of the daemons this test started


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def pid_alive(path):
    try:
        pid = int(open(path).read().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return 0


def stop_started():
    for path in started:
        pid = pid_alive(path)
        if pid:
            os.kill(pid, 15)
            for _ in range(100):
                if not pid_alive(path):
                    break
                time.sleep(0.1)


def wait_for(cond, seconds, what):
    end = time.time() + seconds
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.3)
    g.fail("timed out after %d s waiting for %s" % (seconds, what))


try:
    # munge: reuse a running munged (its socket answers), else start one as the munge user.
    if subprocess.call("munge -n | unmunge", shell=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) != 0:
        os.makedirs("/run/munge", exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.check_call(["runuser", "-u", "munge", "--", "/usr/sbin/munged"])
        started.append("/run/munge/munged.pid")
        wait_for(lambda: subprocess.call("munge -n | unmunge", shell=True, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL) == 0, 20, "munged")
    conf = os.path.join(sd, "slurm.conf")
    for sub in ("state", "spool"):
        os.mkdir(os.path.join(sd, sub))
    with open(conf, "w") as f:
        f.write("""ClusterName=grafttest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={cport}
SlurmdPort={dport}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
NodeName={host} NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""".format(host=host, d=sd, cport=free_port(), dport=free_port()))
    # slurmd 22.05 loads a cgroup plugin whatever the task plugin; v1 needs no mounted hierarchy.
    with open(os.path.join(sd, "cgroup.conf"), "w") as f:
        f.write("CgroupPlugin=cgroup/v1\n")
    os.environ["SLURM_CONF"] = conf
    subprocess.check_call(["slurmctld", "-f", conf])
    started.append(os.path.join(sd, "slurmctld.pid"))
    subprocess.check_call(["slurmd", "-f", conf, "-N", host])
    started.append(os.path.join(sd, "slurmd.pid"))
    wait_for(lambda: "idle" in subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True,
                                              text=True).stdout, 60, "the node to be idle")

    train, test, _ = g.gen(d, users=600, items=200, **{"ratings-per-user": 30})
    opts = ["--train", train, "--test", test, "--dim", "8", "--epochs", "3", "--validation-fraction", "0"]

    def finished(folder, tag):
        # The batch script's last act writes its exit status (launch/slurmjobs.py waits the same way).
        return os.path.exists(os.path.join(folder, "exit-" + tag))

    def status(folder, tag):
        return open(os.path.join(folder, "exit-" + tag)).read().strip()

    for launcher in ("mpirun", "srun"):
        out = os.path.join(d, "jobs-" + launcher)
        rc, o, e, _ = g.run([g.GRAFT, "submit", "--launcher", launcher, "--servers", "1", "--workers", "2",
                             "--out", out, "--sbatch", "--time=5"] + opts, d)
        job = o.strip()
        g.check(rc == 0 and job.isdigit(), "graft submit (%s) prints the job id (%r %r)" % (launcher, o, e[-300:]))
        if not job.isdigit():
            continue
        t0 = time.time()
        wait_for(lambda: finished(out, job), 120, "job %s" % job)
        g.check(status(out, job) == "0", "%s job %s: its exit status, 0, next to its metrics" % (launcher, job))
        log = open(os.path.join(out, "slurm-%s.out" % job)).read()
        metrics = g.metrics(os.path.join(out, "metrics-%s.jsonl" % job))
        summ = metrics[-1]
        g.check("summary: test_rmse" in log and "\x1b" not in log,
                "%s job %s: the log next to the output has the summary and no control characters" % (launcher, job))
        g.check(summ["event"] == "summary" and summ["servers"] == 1 and summ["workers"] == 2
                and summ["test_rmse"] < 1.0 and len(metrics) == 4,
                "%s job %s: metrics next to the output, 3 epochs and a summary of 1x2 (RMSE %.3f, %.0f s)"
                % (launcher, job, summ.get("test_rmse", 9), time.time() - t0))

    # mpirun that outlives its ranks (Open MPI 4.1's finalize hang), here a stand-in on PATH whose
    # two "ranks" exit 0 and 3 unreaped: the template's watchdog ends it with their status, so the
    # job ends in seconds instead of at its time limit.
    fake = os.path.join(d, "bin")
    os.mkdir(fake)
    with open(os.path.join(fake, "mpirun"), "w") as f:
        f.write("#!/usr/bin/env python3\nimport os, time\nfor code in (0, 3):\n    if os.fork() == 0:\n"
                "        os._exit(code)\ntime.sleep(120)\n")
    os.chmod(os.path.join(fake, "mpirun"), 0o755)
    hungdir = os.path.join(d, "jobs-hung")
    saved = dict(os.environ)
    os.environ.update(PATH=fake + os.pathsep + os.environ["PATH"], GRAFT_MPIRUN_GRACE="2")
    try:
        rc, o, e, _ = g.run([g.GRAFT, "submit", "--out", hungdir, "--sbatch", "--time=5"] + opts, d)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    job = o.strip()
    if job.isdigit():
        t0 = time.time()
        wait_for(lambda: finished(hungdir, job), 60, "the hung job %s" % job)
        log = open(os.path.join(hungdir, "slurm-%s.out" % job)).read()
        g.check(status(hungdir, job) == "3" and "finalize hang" in log and time.time() - t0 < 40,
                "a job whose mpirun hangs after its ranks ended is stopped with their status 3 in %.0f s (%r)"
                % (time.time() - t0, log[-300:]))
    else:
        g.check(False, "graft submit of the hung job prints its id (%r %r)" % (o, e[-300:]))

    # An array job: each task's options from its line, its log, metrics and exit status by task;
    # a task that fails (--dim 0 is bad input) leaves its own status and error, not its sibling's.
    arrdir = os.path.join(d, "array")
    os.mkdir(arrdir)
    tasks = os.path.join(arrdir, "tasks.txt")
    with open(tasks, "w") as f:
        f.write("--dim 4\n--dim 0\n")
    rc, o, e, _ = g.run([g.GRAFT, "submit", "--out", arrdir, "--array", tasks, "--sbatch", "--time=5"]
                        + [a for a in opts if a not in ("--dim", "8")], d)
    job = o.strip()
    g.check(rc == 0 and job.isdigit(), "graft submit --array prints the job id (%r %r)" % (o, e[-300:]))
    if job.isdigit():
        wait_for(lambda: finished(arrdir, job + "_0") and finished(arrdir, job + "_1"), 120, "array job %s" % job)
        bad = open(os.path.join(arrdir, "slurm-%s_1.out" % job)).read()
        good = g.metrics(os.path.join(arrdir, "metrics-%s_0.jsonl" % job))
        g.check(status(arrdir, job + "_0") == "0" and good[-1].get("event") == "summary"
                and status(arrdir, job + "_1") == "2" and "--dim" in bad,
                "array job %s: task 0 exit 0 with its summary, task 1 exit 2 with its error in slurm-%s_1.out (%r)"
                % (job, job, bad[-300:]))

    scale = os.path.join(d, "scale")
    rc, o, e, _ = g.run([g.GRAFT, "scale", "--submit", "--workers", "1,2", "--out", scale, "--sbatch", "--time=5",
                         "--plane", "block"] + opts, d, timeout=200)
    rows = open(os.path.join(scale, "scale.csv")).read().splitlines() if rc == 0 else []
    g.check(rc == 0 and len(rows) == 3 and rows[0].startswith("workers,servers,updates_per_s"),
            "graft scale --submit: two jobs, one CSV row each (%r %r)" % (rows, e[-300:]))

    # graft tune --submit: the trials as one job array, a task per trial, its metrics by task.
    tune = os.path.join(d, "tune")
    rc, o, e, _ = g.run([g.GRAFT, "tune", "--submit", "--sbatch", "--time=5", "--out", tune, "--train", train,
                         "--dim", "4,8", "--epochs", "3"], d, timeout=200)
    arr = [ln.split("job array ")[1].split()[0] for ln in o.splitlines() if "as job array " in ln]
    trials = open(os.path.join(tune, "trials.csv")).read().splitlines() if rc == 0 else []
    g.check(rc == 0 and len(arr) == 1 and len(trials) == 3
            and all(os.path.exists(os.path.join(tune, "slurm", "metrics-%s_%d.jsonl" % (arr[0], i))) for i in (0, 1))
            and os.path.exists(os.path.join(tune, "best.conf")),
            "graft tune --submit: one job array of two tasks, a trials.csv row and metrics each, best.conf "
            "(%r %r)" % (o[-300:], e[-300:]))
finally:
    stop_started()
    left = [p for p in started if pid_alive(p)]
    g.check(not left, "every daemon this test started is stopped (%s)" % left)
    if not left:
        shutil.rmtree(sd, ignore_errors=True)
g.done()

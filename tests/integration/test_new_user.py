"""Integration: what a new user hit (issue 11), each checked against the real launcher: --help of
every command without side effects, both forms of boolean flags, --trace-dir created,
--print-config without a job, --dry-run's -q, the summary's train_rmse and no 'nan' without a
test file, a FIFO and a header-only file refused by name (exit 2), one copy of each error line,
duplicated (user, item) pairs counted and handled, --resume refusing other data, lines reaching
the log as they happen, and no socket left by a failed or killed job."""
import glob
import json
import os
import select
import signal
import subprocess
import time

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=300, items=100, **{"ratings-per-user": 30})


def snapshot(root):
    found = set()
    for base, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if x != ".git"]
        for f in files + dirs:
            p = os.path.join(base, f)
            try:
                found.add((p, os.stat(p).st_mtime_ns))
            except OSError:
                pass
    return found


# 1. Every command answers --help with exit 0 and changes nothing, in the checkout or here.
commands = ["train", "gen", "split", "prep", "compare", "domains", "export", "recommend", "eval",
            "plot", "scale", "bench", "submit", "demo", "check", "setup"]
here = os.path.join(d, "help-cwd")
os.makedirs(here)
before = snapshot(g.ROOT)
for cmd in commands:
    p = subprocess.run([g.GRAFT, cmd, "--help"], cwd=here, env=g.env(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    g.check(p.returncode == 0 and "usage" in (p.stdout + p.stderr).lower(),
            "graft %s --help: usage, exit 0 (%d)" % (cmd, p.returncode))
after = snapshot(g.ROOT)
g.check(before == after and os.listdir(here) == [],
        "no --help wrote or touched a file (%s)" % sorted(p for p, _ in after ^ before)[:5])

# eval's help shows one default per option, and a bad -k says what is wrong with it.
p = subprocess.run([g.GRAFT, "eval", "--help"], env=g.env(), stdout=subprocess.PIPE, text=True)
g.check("[default: all] [default:" not in p.stdout and "-1e300" not in p.stdout,
        "graft eval --help: one default for --min-rating, in words")
rc, out, err, _ = g.run([g.GRAFT, "eval", "--model", d, "--test", train, "-k", "0"], d)
g.check(rc == 2 and "'0' is outside 1..100000" in err, "eval -k 0 says what is wrong (%r)" % err.strip())

# 2. Boolean flags: --flag no and --flag=no alike; --trace-dir is created.
trace = os.path.join(d, "new", "trace")
m = os.path.join(d, "bool.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--epochs", "2", "--dim", "4",
                         "--transfer-gate", "no", "--prefetch", "yes", "--trace-dir", trace,
                         "--metrics", m], d)
g.check(rc == 0, "--transfer-gate no and --prefetch yes are taken (%d: %s)" % (rc, err[-300:]))
g.check(os.path.isdir(trace), "--trace-dir is created like --save")
s = g.metrics(m)[-1] if rc == 0 else {}
g.check(isinstance(s.get("train_rmse"), float) and s["train_rmse"] > 0,
        "the summary's train_rmse is the last epoch's (%r)" % s.get("train_rmse"))
g.check("nan" not in out and "test_rmse" not in out.split("summary:")[-1],
        "no 'test_rmse nan' in the text summary without --test")

# 3. --print-config prints and exits before any process is started or file read.
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", "/nonexistent/x.csv", "--servers", "2",
                         "--print-config"], d)
g.check(rc == 0 and "train" in out and "/nonexistent/x.csv" in out and "GRAFT-SERVER-READY" not in err,
        "--print-config starts no job and reads no data (%d)" % rc)

# 4. --dry-run prints the mpirun line as docs/usage.md shows it (no -q: it would hide Open MPI's
# report of a rank that died, from which the launcher names the lost process).
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--dry-run"], d)
doc = open(os.path.join(g.ROOT, "docs", "usage.md")).read()
# (--oversubscribe only where the ranks outnumber the cores this process may use.)
g.check(rc == 0 and out.replace("--oversubscribe ", "", 1).startswith("mpirun -np 1 ") and "    mpirun [--oversubscribe] -np S graft-server" in doc,
        "--dry-run's line is the documented one (%r)" % out[:40])

# 5. A FIFO and a header-only file are refused by name, exit 2, nothing left behind.
fifo = os.path.join(d, "pipe.csv")
os.mkfifo(fifo)
socks = set(glob.glob("/tmp/graft-*.sock"))
rc, out, err, el = g.run([g.GRAFT, "train", "--train", fifo, "--epochs", "1"], d, timeout=60)
g.check(rc == 2 and "pipe.csv" in err and "FIFO" in err, "a FIFO as --train: exit 2, named (%d)" % rc)
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--test", fifo, "--epochs", "1"], d, timeout=60)
g.check(rc == 2 and "pipe.csv" in err, "a FIFO as --test: exit 2, named (%d)" % rc)
head = os.path.join(d, "header.csv")
open(head, "w").write("userId,movieId,rating\n")
rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", "2", "--train", head, "--epochs", "1"], d)
g.check(rc == 2 and "header.csv holds no ratings" in err, "a header-only file: exit 2, named (%d)" % rc)
g.check(err.count("header.csv holds no ratings") == 1, "the error is printed once, not per worker")
g.check(set(glob.glob("/tmp/graft-*.sock")) <= socks, "failed jobs leave no socket behind")

# 6. A killed launcher leaves no socket or job folder behind. Its epochs take about a second
# each and all its output is far below a pipe buffer's 4 KB: a line seen before the job ends was
# not held back by buffering.
big, _, _ = g.gen(d, name="big", users=20000, items=500, **{"ratings-per-user": 50})
earlier = set(glob.glob("/tmp/graft-job.*"))
p = subprocess.Popen([g.GRAFT, "train", "--train", big, "--epochs", "30", "--dim", "16"],
                     env=g.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                     start_new_session=True)
ready, t0, seen = False, time.time(), ""
while time.time() - t0 < 60 and not ready:
    r, _, _ = select.select([p.stderr], [], [], 1)
    if r:
        line = p.stderr.readline()
        seen += line
        ready = "GRAFT-SERVER-READY" in line
jobdirs = [x for x in glob.glob("/tmp/graft-job.*") if x not in earlier]
live = [x for j in jobdirs for x in glob.glob(os.path.join(j, "graft-*.sock"))]
g.check(live and all(os.stat(x).st_mode & 0o777 == 0o600 for x in live),
        "the job's Unix socket is in its own folder, mode 0600 (%s)"
        % [(x, oct(os.stat(x).st_mode & 0o777)) for x in live])
# Lines arrive as they happen: the job still runs after the first epoch line.
epoch_line = ""
while time.time() - t0 < 60 and "epoch" not in epoch_line:
    r, _, _ = select.select([p.stdout], [], [], 1)
    if r:
        epoch_line = p.stdout.readline()
g.check(ready and "epoch" in epoch_line and p.poll() is None,
        "GRAFT-SERVER-READY and epoch lines reach the log while the job runs")
os.kill(p.pid, signal.SIGTERM)
try:
    p.communicate(timeout=30)
except subprocess.TimeoutExpired:
    g.kill_session(p.pid)
    p.communicate()
time.sleep(0.5)
g.check(set(glob.glob("/tmp/graft-*.sock")) <= socks and not [x for x in jobdirs if os.path.exists(x)],
        "a job stopped by a signal leaves no socket and no job folder")

# A launcher killed outright cannot clean up; the next job removes what it left.
stale = os.path.join("/tmp", "graft-job.stale-test")
os.makedirs(stale, exist_ok=True)
open(os.path.join(stale, "launcher.pid"), "w").write("999999999\n")
g.run([g.GRAFT, "train", "--train", train, "--epochs", "1", "--dim", "4", "--quiet"], d, check_exit=0)
g.check(not os.path.exists(stale), "the folder of a launcher that is gone is removed by the next job")

# 7. Duplicated pairs: counted in the summary; last (the default), mean, keep and error.
dup = os.path.join(d, "dup.csv")
with open(dup, "w") as f:
    f.write(open(train).read())
    for r in (1, 5, 5):
        f.write("dupuser,dupitem,%d\n" % r)
    f.write("dupuser,dupitem,1\n")
want = {"keep": None, "last": 1.0, "mean": 3.0}
base_n = sum(1 for _ in open(train))
for pol in ("last", "mean", "keep"):
    m = os.path.join(d, "dup-%s.jsonl" % pol)
    model = os.path.join(d, "dup-%s-model" % pol)
    args = [g.GRAFT, "train", "--workers", "2", "--train", dup, "--epochs", "40", "--dim", "4",
            "--metrics", m, "--save", model]
    if pol != "last":
        args += ["--duplicates", pol]
    rc, out, err, _ = g.run(args, d, timeout=300)
    s = g.metrics(m)[-1] if rc == 0 else {}
    g.check(s.get("duplicate_pairs") == 1 and s.get("duplicate_ratings") == 3 and s.get("duplicates") == pol,
            "--duplicates %s: one pair given 4 times is counted (%r, %r)"
            % (pol, s.get("duplicate_pairs"), s.get("duplicate_ratings")))
    g.check(s.get("train_ratings") == base_n + (4 if pol == "keep" else 1),
            "--duplicates %s: %d training ratings" % (pol, s.get("train_ratings", -1)))
    if want[pol] is not None:
        probe = os.path.join(d, "probe.csv")
        open(probe, "w").write("dupuser,dupitem,%g\n" % want[pol])
        out_json = os.path.join(d, "probe-%s.json" % pol)
        g.run([g.GRAFT, "eval", "--model", model, "--test", probe, "--out", out_json], d, check_exit=0)
        err_abs = json.load(open(out_json))["rmse"]
        g.check(err_abs < 0.6, "--duplicates %s trains the pair toward %g (off by %.3f)" % (pol, want[pol], err_abs))
rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", "2", "--train", dup, "--duplicates", "error",
                         "--epochs", "1"], d)
g.check(rc == 2 and "dup.csv" in err and "1 (user, item) pairs" in err and err.count("dup.csv:") <= 1,
        "--duplicates error: exit 2 naming the file, once (%d)" % rc)

# 8. --resume refuses a checkpoint made on other data, unless --resume-any-data.
ck = os.path.join(d, "ck")
g.run([g.GRAFT, "train", "--train", train, "--epochs", "2", "--dim", "4", "--checkpoint-every", "1",
       "--checkpoint-dir", ck, "--quiet"], d, check_exit=0)
other = os.path.join(d, "other.csv")
open(other, "w").write("".join(open(train).readlines()[:-5]))
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", other, "--epochs", "4", "--dim", "4",
                         "--checkpoint-every", "1", "--checkpoint-dir", ck, "--resume"], d)
g.check(rc == 2 and "trained on other data" in err, "--resume on another --train: exit 2, said (%d)" % rc)
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", other, "--epochs", "3", "--dim", "4",
                         "--checkpoint-every", "1", "--checkpoint-dir", ck, "--resume", "--resume-any-data"], d)
g.check(rc == 0 and "GRAFT-RESUME" in err, "--resume-any-data resumes anyway (%d)" % rc)
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--epochs", "4", "--dim", "4",
                         "--checkpoint-every", "1", "--checkpoint-dir", ck, "--resume"], d)
g.check(rc == 2, "the checkpoint made by --resume-any-data records its own data (%d)" % rc)
# A manifest edited by one byte is refused.
man = sorted(glob.glob(os.path.join(ck, "ckpt-*", "manifest.json")))[-1]
text = open(man).read()
open(man, "w").write(text.replace('"servers":1', '"servers":2', 1))
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", other, "--epochs", "9", "--dim", "4",
                         "--checkpoint-every", "1", "--checkpoint-dir", ck, "--resume"], d)
g.check(rc == 2 and "manifest.json" in err and "checksum" in err, "an edited checkpoint manifest is refused (%d)" % rc)
g.done()

"""Integration: checkpoints and --resume. A 2x2 job killed after some epochs and resumed ends
within 0.01 of an uninterrupted run (the block plane: exactly where it would have); jobs killed many times at random points while they write
checkpoints always resume from a complete checkpoint, never a torn one; an altered checkpoint is
refused naming the shard; an unwritable folder is refused at start, and a full disk fails at the
checkpoint without leaving a complete-looking one."""
import glob
import os
import random
import re
import signal
import subprocess
import time

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=1500, items=400, **{"ratings-per-user": 40})
# Checkpointed jobs train without validation; the uninterrupted runs they are compared with too.
common = ["--train", train, "--test", test, "--dim", "16", "--validation-fraction", "0"]


def train_job(args, workers=2, servers=2, check_exit=None):
    return g.run([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers)] + common + args,
                 d, timeout=300, check_exit=check_exit)


def start(args, env_extra=None, workers=2, servers=2):
    env = g.env()
    env.update(env_extra or {})
    return subprocess.Popen([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers)] + common + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)


def kill(p):
    """The whole job at once, as when its node goes down."""
    g.kill_session(p.pid)
    p.communicate()
    for _ in range(50):
        if not g._procs_mentioning(d):
            return
        time.sleep(0.1)
    g.fail("processes left after the kill: %s" % g._procs_mentioning(d))


def complete(ck):
    eps = [int(m.group(1)) for m in (re.search(r"ckpt-(\d+)$", p) for p in glob.glob(os.path.join(ck, "ckpt-*"))) if m]
    return sorted(e for e in eps if os.path.exists(os.path.join(ck, "ckpt-%d" % e, "manifest.json")))


# 1. Killed after its third checkpoint, resumed: the same final RMSE as without the kill.
# The block plane under BSP repeats itself exactly, so the comparison measures the resume alone.
full = os.path.join(d, "full.jsonl")
train_job(["--plane", "block", "--epochs", "8", "--metrics", full], check_exit=0)
ck = os.path.join(d, "ck1")
part = os.path.join(d, "part.jsonl")
p = start(["--plane", "block", "--epochs", "8", "--checkpoint-every", "1", "--checkpoint-dir", ck,
           "--metrics", part], {"GRAFT_DEBUG_ROUND_DELAY": "0:40"})
deadline = time.time() + 120
while time.time() < deadline and (not complete(ck) or complete(ck)[-1] < 3):
    time.sleep(0.05)
kill(p)
done_before = complete(ck)[-1]
g.check(3 <= done_before < 8, "the job was killed after checkpoint %d of 8 epochs" % done_before)
rc, out, err, _ = train_job(["--plane", "block", "--epochs", "8", "--checkpoint-every", "1", "--checkpoint-dir",
                             ck, "--resume", "--metrics", part])
g.check(rc == 0 and "resumed from %s/ckpt-%d" % (ck, done_before) in err,
        "--resume goes on from ckpt-%d (%r)" % (done_before, err.strip()[-300:]))
a, b = g.metrics(full)[-1], g.metrics(part)[-1]
g.check(abs(a["test_rmse"] - b["test_rmse"]) <= 0.01,
        "resumed run's test RMSE %.4f within 0.01 of the uninterrupted %.4f" % (b["test_rmse"], a["test_rmse"]))
epochs = [r["epoch"] for r in g.metrics(part) if r["event"] == "epoch"]
g.check(epochs[-(8 - done_before):] == list(range(done_before + 1, 9)),
        "the metrics file goes on with epochs %d..8 (%s)" % (done_before + 1, epochs))

# 1b. Checkpoints written by servers of 3 threads (each owning a part of every table) resume into
#     servers of one thread, and the run is the uninterrupted one, bit for bit.
ck3 = os.path.join(d, "ck3")
six, res = os.path.join(d, "six.jsonl"), os.path.join(d, "res.jsonl")
train_job(["--plane", "block", "--epochs", "6", "--metrics", six], check_exit=0)
train_job(["--plane", "block", "--epochs", "4", "--checkpoint-every", "2", "--checkpoint-dir", ck3,
           "--server-threads", "3"], check_exit=0)
rc, out, err, _ = train_job(["--plane", "block", "--epochs", "6", "--checkpoint-dir", ck3, "--resume",
                             "--metrics", res])
g.check(rc == 0 and "resumed from %s/ckpt-4" % ck3 in err, "resumed from the 3-thread servers' ckpt-4")
g.check(g.metrics(res)[-1]["test_rmse"] == g.metrics(six)[-1]["test_rmse"],
        "test RMSE %.6f, the uninterrupted run's %.6f" % (g.metrics(res)[-1]["test_rmse"],
                                                           g.metrics(six)[-1]["test_rmse"]))

# 2. Killed at random points while checkpoints are being written (shard writes slowed down so
#    the kills land inside them), many times: every resume finds a complete checkpoint.
ck = os.path.join(d, "ck2")
rng = random.Random(7)
torn_seen, resumed = 0, 0
for i in range(8):
    args = ["--plane", "block", "--epochs", "400", "--checkpoint-every", "1", "--checkpoint-dir", ck]
    if complete(ck):
        args.append("--resume")
    p = start(args, {"GRAFT_DEBUG_CHECKPOINT_DELAY_US": "3000"})
    time.sleep(rng.uniform(1.0, 3.0))
    kill(p)
    names = os.listdir(ck) if os.path.isdir(ck) else []
    done = complete(ck)
    torn = [n for n in names if n.startswith("ckpt-") and int(n[5:]) not in done]
    torn_seen += bool(torn)
    if not done:
        continue
    newest = done[-1]
    rc, out, err, _ = train_job(["--plane", "block", "--epochs", str(newest + 1), "--checkpoint-dir", ck,
                                 "--resume"])
    ok = rc == 0 and "resumed from %s/ckpt-%d" % (ck, newest) in err
    resumed += ok
    g.check(ok, "kill %d: --resume takes the newest complete checkpoint ckpt-%d (torn: %s) (%r)"
            % (i + 1, newest, torn, err.strip()[-300:]))
g.check(resumed >= 5, "resumed after %d of 8 kills" % resumed)
g.check(torn_seen >= 2, "%d kills landed while a checkpoint was being written" % torn_seen)

# 3. An altered checkpoint is refused, naming the shard.
newest = complete(ck)[-1]
shard = sorted(glob.glob(os.path.join(ck, "ckpt-%d" % newest, "item.*.shard")))[0]
data = bytearray(open(shard, "rb").read())
data[len(data) // 2] ^= 0x40
open(shard, "wb").write(bytes(data))
rc, out, err, _ = train_job(["--plane", "block", "--epochs", str(newest + 5), "--checkpoint-dir", ck, "--resume"])
g.check(rc == 2 and os.path.basename(shard) in err and "checksum" in err and "epoch" not in out,
        "an altered shard: exit 2 before training, naming %s (%r)" % (os.path.basename(shard), err.strip()[-300:]))

# 4. An unwritable checkpoint folder: refused at start.
blocker = os.path.join(d, "file")
open(blocker, "w").write("x")
rc, out, err, _ = train_job(["--epochs", "3", "--checkpoint-every", "1", "--checkpoint-dir",
                             os.path.join(blocker, "ck")])
g.check(rc == 2 and "--checkpoint-dir %s/ck" % blocker in err and "epoch" not in out,
        "an unwritable --checkpoint-dir: exit 2 at start, named (%r)" % err.strip()[-200:])

# 5. A full disk (a tiny tmpfs, when this user may mount one): the checkpoint fails loudly and
#    leaves no manifest behind.
small = os.path.join(d, "small")
os.mkdir(small)
if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", small],
                   stderr=subprocess.DEVNULL) == 0:
    try:
        rc, out, err, _ = train_job(["--epochs", "3", "--checkpoint-every", "1", "--checkpoint-dir", small])
        g.check(rc != 0 and "GRAFT-CHECKPOINT-FAILED" in err and "No space left" in err,
                "disk full at the checkpoint: a non-zero exit naming the cause (%d, %r)" % (rc, err.strip()[-300:]))
        g.check(not glob.glob(os.path.join(small, "*", "manifest.json")) and not glob.glob(os.path.join(small, "*", "*.tmp*")),
                "no manifest and no temporary file left on the full disk (%s)" % glob.glob(os.path.join(small, "*", "*")))
    finally:
        subprocess.call(["umount", small])
else:
    print("note: cannot mount a tmpfs here; the disk-full case is not exercised")
g.done()

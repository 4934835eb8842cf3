"""Integration: bad input gets a clear error naming the file (and line), exit status 2, and no
process left behind; --bad-lines skip counts what it skipped."""
import os

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=100, items=50, **{"ratings-per-user": 20})

missing = os.path.join(d, "missing.csv")
rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", "2", "--train", missing], d)
g.check(rc == 2, "missing train file: exit status 2 (got %d)" % rc)
lines = [l for l in err.splitlines() if l.strip()]
g.check(lines == ["graft-worker: %s: No such file or directory" % missing],
        "missing train file: one clear line naming it (got %r)" % lines)

rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--test", missing], d)
g.check(rc == 2 and missing in err, "missing test file: exit 2, named")

# The --save and --checkpoint-dir folders are made (and probed) before the data is read; a job
# refused for its data takes the ones it made away again, and leaves a folder that was there.
made = os.path.join(d, "new", "model")
kept = os.path.join(d, "kept")
os.makedirs(kept)
open(os.path.join(kept, "notes.txt"), "w").write("mine\n")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", missing, "--save", made + "/", "--checkpoint-every", "1",
                         "--checkpoint-dir", os.path.join(kept, "ckpt")], d)
g.check(rc == 2 and not os.path.exists(os.path.join(d, "new")) and os.listdir(kept) == ["notes.txt"],
        "a job refused for its data leaves no folder it made, and the one that was there as it was (%d, %r)"
        % (rc, os.listdir(d)))

bad = os.path.join(d, "bad.csv")
with open(train) as src, open(bad, "w") as dst:
    good = src.read().splitlines()
    for i, line in enumerate(good):
        if i == 500:
            dst.write("17,not-a-rating-line\n")
        if i == 900:
            dst.write("17,4,abc\n")
        dst.write(line + "\n")
for workers in (1, 2):
    rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", str(workers), "--train", bad], d)
    g.check(rc == 2, "malformed line, %d workers: exit 2 (got %d)" % (workers, rc))
    g.check("%s:501: expected at least 3 fields, found 2" % bad in err,
            "malformed line, %d workers: FILE:LINE: reason (got %r)" % (workers, err[-300:]))

m = os.path.join(d, "skip.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", "2", "--train", bad, "--bad-lines", "skip",
                         "--epochs", "2", "--metrics", m], d)
g.check(rc == 0, "--bad-lines skip: exit 0 (got %d) %s" % (rc, err[-300:]))
summ = g.metrics(m)[-1]
g.check(summ["bad_lines"] == 2, "--bad-lines skip: summary counts 2 bad lines (got %s)" % summ.get("bad_lines"))
g.check(summ["test_rmse"] is None, "no test file: test_rmse is null")

rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--dim", "0"], d)
g.check(rc == 2 and "--dim" in err, "out-of-bounds option: exit 2 naming it")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--no-such-flag"], d)
g.check(rc == 2 and "--no-such-flag" in err, "unknown option: exit 2 naming it")
rc, out, err, _ = g.run([g.GRAFT, "train", "--epochs", "1"], d)
g.check(rc == 2 and "--train" in err, "no --train: exit 2 saying so")
for exe in ("graft-server", "graft-worker", "graft-tool"):
    rc, out, err, _ = g.run([os.path.join(g.BIN, exe), "--help"], d)
    g.check(rc == 0 and "usage" in out, "%s --help (exit %d, stderr %r)" % (exe, rc, err[-300:]))
g.done()

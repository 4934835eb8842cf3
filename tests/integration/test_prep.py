"""Integration: graft prep's binary ratings. Training from the binary file gives what training from
the text gives (2 and 3 workers: parts by owner, and ranges), keeps the ids for --save, and
an altered or truncated file, or a malformed text line at prep, is refused naming the file."""
import os

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=1200, items=300, **{"ratings-per-user": 40})
btrain, btest = os.path.join(d, "train.grb"), os.path.join(d, "test.grb")
for src, dst in ((train, btrain), (test, btest)):
    rc, out, err, _ = g.run([g.GRAFT, "prep", "--in", src, "--out", dst], d)
    g.check(rc == 0 and "in 64 parts written" in out, "prep %s (%r)" % (os.path.basename(src), (out + err)[-200:]))
g.check(open(btrain, "rb").read(8) == b"GRAFTRB1", "the binary file starts with its magic")

res = {}
for name, tr, te in (("text", train, test), ("binary", btrain, btest)):
    for w in (2, 3):
        m = os.path.join(d, "%s-%d.jsonl" % (name, w))
        model = os.path.join(d, "model-%s-%d" % (name, w))
        rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", str(w), "--train", tr, "--test", te, "--plane",
                                 "block", "--dim", "8", "--epochs", "6", "--metrics", m, "--save", model], d)
        g.check(rc == 0 and ("(binary)" in err) == (name == "binary"),
                "%s, %d workers: trains (%r)" % (name, w, err.strip()[-200:]))
        res[(name, w)] = g.metrics(m)[-1] if rc == 0 else {}
        ids = open(os.path.join(model, "users.ids")).read().split() if rc == 0 else []
        g.check(len(ids) == 2 * 1200, "%s, %d workers: the saved model names all 1200 users" % (name, w))
for w in (2, 3):
    a, b = res[("text", w)], res[("binary", w)]
    g.check(a.get("train_ratings") == b.get("train_ratings") and abs(a["test_rmse"] - b["test_rmse"]) < 0.02,
            "%d workers: binary and text give the same ratings and RMSE (%.4f, %.4f)"
            % (w, a.get("test_rmse", 9), b.get("test_rmse", 9)))

data = bytearray(open(btrain, "rb").read())
bad = os.path.join(d, "altered.grb")
data[len(data) // 2] ^= 0x10
open(bad, "wb").write(bytes(data))
rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", "2", "--train", bad, "--plane", "block"], d)
g.check(rc == 2 and "altered.grb: checksum mismatch in part" in err,
        "an altered record: exit 2 naming the file (%r)" % err.strip()[-200:])
cut = os.path.join(d, "cut.grb")
open(cut, "wb").write(bytes(data[: len(data) - 100]))
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", cut], d)
g.check(rc == 2 and "cut.grb: size does not match its header" in err,
        "a truncated file: exit 2 naming the file (%r)" % err.strip()[-200:])
broken = os.path.join(d, "broken.csv")
open(broken, "w").write("1,2,4\n1,3,x\n")
rc, out, err, _ = g.run([g.GRAFT, "prep", "--in", broken, "--out", os.path.join(d, "broken.grb")], d)
g.check(rc == 2 and "broken.csv:2" in err and not os.path.exists(os.path.join(d, "broken.grb")),
        "prep of a malformed line: exit 2 naming FILE:LINE, no output (%r)" % err.strip())
g.done()

"""Integration: graft plot renders learning curves (two runs) and scaling plots with gnuplot, as
PNG files of the asked size, SVG and PDF by -o's extension; an unwritable -o or an unknown
extension is a clear error (exit 2); a ranking job's NDCG and Recall are drawn. For gated transfer jobs, the runs drawn as the model are
the ones the job kept, the others are marked discarded."""
import os
import struct
import sys

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=200, items=80, **{"ratings-per-user": 20})
runs = []
for s in (1, 2):
    m = os.path.join(d, "run%d.jsonl" % s)
    g.run([g.GRAFT, "train", "--servers", str(s), "--train", train, "--test", test, "--dim", "4", "--epochs", "4",
           "--metrics", m], d, check_exit=0)
    runs.append(m)


def png_size(path):
    raw = open(path, "rb").read(32)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR", raw[:16]
    return struct.unpack(">II", raw[16:24]), os.path.getsize(path)


curves = os.path.join(d, "curves.png")
rc, out, err, _ = g.run([g.GRAFT, "plot"] + runs + ["-o", curves, "--size", "800x500"], d)
g.check(rc == 0, "plot of two runs exits 0 (%s)" % err.strip()[-200:])
(w, h), n = png_size(curves)
g.check((w, h) == (800, 500) and n > 5000, "curves.png is an 800x500 PNG (%dx%d, %d bytes)" % (w, h, n))
scale = os.path.join(d, "scale.csv")
open(scale, "w").write("workers,updates_per_s,seconds_per_epoch\n1,1000000,2\n2,1900000,1.1\n4,3500000,0.6\n")
png = os.path.join(d, "scaling.png")
rc, out, err, _ = g.run([g.GRAFT, "plot", "--scaling", scale, "-o", png], d)
(w, h), n = png_size(png)
g.check(rc == 0 and (w, h) == (900, 600) and n > 5000, "scaling.png is a 900x600 PNG (%dx%d, %d bytes)" % (w, h, n))
rc, out, err, _ = g.run([g.GRAFT, "plot", os.path.join(d, "missing.jsonl")], d)
g.check(rc == 2 and "missing.jsonl" in err, "a missing metrics file: exit 2, named")
open(os.path.join(d, "bad.csv"), "w").write("nodes,speed\n1,2\n")
rc, out, err, _ = g.run([g.GRAFT, "plot", "--scaling", os.path.join(d, "bad.csv")], d)
g.check(rc == 2 and "workers and updates_per_s" in err, "a scaling CSV without the columns: exit 2, saying which")
for ext, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):
    outp = os.path.join(d, "curves" + ext)
    rc, out, err, _ = g.run([g.GRAFT, "plot", runs[0], "-o", outp], d)
    head = open(outp, "rb").read(8) if os.path.exists(outp) else b""
    g.check(rc == 0 and head.startswith(magic), "-o curves%s writes %s (%r)" % (ext, ext[1:], head))
rc, out, err, _ = g.run([g.GRAFT, "plot", runs[0], "-o", "/nonexistent/x.png"], d)
g.check(rc == 2 and "/nonexistent" in err and "Traceback" not in err, "-o in a missing folder: exit 2, said (%r)" % err.strip())
rc, out, err, _ = g.run([g.GRAFT, "plot", runs[0], "-o", os.path.join(d, "x.gif")], d)
g.check(rc == 2 and ".png, .svg or .pdf" in err, "-o x.gif: exit 2 naming the formats")

# Which runs of a gated job are the model.
sys.path.insert(0, os.path.join(g.ROOT, "launch"))
import plot  # noqa: E402


def job(phases, gate):
    rows = []
    for ph in phases:
        rows += [{"event": "epoch", "epoch": e, "phase": ph, "warm_rmse": 1.0} for e in (1, 2, 3)]
    rows.append({"event": "summary", "gate": gate})
    return rows


r = plot.runs_of(job(["source", "target", "fallback", "target"], "transfer"))
g.check(plot.roles(r, {"gate": "transfer"}) == ["discarded: validated transfer run",
                                                "discarded: the gate target-only run", "model"],
        "seed, gate transfer: the refit is the model, the validated run and the gate's run are discarded")
r = plot.runs_of(job(["joint", "fallback", "fallback"], "target-only"))
g.check(plot.roles(r, {"gate": "target-only"}) == ["cold", "discarded: the gate target-only run", "warm"],
        "joint, gate target-only: warm users from the last target-only run, cold ones from the joint run")
r = plot.runs_of(job(["target"], None))
g.check(plot.roles(r, {}) == ["model"], "without a gate the one run is the model")

# A ranking job's per-epoch NDCG and Recall get a panel of their own.
rank = os.path.join(d, "rank.jsonl")
g.run([g.GRAFT, "train", "--train", train, "--test", test, "--loss", "ials", "--dim", "4", "--epochs", "3",
       "--rank-k", "5", "--metrics", rank], d, check_exit=0)
rows = [r for r in g.metrics(rank) if r.get("event") == "epoch"]
series = plot.ranking_series(rows)
g.check(series == [("valid NDCG@5", "valid_ndcg"), ("valid Recall@5", "valid_recall"), ("test NDCG@5", "test_ndcg"),
                  ("test Recall@5", "test_recall")] and all(0 <= r["test_ndcg"] <= 1 for r in rows),
        "a ranking job's records carry validation and test NDCG@5 and Recall@5, which plot draws (%s)" % series)
rpng = os.path.join(d, "rank.png")
rc, out, err, _ = g.run([g.GRAFT, "plot", rank, runs[0], "-o", rpng], d)
(w, h), n = png_size(rpng)
g.check(rc == 0 and n > 5000, "a ranking run beside an RMSE run plots as two panels (%d bytes)" % n)
g.done()

"""Integration: graft plot renders learning curves (two runs) and scaling plots with gnuplot, as
PNG files of the asked size."""
import os
import struct

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
g.done()

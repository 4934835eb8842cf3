"""Integration: a model saved by a 2x2 job with string ids is exported as .npy files that
numpy.load reads without Graft, with its ids in row order, and as TSV with the same values."""
import json
import os
import struct
import subprocess

import graftest as g

d = g.tmpdir()
data = os.path.join(d, "r.csv")
with open(data, "w") as f:
    f.write("user,item,rating\n")
    for u in range(60):
        for i in range(15):
            f.write("user-%d,film %d,%d\n" % (u, (u * 7 + i) % 40, (u + i) % 5 + 1))
model, out, tsv = os.path.join(d, "model"), os.path.join(d, "npy"), os.path.join(d, "tsv")
g.run([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", data, "--dim", "4", "--epochs", "3",
       "--save", model], d, check_exit=0)
g.run([g.GRAFT, "export", "--model", model, "--out", out], d, check_exit=0)
g.run([g.GRAFT, "export", "--model", model, "--out", tsv, "--format", "tsv"], d, check_exit=0)
meta = json.load(open(os.path.join(out, "model.json")))
g.check(meta["dim"] == 4 and [t["name"] for t in meta["tables"]] == ["user", "item"], "model.json lists the tables")


def read_npy(path):
    """A reader written from the .npy format specification, independent of Graft's."""
    raw = open(path, "rb").read()
    assert raw[:8] == b"\x93NUMPY\x01\x00", raw[:8]
    hlen = struct.unpack("<H", raw[8:10])[0]
    header = raw[10:10 + hlen].decode("latin1")
    assert (10 + hlen) % 64 == 0 and header.endswith("\n")
    spec = eval(header)  # the format's header is a Python literal
    rows, cols = spec["shape"]
    assert spec["descr"] == "<f4" and spec["fortran_order"] is False
    vals = struct.unpack("<%df" % (rows * cols), raw[10 + hlen:])
    return rows, cols, vals


for table, n, prefix in (("user", 60, "user-"), ("item", 40, "film ")):
    rows, cols, vals = read_npy(os.path.join(out, table + ".npy"))
    ids = open(os.path.join(out, table + ".ids")).read().splitlines()
    g.check(rows == n and cols == 5 and len(ids) == n, "%s.npy: %d rows of width 5, %d ids" % (table, rows, len(ids)))
    g.check(sorted(ids) == sorted(prefix + str(k) for k in range(n)), "%s ids are the data's own strings" % table)
    lines = open(os.path.join(tsv, table + ".tsv")).read().splitlines()
    tsv_rows = {l.split("\t")[0]: [float(x) for x in l.split("\t")[1:]] for l in lines}
    same = all(abs(tsv_rows[ids[r]][j] - vals[r * cols + j]) < 1e-6 for r in range(rows) for j in range(cols))
    g.check(same, "%s: the TSV holds the same rows as the .npy, id for id" % table)
    check = subprocess.run(["/usr/bin/python3", "-c",
                            "import numpy, sys; a = numpy.load(sys.argv[1]); print(a.shape, a.dtype, repr(float(a[1, 2])))",
                            os.path.join(out, table + ".npy")], capture_output=True, text=True)
    g.check(check.returncode == 0 and check.stdout.startswith("(%d, 5) float32" % n)
            and abs(float(check.stdout.split()[-1]) - vals[1 * cols + 2]) < 1e-6,
            "numpy.load reads %s.npy without Graft (%s)" % (table, (check.stdout + check.stderr).strip()))
rc, o, e, _ = g.run([g.GRAFT, "export", "--model", os.path.join(d, "nothing"), "--out", out], d)
g.check(rc == 2 and "manifest.json" in e, "export of a folder without a model: exit 2, named")
g.done()

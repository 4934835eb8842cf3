"""Integration: `graft bench` runs its benchmarks end to end on tiny sizes and writes the CSV it
documents. Only the shape and the transport are checked, never a speed (docs/performance.md has
the figures)."""
import csv
import os

import graftest as g

d = g.tmpdir()
cols = ["servers", "width", "rows", "pull_per_s", "pull_gbps", "push_per_s", "push_gbps", "pull_ms",
        "push_ms", "transport"]
for extra, transport in (([], "shm"), (["--shm", "off"], "socket"), (["--server-threads", "2"], "shm")):
    out_csv = os.path.join(d, "plane-%d.csv" % len(os.listdir(d)))
    rc, out, err, _ = g.run([g.GRAFT, "bench", "plane", "--rows", "1,1000", "--widths", "8,64",
                             "--seconds", "0.05", "--csv", out_csv] + extra, d, check_exit=0)
    with open(out_csv) as f:
        rows = list(csv.DictReader(f))
    g.check(list(rows[0].keys()) == cols, "plane CSV columns %s" % list(rows[0].keys()))
    g.check([(r["width"], r["rows"]) for r in rows] == [("8", "1"), ("8", "1000"), ("64", "1"), ("64", "1000")],
            "one row per width and request size")
    g.check(all(r["transport"] == transport for r in rows), "%s: rows went through %s" % (extra, transport))
    g.check(all(float(r["pull_per_s"]) > 0 and float(r["push_gbps"]) > 0 for r in rows), "every figure measured")
    g.check("push GB/s" in out and transport in out, "the table is printed too")
topk = os.path.join(d, "topk.csv")
rc, out, err, _ = g.run([g.GRAFT, "bench", "topk", "--users", "300", "--items", "700", "--dim", "8",
                         "-k", "5", "--csv", topk], d, check_exit=0)
with open(topk) as f:
    what = [r["what"] for r in csv.DictReader(f)]
g.check(what == ["sgemm_block", "sgemm_tiles", "topk"], "topk CSV rows %s" % what)
fold = os.path.join(d, "foldin.csv")
rc, out, err, _ = g.run([g.GRAFT, "bench", "foldin", "--users", "200", "--items", "500", "--dim", "8",
                         "--history", "5", "--csv", fold], d, check_exit=0)
with open(fold) as f:
    rows = list(csv.DictReader(f))
g.check([r["what"] for r in rows] == ["solve", "rank", "foldin_and_rank"] and all(float(r["users_per_s"]) > 0 for r in rows)
        and "users/s" in out, "foldin: users per second of the solve, the ranking and both, printed and in CSV")
before = sorted(os.listdir(d))
for what in ("topk", "foldin"):
    rc, out, err, _ = g.run([g.GRAFT, "bench", what, "--help"], d)
    g.check(rc == 0 and "usage: graft-bench " + what in out and sorted(os.listdir(d)) == before,
            "bench %s --help prints its usage and does nothing else" % what)
rc, out, err, _ = g.run([g.GRAFT, "bench", "foldin", "--history", "0"], d)
g.check(rc == 2 and "positive" in err, "foldin: a bad size is exit 2")
g.done()

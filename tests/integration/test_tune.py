"""Integration: graft tune. A random search (a list and a log range, 2 at a time) writes
trials.csv with one row per trial, settings inside what was asked, each scored on the validation
share; best.conf holds the best row's settings and is a --config graft train reads; a rerun skips
finished trials and a larger --trials adds only the new ones; a grid of lists runs every
combination; an unknown hyperparameter, a range outside the option's bounds and a folder of
another data set are exit 2 with nothing overwritten."""
import csv
import math
import os

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=300, items=120, **{"ratings-per-user": 30})
out = os.path.join(d, "T")
base = [g.GRAFT, "tune", "--train", train, "--dim", "4,8", "--reg", "0.01:0.2:log", "--epochs", "12",
        "--parallel", "2", "--out", out]
rc, so, se, _ = g.run(base + ["--trials", "4"], d, timeout=400)
g.check(rc == 0, "graft tune exits 0 (%d) %s" % (rc, se.strip()[-300:]))
rows = list(csv.DictReader(open(os.path.join(out, "trials.csv"))))
g.check(len(rows) == 4 and all(r["dim"] in ("4", "8") and 0.01 <= float(r["reg"]) <= 0.2 for r in rows),
        "4 trials, each inside the asked list and range (%s)" % [(r["dim"], r["reg"]) for r in rows])
g.check(all(0 < float(r["valid_rmse"]) < 2 and 1 <= int(r["epochs"]) <= 12 and float(r["seconds"]) > 0 for r in rows),
        "each row has its validation RMSE, its best epoch and its seconds")
regs = sorted(float(r["reg"]) for r in rows)
g.check(len(set(regs)) == 4, "the range is sampled, not a fixed value (%s)" % regs)
best = min(rows, key=lambda r: float(r["valid_rmse"]))
conf = open(os.path.join(out, "best.conf")).read()
g.check("dim = %s\n" % best["dim"] in conf and "reg = %s\n" % best["reg"] in conf
        and "epochs = %s\n" % best["epochs"] in conf, "best.conf holds the best trial's settings")
rc, so2, se2, _ = g.run([g.GRAFT, "train", "--config", os.path.join(out, "best.conf"), "--train", train,
                          "--print-config"], d)
g.check(rc == 0 and any(l.split()[:3] == ["reg", "=", best["reg"]] for l in so2.splitlines()),
        "graft train reads best.conf")
g.check(os.path.getsize(os.path.join(out, "scores.png")) > 3000 and "trial" in so and "best" in so,
        "a live line per trial, a sorted table, and scores.png")

mtimes = {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out) if f.endswith(".jsonl")}
rc, so, se, _ = g.run(base + ["--trials", "4"], d, timeout=200)
after = {f: os.path.getmtime(os.path.join(out, f)) for f in os.listdir(out) if f.endswith(".jsonl")}
g.check(rc == 0 and "4 already done" in so and after == mtimes, "a rerun runs no finished trial again")
rc, so, se, _ = g.run(base + ["--trials", "6"], d, timeout=300)
rows6 = list(csv.DictReader(open(os.path.join(out, "trials.csv"))))
g.check(rc == 0 and len(rows6) == 6 and rows6[:4] == rows and "4 already done" in so,
        "--trials 6 adds the two new trials only")

grid = os.path.join(d, "G")
rc, so, se, _ = g.run([g.GRAFT, "tune", "--train", train, "--dim", "4,8", "--lr", "0.03,0.1", "--epochs", "6",
                       "--out", grid], d, timeout=300)
gr = list(csv.DictReader(open(os.path.join(grid, "trials.csv"))))
g.check(rc == 0 and sorted((r["dim"], r["lr"]) for r in gr) == [("4", "0.03"), ("4", "0.1"), ("8", "0.03"), ("8", "0.1")],
        "lists alone: every combination of the grid")

before = open(os.path.join(out, "trials.csv")).read()
rc, so, se, _ = g.run([g.GRAFT, "tune", "--train", test, "--dim", "4,8", "--reg", "0.01:0.2:log", "--epochs", "12",
                       "--trials", "6", "--out", out], d)
g.check(rc == 2 and "another data set" in se and open(os.path.join(out, "trials.csv")).read() == before,
        "a folder of another data set: exit 2, trials.csv untouched (%s)" % se.strip()[-200:])
rc, so, se, _ = g.run([g.GRAFT, "tune", "--train", train, "--dimm", "4,8", "--out", os.path.join(d, "X")], d)
g.check(rc == 2 and "--dimm" in se and not os.path.exists(os.path.join(d, "X")),
        "an unknown hyperparameter: exit 2 naming it, no folder made")
rc, so, se, _ = g.run([g.GRAFT, "tune", "--train", train, "--reg", "0.01:500", "--trials", "2",
                       "--out", os.path.join(d, "X")], d)
g.check(rc == 2 and "bounds" in se and not os.path.exists(os.path.join(d, "X")),
        "a range outside the option's bounds: exit 2 (%s)" % se.strip()[-200:])
rc, so, se, _ = g.run([g.GRAFT, "tune", "--help"], d)
g.check(rc == 0 and "trials.csv" in so and "best.conf" in so, "--help describes the outputs")
g.check(not math.isnan(float(best["valid_rmse"])), "scores are numbers")
g.done()

#!/usr/bin/env python3
"""graft plot: learning curves from metrics files, or scaling plots from a scaling CSV, as PNG.

usage: graft plot RUN.jsonl [RUN2.jsonl ...] [-o curves.png] [--size 900x600]
       graft plot --scaling scale.csv [-o scaling.png] [--size 900x600]

Learning curves: train and test RMSE per epoch, one pair of lines per file (a transfer job's
target-side phases only, its warm and cold RMSE). Scaling: from a CSV with at least the columns
workers and updates_per_s (one row per run), the speed-up over the smallest run and the parallel
efficiency against the number of workers. Drawn by gnuplot (pngcairo).
"""
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile


def fail(msg):
    sys.stderr.write("graft plot: %s\n" % msg)
    sys.exit(2)


def parse(argv):
    out, size, scaling, files = None, "900x600", None, []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a in ("-o", "--out", "--size", "--scaling"):
            if i + 1 >= len(argv):
                fail("%s needs a value" % a)
            v = argv[i + 1]
            if a in ("-o", "--out"):
                out = v
            elif a == "--size":
                size = v
            else:
                scaling = v
            i += 2
            continue
        if a.startswith("-"):
            fail("unknown option %s (see --help)" % a)
        files.append(a)
        i += 1
    try:
        w, h = (int(x) for x in size.split("x"))
        assert 100 <= w <= 10000 and 100 <= h <= 10000
    except (ValueError, AssertionError):
        fail("--size takes WIDTHxHEIGHT, 100 to 10000 each")
    if scaling and files:
        fail("give metrics files or --scaling, not both")
    if not scaling and not files:
        fail("give one or more metrics files, or --scaling FILE")
    return files, scaling, out or ("scaling.png" if scaling else "curves.png"), w, h


def curves(files, tmp):
    plots = []
    for n, path in enumerate(files):
        try:
            rows = [json.loads(l) for l in open(path) if l.strip()]
        except (OSError, ValueError) as e:
            fail("%s: %s" % (path, e))
        ep = [r for r in rows if r.get("event") == "epoch" and r.get("phase") in (None, "target", "joint")]
        if not ep:
            fail("%s: no epoch records" % path)
        name = os.path.basename(path).replace("_", "-")
        data = os.path.join(tmp, "c%d.dat" % n)
        with open(data, "w") as f:
            for i, r in enumerate(ep, 1):
                test = r.get("warm_rmse") if r.get("phase") else r.get("test_rmse")
                f.write("%d %s %s %s\n" % (i, r.get("train_rmse") if r.get("train_rmse") is not None else "NaN",
                                           test if test is not None else "NaN",
                                           r.get("cold_rmse") if r.get("cold_rmse") is not None else "NaN"))
        plots.append("'%s' using 1:2 with lines dashtype 2 linecolor %d title '%s train'" % (data, n + 1, name))
        plots.append("'%s' using 1:3 with linespoints linecolor %d title '%s %s'"
                     % (data, n + 1, name, "warm" if ep[0].get("phase") else "test"))
        if ep[0].get("phase"):
            plots.append("'%s' using 1:4 with linespoints dashtype 3 linecolor %d title '%s cold'" % (data, n + 1, name))
    return ("set xlabel 'epoch'\nset ylabel 'RMSE'\nset key outside right\nset grid\n"
            "plot " + ", ".join(plots) + "\n")


def scaling_plot(path, tmp):
    try:
        rows = list(csv.DictReader(open(path)))
        pts = sorted((float(r["workers"]), float(r["updates_per_s"])) for r in rows)
    except (OSError, KeyError, ValueError) as e:
        fail("%s: needs columns workers and updates_per_s (%s)" % (path, e))
    if not pts:
        fail("%s: no rows" % path)
    w0, u0 = pts[0]
    data = os.path.join(tmp, "s.dat")
    with open(data, "w") as f:
        for w, u in pts:
            speed = u / u0
            f.write("%g %g %g %g\n" % (w, speed, w / w0, speed / (w / w0)))
    return ("set multiplot layout 1,2\nset grid\nset xlabel 'workers'\nset ylabel 'speed-up'\n"
            "plot '%s' using 1:2 with linespoints title 'measured', '%s' using 1:3 with lines dashtype 2 title 'linear'\n"
            "set ylabel 'parallel efficiency'\nset yrange [0:1.1]\n"
            "plot '%s' using 1:4 with linespoints title 'efficiency'\nunset multiplot\n" % (data, data, data))


def main():
    files, scaling, out, w, h = parse(sys.argv[1:])
    if not shutil.which("gnuplot"):
        fail("gnuplot is not installed (apt-get install gnuplot-nox; launch/setup does it)")
    with tempfile.TemporaryDirectory(prefix="graft-plot-") as tmp:
        body = scaling_plot(scaling, tmp) if scaling else curves(files, tmp)
        script = "set terminal pngcairo size %d,%d\nset output '%s'\n%s" % (w, h, out.replace("'", ""), body)
        p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
        if p.returncode != 0 or not os.path.exists(out):
            fail("gnuplot failed: %s" % p.stderr.strip()[-500:])
    print("plot: written to %s" % out)


if __name__ == "__main__":
    main()

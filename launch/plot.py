#!/usr/bin/env python3
"""graft plot: learning curves from metrics files, or scaling plots from a scaling CSV.

usage: graft plot RUN.jsonl [RUN2.jsonl ...] [-o curves.png] [--size 900x600]
       graft plot --scaling scale.csv [-o scaling.png] [--size 900x600]

Learning curves: train and test RMSE per epoch, one pair of lines per file (a transfer job's
target-side phases only, its warm and cold RMSE). A gated transfer job trained several models;
the curves drawn in colour are those of the model the job kept (the refit after a validated
transfer, or the target-only model for warm users and the transfer model for cold ones), and
the runs it discarded are drawn in grey and titled as such. Ranking jobs (--loss ials or bpr,
whose epoch records carry rank_k) get a second panel: NDCG@K (solid) and Recall@K (dashed) per
epoch, of the test set (plain jobs) or of the warm and cold users (transfer jobs), and of the
validation set when there is one; their left panel shows train_loss (BPR) or train_rmse. Scaling: from a CSV with at least the
columns workers and updates_per_s (one row per run), the speed-up over the smallest run and the
parallel efficiency against the number of workers. The format follows -o's extension: .png,
.svg or .pdf. Drawn by gnuplot.
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


def runs_of(rows):
    """The epoch records of the target side split into runs (a run restarts at epoch 1), each
    with its phase: [(phase, [records])]."""
    runs = []
    for r in rows:
        if r.get("event") != "epoch" or r.get("phase") == "source":
            continue
        if not runs or r.get("epoch") == 1 or runs[-1][0] != r.get("phase"):
            runs.append((r.get("phase"), []))
        runs[-1][1].append(r)
    return runs


def roles(runs, summary):
    """What each run is: "model" (warm and cold), "warm" (warm users' model), "cold" (cold
    users' model), or why it was discarded. Order of a gated job: the transfer run (validated),
    the gate's target-only run, then the refit (gate "transfer") or the target-only model on
    every target rating (gate "target-only")."""
    gate = summary.get("gate")
    if not gate:
        return ["model"] * len(runs)
    out = ["discarded"] * len(runs)
    main = [i for i, (ph, _) in enumerate(runs) if ph in ("target", "joint")]
    fall = [i for i, (ph, _) in enumerate(runs) if ph == "fallback"]
    if gate == "transfer" and main:
        out[main[-1]] = "model"
        for i in main[:-1]:
            out[i] = "discarded: validated transfer run"
        for i in fall:
            out[i] = "discarded: the gate target-only run"
    elif gate == "target-only":
        if main:
            out[main[-1]] = "cold"
        if fall:
            out[fall[-1]] = "warm"
        for i in fall[:-1]:
            out[i] = "discarded: the gate target-only run"
    return out


def ranking_series(rows):
    """The ranking curves of one run's epoch records: [(title, field)] for each NDCG and Recall
    field the records carry (valid_*, test_* or warm_* and cold_*), in a fixed order."""
    have = set()
    for r in rows:
        have.update(k for k, v in r.items() if v is not None)
    k = next((r["rank_k"] for r in rows if r.get("rank_k")), None)
    out = []
    for who in ("valid", "test", "warm", "cold"):
        for what, name in (("ndcg", "NDCG"), ("recall", "Recall")):
            if "%s_%s" % (who, what) in have:
                out.append(("%s %s@%s" % (who, name, k), "%s_%s" % (who, what)))
    return out


def ranking_curves(files, tmp):
    plots = []
    for n, path in enumerate(files):
        rows = [json.loads(l) for l in open(path) if l.strip()]
        name = os.path.basename(path).replace("_", "-").replace("'", "")
        for j, (phase, ep) in enumerate(runs_of(rows)):
            series = ranking_series(ep)
            if not series:
                continue
            data = os.path.join(tmp, "r%d-%d.dat" % (n, j))
            with open(data, "w") as f:
                for r in ep:
                    f.write(" ".join([str(r["epoch"])] + ["NaN" if r.get(fld) is None else str(r[fld])
                                                          for _, fld in series]) + "\n")
            for c, (title, fld) in enumerate(series):
                dash = "dashtype 2" if fld.endswith("recall") else ""
                point = "pointtype 6" if fld.startswith("cold") else ""
                plots.append("'%s' using 1:%d with linespoints %s %s linecolor %d title '%s %s'"
                             % (data, c + 2, dash, point, n + 1, name, title))
    if not plots:
        return ""
    return ("set xlabel 'epoch'\nset ylabel 'NDCG@K, Recall@K'\nset key below\nset grid\n"
            "plot " + ", ".join(plots) + "\n")


def curves(files, tmp):
    plots = []
    for n, path in enumerate(files):
        try:
            rows = [json.loads(l) for l in open(path) if l.strip()]
        except (OSError, ValueError, UnicodeDecodeError) as e:
            fail("%s: %s" % (path, e))
        runs = runs_of(rows)
        if not runs:
            fail("%s: no epoch records" % path)
        summary = next((r for r in reversed(rows) if r.get("event") == "summary"), {})
        name = os.path.basename(path).replace("_", "-").replace("'", "")
        for j, ((phase, ep), role) in enumerate(zip(runs, roles(runs, summary))):
            data = os.path.join(tmp, "c%d-%d.dat" % (n, j))
            with open(data, "w") as f:
                for r in ep:
                    test = r.get("warm_rmse") if phase else r.get("test_rmse")
                    train = r.get("train_loss", r.get("train_rmse"))
                    f.write("%d %s %s %s\n" % (r["epoch"], train if train is not None else "NaN",
                                               test if test is not None else "NaN",
                                               r.get("cold_rmse") if r.get("cold_rmse") is not None else "NaN"))
            if role.startswith("discarded"):
                plots.append("'%s' using 1:3 with lines linecolor rgb '#b0b0b0' title '%s %s (%s)'"
                             % (data, name, phase, role))
                continue
            col = "linecolor %d" % (n + 1)
            what = "test" if not phase else "warm"
            if role in ("model", "warm"):
                plots.append("'%s' using 1:2 with lines dashtype 2 %s title '%s train'" % (data, col, name))
                plots.append("'%s' using 1:3 with linespoints %s title '%s %s%s'"
                             % (data, col, name, what, " (target-only model)" if role == "warm" else ""))
            if phase and role in ("model", "cold"):
                plots.append("'%s' using 1:4 with linespoints dashtype 3 %s title '%s cold%s'"
                             % (data, col, name, " (transfer model)" if role == "cold" else ""))
    rmse = ("set xlabel 'epoch'\nset ylabel 'RMSE (train: train_loss for BPR)'\nset key below\n"
            "set grid\nplot " + ", ".join(plots) + "\n")
    rank = ranking_curves(files, tmp)
    if not rank:
        return rmse
    return "set multiplot layout 1,2\n" + rmse + rank + "unset multiplot\n"


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


TERMINALS = {".png": "pngcairo", ".svg": "svg", ".pdf": "pdfcairo"}


def main():
    files, scaling, out, w, h = parse(sys.argv[1:])
    ext = os.path.splitext(out)[1].lower()
    if ext not in TERMINALS:
        fail("-o %s: the format follows the extension: .png, .svg or .pdf" % out)
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        fail("-o %s: no folder %s" % (out, folder))
    if not os.access(folder, os.W_OK):
        fail("-o %s: cannot write in %s" % (out, folder))
    if not shutil.which("gnuplot"):
        fail("gnuplot is not installed (apt-get install gnuplot-nox; launch/setup does it)")
    with tempfile.TemporaryDirectory(prefix="graft-plot-") as tmp:
        body = scaling_plot(scaling, tmp) if scaling else curves(files, tmp)
        # pdfcairo sizes are in inches; the others in pixels.
        size = "%g,%g" % (w / 100.0, h / 100.0) if ext == ".pdf" else "%d,%d" % (w, h)
        # noenhanced: titles hold '@' and '_' (NDCG@10, train_loss), not gnuplot markup.
        script = "set terminal %s size %s noenhanced\nset output '%s'\n%s" % (TERMINALS[ext], size,
                                                                              out.replace("'", ""), body)
        p = subprocess.run(["gnuplot"], input=script.encode(), capture_output=True)
        if p.returncode != 0 or not os.path.exists(out):
            fail("gnuplot failed: %s" % p.stderr.decode(errors="replace").strip()[-500:])
    print("plot: written to %s" % out)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""graft scale: one training at several sizes, one CSV, speed-up and efficiency plots.

usage: graft scale --workers 1,2,4,8 [--servers 1 | --servers 1,1,2,2] [--out DIR]
                   [any graft train option ...]

Runs `graft train` with the same options at each number of workers (with the matching entry of
--servers, or the one value for all), one after the other, on this machine or inside the
current batch allocation. Each run's metrics go to DIR/run-W-S.jsonl and its log to
DIR/run-W-S.log; DIR/scale.csv gets one row per run:
  workers, servers, updates_per_s, seconds_per_epoch, test_rmse, bytes_moved, seconds,
  speedup, efficiency
(speed-up and efficiency against the first row). With gnuplot installed, DIR/scaling.png shows
both (graft plot --scaling). Exit status: 0, or that of the first run that failed.
"""
import csv
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["workers", "servers", "updates_per_s", "seconds_per_epoch", "test_rmse", "bytes_moved",
           "seconds", "speedup", "efficiency"]


def fail(msg):
    print("graft scale: " + msg, file=sys.stderr)
    sys.exit(2)


def counts(text, flag):
    try:
        vals = [int(x) for x in text.split(",")]
    except ValueError:
        fail("%s takes whole numbers separated by commas, not %r" % (flag, text))
    if not vals or min(vals) < 1:
        fail("%s takes positive whole numbers (%r)" % (flag, text))
    return vals


def parse(argv):
    workers, servers, out, rest = None, [1], "scale", []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a in ("--workers", "--servers", "--out"):
            if i + 1 >= len(argv):
                fail("%s needs a value" % a)
            v = argv[i + 1]
            if a == "--workers":
                workers = counts(v, a)
            elif a == "--servers":
                servers = counts(v, a)
            else:
                out = v
            i += 2
            continue
        if a == "--metrics":
            fail("--metrics is set per run by graft scale (see --out)")
        rest.append(a)
        i += 1
    if workers is None:
        fail("give --workers, e.g. --workers 1,2,4,8")
    if len(servers) == 1:
        servers = servers * len(workers)
    if len(servers) != len(workers):
        fail("--servers gives %d values for %d sizes" % (len(servers), len(workers)))
    return workers, servers, out, rest


def main():
    workers, servers, out, rest = parse(sys.argv[1:])
    os.makedirs(out, exist_ok=True)
    rows = []
    for w, s in zip(workers, servers):
        name = os.path.join(out, "run-%d-%d" % (w, s))
        launcher = os.environ.get("GRAFT_LAUNCHER", os.path.join(HERE, "graft"))
        cmd = [launcher, "train", "--servers", str(s), "--workers", str(w),
               "--metrics", name + ".jsonl", "--progress", "lines"] + rest
        print("graft scale: %d servers x %d workers" % (s, w), flush=True)
        with open(name + ".log", "w") as log:
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
        if rc != 0:
            print("graft scale: the run with %d workers failed (exit %d); see %s.log"
                  % (w, rc, name), file=sys.stderr)
            sys.exit(rc)
        recs = [json.loads(l) for l in open(name + ".jsonl")]
        epochs = [r for r in recs if r.get("event") == "epoch"]
        summ = recs[-1]
        rows.append({
            "workers": w, "servers": s,
            "updates_per_s": summ["updates_per_s"],
            "seconds_per_epoch": sum(r["seconds"] for r in epochs) / max(len(epochs), 1),
            "test_rmse": summ.get("test_rmse"),
            "bytes_moved": summ.get("bytes_moved", 0),
            "seconds": summ["seconds"],
        })
    base = rows[0]
    for r in rows:
        r["speedup"] = r["updates_per_s"] / base["updates_per_s"]
        r["efficiency"] = r["speedup"] / (r["workers"] / base["workers"])
    path = os.path.join(out, "scale.csv")
    with open(path, "w", newline="") as f:
        wr = csv.DictWriter(f, COLUMNS)
        wr.writeheader()
        for r in rows:
            wr.writerow({k: ("%.6g" % v if isinstance(v, float) else v) for k, v in r.items()})
    print("%8s %8s %14s %12s %10s %10s" % ("workers", "servers", "updates/s", "s/epoch", "speed-up",
                                         "efficiency"))
    for r in rows:
        print("%8d %8d %14.4g %12.3f %10.2f %10.2f" % (r["workers"], r["servers"], r["updates_per_s"],
                                                       r["seconds_per_epoch"], r["speedup"],
                                                       r["efficiency"]))
    print("wrote %s" % path)
    if shutil.which("gnuplot"):
        subprocess.call([sys.executable, os.path.join(HERE, "plot.py"), "--scaling", path, "-o",
                         os.path.join(out, "scaling.png")])


if __name__ == "__main__":
    main()

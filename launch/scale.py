#!/usr/bin/env python3
"""graft scale: one training at several sizes, one CSV, speed-up and efficiency plots.

usage: graft scale --workers 1,2,4,8 [--servers 1 | --servers 1,1,2,2] [--out DIR]
                   [--submit [--launcher mpirun|srun] [--sbatch OPTION]...]
                   [any graft train option ...]

Runs `graft train` with the same options at each number of workers (with the matching entry of
--servers, or the one value for all), one after the other, on this machine or inside the
current batch allocation. With --submit, each size is a Slurm job of its own instead (`graft
submit`, into DIR/run-W-S/), all submitted at once; graft scale waits for them (polling squeue)
and reads their metrics. Each run's metrics go to DIR/run-W-S.jsonl and its log to
DIR/run-W-S.log; DIR/scale.csv gets one row per run:
  workers, servers, updates_per_s, seconds_per_epoch, test_rmse, bytes_moved, seconds,
  speedup, efficiency
(speed-up and efficiency against the first row). With gnuplot installed, DIR/scaling.png shows
both (graft plot --scaling). Exit status: 0, or that of the first run that failed; 2 for bad usage
or a --train, --test, --source or --target that is not a readable file, before anything runs.
"""
import csv
import json
import os
import shutil
import subprocess
import sys

import slurmjobs

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
    workers, servers, out, rest, submit = None, [1], "scale", [], []
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
        if a == "--submit":
            submit.append("--submit")
            i += 1
            continue
        if a in ("--launcher", "--sbatch"):
            if i + 1 >= len(argv):
                fail("%s needs a value" % a)
            submit += [a, argv[i + 1]]
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
    if len(submit) > 0 and "--submit" not in submit:
        fail("--launcher and --sbatch go with --submit")
    # The data files every run reads, checked before any run starts or --out is made.
    for j, a in enumerate(rest):
        flag, _, v = a.partition("=")
        if flag in ("--train", "--test", "--source", "--target"):
            path = v or (rest[j + 1] if j + 1 < len(rest) else "")
            if not os.path.exists(path) or os.path.isdir(path) or not os.access(path, os.R_OK):
                fail("%s %s: no such readable file" % (flag, path))
    return workers, servers, out, rest, [x for x in submit if x != "--submit"] if submit else None


def submitted(launcher, workers, servers, out, rest, sbatch):
    """Submits every size, waits for all, returns each run's metrics file."""
    jobs = []
    for w, s in zip(workers, servers):
        folder = os.path.join(out, "run-%d-%d" % (w, s))
        res = subprocess.run([launcher, "submit", "--servers", str(s), "--workers", str(w), "--out", folder,
                              "--job-name", "graft-scale-%d-%d" % (w, s)] + sbatch + rest,
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(res.stderr, end="", file=sys.stderr)
            sys.exit(res.returncode)
        job = res.stdout.strip()
        print("graft scale: %d servers x %d workers: job %s" % (s, w, job), flush=True)
        jobs.append((job, folder))
    folder_of = dict(jobs)
    ended = dict(slurmjobs.wait(list(folder_of), list(folder_of), folder_of.get, "graft scale"))
    files = []
    for job, folder in jobs:
        path = os.path.join(folder, "metrics-%s.jsonl" % job)
        recs = [json.loads(l) for l in open(path)] if os.path.exists(path) else []
        if ended[job] != 0 or not recs or recs[-1].get("event") != "summary":
            how = ("exit %d" % ended[job] if ended[job] is not None else
                   "it left the queue without an exit status: cancelled, out of time or its node lost")
            print("graft scale: job %s did not finish its training (%s); see %s/slurm-%s.out" % (job, how, folder, job),
                  file=sys.stderr)
            sys.exit(1)
        files.append(path)
    return files


def main():
    workers, servers, out, rest, sbatch = parse(sys.argv[1:])
    os.makedirs(out, exist_ok=True)
    rows = []
    launcher = os.environ.get("GRAFT_LAUNCHER", os.path.join(HERE, "graft"))
    files = submitted(launcher, workers, servers, out, rest, sbatch) if sbatch is not None else None
    for n, (w, s) in enumerate(zip(workers, servers)):
        name = os.path.join(out, "run-%d-%d" % (w, s))
        cmd = [launcher, "train", "--servers", str(s), "--workers", str(w),
               "--metrics", name + ".jsonl", "--progress", "lines"] + rest
        if files is None:
            print("graft scale: %d servers x %d workers" % (s, w), flush=True)
            with open(name + ".log", "w") as log:
                rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
            if rc != 0:
                print("graft scale: the run with %d workers failed (exit %d); see %s.log"
                      % (w, rc, name), file=sys.stderr)
                sys.exit(rc)
        recs = [json.loads(l) for l in open(files[n] if files else name + ".jsonl")]
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

#!/usr/bin/env python3
"""graft tune: a search over the hyperparameters you name, each trial scored on a validation
share of the training ratings (never on a test set).

usage: graft tune --train FILE [--out DIR] [--trials N] [--seed S] [--parallel J]
                  [--submit [--sbatch OPTION]...] [--validation-fraction F]
                  --NAME SPEC [--NAME SPEC ...] [any other graft train option ...]

A hyperparameter is any numeric graft train option given a search SPEC: a list (--dim 32,64,128)
or a range (--reg 0.01:0.3:log, --lr 0.02:0.2, lin by default); a plain value (--reg 0.05) is a
fixed option passed to every trial, as are the other options (--loss ials, --workers 2, ...).
Lists alone make a grid, every combination; with --trials N (needed with a range), N trials are
drawn at random, seeded by --seed (default 1): list values uniformly, ranges uniformly or
log-uniformly, integer options rounded. Each trial is `graft train --validation-fraction F`
(default 0.1) with early stopping, scored by its summary: valid_rmse (lower is better), or
valid_ndcg for a ranking loss (higher is better).

Trials run --parallel J at once on this machine (default 1), or with --submit as one Slurm job
array, a task per trial, through `graft submit --array` (the existing templates; --sbatch passes
options to sbatch; DIR/slurm gets the tasks file, the scripts, and each task's metrics). DIR (default tune) gets trial-N.jsonl metrics and logs, DIR/trials.csv (one
row per finished trial: its settings, validation score, epochs, seconds), DIR/best.conf (the best
settings as a --config file for graft train, with epochs = the best trial's best epoch, to train on
every training rating) and DIR/scores.png (the score against each hyperparameter). A line is
printed as each trial ends, and a sorted table at the end. Rerunning the same search in the same
DIR skips finished trials (resumable); DIR holding trials of another data set or search is an
error. Usage errors (an unknown hyperparameter, a range outside the option's bounds) exit 2, and
nothing in DIR is overwritten then.
"""
import concurrent.futures
import csv
import hashlib
import itertools
import json
import math
import os
import random
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time

import slurmjobs

HERE = os.path.dirname(os.path.abspath(__file__))
TUNE_OPTS = ("--train", "--out", "--trials", "--seed", "--parallel", "--sbatch", "--validation-fraction")


def fail(msg, code=2):
    print("graft tune: " + msg, file=sys.stderr)
    sys.exit(code)


def worker_options(launcher):
    """From graft train --help: every option that takes a number, {name: (type, lo, hi)}, and
    the flags (options without a value)."""
    p = subprocess.run([launcher, "train", "--help"], capture_output=True, text=True)
    opts = {}
    for m in re.finditer(r"^  --([a-z0-9-]+) (N|X) \(([-+0-9.e]+)\.\.([-+0-9.e]+)\)", p.stdout, re.M):
        opts[m.group(1)] = (int if m.group(2) == "N" else float, float(m.group(3)), float(m.group(4)))
    flags = set(re.findall(r"^  --([a-z0-9-]+) ?$", p.stdout, re.M))
    if not opts:
        fail("cannot read graft train --help (%s)" % p.stderr.strip()[-200:], 1)
    return opts, flags


def parse(argv, numeric, flags):
    o = {"train": None, "out": "tune", "trials": None, "seed": 1, "parallel": 1, "submit": False,
         "sbatch": [], "fraction": "0.1", "space": {}, "fixed": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        if a == "--submit":
            o["submit"] = True
            i += 1
            continue
        if not a.startswith("--"):
            fail("unexpected argument %r (see --help)" % a)
        if a[2:].split("=", 1)[0] in flags:  # --refit, --transfer-gate=no: passed on as they are
            o["fixed"].append(a)
            i += 1
            continue
        if "=" in a:
            a, v = a.split("=", 1)
            i += 1
        elif i + 1 < len(argv):
            v = argv[i + 1]
            i += 2
        else:
            fail("%s needs a value" % a)
        name = a[2:]
        if a in TUNE_OPTS:
            try:
                if a == "--train":
                    o["train"] = v
                elif a == "--out":
                    o["out"] = v
                elif a == "--trials":
                    o["trials"] = int(v)
                    assert o["trials"] >= 1
                elif a == "--seed":
                    o["seed"] = int(v)
                elif a == "--parallel":
                    o["parallel"] = int(v)
                    assert 1 <= o["parallel"] <= 256
                elif a == "--sbatch":
                    o["sbatch"] += ["--sbatch", v]
                else:
                    assert 0 < float(v) <= 0.9
                    o["fraction"] = v
            except (ValueError, AssertionError):
                fail("%s %s: not a valid value" % (a, v))
            continue
        if ("," in v or ":" in v) and not v.startswith(("/", ".")):
            if name not in numeric:
                fail("--%s: not a numeric graft train option, so it cannot be searched (see graft train "
                     "--help)" % name)
            o["space"][name] = spec(name, v, numeric[name])
        else:
            o["fixed"] += [a, v]
    if not o["train"]:
        fail("--train FILE is required")
    if not os.path.isfile(o["train"]):
        fail("--train %s: no such file" % o["train"])
    if not o["space"]:
        fail("name at least one hyperparameter to search, as --dim 32,64 or --reg 0.01:0.3:log")
    if o["trials"] is None and any(s[0] == "range" for s in o["space"].values()):
        fail("a range needs --trials N (random search); lists alone make a grid")
    if o["sbatch"] and not o["submit"]:
        fail("--sbatch goes with --submit")
    return o


def spec(name, v, bounds):
    kind, lo, hi = bounds
    try:
        if ":" in v:
            parts = v.split(":")
            if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("log", "lin")):
                raise ValueError
            a, b = float(parts[0]), float(parts[1])
            scale = parts[2] if len(parts) == 3 else "lin"
            if not a < b or (scale == "log" and a <= 0):
                fail("--%s %s: a range needs low < high (and low > 0 on a log scale)" % (name, v))
            vals = (a, b)
            out = ("range", kind, a, b, scale)
        else:
            vals = tuple(kind(float(x)) if kind is int else float(x) for x in v.split(","))
            if kind is int and any(float(x) != int(float(x)) for x in v.split(",")):
                raise ValueError
            out = ("list", kind, vals)
    except ValueError:
        fail("--%s %s: a list is v1,v2,... and a range low:high[:log|lin]" % (name, v))
    bad = [x for x in vals if not lo <= x <= hi]
    if bad:
        fail("--%s %s: %g is outside the option's bounds %g..%g" % (name, v, bad[0], lo, hi))
    return out


def trials_of(o):
    """The trials' settings, in order: [{name: value}]."""
    names = sorted(o["space"])
    if o["trials"] is None:
        grid = [o["space"][n][2] for n in names]
        return [dict(zip(names, combo)) for combo in itertools.product(*grid)]
    rnd = random.Random(o["seed"])
    out = []
    for _ in range(o["trials"]):
        t = {}
        for n in names:
            s = o["space"][n]
            if s[0] == "list":
                t[n] = rnd.choice(s[2])
            else:
                _, kind, a, b, scale = s
                x = math.exp(rnd.uniform(math.log(a), math.log(b))) if scale == "log" else rnd.uniform(a, b)
                t[n] = int(round(x)) if kind is int else float("%.6g" % x)
        out.append(t)
    return out


def data_id(path):
    """What names the data set: its size and a hash of its first and last MiB."""
    h = hashlib.sha256()
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        if size > 2 << 20:
            f.seek(-(1 << 20), 2)
            h.update(f.read())
    return "%d:%s" % (size, h.hexdigest()[:16])


def settings_key(t):
    return " ".join("%s=%s" % (k, t[k]) for k in sorted(t))


def check_folder(o, names):
    """DIR/tune.json says which data and search its trials belong to; another one is an error."""
    os.makedirs(o["out"], exist_ok=True)
    meta = {"train": os.path.abspath(o["train"]), "data": data_id(o["train"]), "fixed": o["fixed"],
            "validation_fraction": o["fraction"], "hyperparameters": names}
    path = os.path.join(o["out"], "tune.json")
    if os.path.exists(path):
        try:
            old = json.load(open(path))
        except ValueError:
            fail("%s: not a graft tune record" % path)
        if old.get("data") != meta["data"]:
            fail("%s holds trials of another data set (%s), not of %s: use another --out"
                 % (o["out"], old.get("train"), o["train"]))
        if old.get("fixed") != meta["fixed"] or old.get("validation_fraction") != meta["validation_fraction"] \
                or old.get("hyperparameters") != names:
            fail("%s holds trials of another search (options %s, hyperparameters %s): use another --out"
                 % (o["out"], " ".join(old.get("fixed", [])), ",".join(old.get("hyperparameters", []))))
    else:
        with open(path, "w") as f:
            json.dump(meta, f, indent=1)


def read_done(path):
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        return {r["settings"]: r for r in csv.DictReader(f)}


def summary_of(metrics):
    try:
        recs = [json.loads(l) for l in open(metrics) if l.strip()]
    except (OSError, ValueError):
        return None
    return recs[-1] if recs and recs[-1].get("event") == "summary" else None


def fixed_pairs(fixed):
    """The fixed options as (name, value): a flag is 1 (or its =value)."""
    out, i = [], 0
    while i < len(fixed):
        a = fixed[i]
        if i + 1 < len(fixed) and not fixed[i + 1].startswith("--"):
            out.append((a[2:], fixed[i + 1]))
            i += 2
        else:
            k, _, v = a[2:].partition("=")
            out.append((k, {"no": "0", "yes": "1", "": "1"}.get(v, v)))
            i += 1
    return out


def trial_args(o, t, n):
    # A trial is scored by its validation share; a refit would only cost time.
    args = ["--train", o["train"], "--validation-fraction", o["fraction"], "--refit=no", "--quiet", "--progress",
            "lines"]
    for k in sorted(t):
        args += ["--" + k, str(t[k])]
    return args + o["fixed"]


def run_local(launcher, o, t, n):
    metrics = os.path.join(o["out"], "trial-%d.jsonl" % n)
    with open(os.path.join(o["out"], "trial-%d.log" % n), "w") as log:
        rc = subprocess.call([launcher, "train", "--metrics", metrics] + trial_args(o, t, n), stdout=log,
                             stderr=subprocess.STDOUT)
    return rc, metrics


def run_submitted(launcher, o, todo):
    """The trials as one Slurm job array (graft submit --array), a task per trial; yields each
    trial as its task leaves the queue."""
    folder = os.path.join(o["out"], "slurm")
    os.makedirs(folder, exist_ok=True)
    tasks = os.path.join(folder, "tasks.txt")
    with open(tasks, "w") as f:
        for n, t in todo:
            f.write(" ".join(shlex.quote(a) for a in trial_args(o, t, n)) + "\n")
    res = subprocess.run([launcher, "submit", "--out", folder, "--job-name", "graft-tune", "--array", tasks]
                         + o["sbatch"], capture_output=True, text=True)
    if res.returncode != 0:
        print(res.stderr, end="", file=sys.stderr)
        sys.exit(res.returncode)
    job = res.stdout.strip()
    print("graft tune: %d trials as job array %s (tasks 0-%d)" % (len(todo), job, len(todo) - 1), flush=True)
    tags = ["%s_%d" % (job, i) for i in range(len(todo))]
    by_tag = {t: n for t, (n, _) in zip(tags, todo)}
    for tag, rc in slurmjobs.wait([job], tags, lambda _: folder, "graft tune"):
        yield by_tag[tag], rc, os.path.join(folder, "metrics-%s.jsonl" % tag), os.path.join(folder, "slurm-%s.out" % tag)


def main():
    launcher = os.environ.get("GRAFT_LAUNCHER", os.path.join(HERE, "graft"))
    argv = sys.argv[1:]
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__.strip())
        return
    o = parse(argv, *worker_options(launcher))
    names = sorted(o["space"])
    ranking = any(k == "loss" and v != "squared" for k, v in fixed_pairs(o["fixed"]))
    score = "valid_ndcg" if ranking else "valid_rmse"
    check_folder(o, names)
    trials = trials_of(o)
    table = os.path.join(o["out"], "trials.csv")
    done = read_done(table)
    columns = ["trial"] + names + ["settings", score, "epochs", "seconds"]
    if done and list(next(iter(done.values())).keys()) != columns:
        fail("%s has other columns than this search's: use another --out" % table)
    todo = [(n, t) for n, t in enumerate(trials, 1) if settings_key(t) not in done]
    print("graft tune: %d trials (%s), %d already done in %s; scored by %s on %s%% of the training ratings"
          % (len(trials), "grid" if o["trials"] is None else "random, seed %d" % o["seed"], len(trials) - len(todo),
             o["out"], score, float(o["fraction"]) * 100), flush=True)
    lock = threading.Lock()
    best = [None]
    for r in done.values():
        v = float(r[score])
        if best[0] is None or (v > best[0] if ranking else v < best[0]):
            best[0] = v
    new_file = not os.path.exists(table)
    out = open(table, "a", newline="")
    wr = csv.DictWriter(out, columns)
    if new_file:
        wr.writeheader()
        out.flush()
    failed = []

    def finish(n, rc, metrics, log, t, seconds):
        s = summary_of(metrics) if rc == 0 else None
        with lock:
            if s is None or s.get(score) is None:
                failed.append(n)
                how = ("exit %d" % rc if rc is not None else
                       "its job left the queue without an exit status: cancelled, out of time or its node lost")
                print("graft tune: trial %d failed (%s); see %s" % (n, how, log), file=sys.stderr, flush=True)
                return
            v = s[score]
            row = {"trial": n, "settings": settings_key(t), score: "%.6f" % v, "epochs": s.get("best_epoch"),
                   "seconds": "%.1f" % (seconds if seconds is not None else s.get("seconds", 0))}
            row.update({k: t[k] for k in names})
            wr.writerow(row)
            out.flush()
            if best[0] is None or (v > best[0] if ranking else v < best[0]):
                best[0] = v
            print("trial %3d/%d  %s  %s %.4f  epochs %s  %5.1f s   best %.4f" % (
                n, len(trials), "  ".join("%s %s" % (k, t[k]) for k in names), score, v, row["epochs"],
                float(row["seconds"]), best[0]), flush=True)

    by_n = dict(todo)
    if o["submit"]:
        for n, rc, metrics, log in run_submitted(launcher, o, todo):
            finish(n, rc, metrics, log, by_n[n], None)
    else:
        def one(item):
            n, t = item
            t0 = time.time()
            rc, metrics = run_local(launcher, o, t, n)
            finish(n, rc, metrics, metrics.replace(".jsonl", ".log"), t, time.time() - t0)
        with concurrent.futures.ThreadPoolExecutor(max_workers=o["parallel"]) as pool:
            list(pool.map(one, todo))
    out.close()
    rows = list(read_done(table).values())
    if not rows:
        fail("no trial finished", 1)
    rows.sort(key=lambda r: float(r[score]), reverse=ranking)
    print("\n%-6s %s %12s %7s %8s" % ("trial", " ".join("%12s" % k for k in names), score, "epochs", "seconds"))
    for r in rows:
        print("%-6s %s %12s %7s %8s" % (r["trial"], " ".join("%12s" % r[k] for k in names), r[score], r["epochs"],
                                         r["seconds"]))
    top = rows[0]
    conf = os.path.join(o["out"], "best.conf")
    with open(conf, "w") as f:
        f.write("# graft tune: the best of %d trials on %s, %s %s at epoch %s\n"
                % (len(rows), o["train"], score, top[score], top["epochs"]))
        f.write("# graft train --config %s trains these settings on every training rating\n" % conf)
        for k in names:
            f.write("%s = %s\n" % (k, top[k]))
        for k, v in fixed_pairs(o["fixed"]):
            if k not in ("servers", "workers", "test", "metrics", "save", "mpirun-args", "epochs", "config",
                         "quiet", "progress"):
                f.write("%s = %s\n" % (k, v))
        f.write("epochs = %s\n" % top["epochs"])
    print("graft tune: best %s %s (trial %s); settings in %s" % (score, top[score], top["trial"], conf))
    plot(o["out"], rows, names, score)
    if failed:
        sys.exit(1)


def plot(folder, rows, names, score):
    """DIR/scores.png: the score against each hyperparameter (log x where it spans a decade)."""
    if not shutil.which("gnuplot"):
        print("graft tune: no gnuplot, so no scores.png", file=sys.stderr)
        return
    data = os.path.join(folder, "scores.dat")
    with open(data, "w") as f:
        for r in rows:
            f.write(" ".join([r[k] for k in names] + [r[score]]) + "\n")
    cols = len(names)
    script = ["set terminal pngcairo size %d,400 noenhanced" % (380 * cols),
              "set output '%s'" % os.path.join(folder, "scores.png").replace("'", ""),
              "set multiplot layout 1,%d" % cols, "set grid", "set ylabel '%s'" % score]
    for j, k in enumerate(names):
        vals = [float(r[k]) for r in rows]
        logx = min(vals) > 0 and max(vals) / min(vals) >= 10
        script += ["%s logscale x" % ("set" if logx else "unset"), "set xlabel '%s'" % k,
                   "plot '%s' using %d:%d with points pointtype 7 notitle" % (data, j + 1, cols + 1)]
    script.append("unset multiplot")
    p = subprocess.run(["gnuplot"], input="\n".join(script) + "\n", capture_output=True, text=True)
    if p.returncode != 0:
        print("graft tune: gnuplot failed: %s" % p.stderr.strip()[-300:], file=sys.stderr)
    else:
        print("graft tune: plot in %s" % os.path.join(folder, "scores.png"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""graft compare: runs every transfer mode on the same split and prints one table (also JSON).

usage: graft compare --source FILE --target FILE [--cold-start-users 0.2[,0.5,...]]
                     [--seeds 1[,2,3]] [--modes none,seed,map,joint] [--out compare.json]
                     [--rank-k 10] [--servers S] [--workers W] [any graft train option ...]

Each (cold-start fraction, seed) pair is one split; every mode trains on it with the same
options. Cold and warm figures are averaged over the seeds. The two bias baselines come from the
`none` runs: the item bias alone (mu + b_i) and the item bias plus the user's source-domain bias.
Ranking of cold-start users: each run's model is saved and `graft eval` ranks all target items for
every cold user against their held-out target ratings (full ranking, no sampled negatives):
HR@K, NDCG@K and Recall@K with K = --rank-k.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

MODES = ["none", "seed", "map", "joint"]


def parse(argv):
    opts = {"cold": "0.2", "seeds": "1", "modes": ",".join(MODES), "out": "compare.json", "rank_k": "10"}
    rest = []
    i = 0
    own = {"--cold-start-users": "cold", "--seeds": "seeds", "--modes": "modes", "--out": "out",
           "--source": "source", "--target": "target", "--rank-k": "rank_k"}
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__.strip())
            sys.exit(0)
        key = a.split("=", 1)[0]
        if key in own:
            if "=" in a:
                opts[own[key]] = a.split("=", 1)[1]
                i += 1
            elif i + 1 < len(argv):
                opts[own[key]] = argv[i + 1]
                i += 2
            else:
                sys.exit("graft compare: %s needs a value" % a)
            continue
        if key in ("--transfer", "--metrics", "--seed", "--save"):
            sys.exit("graft compare: %s is chosen by compare itself" % key)
        rest.append(a)
        i += 1
    for need in ("source", "target"):
        if need not in opts:
            sys.exit("graft compare: --%s FILE is required (see --help)" % need)
    try:
        opts["cold"] = [float(x) for x in opts["cold"].split(",")]
        opts["seeds"] = [int(x) for x in opts["seeds"].split(",")]
        opts["rank_k"] = int(opts["rank_k"])
    except ValueError:
        sys.exit("graft compare: --cold-start-users and --seeds take comma-separated numbers")
    opts["modes"] = opts["modes"].split(",")
    for m in opts["modes"]:
        if m not in MODES:
            sys.exit("graft compare: unknown mode '%s' (one of %s)" % (m, ",".join(MODES)))
    return opts, rest


def cold_ratings(target, users, path):
    """Writes the target ratings of users (ids) to path, verbatim, with the file's header if any."""
    n = 0
    with open(target, errors="replace") as f, open(path, "w") as out:
        for i, line in enumerate(f):
            sep = "::" if "::" in line else "\t" if "\t" in line else ","
            fields = line.rstrip("\r\n").split(sep)
            try:
                float(fields[2])
            except (IndexError, ValueError):
                if i == 0:
                    out.write(line)
                continue
            if fields[0] in users:
                out.write(line)
                n += 1
    return n


def run(graft, opts, rest, mode, cold, seed, tmp):
    tag = "%s-%g-%d" % (mode, cold, seed)
    m, model = os.path.join(tmp, tag + ".jsonl"), os.path.join(tmp, tag + "-model")
    args = [graft, "train", "--source", opts["source"], "--target", opts["target"], "--transfer", mode,
            "--cold-start-users", str(cold), "--seed", str(seed), "--metrics", m, "--quiet",
            "--save", model] + rest
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        sys.exit(p.returncode)
    with open(m) as f:
        rows = [json.loads(line) for line in f]
    summary = rows[-1]
    # Ranking of the cold-start users: all target items, against their held-out ratings.
    k = opts["rank_k"]
    users = set(open(os.path.join(model, "cold-users.txt")).read().split())
    test = os.path.join(tmp, tag + "-cold.txt")
    if users and cold_ratings(opts["target"], users, test):
        out = os.path.join(tmp, tag + "-eval.json")
        p = subprocess.run([graft, "eval", "--model", model, "--test", test, "-k", str(k), "--out", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.stderr.write(p.stderr)
            sys.exit(p.returncode)
        ev = json.load(open(out))
        for name in ("hr", "ndcg", "recall"):
            summary["cold_%s" % name] = ev.get("%s@%d" % (name, k))
    shutil.rmtree(model, ignore_errors=True)
    return summary


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def main():
    opts, rest = parse(sys.argv[1:])
    graft = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graft")
    result = {"source": opts["source"], "target": opts["target"], "seeds": opts["seeds"],
              "options": rest, "splits": []}
    with tempfile.TemporaryDirectory(prefix="graft-compare-") as tmp:
        for cold in opts["cold"]:
            runs = {m: [] for m in opts["modes"]}
            for seed in opts["seeds"]:
                for mode in opts["modes"]:
                    s = run(graft, opts, rest, mode, cold, seed, tmp)
                    runs[mode].append(s)
                    print("  cold %.2f seed %d %-5s cold_rmse %.4f warm_rmse %.4f" %
                          (cold, seed, mode, s["cold_rmse"], s["warm_rmse"]), file=sys.stderr)
            rows = []
            for mode in opts["modes"]:
                rs = runs[mode]
                rows.append({"mode": mode,
                             "cold_rmse": mean([r["cold_rmse"] for r in rs]),
                             "cold_mae": mean([r["cold_mae"] for r in rs]),
                             "warm_rmse": mean([r["warm_rmse"] for r in rs]),
                             "warm_mae": mean([r["warm_mae"] for r in rs]),
                             "cold_hr": mean([r.get("cold_hr") for r in rs]),
                             "cold_ndcg": mean([r.get("cold_ndcg") for r in rs]),
                             "cold_recall": mean([r.get("cold_recall") for r in rs]),
                             "seconds": mean([r["seconds"] for r in rs])})
            base = runs[opts["modes"][0]]
            rows.append({"mode": "baseline: item bias",
                         "cold_rmse": mean([r["baseline_item_cold_rmse"] for r in base]),
                         "warm_rmse": mean([r["baseline_item_warm_rmse"] for r in base])})
            rows.append({"mode": "baseline: item + source user bias",
                         "cold_rmse": mean([r["baseline_item_user_cold_rmse"] for r in base]),
                         "warm_rmse": mean([r["baseline_item_user_warm_rmse"] for r in base])})
            first = base[0]
            result["splits"].append({"cold_start_users": cold, "cold_users": first["cold_users"],
                                     "cold_ratings": first["cold_ratings"],
                                     "warm_ratings": first["warm_ratings"], "rows": rows})
    none = {s["cold_start_users"]: next((r for r in s["rows"] if r["mode"] == "none"), None)
            for s in result["splits"]}
    for s in result["splits"]:
        n = none[s["cold_start_users"]]
        print()
        print("cold-start users %.0f%% (%d users, %d cold ratings, %d warm ratings), mean of seeds %s"
              % (100 * s["cold_start_users"], s["cold_users"], s["cold_ratings"], s["warm_ratings"],
                 ",".join(str(x) for x in opts["seeds"])))
        k = opts["rank_k"]
        print("%-34s %9s %9s %9s %9s %10s %9s %9s %9s" % (
            "mode", "cold RMSE", "cold MAE", "warm RMSE", "warm MAE", "cold vs none",
            "cold HR@%d" % k, "NDCG@%d" % k, "Rec@%d" % k))
        for r in s["rows"]:
            vs = ""
            if n and r.get("cold_rmse") is not None and n["cold_rmse"]:
                vs = "%+.1f%%" % (100 * (r["cold_rmse"] / n["cold_rmse"] - 1))
            fmt = lambda x: "%9.4f" % x if isinstance(x, float) else "%9s" % "-"
            print("%-34s %s %s %s %s %10s %s %s %s" % (
                r["mode"], fmt(r.get("cold_rmse")), fmt(r.get("cold_mae")), fmt(r.get("warm_rmse")),
                fmt(r.get("warm_mae")), vs, fmt(r.get("cold_hr")), fmt(r.get("cold_ndcg")),
                fmt(r.get("cold_recall"))))
    with open(opts["out"], "w") as f:
        json.dump(result, f, indent=1)
    print("\nwritten to %s" % opts["out"])


if __name__ == "__main__":
    main()

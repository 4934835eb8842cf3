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
HR@K, NDCG@K and Recall@K with K = --rank-k. A popularity row ranks every target item by its
number of ratings from the users who are not cold (the trivial baseline a model must beat).
--source and --target may also come from a --config file. Usage errors exit with status 2.

With --loss ials or bpr the table ranks first (launch/compare_ranking.py, docs/ranking.md): cold
and warm HR, NDCG and Recall@K, a popularity row, a fold-in row, and each mode's epochs chosen by
graft train's early stopping on validation cold users (--validation-cold-users, by default as
many as the test cold users) disjoint from the test cold users, up to --epochs (default 30; an
--epoch-grid list's largest count is read as that cap).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

MODES = ["none", "seed", "map", "joint"]


def usage_error(msg):
    """Bad usage is bad input: status 2, as every graft command."""
    print("graft compare: " + msg, file=sys.stderr)
    sys.exit(2)


def config_value(path, name):
    """The value of `name = value` in a graft --config file, or None."""
    try:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if "=" in line and line.split("=", 1)[0].strip() == name:
                    return line.split("=", 1)[1].strip()
    except OSError as e:
        usage_error("--config %s: %s" % (path, e.strerror))
    return None


def parse(argv):
    opts = {"cold": "0.2", "seeds": "1", "modes": ",".join(MODES), "out": "compare.json", "rank_k": "10"}
    rest = []
    i = 0
    own = {"--cold-start-users": "cold", "--seeds": "seeds", "--modes": "modes", "--out": "out",
           "--source": "source", "--target": "target", "--rank-k": "rank_k",
           "--epoch-grid": "epoch_grid"}
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
                usage_error("%s needs a value" % a)
            continue
        if key in ("--transfer", "--metrics", "--seed", "--save"):
            usage_error("%s is chosen by compare itself" % key)
        if key == "--config":
            path = a.split("=", 1)[1] if "=" in a else (argv[i + 1] if i + 1 < len(argv) else None)
            if path is None:
                usage_error("--config needs a file")
            for need in ("source", "target"):
                v = config_value(path, need)
                if v is not None:
                    opts.setdefault("config_" + need, v)
        rest.append(a)
        i += 1
    for need in ("source", "target"):
        if need not in opts and "config_" + need in opts:
            opts[need] = opts["config_" + need]
        if need not in opts:
            usage_error("--%s FILE is required (see --help)" % need)
        # Read here before any job starts (the splits are made by compare itself).
        if not os.access(opts[need], os.R_OK) or os.path.isdir(opts[need]):
            usage_error("--%s %s: %s" % (need, opts[need], "a folder, not a file" if os.path.isdir(opts[need])
                                         else "no such readable file"))
    try:
        opts["cold"] = [float(x) for x in opts["cold"].split(",")]
        opts["seeds"] = [int(x) for x in opts["seeds"].split(",")]
        opts["rank_k"] = int(opts["rank_k"])
    except ValueError:
        usage_error("--cold-start-users, --seeds and --rank-k take comma-separated numbers")
    if not all(0 < c < 1 for c in opts["cold"]) or opts["rank_k"] < 1:
        usage_error("--cold-start-users takes shares between 0 and 1, --rank-k a positive number")
    opts["modes"] = opts["modes"].split(",")
    for m in opts["modes"]:
        if m not in MODES:
            usage_error("unknown mode '%s' (one of %s)" % (m, ",".join(MODES)))
    return opts, rest


def option_value(rest, name, default=None):
    """The value of a graft train option among the options compare passes through."""
    for i, a in enumerate(rest):
        if a == name and i + 1 < len(rest):
            return rest[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return default


def without_option(rest, name):
    """rest without option name and its value."""
    out, skip = [], False
    for a in rest:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def split_line(line):
    sep = "::" if "::" in line else "\t" if "\t" in line else ","
    return line.rstrip("\r\n").split(sep)


def rating_fields(line):
    """(user, item) of a rating line, ids as graft reads them."""
    f = split_line(line)
    return f[0].strip().strip('"'), f[1].strip().strip('"')


def rating_lines(target):
    """(line, fields) of every line of a ratings file; fields is None for a header (a line whose
    third field is not a number, or a first line of a two-column file naming user and item)."""
    with open(target, errors="replace") as f:
        for i, line in enumerate(f):
            fields = split_line(line)
            if len(fields) == 2:
                if i == 0 and "user" in fields[0].lower() and "item" in fields[1].lower():
                    fields = None
            else:
                try:
                    float(fields[2])
                except (IndexError, ValueError):
                    fields = None
            yield line, fields


def metrics_summary(path):
    """The summary record (the last line) of a metrics file."""
    with open(path) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return rows[-1] if rows else {}


def cold_ratings(target, users, path):
    """Writes the target ratings of users (ids) to path, verbatim, with the file's header if any."""
    n = 0
    with open(path, "w") as out:
        for i, (line, fields) in enumerate(rating_lines(target)):
            if fields is None:
                if i == 0:
                    out.write(line)
            elif fields[0] in users:
                out.write(line)
                n += 1
    return n


def read_target(target):
    """(user, item) of every rating line of the target file (a header is skipped)."""
    return [(f[0].strip().strip('"'), f[1].strip().strip('"'))
            for _, f in rating_lines(target) if f is not None]


def popularity(pairs, cold, k):
    """HR, NDCG and Recall@k of ranking every target item by its count of ratings from users who
    are not cold, for each cold user against that user's target items (graft eval's
    definitions: binary relevance, items nobody else rated are not relevant)."""
    import math
    count = {}
    for u, i in pairs:
        if u not in cold:
            count[i] = count.get(i, 0) + 1
    top = [i for i, _ in sorted(count.items(), key=lambda x: (-x[1], x[0]))[:k]]
    held = {}
    for u, i in pairs:
        if u in cold and i in count:
            held.setdefault(u, []).append(i)
    hr = ndcg = rec = 0.0
    for u, items in held.items():
        rel = set(items)
        hits = [r for r, i in enumerate(top) if i in rel]
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(items))))
        hr += bool(hits)
        ndcg += sum(1 / math.log2(r + 2) for r in hits) / idcg
        rec += len(hits) / len(items)
    n = len(held)
    return (hr / n, ndcg / n, rec / n) if n else (None, None, None)


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
    summary["_cold_users_ids"] = users
    shutil.rmtree(model, ignore_errors=True)
    return summary


def verdict(rows, modes, k):
    """The table's best mode by cold NDCG@K against the popularity row, in words (None without
    them): a result that loses to the trivial baseline is said to."""
    pop = next((r for r in rows if r["mode"].startswith("popularity")), {})
    ranked = [r for r in rows if r["mode"] in modes and r.get("cold_ndcg") is not None]
    if not pop.get("cold_ndcg") or not ranked:
        return None
    best = max(ranked, key=lambda r: r["cold_ndcg"])
    return "best mode %s: cold NDCG@%d %.4f, %.2f x popularity's (%s it)" % (
        best["mode"], k, best["cold_ndcg"], best["cold_ndcg"] / pop["cold_ndcg"],
        "beats" if best["cold_ndcg"] > pop["cold_ndcg"] else "LOSES TO")


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def main():
    opts, rest = parse(sys.argv[1:])
    graft = os.path.join(os.path.dirname(os.path.abspath(__file__)), "graft")
    if option_value(rest, "--loss", "squared") != "squared":
        import compare_ranking
        compare_ranking.main(graft, opts, rest)
        return
    result = {"source": opts["source"], "target": opts["target"], "seeds": opts["seeds"],
              "options": rest, "splits": []}
    pairs = read_target(opts["target"])
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
            pops = [popularity(pairs, r.pop("_cold_users_ids", set()), opts["rank_k"])
                    for r in runs[opts["modes"][0]]]
            for m in opts["modes"][1:]:
                for r in runs[m]:
                    r.pop("_cold_users_ids", None)
            rows.append({"mode": "popularity (ratings per item)",
                         "cold_hr": mean([p[0] for p in pops]),
                         "cold_ndcg": mean([p[1] for p in pops]),
                         "cold_recall": mean([p[2] for p in pops])})
            base = runs[opts["modes"][0]]
            rows.append({"mode": "baseline: item bias",
                         "cold_rmse": mean([r["baseline_item_cold_rmse"] for r in base]),
                         "warm_rmse": mean([r["baseline_item_warm_rmse"] for r in base])})
            rows.append({"mode": "baseline: item + source user bias",
                         "cold_rmse": mean([r["baseline_item_user_cold_rmse"] for r in base]),
                         "warm_rmse": mean([r["baseline_item_user_warm_rmse"] for r in base])})
            # Each seed draws its own cold users: the counts are means over the seeds too.
            result["splits"].append({"cold_start_users": cold,
                                     "cold_users": mean([r["cold_users"] for r in base]),
                                     "cold_ratings": mean([r["cold_ratings"] for r in base]),
                                     "warm_ratings": mean([r["warm_ratings"] for r in base]),
                                     "rows": rows})
    none = {s["cold_start_users"]: next((r for r in s["rows"] if r["mode"] == "none"), None)
            for s in result["splits"]}
    for s in result["splits"]:
        n = none[s["cold_start_users"]]
        print()
        print("cold-start users %.0f%% (%.0f users, %.0f cold ratings, %.0f warm ratings), mean of seeds %s"
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
        # Squared error is not a ranking objective: say plainly when counting ratings ranks better.
        v = verdict(s["rows"], opts["modes"], k)
        if v:
            print("ranking: " + v + ("" if "(beats it)" in v else "; --loss ials trains for ranking (docs/ranking.md)"))
    with open(opts["out"], "w") as f:
        json.dump(result, f, indent=1)
    print("\nwritten to %s" % opts["out"])


if __name__ == "__main__":
    main()

"""graft compare with a ranking loss (--loss ials): the protocol of docs/ranking.md.

Per (cold-start share, seed) split:
1. The target is split once: a seeded 10% (--warm-test-fraction) of its ratings is the warm test
   file, passed to every run as --target-test, the rest its training file.
2. Every mode trains once on the split with graft train's own model selection
   (docs/selection.md): --cold-start-users names the test cold users, whose target ratings never
   reach training; --validation-cold-users holds out as many other users of both domains the same
   way, and early stopping keeps the epoch that ranks those validation cold users best (none,
   whose cold users are answered by popularity, picks on the validation share); --refit then
   trains on every training rating for that many epochs. The epochs are chosen without the test
   cold users' target ratings ever being read, by the same mechanism as every graft train run.
3. Test: cold users: HR, NDCG and Recall@K of a full ranking of the target items against all
   their target items. Warm users: against their warm test items, with their training items left
   out of the ranking.
4. Rows of trivial and serving-time baselines: popularity (count of training positives), and
   fold-in: a joint model trained without the cold users at all, which folds their source history
   in at serving time (graft eval --history), as a new user arriving would be answered.
"""
import json
import os
import random
import shutil
import subprocess
import sys

import compare as c


def fail(p):
    sys.stderr.write(p.stderr)
    sys.exit(p.returncode)


def call(args):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        fail(p)
    return p


def lines_by_user(path, min_rating=None):
    """{user: [line, ...]} and the header line ('' when none) of a ratings file; with
    min_rating, only its positives (the lines a ranking loss trains on and counts relevant)."""
    header, users = "", {}
    for i, (line, fields) in enumerate(c.rating_lines(path)):
        if fields is None:
            if i == 0:
                header = line
            continue
        if min_rating is not None and len(fields) > 2 and float(fields[2]) < min_rating:
            continue
        users.setdefault(fields[0].strip().strip('"'), []).append(line)
    return header, users


def write(path, header, users, keep=None, drop=()):
    n = 0
    with open(path, "w") as f:
        f.write(header)  # positives only when --min-rating filtered them
        for u, ls in users.items():
            if u in drop or (keep is not None and u not in keep):
                continue
            for line in ls:
                f.write(line if line.endswith("\n") else line + "\n")
                n += 1
    return n


def evaluate(graft, model, test, k, extra):
    out = test + ".json"
    call([graft, "eval", "--model", model, "--test", test, "-k", str(k), "--out", out] + extra)
    ev = json.load(open(out))
    return {m: ev.get("%s@%d" % (m, k)) for m in ("hr", "ndcg", "recall")}


def popularity(train_users, test_users, exclude_train, k):
    """HR, NDCG and Recall@k of ranking target items by their count in train_users' lines, for
    every user of test_users against their test items (items nobody trained on are not
    relevant, as graft eval counts them); a user's own training items are left out when
    exclude_train."""
    import math
    count = {}
    for ls in train_users.values():
        for line in ls:
            i = c.rating_fields(line)[1]
            count[i] = count.get(i, 0) + 1
    order = sorted(count.items(), key=lambda x: (-x[1], x[0]))
    hr = ndcg = rec = 0.0
    n = 0
    for u, ls in test_users.items():
        rel = {c.rating_fields(line)[1] for line in ls} & set(count)
        if not rel:
            continue
        seen = {c.rating_fields(line)[1] for line in train_users.get(u, [])} if exclude_train else set()
        top = [i for i, _ in order if i not in seen][:k]
        hits = [r for r, i in enumerate(top) if i in rel]
        idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(rel))))
        hr += bool(hits)
        ndcg += sum(1 / math.log2(r + 2) for r in hits) / idcg
        rec += len(hits) / len(rel)
        n += 1
    return {"hr": hr / n, "ndcg": ndcg / n, "recall": rec / n} if n else {}


def train(graft, source, target, ttest, mode, cold, seed, epochs, rest, model, extra=()):
    args = [graft, "train", "--source", source, "--target", target, "--target-test", ttest,
            "--transfer", mode, "--cold-start-users", str(cold), "--seed", str(seed), "--quiet",
            "--save", model, "--metrics", model + ".jsonl", "--epochs", str(epochs)]
    call(args + list(extra) + rest)
    return set(open(os.path.join(model, "cold-users.txt")).read().split())


def split(graft, opts, rest, cold, seed, tmp, cap):
    k = opts["rank_k"]
    # Positives only, everywhere: what trains, what is relevant, what popularity counts.
    minr = c.option_value(rest, "--min-rating")
    minr = float(minr) if minr is not None else None
    header, tusers = lines_by_user(opts["target"], minr)
    sheader, susers = lines_by_user(opts["source"], minr)
    # 1. The warm test file: a seeded share of the target's ratings.
    wf = float(c.option_value(rest, "--warm-test-fraction", "0.1"))
    rnd = random.Random(seed * 7919 + 17)
    ttrain, ttest = {}, {}
    for u, ls in tusers.items():
        for line in ls:
            (ttest if rnd.random() < wf else ttrain).setdefault(u, []).append(line)
    tag = "%g-%d" % (cold, seed)
    f_train, f_test = os.path.join(tmp, tag + "-target.csv"), os.path.join(tmp, tag + "-warm-test.csv")
    write(f_train, header, ttrain)
    write(f_test, header, ttest)
    # 2. One run per mode: as many validation cold users as test cold users, drawn among the rest.
    vcold = c.option_value(rest, "--validation-cold-users")
    vcold = vcold if vcold is not None else "%g" % min(0.5, cold / max(1e-9, 1 - cold))
    select = ["--validation-cold-users", vcold] if c.option_value(rest, "--validation-cold-users") is None else []
    rows, test_cold, valid_users = {}, None, set()
    chosen = {}
    for mode in opts["modes"]:
        model = os.path.join(tmp, "%s-%s" % (tag, mode))
        got = train(graft, opts["source"], f_train, f_test, mode, cold, seed, cap, rest, model, select)
        if test_cold is None:
            test_cold = got
            cold_file = os.path.join(tmp, tag + "-cold.csv")
            warm_file, warm_seen = os.path.join(tmp, tag + "-warm.csv"), os.path.join(tmp, tag + "-warm-seen.csv")
            write(cold_file, header, tusers, keep=test_cold)
            write(warm_file, header, ttest, drop=test_cold)
            write(warm_seen, header, ttrain, drop=test_cold)
        elif got != test_cold:
            sys.exit("graft compare: mode %s drew other cold users than the split's" % mode)
        vpath = os.path.join(model, "validation-cold-users.txt")
        valid_users |= set(open(vpath).read().split()) if os.path.exists(vpath) else set()
        summ = c.metrics_summary(model + ".jsonl")
        chosen[mode] = summ.get("best_epoch") or cap
        r = {"mode": mode, "epochs": chosen[mode], "valid_cold_ndcg": summ.get("valid_cold_ndcg"),
             "selected_on": summ.get("selected_on")}
        for name, v in evaluate(graft, model, cold_file, k, []).items():
            r["cold_" + name] = v
        for name, v in evaluate(graft, model, warm_file, k, ["--seen", warm_seen]).items():
            r["warm_" + name] = v
        r["seconds"] = summ.get("seconds")
        rows[mode] = r
        shutil.rmtree(model, ignore_errors=True)
        print("  cold %.2f seed %d %-5s epochs %d  cold NDCG@%d %.4f  warm NDCG@%d %.4f"
              % (cold, seed, mode, chosen[mode], k, r["cold_ndcg"] or 0, k, r["warm_ndcg"] or 0), file=sys.stderr)
    # 3. Baselines: popularity, and joint without the cold users, who are folded in afterwards.
    train_nocold = {u: ls for u, ls in ttrain.items() if u not in test_cold}
    pop = {"mode": "popularity (training positives per item)"}
    for name, v in popularity(train_nocold, {u: tusers[u] for u in test_cold if u in tusers}, False, k).items():
        pop["cold_" + name] = v
    for name, v in popularity(train_nocold, {u: ls for u, ls in ttest.items() if u not in test_cold}, True, k).items():
        pop["warm_" + name] = v
    rows["popularity"] = pop
    # The fold-in model trains joint's chosen epochs (or the cap without a joint row).
    fe = chosen.get("joint", cap)
    v_train, v_test = os.path.join(tmp, tag + "-nocold-target.csv"), os.path.join(tmp, tag + "-nocold-warm.csv")
    write(v_train, header, ttrain, drop=test_cold)
    write(v_test, header, ttest, drop=test_cold)
    f_src = os.path.join(tmp, tag + "-source-nocold.csv")
    f_hist = os.path.join(tmp, tag + "-cold-history.csv")
    write(f_src, sheader, susers, drop=test_cold)
    write(f_hist, sheader, susers, keep=test_cold)
    model = os.path.join(tmp, tag + "-foldin")
    extra = [] if c.option_value(rest, "--early-stopping") is not None else ["--early-stopping", "0"]
    train(graft, f_src, v_train, v_test, "joint", 0, seed, fe, rest, model, extra)
    fold = {"mode": "fold-in: joint without them, source history", "epochs": fe}
    # The history is of source items, whatever ids the target shares with them.
    for name, v in evaluate(graft, model, cold_file, k, ["--history", f_hist, "--history-domain", "source"]).items():
        fold["cold_" + name] = v
    shutil.rmtree(model, ignore_errors=True)
    rows["fold-in"] = fold
    if valid_users & test_cold:
        sys.exit("graft compare: validation cold users overlap the test cold users (a bug)")
    return rows, len(test_cold), {"seed": seed, "test_cold_users": sorted(test_cold),
                                  "validation_cold_users": sorted(valid_users)}


def main(graft, opts, rest):
    # The most epochs a mode may train; early stopping chooses how many (--epoch-grid, from
    # when compare tried a list of counts, is still read: its largest is the cap).
    cap = 30
    if c.option_value(rest, "--epochs") is not None:
        cap = int(c.option_value(rest, "--epochs"))
        rest = c.without_option(rest, "--epochs")
    elif "epoch_grid" in opts:
        try:
            grid = [int(x) for x in opts["epoch_grid"].split(",")]
        except ValueError:
            c.usage_error("--epoch-grid takes comma-separated whole numbers")
        if not grid or min(grid) < 1:
            c.usage_error("--epoch-grid takes positive numbers")
        cap = max(grid)
    for bad in ("--target-test", "--warm-test-fraction"):
        if bad == "--target-test" and c.option_value(rest, bad) is not None:
            c.usage_error("%s is chosen by compare itself with a ranking loss" % bad)
    k = opts["rank_k"]
    result = {"source": opts["source"], "target": opts["target"], "seeds": opts["seeds"], "options": rest,
              "loss": c.option_value(rest, "--loss"), "max_epochs": cap, "splits": []}
    import tempfile
    with tempfile.TemporaryDirectory(prefix="graft-compare-") as tmp:
        for cold in opts["cold"]:
            per = [split(graft, opts, rest, cold, seed, tmp, cap) for seed in opts["seeds"]]
            names = list(per[0][0])
            rows = []
            for name in names:
                rs = [p[0][name] for p in per]
                row = {"mode": rs[0]["mode"]}
                for key in rs[0]:
                    if isinstance(rs[0][key], str):
                        row[key] = rs[0][key]  # the same for every seed (mode, selected_on)
                    elif key != "mode":
                        row[key] = c.mean([r.get(key) for r in rs])
                if all(isinstance(r.get("epochs"), int) for r in rs):  # the modes and fold-in
                    row["epochs_per_seed"] = [r["epochs"] for r in rs]
                rows.append(row)
            result["splits"].append({"cold_start_users": cold, "cold_users": c.mean([p[1] for p in per]),
                                     "rows": rows, "users": [p[2] for p in per]})
    fmt = lambda x: "%9.4f" % x if isinstance(x, float) else "%9s" % "-"
    for s in result["splits"]:
        print()
        print("cold-start users %.0f%% (%.0f users), mean of seeds %s; full ranking of the target items, K = %d"
              % (100 * s["cold_start_users"], s["cold_users"], ",".join(str(x) for x in opts["seeds"]), k))
        print("%-44s %8s %9s %9s %9s %9s %9s %9s" % ("mode", "epochs", "cold HR", "cold NDCG", "cold Rec",
                                                     "warm NDCG", "warm Rec", "val NDCG"))
        for r in s["rows"]:
            ep = r.get("epochs_per_seed")
            eps = ",".join(str(e) for e in ep) if ep else ("%d" % r["epochs"] if r.get("epochs") else "-")
            print("%-44s %8s %s %s %s %s %s %s" % (r["mode"], eps, fmt(r.get("cold_hr")), fmt(r.get("cold_ndcg")),
                                                   fmt(r.get("cold_recall")), fmt(r.get("warm_ndcg")),
                                                   fmt(r.get("warm_recall")), fmt(r.get("valid_cold_ndcg"))))
        v = c.verdict(s["rows"], opts["modes"], k)
        if v:
            print(v)
    with open(opts["out"], "w") as f:
        json.dump(result, f, indent=1)
    print("\nwritten to %s" % opts["out"])

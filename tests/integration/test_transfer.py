"""Integration: every transfer mode on small generated two-domain data, with real mpirun jobs.
Checks the ordering the generator guarantees (correlation 1, dense source), the summary's
contract fields, 1x1 against 2x2, and, on the actual training stream, that no cold user's target
rating is trained on."""
import glob
import json
import os

import graftest as g

d = g.tmpdir()
src, tgt, info = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv"), os.path.join(d, "info.json")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--info", info,
       "--users", "1000", "--items", "300", "--ratings-per-user", "100", "--target-items", "300",
       "--target-ratings-per-user", "30", "--zipf", "0.5", "--correlation", "1", "--seed", "4"], d,
      check_exit=0)
floor = json.load(open(info))["best_rmse"]
common = ["--dim", "16", "--epochs", "20"]

res = {}
for s, w in ((1, 1), (2, 2)):
    for mode in ("none", "seed", "map", "joint"):
        m = os.path.join(d, "%s-%dx%d.jsonl" % (mode, s, w))
        trace = os.path.join(d, "trace-%s-%dx%d" % (mode, s, w))
        os.mkdir(trace)
        g.run([g.GRAFT, "train", "--servers", str(s), "--workers", str(w), "--source", src, "--target", tgt,
               "--transfer", mode, "--metrics", m, "--trace-dir", trace] + common, d, timeout=300, check_exit=0)
        rows = g.metrics(m)
        res[(mode, s, w)] = rows[-1]
        # The actual stream: no cold user's target rating in any phase.
        cold = set(open(os.path.join(trace, "cold-users.txt")).read().split())
        leaked = 0
        target_users = set()
        for f in glob.glob(os.path.join(trace, "*-worker*.txt")):
            for line in open(f):
                dom, user, _ = line.split()
                if dom == "1":
                    target_users.add(user)
                    leaked += user in cold
        g.check(len(cold) > 0 and leaked == 0 and len(target_users) > 0,
                "%s %dx%d: %d cold users, none of their target ratings in the training stream" % (mode, s, w, len(cold)))

m = os.path.join(d, "mlp.jsonl")
g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", "map", "--map-model", "mlp",
       "--map-epochs", "100", "--metrics", m] + common, d, timeout=300, check_exit=0)
mlp = g.metrics(m)[-1]
g.check(mlp["cold_rmse"] < res[("none", 1, 1)]["cold_rmse"] and abs(mlp["warm_rmse"] - res[("map", 1, 1)]["warm_rmse"]) < 1e-9,
        "map with the network beats none on cold users (%.4f) and leaves warm users alone" % mlp["cold_rmse"])

for key, s in res.items():
    for f in ("transfer", "cold_rmse", "cold_mae", "warm_rmse", "warm_mae", "cold_users", "cold_ratings",
              "test_rmse", "epochs", "servers", "workers", "bad_lines"):
        if f not in s:
            g.check(False, "%s: summary lacks %s" % (key, f))
    g.check(s["transfer"] == key[0] and s["servers"] == key[1], "%s %dx%d: summary names its mode and size" % key)
none = res[("none", 1, 1)]
g.check(none["cold_users"] == round(0.2 * 1000), "20%% of the 1000 users in both domains are cold (%d)" % none["cold_users"])
best = min(res[(m, 1, 1)]["cold_rmse"] for m in ("seed", "map", "joint"))
g.check(best <= 1.25 * floor, "best transfer cold RMSE %.4f within 1.25 x the floor %.4f" % (best, floor))
g.check(best <= 0.75 * none["cold_rmse"], "best cold RMSE %.4f at least 25%% below none's %.4f" % (best, none["cold_rmse"]))
for m in ("seed", "map", "joint"):
    g.check(res[(m, 1, 1)]["cold_rmse"] < none["cold_rmse"], "%s beats none on cold users" % m)
g.check(none["baseline_item_user_cold_rmse"] < none["baseline_item_cold_rmse"],
        "the source user bias helps the item-bias baseline on cold users")
g.check(abs(res[("map", 1, 1)]["warm_rmse"] - none["warm_rmse"]) < 1e-9,
        "map leaves warm users to the target model (warm RMSE equal to none's)")
for m in ("none", "seed", "map", "joint"):
    a, b = res[(m, 1, 1)], res[(m, 2, 2)]
    g.check(abs(a["cold_rmse"] - b["cold_rmse"]) <= 0.01 and abs(a["warm_rmse"] - b["warm_rmse"]) <= 0.01,
            "%s: 1x1 and 2x2 within 0.01 (cold %.4f/%.4f, warm %.4f/%.4f)"
            % (m, a["cold_rmse"], b["cold_rmse"], a["warm_rmse"], b["warm_rmse"]))
g.done()

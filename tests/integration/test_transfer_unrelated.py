"""Integration: when the domains are unrelated (correlation 0) nothing can transfer, and no mode
may do more than 2% worse than none on warm users: map never touches them, and the gate of seed
and joint falls back to a target-only model for them when transfer does worse on held-out target
ratings."""
import os

import graftest as g

d = g.tmpdir()
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--users", "1000",
       "--items", "200", "--ratings-per-user", "50", "--target-items", "200",
       "--target-ratings-per-user", "30", "--correlation", "0", "--zipf", "0.5", "--seed", "6"], d,
      check_exit=0)
res = {}
for mode in ("none", "seed", "map", "joint"):
    m = os.path.join(d, mode + ".jsonl")
    g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", mode, "--dim", "16",
           "--epochs", "20", "--metrics", m], d, timeout=300, check_exit=0)
    res[mode] = g.metrics(m)[-1]
none = res["none"]["warm_rmse"]
for mode in ("seed", "map", "joint"):
    w = res[mode]["warm_rmse"]
    g.check(w <= 1.02 * none, "%s: warm RMSE %.4f within 2%% of none's %.4f" % (mode, w, none))
for mode in ("seed", "joint"):
    s = res[mode]
    g.check(s.get("gate") in ("transfer", "target-only") and s["valid_rmse_target"] > 0,
            "%s reports its gate (%s: held-out %.4f with transfer, %.4f target-only)"
            % (mode, s.get("gate"), s.get("valid_rmse_transfer", 0), s.get("valid_rmse_target", 0)))
rc, out, err, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", "seed",
                         "--transfer-gate=no", "--dim", "16", "--epochs", "20",
                         "--metrics", os.path.join(d, "nogate.jsonl")], d, check_exit=0)
nogate = g.metrics(os.path.join(d, "nogate.jsonl"))[-1]
g.check("gate" not in nogate and nogate["warm_rmse"] > 1.02 * none,
        "without the gate, seeding from an unrelated domain hurts warm users (%.4f vs %.4f): the gate is what protects them"
        % (nogate["warm_rmse"], none))
g.done()

"""Integration: fixed-seed 1 x 1 runs give exactly the summary metrics recorded in golden.json,
to every digit the metrics file prints (six decimals): the README's MovieLens split, the block
plane on a generated set, and a joint and a map transfer job. A change that is meant to keep
behaviour (a restructuring, say) must leave them identical; a change that is meant to alter
results records them again with `python3 tests/integration/test_golden.py --record` and says
why in its commit. Fields that measure the machine (seconds, rates, memory) are not compared.

The sanitizer build compiles the same code with instrumentation that can change how the compiler
orders float sums, so there the figures are compared within 1e-4 instead of exactly."""
import json
import os
import sys

import graftest as g

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
FIELDS = ["test_rmse", "test_mae", "train_rmse", "epochs", "train_ratings", "test_ratings",
          "bad_lines", "duplicate_pairs", "server_rows", "cold_rmse", "cold_mae", "warm_rmse",
          "warm_mae", "cold_users", "cold_ratings", "warm_ratings", "overlap_users",
          "baseline_item_cold_rmse", "baseline_item_warm_rmse", "baseline_item_user_cold_rmse",
          "baseline_item_user_warm_rmse", "gate", "valid_rmse_transfer", "valid_rmse_target"]
record = "--record" in sys.argv
d = g.tmpdir()


def sanitized():
    try:
        return "GRAFT_SANITIZE:STRING=address" in open(os.path.join(g.BIN, "CMakeCache.txt")).read()
    except OSError:
        return False


def summary(name, args):
    m = os.path.join(d, name + ".jsonl")
    g.run([g.GRAFT, "train", "--servers", "1", "--workers", "1", "--quiet", "--metrics", m] + args,
          d, timeout=500, check_exit=0)
    s = g.metrics(m)[-1]
    return {k: s[k] for k in FIELDS if k in s}


runs = {}
ratings = os.path.join(g.SHARED, "ml-latest-small", "ratings.csv")
if os.path.exists(ratings):
    tr, te = os.path.join(d, "ml-train.csv"), os.path.join(d, "ml-test.csv")
    g.run([g.GRAFT, "split", "--in", ratings, "--train", tr, "--test", te, "--fraction", "0.1",
           "--seed", "1"], d, check_exit=0)
    runs["movielens"] = summary("movielens", ["--train", tr, "--test", te])
else:
    print("note: %s is not there; the MovieLens run is skipped" % ratings)
train, test, _ = g.gen(d, users=3000, items=600, **{"ratings-per-user": 60, "rank": 8, "zipf": 1})
runs["block"] = summary("block", ["--train", train, "--test", test, "--plane", "block", "--lr", "0.15",
                                  "--epochs", "8", "--dim", "16"])
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--users", "800",
       "--items", "200", "--ratings-per-user", "50", "--target-items", "200",
       "--target-ratings-per-user", "15", "--correlation", "1", "--zipf", "0.5", "--seed", "4"], d,
      check_exit=0)
for mode in ("joint", "map"):
    runs[mode] = summary(mode, ["--source", src, "--target", tgt, "--transfer", mode, "--dim", "8",
                                "--epochs", "10"])

if record:
    with open(GOLDEN, "w") as f:
        json.dump(runs, f, indent=1, sort_keys=True)
        f.write("\n")
    print("recorded %s" % GOLDEN)
    sys.exit(0)
want = json.load(open(GOLDEN))
tol = 1e-4 if sanitized() else 0.0
for name, got in runs.items():
    exp = want.get(name)
    if exp is None:
        g.check(False, "%s: no recorded figures in golden.json" % name)
        continue
    diff = [k for k in sorted(set(exp) | set(got))
            if not (k in exp and k in got and (exp[k] == got[k] or (
                isinstance(exp[k], float) and isinstance(got[k], float) and abs(exp[k] - got[k]) <= tol)))]
    g.check(not diff, "%s: the summary metrics are the recorded ones%s (%s)"
            % (name, " within 1e-4" if tol else ", to every digit",
               ", ".join("%s %r != %r" % (k, got.get(k), exp.get(k)) for k in diff) or "all equal"))
g.done()

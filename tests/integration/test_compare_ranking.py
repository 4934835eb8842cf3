"""Integration: `graft compare --loss ials` on MovieLens Drama -> Comedy (one seed): the ranking
table's rows (each mode, popularity, fold-in), every mode's epochs chosen by the engine's early
stopping (capped by the largest grid value) on validation cold users disjoint from the test cold
users, and the best mode ranking the cold
users above popularity (docs/ranking.md's protocol and figures)."""
import json
import os

import graftest as g

ml = os.path.join(g.SHARED, "ml-latest-small")
if not os.path.exists(os.path.join(ml, "ratings.csv")):
    print("skip: no %s" % ml)
    raise SystemExit(g.SKIP)
d = g.tmpdir()
src, tgt = os.path.join(d, "drama.csv"), os.path.join(d, "comedy.csv")
g.run([g.GRAFT, "domains", "--ratings", os.path.join(ml, "ratings.csv"), "--movies", os.path.join(ml, "movies.csv"),
       "--source", src, "--target", tgt], d, check_exit=0)
out = os.path.join(d, "cmp.json")
rc, so, se, _ = g.run([g.GRAFT, "compare", "--source", src, "--target", tgt, "--loss", "ials", "--seeds", "1",
                       "--modes", "none,seed,joint", "--epoch-grid", "5,10", "--out", out], d, timeout=500)
g.check(rc == 0, "compare --loss ials exits 0 (%d) %s" % (rc, se[-500:]))
res = json.load(open(out))
sp = res["splits"][0]
rows = {r["mode"]: r for r in sp["rows"]}
g.check(list(rows)[:3] == ["none", "seed", "joint"] and any(m.startswith("popularity") for m in rows)
        and any(m.startswith("fold-in") for m in rows), "rows: each mode, popularity, fold-in (%s)" % list(rows))
fold = next(r for m, r in rows.items() if m.startswith("fold-in"))
g.check(fold.get("epochs_per_seed") == rows["joint"]["epochs_per_seed"],
        "the fold-in row trains joint's epochs, listed per seed (%s, joint %s)"
        % (fold.get("epochs_per_seed"), rows["joint"].get("epochs_per_seed")))
g.check(all(1 <= rows[m]["epochs"] <= 10 for m in ("none", "seed", "joint")),
        "each mode's epochs are chosen within the cap (%s)" % [rows[m]["epochs"] for m in ("none", "seed", "joint")])
g.check(all(rows[m]["valid_cold_ndcg"] > 0 for m in ("seed", "joint")),
        "transfer modes carry a validation cold-user score")
g.check(all(rows[m].get("selected_on") == "validation cold users" for m in ("seed", "joint")),
        "transfer modes select on validation cold users (%s)" % [rows[m].get("selected_on") for m in ("seed", "joint")])
users = sp["users"][0]
test, valid = set(users["test_cold_users"]), set(users["validation_cold_users"])
g.check(len(test) == 121 and len(valid) > 50 and not (test & valid),
        "validation cold users (%d) are disjoint from the test cold users (%d)" % (len(valid), len(test)))
pop = next(r for m, r in rows.items() if m.startswith("popularity"))
g.check(rows["joint"]["cold_ndcg"] > 1.2 * pop["cold_ndcg"],
        "joint ranks cold users above popularity (NDCG@10 %.3f vs %.3f)" % (rows["joint"]["cold_ndcg"], pop["cold_ndcg"]))
g.check(rows["joint"]["warm_ndcg"] > pop["warm_ndcg"],
        "and warm users too (NDCG@10 %.3f vs %.3f)" % (rows["joint"]["warm_ndcg"], pop["warm_ndcg"]))
g.check("cold RMSE" not in so and "cold NDCG" in so and "x popularity's" in so,
        "the printed table ranks first, without RMSE columns, and says how the best mode compares")
rc, so, se, _ = g.run([g.GRAFT, "compare", "--source", src, "--target", tgt, "--loss", "ials",
                       "--epoch-grid", "5,x"], d)
g.check(rc == 2 and "--epoch-grid" in se, "a bad --epoch-grid is exit 2 (%d)" % rc)
g.done()

"""Integration: `graft compare` and `graft domains` from the command line: compare's rows (each
mode, a popularity row for the cold users' ranking, the two baselines), its counts as means over
the seeds, usage errors with exit 2, --source/--target from --config; domains with both movies
formats."""
import json
import os

import graftest as g

d = g.tmpdir()
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--users", "300",
       "--items", "100", "--ratings-per-user", "40", "--target-items", "100",
       "--target-ratings-per-user", "10", "--seed", "2"], d, check_exit=0)
out = os.path.join(d, "cmp.json")
rc, so, se, _ = g.run([g.GRAFT, "compare", "--source", src, "--target", tgt, "--modes", "none,joint",
                       "--cold-start-users", "0.2,0.5", "--seeds", "1,2", "--dim", "8", "--epochs", "4",
                       "--out", out], d, timeout=300)
g.check(rc == 0, "compare exits 0 (%d) %s" % (rc, se[-500:]))
res = json.load(open(out))
g.check([s["cold_start_users"] for s in res["splits"]] == [0.2, 0.5], "one split per cold-start fraction")
modes = [r["mode"] for r in res["splits"][0]["rows"]]
g.check(modes == ["none", "joint", "popularity (ratings per item)", "baseline: item bias",
                 "baseline: item + source user bias"],
        "rows: each mode, the popularity row, then the two baselines (%s)" % modes)
pop = res["splits"][0]["rows"][2]
g.check(all(0 < pop[f] <= 1 for f in ("cold_hr", "cold_ndcg", "cold_recall")),
        "the popularity row ranks the cold users too (NDCG %.3f)" % pop["cold_ndcg"])
g.check("mean of seeds 1,2" in so and isinstance(res["splits"][0]["cold_ratings"], float),
        "counts are means over the seeds, as the heading says")
g.check(res["splits"][0]["cold_users"] == 60 and res["splits"][1]["cold_users"] == 150,
        "cold users are 20% and 50% of the 300 shared users")
g.check(so.count("cold-start users") == 2 and "cold vs none" in so and "cold HR@10" in so,
        "one printed table per fraction, with the cold users' ranking columns")
# Each table ends with its verdict against popularity, from the rows themselves.
for sp in res["splits"]:
    r = {x["mode"]: x for x in sp["rows"]}
    best = max(("none", "joint"), key=lambda m: r[m]["cold_ndcg"])
    p = r["popularity (ratings per item)"]["cold_ndcg"]
    line = "ranking: best mode %s: cold NDCG@10 %.4f, %.2f x popularity's (%s it)" % (
        best, r[best]["cold_ndcg"], r[best]["cold_ndcg"] / p, "beats" if r[best]["cold_ndcg"] > p else "LOSES TO")
    g.check(line in so, "cold %.1f: the verdict against popularity (%r)" % (sp["cold_start_users"], line))
for sp in res["splits"]:
    r = {x["mode"]: x for x in sp["rows"]}
    ok = all(0 <= r[m][f] <= 1 for m in ("none", "joint") for f in ("cold_hr", "cold_ndcg", "cold_recall"))
    g.check(ok and r["joint"]["cold_ndcg"] > r["none"]["cold_ndcg"] - 0.02,
            "cold %.1f: HR/NDCG/Recall@10 of cold users by full ranking; joint ranks them no worse than none "
            "(NDCG %.3f vs %.3f)" % (sp["cold_start_users"], r["joint"]["cold_ndcg"], r["none"]["cold_ndcg"]))
rc, so, se, _ = g.run([g.GRAFT, "compare", "--target", tgt], d)
g.check(rc == 2 and "--source" in se, "compare without --source: exit 2 saying so (%d)" % rc)
for bad, said in ((["--modes", "none,sideways"], "unknown mode"), (["--seeds", "a"], "comma-separated"),
                  (["--cold-start-users", "1.5"], "between 0 and 1"),
                  (["--target", os.path.join(d, "missing.csv")], "missing.csv: no such readable file"),
                  (["--loss", "ials", "--source", d], "a folder, not a file")):
    rc, so, se, _ = g.run([g.GRAFT, "compare", "--source", src, "--target", tgt] + bad, d)
    g.check(rc == 2 and said in se, "compare %s: exit 2 (%d, %r)" % (" ".join(bad), rc, se.strip()[-120:]))
conf = os.path.join(d, "cmp.conf")
open(conf, "w").write("source = %s\ntarget = %s\ndim = 4\nepochs = 2\n" % (src, tgt))
out2 = os.path.join(d, "cmp2.json")
rc, so, se, _ = g.run([g.GRAFT, "compare", "--config", conf, "--modes", "none", "--out", out2], d, timeout=300)
g.check(rc == 0 and json.load(open(out2))["source"] == src, "--source and --target from --config (%d %s)" % (rc, se[-300:]))
rc, so, se, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", "sideways"], d)
g.check(rc == 2 and "none|seed|map|joint" in se, "an unknown transfer mode is refused with the choices")
rc, so, se, _ = g.run([g.GRAFT, "train", "--train", src, "--transfer", "seed"], d)
g.check(rc == 2 and "--source" in se, "--transfer without --source is refused")

movies, ratings = os.path.join(d, "movies.csv"), os.path.join(d, "ratings.csv")
with open(movies, "w") as f:
    f.write('movieId,title,genres\n1,Heat (1995),Action|Drama\n2,"Birdcage, The (1996)",Comedy\n'
            '3,Babe (1995),Children|Drama|Comedy\n')
with open(ratings, "w") as f:
    f.write("userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.5,1\n2,3,5.0,1\n2,2,1.0,1\n")
ds, dt = os.path.join(d, "drama.csv"), os.path.join(d, "comedy.csv")
rc, so, se, _ = g.run([g.GRAFT, "domains", "--ratings", ratings, "--movies", movies, "--source", ds,
                       "--target", dt], d, check_exit=0)
g.check(open(ds).read() == "userId,movieId,rating,timestamp\n1,1,4.0,1\n", "Drama-not-Comedy ratings")
g.check(open(dt).read() == "userId,movieId,rating,timestamp\n1,2,3.5,1\n2,2,1.0,1\n", "Comedy-not-Drama ratings")
rc, so, se, _ = g.run([g.GRAFT, "domains", "--ratings", ratings, "--movies", os.path.join(d, "none.csv"),
                       "--source", ds, "--target", dt], d)
g.check(rc == 2 and "none.csv: No such file or directory" in se, "missing movies file: exit 2, named")
g.check(not os.path.exists(ds), "a failed domains run leaves no outputs")
uitem = os.path.join(d, "u.item")
with open(uitem, "w") as f:
    flags = lambda on: "|".join("1" if i in on else "0" for i in range(19))
    f.write("1|Heat (1995)|01-Jan-1995||http://x|%s\n" % flags({1, 8}))
    f.write("2|Birdcage, The (1996)|01-Jan-1996||http://y|%s\n" % flags({5}))
    f.write("3|Babe (1995)|01-Jan-1995||http://z|%s\n" % flags({4, 5, 8}))
rc, so, se, _ = g.run([g.GRAFT, "domains", "--ratings", ratings, "--movies", uitem, "--source", ds,
                       "--target", dt], d, check_exit=0)
g.check(open(ds).read() == "userId,movieId,rating,timestamp\n1,1,4.0,1\n" and
        open(dt).read() == "userId,movieId,rating,timestamp\n1,2,3.5,1\n2,2,1.0,1\n",
        "u.item's genre flags give the same domains as movies.csv")
g.done()

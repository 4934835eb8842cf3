"""Integration: graft recommend and graft eval on a model saved by a real 2x2 job. eval's RMSE
must equal the job's own final test RMSE (two code paths, one model)."""
import json
import os

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=300, items=120, **{"ratings-per-user": 30})
model, m = os.path.join(d, "model"), os.path.join(d, "run.jsonl")
g.run([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", train, "--test", test, "--dim", "8",
       "--epochs", "10", "--save", model, "--metrics", m], d, check_exit=0)
job_rmse = g.metrics(m)[-1]["test_rmse"]

rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", model, "--user", "7", "-k", "5", "--seen", train], d)
lines = [l.split("\t") for l in out.splitlines()]
g.check(rc == 0 and [int(l[0]) for l in lines] == [1, 2, 3, 4, 5], "recommend prints ranks 1..5 (%r)" % out[-200:])
scores = [float(l[2]) for l in lines]
g.check(scores == sorted(scores, reverse=True), "best first")
seen = {l.split(",")[1] for l in open(train) if l.split(",")[0] == "7"}
g.check(not seen & {l[1] for l in lines}, "no item user 7 rated in training is recommended")
g.check(all(1 <= int(l[1]) <= 120 for l in lines), "items are named by their ids")

rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", model, "--user", "stranger", "-k", "3"], d)
g.check(rc == 0 and len(out.splitlines()) == 3 and "'stranger' is not in the model" in err,
        "an unknown user is answered from the biases, and said so")

users, recs = os.path.join(d, "users.txt"), os.path.join(d, "recs.tsv")
open(users, "w").write("1\n2\nstranger\n")
rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", model, "--users", users, "--out", recs, "-k", "4"], d)
rows = [l.split("\t") for l in open(recs).read().splitlines()]
g.check(rc == 0 and len(rows) == 12 and [r[0] for r in rows[::4]] == ["1", "2", "stranger"],
        "--users writes k lines per user (%d lines)" % len(rows))

jout = os.path.join(d, "eval.json")
rc, out, err, _ = g.run([g.GRAFT, "eval", "--model", model, "--test", test, "--seen", train, "-k", "5,10",
                         "--out", jout], d, check_exit=0)
res = json.load(open(jout))
g.check(abs(res["rmse"] - job_rmse) < 1e-4, "eval's RMSE %.5f equals the job's %.5f" % (res["rmse"], job_rmse))
g.check(0 <= res["hr@5"] <= res["hr@10"] <= 1 and 0 <= res["recall@5"] <= res["recall@10"] <= 1,
        "ranking metrics grow with K (%r)" % {k: v for k, v in res.items() if "@" in k})
g.check(res["users"] > 250, "every test user with a known item is ranked (%d)" % res["users"])
rc, out, err, _ = g.run([g.GRAFT, "eval", "--model", model, "--test", os.path.join(d, "none.csv")], d)
g.check(rc == 2 and "none.csv: No such file" in err, "a missing test file: exit 2, named")
rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", model], d)
g.check(rc == 2, "recommend without a user: exit 2")
g.done()

"""Integration: --loss bpr on planted tastes. Two groups of users each like one half of the items
(every user rates 6 of their half's 12 items; the other 6 are held out), so popularity cannot tell
a user's held-out items from the other half's, and BPR must. Checks: the held-out items rank on
top (both negative samplers), the training loss falls, 1 x 1 and 2 x 2 rank alike (a plain job
and joint transfer's cold users), a BPR model folds new users in, and bad input is exit 2."""
import json
import os
import random

import graftest as g

d = g.tmpdir()
rnd = random.Random(3)
train_path, test_path = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
HALF = 12
with open(train_path, "w") as tr, open(test_path, "w") as te:
    tr.write("user,item\n")
    te.write("user,item,rating\n")
    for u in range(80):
        grp = u % 2
        items = ["i%d" % (grp * HALF + j) for j in range(HALF)]
        rnd.shuffle(items)
        for i in items[:6]:
            tr.write("u%d,%s\n" % (u, i))
        for i in items[6:]:
            te.write("u%d,%s,1\n" % (u, i))


def train(name, extra, servers=1, workers=1, data=train_path):
    model = os.path.join(d, name)
    metrics = os.path.join(d, name + ".jsonl")
    g.run([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers), "--train", data,
           "--loss", "bpr", "--dim", "8", "--epochs", "40", "--validation-fraction", "0", "--save", model,
           "--metrics", metrics, "--quiet"] + extra, d, check_exit=0)
    return model, metrics


def ndcg(model, test, seen, k=6):
    out = os.path.join(d, os.path.basename(model) + "-eval.json")
    args = [g.GRAFT, "eval", "--model", model, "--test", test, "-k", str(k), "--out", out]
    if seen:
        args += ["--seen", seen]
    g.run(args, d, check_exit=0)
    return json.load(open(out))["ndcg@%d" % k]


model, metrics = train("uniform", ["--test", test_path, "--rank-k", "6"])
n1 = ndcg(model, test_path, train_path)
g.check(n1 > 0.8, "BPR ranks each user's held-out half first (NDCG@6 %.3f; popularity is ~0.5)" % n1)
ep = [m for m in g.metrics(metrics) if m.get("event") == "epoch"]
g.check(len(ep) == 40 and ep[-1]["train_loss"] < 0.5 * ep[0]["train_loss"] and ep[0]["train_rmse"] is None,
        "train_loss falls (%.3f -> %.3f); no train_rmse for BPR" % (ep[0]["train_loss"], ep[-1]["train_loss"]))
g.check(ep[-1]["rank_k"] == 6 and abs(ep[-1]["test_ndcg"] - n1) < 1e-4 and ep[0]["test_ndcg"] < ep[-1]["test_ndcg"],
        "per-epoch test_ndcg rises (%.3f -> %.3f) and ends at graft eval's figure for the saved model (%.4f)"
        % (ep[0]["test_ndcg"], ep[-1]["test_ndcg"], n1))
man = json.load(open(os.path.join(model, "manifest.json")))
g.check(man.get("loss") == "bpr", "the manifest says the model is BPR's")

pmodel, _ = train("popular", ["--negative-sampling", "popularity", "--negatives", "3"])
n2 = ndcg(pmodel, test_path, train_path)
g.check(n2 > 0.8, "popularity-sampled negatives rank them first too (NDCG@6 %.3f)" % n2)

bmodel, _ = train("two", [], servers=2, workers=2)
n4 = ndcg(bmodel, test_path, train_path)
g.check(abs(n4 - n1) < 0.05 and n4 > 0.8, "2 servers x 2 workers rank as 1 x 1 does (NDCG@6 %.3f vs %.3f)" % (n4, n1))

# Fold-in: a new user whose history is three of group 1's items gets group 1's other items first.
hist = os.path.join(d, "history.csv")
with open(hist, "w") as f:
    f.write("user,item\nnew,i%d\nnew,i%d\nnew,i%d\nnew,i-unknown\n" % (HALF, HALF + 1, HALF + 2))
recs = os.path.join(d, "recs.tsv")
rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", model, "--history", hist, "-k", "5", "--out", recs], d,
                        check_exit=0)
top = [line.split("\t")[2] for line in open(recs) if line.startswith("new\t")]
g.check(len(top) == 5 and all(HALF <= int(i[1:]) < 2 * HALF for i in top) and "history.csv:5" in err,
        "a BPR model folds a new user in: top 5 from their half (%s), the unknown item named" % top)

# Joint transfer: cold users (no target rating) ranked from their source rows, 1 x 1 and 2 x 2 alike.
src, tgt, ttest = (os.path.join(d, n) for n in ("src.csv", "tgt.csv", "ttest.csv"))
with open(src, "w") as fs, open(tgt, "w") as ft:
    for u in range(120):
        grp = u % 2
        for j in rnd.sample(range(HALF), 6):
            fs.write("p%d,s%d,1\n" % (u, grp * HALF + j))
        for j in rnd.sample(range(HALF), 6):
            ft.write("p%d,t%d,1\n" % (u, grp * HALF + j))
scores, per_epoch = [], []
for s, w in ((1, 1), (2, 2)):
    m = os.path.join(d, "joint%d" % w)
    g.run([g.GRAFT, "train", "--servers", str(s), "--workers", str(w), "--source", src, "--target", tgt,
           "--transfer", "joint", "--loss", "bpr", "--dim", "8", "--epochs", "30", "--save", m,
           "--metrics", m + ".jsonl", "--quiet"], d, check_exit=0)
    # Cold users are answered by the joint model whatever the gate kept for warm users: the refit's
    # last epoch when the gate kept transfer, else the selected joint epoch (the first best on
    # validation: early stopping restored it).
    rows = g.metrics(m + ".jsonl")
    joint = [r for r in rows if r.get("event") == "epoch" and r.get("phase") == "joint"]
    refit = [r for r in joint if r.get("refit")]
    best = max((r["valid_ndcg"] for r in joint if not r.get("refit")), default=None)
    per_epoch.append(refit[-1] if refit else [r for r in joint if r.get("valid_ndcg") == best][0])
    cold = set(open(os.path.join(m, "cold-users.txt")).read().split())
    with open(ttest, "w") as f:
        f.write("user,item,rating\n")
        for line in open(tgt):
            if line.split(",")[0] in cold:
                f.write(line)
    scores.append(ndcg(m, ttest, None, k=10))
g.check(scores[0] > 0.6 and abs(scores[0] - scores[1]) < 0.05,
        "joint BPR ranks cold users' target items from their source rows, 1 x 1 as 2 x 2 "
        "(NDCG@10 %.3f, %.3f)" % tuple(scores))
g.check(all(abs(p["cold_ndcg"] - sc) < 1e-4 and p["warm_ndcg"] > 0 for p, sc in zip(per_epoch, scores)),
        "the last epoch's cold_ndcg is graft eval's on the saved model (%s vs %s)"
        % ([round(p["cold_ndcg"], 4) for p in per_epoch], [round(x, 4) for x in scores]))

rc, out, err, _ = g.run([g.GRAFT, "train", "--train", test_path, "--loss", "bpr", "--min-rating", "2", "--quiet"], d)
g.check(rc == 2 and "test.csv" in err and "--min-rating" in err and "BPR" in err,
        "--min-rating above every rating: exit 2 naming the file (%d: %s)" % (rc, err.strip()[-200:]))
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train_path, "--loss", "bpr", "--plane", "block", "--quiet"], d)
g.check(rc == 2 and "--plane block" in err, "--loss bpr with --plane block: exit 2 saying why (%d)" % rc)
g.done()

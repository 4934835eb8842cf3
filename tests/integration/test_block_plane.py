"""Integration: the block data plane (--plane block). On ml-latest-small a 2x2 job reaches the
batch plane's accuracy, repeats itself exactly under BSP, and leaves the whole model on the
servers (a saved model evaluates to the job's own RMSE). Consistency: with worker 1 slowed down,
SSP holds worker 0 to the staleness bound (it waits), ASP lets it run ahead, BSP keeps all in
step; the metrics report the staleness observed."""
import json
import os

import graftest as g

d = g.tmpdir()
ratings = os.path.join(g.SHARED, "ml-latest-small", "ratings.csv")
if not os.path.exists(ratings):
    print("SKIP: %s is missing" % ratings)
    raise SystemExit(77)
train, test = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
g.run([g.GRAFT, "split", "--in", ratings, "--train", train, "--test", test], d, check_exit=0)


def job(name, extra, workers=2, servers=2, data=(None, None)):
    m = os.path.join(d, name + ".jsonl")
    tr, te = data[0] or train, data[1] or test
    rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers),
                             "--train", tr, "--test", te, "--plane", "block", "--metrics", m] + extra,
                            d, timeout=300)
    g.check(rc == 0, "%s: exit 0 (%s)" % (name, err.strip()[-300:]))
    return g.metrics(m)


model = os.path.join(d, "model")
a = job("a", ["--save", model])
b = job("b", [])
rmse = a[-1]["test_rmse"]
g.check(rmse < 0.855, "ml-latest-small 2x2, block plane: test RMSE %.4f < 0.855" % rmse)
g.check(all(e["staleness"] == 0 for e in a if e["event"] == "epoch"),
        "BSP: every epoch reports staleness 0")
g.check(rmse == b[-1]["test_rmse"], "two BSP runs with one seed agree exactly (%.6f, %.6f)"
        % (rmse, b[-1]["test_rmse"]))
jout = os.path.join(d, "eval.json")
g.run([g.GRAFT, "eval", "--model", model, "--test", test, "--out", jout], d, check_exit=0)
saved = json.load(open(jout))["rmse"]
g.check(abs(saved - rmse) < 1e-4,
        "the servers hold the trained user and item rows: the saved model's RMSE %.5f equals the "
        "job's %.5f" % (saved, rmse))

# The batch plane with --prefetch (the next batch pulled on a second connection by a thread).
m = os.path.join(d, "prefetch.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", train, "--test", test,
                         "--prefetch", "--epochs", "10", "--metrics", m], d, timeout=300)
pre = g.metrics(m)[-1] if rc == 0 else {}
g.check(rc == 0 and pre.get("plane") == "batch" and pre.get("test_rmse", 9) < 0.88,
        "batch plane with --prefetch trains (10 epochs: test RMSE %.4f)" % pre.get("test_rmse", 9))

# Consistency, with worker 1 sleeping 120 ms before each of its 8 clocks per epoch.
syn_train, syn_test, _ = g.gen(d, users=400, items=200, **{"ratings-per-user": 40})
os.environ["GRAFT_DEBUG_ROUND_DELAY"] = "1:120"
common = ["--item-blocks", "8", "--epochs", "2", "--dim", "8"]
runs = {}
for name, extra in (("bsp", ["--consistency", "bsp"]),
                    ("ssp", ["--consistency", "ssp", "--staleness", "2"]),
                    ("asp", ["--consistency", "asp"])):
    ep = [e for e in job(name, common + extra, servers=1, data=(syn_train, syn_test))
          if e["event"] == "epoch"]
    runs[name] = (max(e["staleness"] for e in ep), sum(e["wait_seconds"] for e in ep))
del os.environ["GRAFT_DEBUG_ROUND_DELAY"]
print("staleness, waiting:", runs)
g.check(runs["bsp"][0] == 0, "BSP: staleness 0 (%d)" % runs["bsp"][0])
g.check(runs["ssp"][0] == 2, "SSP 2: the fast worker got exactly 2 clocks ahead, never more (%d)"
        % runs["ssp"][0])
g.check(runs["ssp"][1] > 0.5, "SSP 2: the fast worker was held back (waited %.2f s)" % runs["ssp"][1])
g.check(runs["asp"][0] > 2, "ASP: the fast worker ran more than 2 clocks ahead (%d)" % runs["asp"][0])
g.check(runs["asp"][1] < runs["ssp"][1], "ASP waits less than SSP (%.2f < %.2f s)"
        % (runs["asp"][1], runs["ssp"][1]))
rc, out, err, _ = g.run([g.GRAFT, "train", "--workers", "2", "--train", syn_train, "--plane", "block",
                         "--item-blocks", "1"], d)
g.check(rc == 2 and "--item-blocks 1 is fewer than the 2 workers" in err,
        "fewer item blocks than workers: exit 2, said (%r)" % err.strip()[-200:])
g.done()

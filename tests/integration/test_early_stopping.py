"""Integration: --validation-fraction and --early-stopping. On generated data with settings that
overfit, training stops PATIENCE epochs after the best validation score; the model it ends with
(and saves) is the best epoch's, restored on the servers: the summary's validation score,
scored again after the restore, equals the best epoch record's and is never worse than any epoch
it saw, and graft eval of the saved model gives the best epoch's test RMSE. Also in the block
plane, with a ranking loss (NDCG, 2 workers), with --early-stopping 0, in transfer jobs (the gate
on the same share), and bad fractions; and --plane auto's choice of plane by the training set's
size."""
import json
import os

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=300, items=120, **{"ratings-per-user": 30, "noise": 0.5})
OVERFIT = ["--dim", "32", "--reg", "0.0005", "--lr", "0.1", "--epochs", "60", "--validation-fraction", "0.15",
           "--refit=no"]


def run(name, extra, servers=1, workers=1):
    m = os.path.join(d, name + ".jsonl")
    model = os.path.join(d, name)
    rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers), "--train", train,
                             "--test", test, "--metrics", m, "--save", model] + OVERFIT + extra, d)
    g.check(rc == 0, "%s trains (%d) %s" % (name, rc, err.strip()[-300:]))
    rows = g.metrics(m)
    return [r for r in rows if r["event"] == "epoch"], rows[-1], model, out


def selected(name, ep, s, key, better, patience):
    scores = [r[key] for r in ep]
    best = (max if better == "max" else min)(range(len(scores)), key=lambda i: scores[i]) + 1
    worst_gap = max((s[key] - x) if better == "min" else (x - s[key]) for x in scores)
    g.check(s["stopped_early"] and len(ep) == s["epochs"] == best + patience < 60,
            "%s: stops %d epochs after the best (best %d, ran %d of 60)" % (name, patience, best, len(ep)))
    g.check(s["best_epoch"] == best and abs(s[key] - scores[best - 1]) < 1e-6 and worst_gap <= 1e-6,
            "%s: ends with the best epoch's rows: %s %.6f scored again, the best seen %.6f"
            % (name, key, s[key], scores[best - 1]))
    return best


ep, s, model, out = run("batch", ["--early-stopping", "3"])
s_batch = s
best = selected("batch plane", ep, s, "valid_rmse", "min", 3)
g.check(s["valid_ratings"] > 0.1 * (s["train_ratings"] + s["valid_ratings"]) and "kept epoch %d" % best in out,
        "a share of the training ratings was held out (%d), and the line says which epoch was kept" % s["valid_ratings"])
ev = os.path.join(d, "ev.json")
g.run([g.GRAFT, "eval", "--model", model, "--test", test, "--out", ev], d, check_exit=0)
rmse = json.load(open(ev))["rmse"]
g.check(abs(rmse - ep[best - 1]["test_rmse"]) < 1e-4 and abs(rmse - ep[-1]["test_rmse"]) > 1e-4,
        "the saved model is the best epoch's (test RMSE %.4f; the last epoch had %.4f)" % (rmse, ep[-1]["test_rmse"]))

# --refit (the default): fresh tables on every training rating for the best epoch's count.
ep, s, model, out = run("refit", ["--early-stopping", "3", "--refit"])
sel = [r for r in ep if not r.get("refit")]
ref = [r for r in ep if r.get("refit")]
bsel = min(range(len(sel)), key=lambda i: sel[i]["valid_rmse"]) + 1
g.check(s["refit"] and s["best_epoch"] == bsel and len(ref) == bsel == s["epochs"]
        and [r["epoch"] for r in ref] == list(range(1, bsel + 1)) and "refit on all" in out,
        "--refit trains the best epoch's count again on every rating (best %d, %d refit epochs)" % (bsel, len(ref)))
g.check(s["train_ratings"] == s_batch["train_ratings"] + s_batch["valid_ratings"],
        "the refit trains on the validation share too (%d ratings)" % s["train_ratings"])
g.run([g.GRAFT, "eval", "--model", model, "--test", test, "--out", ev], d, check_exit=0)
g.check(abs(json.load(open(ev))["rmse"] - ref[-1]["test_rmse"]) < 1e-4 and abs(s["test_rmse"] - ref[-1]["test_rmse"]) < 1e-9,
        "the saved model and the summary are the refit's (test RMSE %.4f)" % ref[-1]["test_rmse"])
shards = sorted(f for f in os.listdir(model) if f.endswith(".shard"))
g.check(shards == ["item.0-of-1.shard", "user.0-of-1.shard"], "its tables are saved as user and item (%s)" % shards)

ep, s, _, _ = run("block", ["--early-stopping", "3", "--plane", "block", "--lr", "0.3"], workers=2)
selected("block plane, 2 workers", ep, s, "valid_rmse", "min", 3)

ep, s, _, _ = run("ials", ["--early-stopping", "2", "--loss", "ials", "--reg", "0.01", "--unobserved-weight", "0.01"],
                  servers=2, workers=2)
g.check(all("valid_ndcg" in r and "valid_recall" in r for r in ep), "a ranking loss is validated by NDCG and Recall")
selected("iALS, 2 x 2", ep, s, "valid_ndcg", "max", 2)

ep, s, _, _ = run("all", ["--early-stopping", "0", "--epochs", "8"])
g.check(len(ep) == 8 and s["best_epoch"] == 8 and not s["stopped_early"]
        and abs(s["valid_rmse"] - ep[-1]["valid_rmse"]) < 1e-6,
        "--early-stopping 0 trains every epoch and keeps the last")

tiny = os.path.join(d, "tiny.csv")
open(tiny, "w").write("u1,i1,4\n")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", tiny, "--validation-fraction", "0.5", "--quiet"], d)
g.check(rc == 2 and "tiny.csv" in err and "--validation-fraction" in err,
        "a fraction that leaves no training or no validation rating: exit 2 naming the file (%d: %s)"
        % (rc, err.strip()[-200:]))
# A transfer job: the same validation share (of the target's training ratings), the same early
# stopping, and the gate on it: each model's score is its best epoch's, then the refit.
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--users", "400", "--items", "150",
       "--ratings-per-user", "30", "--seed", "9"], d, check_exit=0)
for mode in ("joint", "map"):
    m = os.path.join(d, "xfer-%s.jsonl" % mode)
    rc, out, err, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", mode, "--dim", "16",
                             "--reg", "0.001", "--epochs", "40", "--validation-fraction", "0.2",
                             "--early-stopping", "3", "--metrics", m, "--quiet"], d)
    rows = g.metrics(m) if rc == 0 else [{}]
    s = rows[-1]
    phase = "joint" if mode == "joint" else "target"
    ep = [r for r in rows if r.get("event") == "epoch" and r.get("phase") == phase and not r.get("refit")]
    best = min(ep, key=lambda r: r["valid_rmse"]) if ep and all("valid_rmse" in r for r in ep) else None
    g.check(rc == 0 and best is not None and s.get("valid_ratings", 0) > 0,
            "transfer %s with --validation-fraction: every %s epoch scored on the held-out target ratings (%d) %s"
            % (mode, phase, rc, err.strip()[-300:]))
    if best is None:
        continue
    g.check(s["best_epoch"] == best["epoch"] and abs(s["valid_rmse"] - best["valid_rmse"]) < 2e-5,
            "transfer %s: the kept epoch %d is the best on validation (%.5f), scored again after the restore (%.5f)"
            % (mode, s["best_epoch"], best["valid_rmse"], s["valid_rmse"]))
    g.check(s["stopped_early"] == (len(ep) < 40) and (not s["stopped_early"] or len(ep) == best["epoch"] + 3),
            "transfer %s: stopped %d epochs after the best" % (mode, len(ep) - best["epoch"]))
    refit = [r for r in rows if r.get("event") == "epoch" and r.get("refit")]
    g.check(s["refit"] and len(refit) == s["best_epoch"] and all("valid_rmse" not in r for r in refit),
            "transfer %s: then refit on every target training rating for the best epoch's %d epochs"
            % (mode, s["best_epoch"]))
    if mode == "joint":
        fb = [r["valid_rmse"] for r in rows if r.get("event") == "epoch" and r.get("phase") == "fallback"
              and not r.get("refit")]
        g.check(fb and abs(s["valid_rmse_transfer"] - best["valid_rmse"]) < 2e-5
                and abs(s["valid_rmse_target"] - min(fb)) < 2e-5,
                "the gate compares the two models' best validation epochs (%.4f, %.4f)"
                % (s["valid_rmse_transfer"], s["valid_rmse_target"]))
# --validation-cold-users: a share of the overlap users, disjoint from the test cold users, has
# its target ratings held out like the cold users'; the epochs are chosen on ranking them.
for loss, mode in (("ials", "seed"), ("squared", "joint")):
    m, model = os.path.join(d, "vcold-%s.jsonl" % mode), os.path.join(d, "vcold-%s" % mode)
    rc, out, err, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", mode, "--loss", loss,
                             "--dim", "16", "--epochs", "25", "--validation-cold-users", "0.3",
                             "--early-stopping", "3", "--metrics", m, "--save", model, "--quiet"], d)
    g.check(rc == 0, "transfer %s, %s loss, with --validation-cold-users trains (%d) %s"
            % (mode, loss, rc, err.strip()[-300:]))
    if rc != 0:
        continue
    rows = g.metrics(m)
    s = rows[-1]
    phase = "joint" if mode == "joint" else "target"
    ep = [r for r in rows if r.get("event") == "epoch" and r.get("phase") == phase and not r.get("refit")]
    key = "valid_cold_ndcg" if loss == "ials" else "valid_cold_rmse"
    scores = [r.get(key) for r in ep]
    g.check(ep and None not in scores and s.get("selected_on") == "validation cold users"
            and s.get("valid_cold_users", 0) > 0 and s.get("valid_cold_ratings", 0) > 0,
            "transfer %s: every epoch scored on the validation cold users (%s users, %s ratings), selected on them"
            % (mode, s.get("valid_cold_users"), s.get("valid_cold_ratings")))
    if not ep or None in scores:
        continue
    pick = (max if loss == "ials" else min)(range(len(scores)), key=lambda i: scores[i]) + 1
    g.check(s["best_epoch"] == pick and (not s["stopped_early"] or len(ep) == pick + 3),
            "transfer %s: the kept epoch %d is the best on the validation cold users (%d)" % (mode, s["best_epoch"], pick))
    cold = set(open(os.path.join(model, "cold-users.txt")).read().split())
    vcold = set(open(os.path.join(model, "validation-cold-users.txt")).read().split())
    g.check(len(vcold) == s["valid_cold_users"] and cold and not (cold & vcold),
            "transfer %s: validation-cold-users.txt (%d) is disjoint from cold-users.txt (%d)"
            % (mode, len(vcold), len(cold)))
model = os.path.join(d, "vcold-seed")
rc, out, err, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", "seed", "--dim", "16",
                         "--epochs", "3", "--save", model, "--quiet"], d)
g.check(rc == 0 and os.path.exists(os.path.join(model, "cold-users.txt"))
        and not os.path.exists(os.path.join(model, "validation-cold-users.txt")),
        "a model saved again without validation cold users drops the old list (%d)" % rc)
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--test", test, "--validation-cold-users", "0.2",
                         "--quiet"], d)
g.check(rc == 2 and "--validation-cold-users" in err, "--validation-cold-users in a plain job: exit 2 (%d)" % rc)
tiny = os.path.join(d, "tiny-target.csv")
open(tiny, "w").write("u1,t1,4\nu2,t2,3\n")
rc, out, err, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tiny, "--transfer", "none",
                         "--validation-fraction", "0.001", "--quiet"], d)
g.check(rc == 2 and "tiny-target.csv" in err and "no validation rating" in err,
        "a transfer job whose validation fraction holds out no target rating: exit 2 naming the file")
# Checkpoints of a job with validation hold early stopping's best epoch (its rows, best.*, and its
# score): a job stopped at a checkpoint after the best epoch and resumed selects, stops and ends
# with what an uninterrupted run ends with, to every digit (the block plane under BSP, 2 x 2, repeats
# itself exactly); so does a resume from the checkpoint of the epoch that early stopping ended at.
CK = ["--servers", "2", "--workers", "2", "--train", train, "--test", test, "--plane", "block", "--dim", "16",
      "--lr", "0.15", "--reg", "0.0005", "--validation-fraction", "0.15", "--early-stopping", "3", "--quiet"]
KEYS = ["best_epoch", "valid_rmse", "test_rmse", "stopped_early", "refit"]


def ck_run(name, extra, check_exit=0):
    m = os.path.join(d, name + ".jsonl")
    rc, out, err, _ = g.run([g.GRAFT, "train"] + CK + ["--metrics", m] + extra, d, timeout=300,
                            check_exit=check_exit)
    return (g.metrics(m)[-1] if rc == 0 else None), out, err


for refit in ("no", "yes"):
    whole, _, _ = ck_run("ck-whole-" + refit, ["--epochs", "40", "--refit=" + refit])
    best = whole["best_epoch"]
    g.check(whole["stopped_early"] and best >= 1, "refit=%s: the uninterrupted run stops early (best epoch %d)"
            % (refit, best))
    ckdir = os.path.join(d, "ck-" + refit)
    ck = ["--checkpoint-every", "1", "--checkpoint-dir", ckdir, "--refit=" + refit]
    ck_run("ck-first-" + refit, ["--epochs", str(best + 1)] + ck)
    man = open(os.path.join(ckdir, "ckpt-%d" % (best + 1), "manifest.json")).read()
    g.check('"best_epoch":%d' % best in man and '"name":"best.user"' in man and '"name":"best.item"' in man,
            "refit=%s: ckpt-%d records best epoch %d and holds its rows (best.user, best.item)" % (refit, best + 1, best))
    resumed, out, err = ck_run("ck-resumed-" + refit, ["--epochs", "40", "--resume"] + ck)
    g.check(resumed is not None and all(resumed[k] == whole[k] for k in KEYS),
            "refit=%s: resumed from ckpt-%d after the best epoch, it ends as the uninterrupted run: %s vs %s"
            % (refit, best + 1, resumed and {k: resumed[k] for k in KEYS}, {k: whole[k] for k in KEYS}))
    # The resumed job checkpointed the epoch it stopped at: resuming again trains nothing.
    again, out, err = ck_run("ck-again-" + refit, ["--epochs", "40", "--resume"] + ck)
    g.check(again is not None and all(again[k] == whole[k] for k in KEYS),
            "refit=%s: resumed from the checkpoint early stopping ended at, it ends as the uninterrupted run"
            % refit)
rc, out, err, _ = g.run([g.GRAFT, "train"] + CK + ["--validation-fraction", "0.2", "--epochs", "40",
                                                   "--checkpoint-every", "1", "--checkpoint-dir",
                                                   os.path.join(d, "ck-yes"), "--resume"], d)
g.check(rc == 2 and "--validation-fraction 0.15" in err and "0.2" in err,
        "a resume with another --validation-fraction than the checkpoint's: exit 2 naming both (%r)" % err.strip()[-200:])

# --plane auto: a small set stays on the batch plane (reg 0.08); a set of a million ratings or more
# takes the block plane at lr 0.15.
m = os.path.join(d, "auto-small.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--epochs", "2", "--metrics", m], d, check_exit=0)
g.check(g.metrics(m)[-1]["plane"] == "batch" and "--plane auto" not in out, "--plane auto keeps a small set on the batch plane")
big = os.path.join(d, "big.csv")
g.run([g.GRAFT, "gen", "--train", big, "--users", "10000", "--items", "2000", "--ratings-per-user", "101",
       "--test-fraction", "0"], d, check_exit=0)
m = os.path.join(d, "auto-big.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", big, "--epochs", "1", "--validation-fraction", "0", "--dim", "8",
                         "--metrics", m], d, timeout=300, check_exit=0)
g.check(g.metrics(m)[-1]["plane"] == "block" and "--plane auto: the block plane for 1010000 training ratings, lr 0.15"
        in out, "--plane auto takes the block plane at lr 0.15 for a million ratings (%s)"
        % [l for l in out.splitlines() if "auto" in l])

rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--validation-fraction", "1.5"], d)
g.check(rc == 2 and "--validation-fraction" in err, "a fraction out of range: exit 2 (%d)" % rc)
g.done()

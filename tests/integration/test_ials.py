"""Integration: --loss ials against a dense NumPy solve of the same objective, on a tiny problem.

The last half-epoch solves every item row exactly with the users fixed, so the saved item rows
must equal NumPy's direct solve of (w0 P^T P + sum_obs (c - w0) p p^T + reg I) q = sum_obs c p
given the saved user rows. Also: the dense objective falls from 1 to 4 epochs (ALS is a descent
method); CG with as many steps as factors matches Cholesky; 2 servers x 2 workers match 1 x 1;
a two-column implicit file trains; a pair given twice is one positive whose values add up;
--min-rating leaving nothing is exit 2 naming the file; no cold user's target positive reaches
training in a transfer job (the trace); the ranking gate keeps target-only on unrelated domains."""
import os
import sys

try:
    import numpy as np
except ImportError:  # Debian's python3-numpy is for the system interpreter (launch/setup)
    if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

import graftest as g

K, W0, REG, ALPHA = 3, 0.3, 0.5, 0.5
d = g.tmpdir()
rng = np.random.default_rng(7)
data = os.path.join(d, "r.csv")
pairs = {}
with open(data, "w") as f:
    f.write("user,item,rating\n")
    for u in range(14):
        for i in rng.choice(9, size=int(rng.integers(2, 6)), replace=False):
            v = int(rng.integers(1, 6))
            f.write("u%d,i%d,%d\n" % (u, i, v))
            pairs[("u%d" % u, "i%d" % i)] = v
    # The same pair twice: one positive of value 1 + 2 = 3 (--duplicates sum, the iALS default).
    f.write("u0,dup,1\nu0,dup,2\nu3,dup,4\n")
    pairs[("u0", "dup")] = 3
    pairs[("u3", "dup")] = 4


def train(name, extra, data_path=data, servers=1, workers=1):
    model = os.path.join(d, name)
    g.run([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers), "--train", data_path,
           "--loss", "ials", "--dim", str(K), "--reg", str(REG), "--unobserved-weight", str(W0),
           "--confidence", str(ALPHA), "--validation-fraction", "0", "--save", model, "--quiet"] + extra, d,
          check_exit=0)
    out = os.path.join(d, name + "-npy")
    g.run([g.GRAFT, "export", "--model", model, "--out", out], d, check_exit=0)
    tabs = {}
    for t in ("user", "item"):
        ids = open(os.path.join(out, t + ".ids")).read().splitlines()
        tabs[t] = {i: r for i, r in zip(ids, np.load(os.path.join(out, t + ".npy")))}
    return tabs


def dense(tabs):
    users, items = sorted(tabs["user"]), sorted(tabs["item"])
    P = np.array([tabs["user"][u][:K] for u in users], dtype=np.float64)
    Q = np.array([tabs["item"][i][:K] for i in items], dtype=np.float64)
    C = np.zeros((len(users), len(items)))
    for (u, i), v in pairs.items():
        C[users.index(u), items.index(i)] = 1 + ALPHA * v
    return users, items, P, Q, C


def objective(tabs):
    _, _, P, Q, C = dense(tabs)
    S = P @ Q.T
    obs = C > 0
    return (np.sum(C[obs] * (1 - S[obs]) ** 2) + W0 * np.sum(S ** 2) - W0 * np.sum(S[obs] ** 2)
            + REG * (np.sum(P ** 2) + np.sum(Q ** 2)))


chol = train("chol", ["--solver", "cholesky", "--epochs", "4"])
users, items, P, Q, C = dense(chol)
g.check(len(users) == 14 and len(items) == 10, "14 users and 10 items trained (%d, %d)" % (len(users), len(items)))
worst = 0.0
for j, i in enumerate(items):
    obs = C[:, j] > 0
    A = W0 * P.T @ P + (P[obs].T * (C[obs, j] - W0)) @ P[obs] + REG * np.eye(K)
    q = np.linalg.solve(A, P[obs].T @ C[obs, j])
    worst = max(worst, float(np.max(np.abs(q - Q[j]))))
g.check(worst < 1e-4, "saved item rows are NumPy's exact solve given the saved users (max diff %.2e)" % worst)
most = max(np.sum(C > 0, axis=0))
bias_ok = all(abs(chol["item"][i][K] - 1e-4 * np.sum(C[:, j] > 0) / most) < 1e-8 for j, i in enumerate(items))
g.check(bias_ok and all(abs(chol["user"][u][K]) == 0 for u in users),
        "item bias columns hold the popularity tie-break, user bias columns are zero")
one = train("one", ["--solver", "cholesky", "--epochs", "1"])
l1, l4 = objective(one), objective(chol)
g.check(l4 < l1, "the dense objective falls from 1 to 4 epochs (%.5f -> %.5f)" % (l1, l4))

cg = train("cg", ["--solver", "cg", "--cg-steps", str(K), "--epochs", "4"])
diff = max(float(np.max(np.abs(cg["item"][i][:K] - chol["item"][i][:K]))) for i in items)
g.check(diff < 1e-3, "CG with %d steps matches Cholesky at k = %d (max diff %.2e)" % (K, K, diff))

big = train("big", ["--solver", "cholesky", "--epochs", "4"], servers=2, workers=2)
diff = max(float(np.max(np.abs(big["item"][i] - chol["item"][i]))) for i in items)
g.check(diff < 1e-4, "2 servers x 2 workers give the 1 x 1 model (max diff %.2e)" % diff)

# Fold-in: users of a history file get NumPy's user step against the saved items, and a trained
# user's history reproduces its row (a converged model: its last user step met these items).
conv = train("conv", ["--solver", "cholesky", "--epochs", "60"])
users, items, P, Q, C = dense(conv)
hist = os.path.join(d, "history.csv")
with open(hist, "w") as f:
    for (u, i), v in sorted(pairs.items()):
        if u in ("u1", "u2", "u5"):
            f.write("new-%s,%s,%d\n" % (u, i, v))
    f.write("new-u1,never-seen-item,1\nnobody,also-unknown,1\n")
recs = os.path.join(d, "recs.tsv")
rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", os.path.join(d, "conv"), "--history", hist, "-k", "10",
                         "--out", recs], d, check_exit=0)
g.check("history.csv:%d" % (sum(1 for _ in open(hist)) - 1) in err and "1 without an item" in err,
        "an unknown history item is named FILE:LINE, a user without a known item is said (%s)" % err.strip()[-300:])
mu = None
import json  # noqa: E402
for dom in json.load(open(os.path.join(d, "conv", "manifest.json")))["domains"]:
    mu = dom["mu"]
got = {}  # scores are printed to 4 decimals
for line in open(recs):
    u, rank, i, score = line.split("\t")
    got[(u, i)] = float(score)
worst_score = worst_row = 0.0
for u in ("u1", "u2", "u5"):
    ui = users.index(u)
    obs = C[ui] > 0
    A = W0 * Q.T @ Q + (Q[obs].T * (C[ui, obs] - W0)) @ Q[obs] + REG * np.eye(K)
    p = np.linalg.solve(A, Q[obs].T @ C[ui, obs])
    worst_row = max(worst_row, float(np.max(np.abs(p - P[ui]))))
    for j, i in enumerate(items):
        if not obs[j]:
            want = mu + p @ Q[j] + conv["item"][i][K]
            worst_score = max(worst_score, abs(got.get(("new-" + u, i), 1e9) - want))
g.check(worst_score < 1e-4, "folded-in users' scores are NumPy's user step against the saved items (max diff %.2e)"
        % worst_score)
g.check(worst_row < 1e-4, "fold-in of a trained user's history reproduces its saved row (max diff %.2e)" % worst_row)
ranked = [i for _, i in sorted((int(l.split("\t")[1]), l.split("\t")[2]) for l in open(recs) if l.startswith("nobody\t"))]
popv = [conv["item"][i][K] for i in ranked]
g.check(len(ranked) == 10 and popv == sorted(popv, reverse=True),
        "a history user without a known item is ranked by popularity (%s)" % ranked)
rc, out, err, _ = g.run([g.GRAFT, "recommend", "--model", os.path.join(d, "one"), "--history", hist], d)
g.check(rc == 0, "fold-in from an iALS model saved after one epoch works too")

imp = os.path.join(d, "implicit.tsv")
with open(imp, "w") as f:
    f.write("user\titem\n")
    for (u, i) in pairs:
        f.write("%s\t%s\n" % (u, i))
tabs = train("imp", ["--epochs", "2"], data_path=imp)
g.check(len(tabs["user"]) == 14 and len(tabs["item"]) == 10, "a two-column file with a header trains")

rc, out, err, _ = g.run([g.GRAFT, "train", "--train", data, "--loss", "ials", "--min-rating", "6", "--quiet"], d)
g.check(rc == 2 and "r.csv" in err and "--min-rating" in err,
        "--min-rating above every rating: exit 2 naming the file (%d: %s)" % (rc, err.strip()[-200:]))

# A --min-rating that leaves some users without a positive: they are counted and said, not an error.
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", data, "--loss", "ials", "--min-rating", "5", "--workers", "2",
                         "--validation-fraction", "0", "--quiet"], d)
lacking = sum(1 for u in range(14) if not any(v >= 5 for (uu, _), v in pairs.items() if uu == "u%d" % u))
g.check(rc == 0 and "GRAFT-USERS-WITHOUT-POSITIVES" in err and "%d users have no rating" % lacking in err,
        "users left without a positive are counted over the workers and said (%d expected): %s"
        % (lacking, [l for l in err.splitlines() if "WITHOUT" in l][-1:]))

# Transfer: the target stream of a joint job holds no cold user's rating.
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
with open(src, "w") as fs, open(tgt, "w") as ft:
    for u in range(40):
        for i in range(6):
            fs.write("p%d,s%d,1\n" % (u, (u + i) % 20))
            ft.write("p%d,t%d,1\n" % (u, (u * 3 + i) % 15))
trace = os.path.join(d, "trace")
g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", "joint", "--loss", "ials",
       "--dim", "4", "--epochs", "2", "--trace-dir", trace, "--quiet"], d, check_exit=0)
cold = set(open(os.path.join(trace, "cold-users.txt")).read().split())
seen = set()
for line in open(os.path.join(trace, "joint-worker0.txt")):
    dom, user, _ = line.split()
    if dom == "1":
        seen.add(user)
g.check(len(cold) == 8 and not (cold & seen) and len(seen) == 32,
        "no cold user's target rating in the joint stream (%d cold, %d target users trained)" % (len(cold), len(seen)))

# The ranking gate: on unrelated domains (a user's target half drawn apart from its source half)
# seed's pull toward source rows hurts warm users, and the gate, judging by NDCG of held-out
# warm positives, keeps the target-only model for them.
import random  # noqa: E402
rnd = random.Random(4)
usrc, utgt = os.path.join(d, "usrc.csv"), os.path.join(d, "utgt.csv")
with open(usrc, "w") as fs, open(utgt, "w") as ft:
    for u in range(200):
        for j in rnd.sample(range(12), 6):
            fs.write("p%d,s%d,1\n" % (u, (u % 2) * 12 + j))
        half = rnd.randrange(2)
        for j in rnd.sample(range(12), 6):
            ft.write("p%d,t%d,1\n" % (u, half * 12 + j))
mj = os.path.join(d, "gate.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--source", usrc, "--target", utgt, "--transfer", "seed", "--loss", "ials",
                         "--dim", "8", "--epochs", "10", "--metrics", mj], d, check_exit=0)
s = g.metrics(mj)[-1]
g.check(s.get("gate") == "target-only" and s["valid_ndcg_target"] > s["valid_ndcg_transfer"] + 0.1
        and "held-out target NDCG" in out,
        "unrelated domains: the ranking gate keeps target-only for warm users (NDCG %.3f transfer, %.3f target-only)"
        % (s.get("valid_ndcg_transfer", -1), s.get("valid_ndcg_target", -1)))
# The gate's paired comparison is over the same users as the two scores: its mean gain is their
# difference (each printed to 6 places), and here it does not clear its standard error.
gain, se = s.get("gate_ndcg_gain", 9), s.get("gate_ndcg_se", -1)
g.check(abs(gain - (s["valid_ndcg_transfer"] - s["valid_ndcg_target"])) < 2e-6 and 0 < se and gain < se
        and "paired gain" in out,
        "unrelated domains: the paired gain %.4f (se %.4f) is the difference of the scores" % (gain, se))

# Fold-in with a joint model whose two domains use the same item ids (as graft gen --domains 2
# does): --history-domain source folds the cold users' source history in as the source items it
# is, reproducing the rows the converged job gave them; auto takes those ids as target items, and
# says so.
jsrc, jtgt = os.path.join(d, "j-source.csv"), os.path.join(d, "j-target.csv")
with open(jsrc, "w") as fs, open(jtgt, "w") as ft:
    for u in range(40):
        for j in rnd.sample(range(12), 5):
            fs.write("q%d,i%d,1\n" % (u, (u % 3) * 4 + j % 4 if j < 8 else j))
        for j in rnd.sample(range(12), 4):
            ft.write("q%d,i%d,1\n" % (u, (u % 3) * 4 + j % 4 if j < 8 else j))
jm = os.path.join(d, "joint-model")
g.run([g.GRAFT, "train", "--source", jsrc, "--target", jtgt, "--transfer", "joint", "--loss", "ials", "--dim", "4",
       "--solver", "cholesky", "--epochs", "60", "--early-stopping", "0", "--validation-fraction", "0",
       "--cold-start-users", "0.25", "--save", jm, "--quiet"], d, check_exit=0)
cold = open(os.path.join(jm, "cold-users.txt")).read().split()
chist, cusers = os.path.join(d, "cold-history.csv"), os.path.join(d, "cold-users.txt")
with open(chist, "w") as f:
    f.writelines(l for l in open(jsrc) if l.split(",")[0] in cold)
open(cusers, "w").write("\n".join(cold) + "\n")


def scores(args):
    out = os.path.join(d, "scores.tsv")
    rc, _, err, _ = g.run([g.GRAFT, "recommend", "--model", jm, "-k", "12", "--out", out] + args, d, check_exit=0)
    return {(l.split("\t")[0], l.split("\t")[2]): float(l.split("\t")[3]) for l in open(out)}, err


trained, _ = scores(["--users", cusers])
folded, err_src = scores(["--history", chist, "--history-domain", "source"])
guessed, err_auto = scores(["--history", chist])
gap = max(abs(folded.get(key, 1e9) - v) for key, v in trained.items())
g.check(len(cold) >= 5 and len(trained) == 12 * len(cold) and gap < 2e-3 and "both domains" not in err_src,
        "joint fold-in of a source history (--history-domain source) gives the trained cold users' scores "
        "(%d users, max diff %.1e)" % (len(cold), gap))
g.check("ids are in both domains" in err_auto and "--history-domain source" in err_auto
        and max(abs(guessed.get(key, 1e9) - v) for key, v in trained.items()) > 0.01,
        "auto reads ids both domains know as target items, and says so (%s)" % err_auto.strip()[-200:])
rc, _, err, _ = g.run([g.GRAFT, "recommend", "--model", os.path.join(d, "conv"), "--history", hist,
                       "--history-domain", "source"], d)
g.check(rc == 2 and "no source domain" in err, "--history-domain source with a plain model: exit 2 (%d, %r)"
        % (rc, err.strip()[-200:]))
g.done()

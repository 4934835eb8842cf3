"""Integration: a gated transfer model answers, once saved, exactly as its job's summary says. On
unrelated domains (correlation 0) the gate of joint and seed keeps a target-only model for warm
users; `graft eval` on the --save folder must reproduce the summary's warm and cold RMSE (warm
users from the target-only tables, cold users from the transfer tables), and `graft recommend`
must rank a warm user by the target-only rows."""
import os

import graftest as g

d = g.tmpdir()
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--users", "600",
       "--items", "150", "--ratings-per-user", "40", "--target-items", "150",
       "--target-ratings-per-user", "25", "--correlation", "0", "--zipf", "0.5", "--seed", "6"], d,
      check_exit=0)
ttrain, ttest = os.path.join(d, "tgt-train.csv"), os.path.join(d, "tgt-test.csv")
g.run([g.GRAFT, "split", "--in", tgt, "--train", ttrain, "--test", ttest, "--fraction", "0.1",
       "--seed", "2"], d, check_exit=0)


def lines(path):
    with open(path) as f:
        return [l for l in f.read().splitlines() if l.strip()]


def user_of(line):
    return line.split(",")[0].strip()


for mode in ("joint", "seed"):
    model = os.path.join(d, mode + "-model")
    m = os.path.join(d, mode + ".jsonl")
    g.run([g.GRAFT, "train", "--source", src, "--target", ttrain, "--target-test", ttest,
           "--transfer", mode, "--dim", "8", "--epochs", "12", "--metrics", m, "--save", model,
           "--quiet"], d, timeout=300, check_exit=0)
    s = g.metrics(m)[-1]
    g.check(s.get("gate") == "target-only",
            "%s: the gate keeps the target-only model on unrelated domains (%s)" % (mode, s.get("gate")))
    man = open(os.path.join(model, "manifest.json")).read()
    g.check('"warm":"target-only"' in man, "%s: the manifest routes warm users to target-only.*" % mode)
    cold = set(lines(os.path.join(model, "cold-users.txt")))
    header = lines(ttest)[0] if not lines(ttest)[0][0].isdigit() else None
    warm_f, cold_f = os.path.join(d, mode + "-warm.csv"), os.path.join(d, mode + "-cold.csv")
    with open(warm_f, "w") as w:
        w.write("\n".join(l for l in lines(ttest) if user_of(l) not in cold and l != header) + "\n")
    with open(cold_f, "w") as c:
        c.write("\n".join(l for f in (ttrain, ttest) for l in lines(f)
                          if user_of(l) in cold and l != header) + "\n")
    for which, f, want in (("warm", warm_f, s["warm_rmse"]), ("cold", cold_f, s["cold_rmse"])):
        out_json = os.path.join(d, "%s-%s.json" % (mode, which))
        g.run([g.GRAFT, "eval", "--model", model, "--test", f, "--out", out_json], d, check_exit=0)
        got = __import__("json").load(open(out_json))["rmse"]
        g.check(abs(got - want) < 2e-4,
                "%s: eval of the saved model reproduces the job's %s RMSE (%.5f vs %.5f)"
                % (mode, which, got, want))
    # An edited cold-users.txt is refused: routing depends on it.
    with open(os.path.join(model, "cold-users.txt"), "a") as f:
        f.write("someone-else\n")
    rc, _, err, _ = g.run([g.GRAFT, "eval", "--model", model, "--test", warm_f], d)
    g.check(rc == 2 and "cold-users.txt" in err, "%s: an altered cold-users.txt is refused, named (exit %d)" % (mode, rc))
g.done()

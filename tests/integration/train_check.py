"""Trains S servers x W workers on dense generated data and checks the result against the
generator's floor, the metrics file's contract, the exit status and the absence of leftovers.
A fixed number of epochs on every rating (--validation-fraction 0): the default's validation,
early stopping and refit are test_early_stopping's. dim 8 over a rank-4 generator: at dim 4 the
ordering of two workers' pushes now and then leaves SGD on a saddle (test RMSE ~0.66) for 20
epochs or more (3 runs in 100 on one core), which says nothing about the data plane."""
import os

import graftest as g

EPOCH_FIELDS = ["event", "epoch", "train_rmse", "test_rmse", "test_mae", "seconds", "updates_per_s"]
SUMMARY_FIELDS = ["event", "test_rmse", "test_mae", "epochs", "seconds", "updates_per_s",
                  "servers", "workers", "bad_lines"]


def main(servers, workers):
    d = g.tmpdir()
    train, test, info = g.gen(d)
    m = os.path.join(d, "run.jsonl")
    epochs = 25
    rc, out, err, secs = g.run([g.GRAFT, "train", "--servers", str(servers), "--workers", str(workers),
                                "--train", train, "--test", test, "--dim", "8", "--lr", "0.1",
                                "--reg", "0.05", "--epochs", str(epochs), "--validation-fraction", "0", "--metrics", m], d, timeout=300)
    g.check(rc == 0, "exit status 0 (got %d)%s" % (rc, "" if rc == 0 else "\n" + err))
    rows = g.metrics(m)
    ep = [r for r in rows if r.get("event") == "epoch"]
    su = [r for r in rows if r.get("event") == "summary"]
    g.check(len(ep) == epochs, "one epoch record per epoch (%d)" % len(ep))
    g.check(len(su) == 1 and rows[-1]["event"] == "summary", "one summary record, last")
    g.check(all(all(k in r for k in EPOCH_FIELDS) for r in ep), "epoch records carry every contract field")
    g.check(all(k in su[0] for k in SUMMARY_FIELDS), "summary carries every contract field")
    g.check([r["epoch"] for r in ep] == list(range(1, epochs + 1)), "epochs numbered 1..%d" % epochs)
    s = su[0]
    g.check(s["servers"] == servers and s["workers"] == workers, "summary names %dx%d" % (servers, workers))
    g.check(s["epochs"] == epochs and s["bad_lines"] == 0, "summary counts epochs and no bad lines")
    g.check(s["test_rmse"] == ep[-1]["test_rmse"], "summary RMSE is the last epoch's")
    g.check(ep[-1]["test_rmse"] < ep[0]["test_rmse"], "test RMSE falls with training")
    floor = info["best_rmse"]
    g.check(s["test_rmse"] <= 1.10 * floor,
            "test RMSE %.4f within 10%% of the best achievable %.4f" % (s["test_rmse"], floor))
    g.check(s["updates_per_s"] > 0 and s["seconds"] > 0, "throughput and time reported")
    g.check(out.count("epoch ") >= epochs and "summary:" in out, "one progress line per epoch and a summary")
    g.check("\r" not in out and "\x1b" not in out, "no control characters when the output is not a terminal")
    g.done()

"""Integration: CURVE authentication. A server started with --curve on admits the job's own worker
(its key pair was shared over MPI) and nobody else: a client with a key pair of its own, and one
without CURVE, get no reply to their pulls and their pushes change nothing (tests/integration/
wire_peer.c --intruders does the talking); the server logs the refusal. And a whole training job
runs with CURVE on. Loopback TCP is reachable by every user of the host, so `--bind 127.0.0.1`
keeps CURVE on by default; only the Unix socket (mode 0600) runs without it."""
import os

import graftest as g

d = g.tmpdir()
marker = os.path.join(d, "marker")
rc, out, err, _ = g.run(["mpirun", "-q", "--oversubscribe", "-np", "1", os.path.join(g.BIN, "graft-server"),
                         "--curve", "on", "--metrics", marker, ":", "-np", "1",
                         os.path.join(g.TEST_BIN, "wire_peer"), "--intruders"], d, timeout=120)
print(out)
g.check(rc == 0, "the job's worker is served and both intruders get nothing (exit %d)\n%s" % (rc, err[-1500:]))
g.check(out.count("no reply, nothing applied") == 2, "both intruders were ignored")
g.check("(CURVE on)" in err and "GRAFT-AUTH-DENIED" in err, "the server ran CURVE and logged the stranger")

train, test, _ = g.gen(d, users=300, items=100, **{"ratings-per-user": 20})
m = os.path.join(d, "m.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", "2", "--workers", "2", "--train", train, "--test", test,
                         "--dim", "8", "--epochs", "3", "--curve", "on", "--metrics", m], d)
g.check(rc == 0 and err.count("(CURVE on)") == 2 and "GRAFT-AUTH-DENIED" not in err and g.metrics(m)[-1]["test_rmse"] < 1.2,
        "a 2x2 training job with CURVE on: every worker admitted (%r)" % err.strip()[-300:])
m2 = os.path.join(d, "m2.jsonl")
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--dim", "4", "--epochs", "1",
                         "--bind", "127.0.0.1", "--metrics", m2], d)
g.check(rc == 0 and "tcp://127.0.0.1:" in err and "(CURVE on)" in err,
        "--bind 127.0.0.1: CURVE is on by default (%r)" % err.strip()[-300:])
rc, out, err, _ = g.run([g.GRAFT, "train", "--train", train, "--dim", "4", "--epochs", "1",
                         "--metrics", m2], d)
g.check(rc == 0 and "ipc://" in err and "(CURVE off)" in err, "the same-host Unix socket runs without CURVE")
g.done()

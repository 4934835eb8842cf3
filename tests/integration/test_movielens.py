"""Integration: the README's first real run. ml-latest-small split 90/10 with seed 1 by
`graft split`; the default settings reach test RMSE <= 0.86 with 2x2, and 1x1 is within 0.01."""
import os
import sys

import graftest as g

ratings = os.path.join(g.SHARED, "ml-latest-small", "ratings.csv")
if not os.path.exists(ratings):
    print("skipped: %s is not there" % ratings)
    sys.exit(g.SKIP)
d = g.tmpdir()
tr, te = os.path.join(d, "train.csv"), os.path.join(d, "test.csv")
rc, out, err, _ = g.run([g.GRAFT, "split", "--in", ratings, "--train", tr, "--test", te,
                         "--fraction", "0.1", "--seed", "1"], d, check_exit=0)
g.check("90716 training and 10120 test ratings" in out, "split 90/10 seed 1 (%s)" % out.strip())
res = {}
for s, w in ((2, 2), (1, 1)):
    m = os.path.join(d, "run%dx%d.jsonl" % (s, w))
    rc, out, err, secs = g.run([g.GRAFT, "train", "--servers", str(s), "--workers", str(w),
                                "--train", tr, "--test", te, "--metrics", m], d, timeout=400, check_exit=0)
    res[(s, w)] = g.metrics(m)[-1]["test_rmse"]
    print("%dx%d: test RMSE %.4f in %.1f s" % (s, w, res[(s, w)], secs))
g.check(res[(2, 2)] <= 0.86, "2x2 test RMSE %.4f <= 0.86" % res[(2, 2)])
g.check(abs(res[(2, 2)] - res[(1, 1)]) <= 0.01, "1x1 (%.4f) and 2x2 (%.4f) within 0.01" % (res[(1, 1)], res[(2, 2)]))
g.done()

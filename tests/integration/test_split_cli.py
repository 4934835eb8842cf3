"""Integration: `graft split` and `graft gen` from the command line, good and bad input."""
import os

import graftest as g

d = g.tmpdir()
src = os.path.join(d, "in.csv")
with open(src, "w") as f:
    f.write("user,item,rating\n")
    for u in range(40):
        for i in range(25):
            f.write("user%d,item%d,%d\n" % (u, i, (u * i) % 5 + 1))
tr, te = os.path.join(d, "tr.csv"), os.path.join(d, "te.csv")
rc, out, err, _ = g.run([g.GRAFT, "split", "--in", src, "--train", tr, "--test", te, "--by", "user",
                         "--fraction", "0.2"], d, check_exit=0)
trl, tel = open(tr).read().splitlines(), open(te).read().splitlines()
g.check(trl[0] == "user,item,rating" and tel[0] == "user,item,rating", "header copied to both")
g.check(len(tel) - 1 == 40 * 5 and len(trl) - 1 == 40 * 20, "per-user split takes 5 of 25 from every user")
g.check(sorted(trl[1:] + tel[1:]) == sorted(open(src).read().splitlines()[1:]), "lines copied verbatim, none lost")

rc, out, err, _ = g.run([g.GRAFT, "split", "--in", os.path.join(d, "nope.csv"), "--train", tr, "--test", te], d)
g.check(rc == 2 and "nope.csv: No such file or directory" in err, "missing input: exit 2, named")
with open(src, "a") as f:
    f.write("user1,item1\n")
rc, out, err, _ = g.run([g.GRAFT, "split", "--in", src, "--train", tr, "--test", te], d)
g.check(rc == 2 and "in.csv:1002: expected at least 3 fields" in err, "malformed input: FILE:LINE")
g.check(not os.path.exists(tr) and not os.path.exists(te), "a failed split leaves no half-written outputs")
rc, out, err, _ = g.run([g.GRAFT, "gen", "--train", tr, "--items", "5", "--ratings-per-user", "9"], d)
g.check(rc == 2 and "--ratings-per-user" in err, "gen refuses more ratings per user than items")
g.done()

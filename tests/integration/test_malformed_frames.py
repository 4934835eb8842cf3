"""Integration: a raw peer sends malformed frames and a flood of oversized messages to a live
graft-server, then checks that a normal pull still returns the same rows (tests/integration/wire_peer.c does the talking)."""
import os

import graftest as g

d = g.tmpdir()
marker = os.path.join(d, "marker")
rc, out, err, _ = g.run(["mpirun", "-q", "--oversubscribe", "-np", "1", os.path.join(g.BIN, "graft-server"),
                         "--max-message-mb", "1", "--max-keys", "100000", "--metrics", marker, ":",
                         "-np", "1", os.path.join(g.TEST_BIN, "wire_peer"), marker], d, timeout=120)
print(out)
g.check(rc == 0, "peer and server agree on every malformed request (exit %d)\n%s" % (rc, err[-2000:]))
g.check(out.count("wire_peer: ") >= 25, "every case ran")
g.check("pull through the arena            -> the same rows" in out, "rows crossed in the arena")
g.check("GRAFT-SERVER-STATS" in err, "server exited through its normal path after the abuse")
g.done()

"""Integration: on a terminal (a pseudo-terminal here) training draws a live bar with the rate
and an ETA, and still prints one line per epoch; off a terminal it never writes control
characters (train_check.py checks that side)."""
import os
import pty
import select
import subprocess

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=300, items=100, **{"ratings-per-user": 30})
master, slave = pty.openpty()
p = subprocess.Popen([g.GRAFT, "train", "--train", train, "--epochs", "3", "--dim", "8"], stdout=slave,
                     stderr=subprocess.DEVNULL, env=g.env(), start_new_session=True)
os.close(slave)
out = b""
while True:
    ready, _, _ = select.select([master], [], [], 60)
    if not ready:
        break
    try:
        chunk = os.read(master, 65536)
    except OSError:
        break
    if not chunk:
        break
    out += chunk
p.wait(timeout=60)
text = out.decode(errors="replace")
g.check(p.returncode == 0, "the job exits 0 on a terminal")
g.check("\r" in text and "ratings/s" in text and "ETA" in text and "[####" in text,
        "a live bar with the rate and an ETA is drawn")
g.check(all(("epoch   %d/3" % e) in text for e in (1, 2, 3)) and "summary:" in text,
        "every epoch still gets its line, and the summary")
g.done()

"""Integration: `cmake --install` puts the executables, the launcher and the docs under a prefix,
and the installed launcher finds its executables relative to itself, from any directory."""
import os
import subprocess

import graftest as g

d = g.tmpdir()
prefix = os.path.join(d, "prefix")
build = os.path.dirname(g.TEST_BIN)
p = subprocess.run(["cmake", "--install", build, "--prefix", prefix], capture_output=True, text=True)
g.check(p.returncode == 0, "cmake --install succeeds (%s)" % p.stderr[-300:])
for f in ("bin/graft", "libexec/graft/graft-server", "libexec/graft/graft-worker", "libexec/graft/graft-tool",
          "libexec/graft/compare.py", "libexec/graft/slurmjobs.py",
          "share/doc/graft/usage.md"):
    g.check(os.path.exists(os.path.join(prefix, f)), "installed: %s" % f)
env = g.env()
env.pop("GRAFT_BIN")  # the installed launcher must find its own executables
graft = os.path.join(prefix, "bin", "graft")
data = os.path.join(d, "r.csv")


def run(args):
    return subprocess.run([graft] + args, capture_output=True, text=True, env=env, cwd="/")


r = run(["gen", "--train", data, "--users", "60", "--items", "30", "--ratings-per-user", "10"])
g.check(r.returncode == 0, "installed graft gen runs from /")
r = run(["train", "--train", data, "--epochs", "2", "--dry-run"])
g.check(os.path.join(prefix, "libexec", "graft", "graft-worker") in r.stdout.replace("\\", ""),
        "the installed launcher uses the installed executables (%s)" % r.stdout.strip()[:200])
r = run(["train", "--train", data, "--epochs", "2"])
g.check(r.returncode == 0 and "summary:" in r.stdout, "installed graft train runs a job from / (%s)" % r.stderr[-200:])
r = run(["check"])
g.check(r.returncode == 2 and "source checkout" in r.stderr, "check explains that it needs a checkout")
g.done()

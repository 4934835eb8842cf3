"""Shared helpers of the integration tests: run real commands under a hard timeout, in their own
process group, and make sure that nothing they started outlives them."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.environ.get("GRAFT_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN = os.environ.get("GRAFT_BIN", os.path.join(ROOT, "build"))
TEST_BIN = os.environ.get("GRAFT_TEST_BIN", os.path.join(BIN, "tests"))
GRAFT = os.path.join(ROOT, "launch", "graft")
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared", "data"))
SKIP = 77

_failures = []


def env():
    e = dict(os.environ)
    e["GRAFT_BIN"] = BIN
    e["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    e["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return e


def tmpdir():
    return tempfile.mkdtemp(prefix="graft-it-")


def _procs_mentioning(marker):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            found.append((int(pid), cmd))
    return found


def kill_session(sid):
    """SIGKILL to every process of session sid at once (mpirun gives each rank a process group of
    its own, so killpg of the launcher's group would leave the ranks running for a while)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            pass


def run(args, marker, timeout=300, check_exit=None):
    """Runs args in a new session; kills the whole group on timeout. Afterwards no process whose
    command line mentions marker (the test's own temporary folder) may be alive."""
    t0 = time.time()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env(),
                         start_new_session=True, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        fail("timed out after %ds: %s\n%s\n%s" % (timeout, " ".join(args), out, err))
    elapsed = time.time() - t0
    # Give exiting ranks a moment, then insist that none is left.
    for _ in range(50):
        left = _procs_mentioning(marker)
        if not left:
            break
        time.sleep(0.1)
    else:
        for pid, _ in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        fail("processes left behind: %s" % left)
    if check_exit is not None and p.returncode != check_exit:
        fail("exit status %d, expected %d: %s\nstdout:\n%s\nstderr:\n%s"
             % (p.returncode, check_exit, " ".join(args), out, err))
    return p.returncode, out, err, elapsed


def gen(d, name="data", **kw):
    opts = {"users": 800, "items": 400, "ratings-per-user": 100, "rank": 4, "zipf": 0, "seed": 3}
    opts.update(kw)
    args = [GRAFT, "gen", "--train", os.path.join(d, name + "-train.csv"),
            "--test", os.path.join(d, name + "-test.csv"), "--info", os.path.join(d, name + "-info.json")]
    for k, v in opts.items():
        args += ["--" + k, str(v)]
    run(args, d, check_exit=0)
    with open(os.path.join(d, name + "-info.json")) as f:
        info = json.load(f)
    return os.path.join(d, name + "-train.csv"), os.path.join(d, name + "-test.csv"), info


def metrics(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        _failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    else:
        print("ok: " + msg)


def done():
    if _failures:
        sys.exit(1)
    print("all checks passed")
    sys.exit(0)

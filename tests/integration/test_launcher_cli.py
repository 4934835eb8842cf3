"""Integration: the launcher's newer commands refuse bad usage clearly (exit 2) and `graft submit
--dry-run` writes a batch script without Slurm: every field filled, the options quoted, and with
--array a job array over a copy of the tasks file. Refused usage creates nothing (each runs in an
empty folder that must stay empty)."""
import os
import re
import shutil

import graftest as g

d = g.tmpdir()
here = os.path.join(d, "cwd")
os.mkdir(here)
os.chdir(here)


def refused(args, fragment, what):
    rc, out, err, _ = g.run([g.GRAFT] + args, d)
    left = os.listdir(here)
    g.check(rc == 2 and fragment in err and not left,
            "%s: exit 2 naming it, nothing created (%d, %r, %r)" % (what, rc, err.strip()[-200:], left))
    for name in left:
        shutil.rmtree(os.path.join(here, name), ignore_errors=True)


refused(["scale", "--workers", "0,2"], "--workers takes positive whole numbers", "graft scale --workers 0")
refused(["scale", "--workers", "1,2", "--servers", "1,1,1"], "--servers gives 3 values for 2 sizes",
        "graft scale with mismatched --servers")
refused(["scale", "--workers", "1", "--metrics", "x"], "--metrics is set per run", "graft scale --metrics")
refused(["scale", "--workers", "1,2", "--train", os.path.join(d, "none.csv")], "none.csv: no such readable file",
        "graft scale with a missing --train")
refused(["submit", "--launcher", "pbs", "--dry-run"], "--launcher is mpirun or srun", "graft submit --launcher pbs")
refused(["submit", "--workers", "x", "--dry-run"], "positive whole numbers", "graft submit --workers x")
refused(["submit", "--job-name", "a b", "--dry-run"], "--job-name takes letters", "graft submit --job-name 'a b'")
refused(["submit", "--array", os.path.join(d, "none.txt"), "--dry-run"], "no such readable file",
        "graft submit --array of a missing file")
refused(["bench", "sideways"], "usage: graft bench", "graft bench with an unknown benchmark")

out_dir = os.path.join(d, "jobs")
rc, out, err, _ = g.run([g.GRAFT, "submit", "--dry-run", "--servers", "2", "--workers", "3", "--out", out_dir,
                         "--sbatch", "--time=10", "--train", "my ratings&more.csv", "--epochs", "5"], d)
script = out.strip()
text = open(script).read() if rc == 0 and os.path.exists(script) else ""
g.check(rc == 0 and script.startswith(out_dir), "submit --dry-run writes the script into --out (%r)" % out)
g.check("#SBATCH --ntasks=5" in text and "#SBATCH --time=10" in text and not re.search(r"@[A-Z_]+@", text),
        "every field is filled: 5 tasks, the extra #SBATCH line, no placeholder left")
g.check("mpirun -np 2 " in text and "-np 3 " in text and "my\\ ratings\\&more.csv" in text,
        "the mpirun line has both counts and the options shell-quoted (a space and an '&' kept)")
# The watchdog comes whole into the script (its '&' arithmetic survives the substitution).
g.check("mpirun_watchdog ()" in text and "$((c & 127))" in text and 'mpirun_watchdog "$job"' in text,
        "the mpirun template carries the launcher's watchdog, intact")
tasks = os.path.join(d, "tasks.txt")
open(tasks, "w").write("--dim 4\n--dim 8 --reg 0.1\n")
rc, out, err, _ = g.run([g.GRAFT, "submit", "--dry-run", "--out", out_dir, "--array", tasks, "--train", "r.csv"], d)
script = out.strip()
text = open(script).read() if rc == 0 and os.path.exists(script) else ""
copied = re.search(r"sed -n .* (\S+-tasks-\d+\.txt)", text)
g.check("#SBATCH --array=0-1" in text and copied and open(copied.group(1)).read() == open(tasks).read(),
        "submit --array: a job array of one task per line, reading a copy of the file in --out")
g.done()

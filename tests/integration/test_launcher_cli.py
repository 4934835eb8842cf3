"""Integration: the launcher's newer commands refuse bad usage clearly (exit 2) and `graft submit
--dry-run` writes a batch script without Slurm: every field filled, the options quoted."""
import os

import graftest as g

d = g.tmpdir()


def refused(args, fragment, what):
    rc, out, err, _ = g.run([g.GRAFT] + args, d)
    g.check(rc == 2 and fragment in err, "%s: exit 2 naming it (%d, %r)" % (what, rc, err.strip()[-200:]))


refused(["scale", "--workers", "0,2"], "--workers takes positive whole numbers", "graft scale --workers 0")
refused(["scale", "--workers", "1,2", "--servers", "1,1,1"], "--servers gives 3 values for 2 sizes",
        "graft scale with mismatched --servers")
refused(["scale", "--workers", "1", "--metrics", "x"], "--metrics is set per run", "graft scale --metrics")
refused(["submit", "--launcher", "pbs", "--dry-run"], "--launcher is mpirun or srun", "graft submit --launcher pbs")
refused(["submit", "--workers", "x", "--dry-run"], "positive whole numbers", "graft submit --workers x")
refused(["submit", "--job-name", "a b", "--dry-run"], "--job-name takes letters", "graft submit --job-name 'a b'")
refused(["bench", "sideways"], "usage: graft bench", "graft bench with an unknown benchmark")

out_dir = os.path.join(d, "jobs")
rc, out, err, _ = g.run([g.GRAFT, "submit", "--dry-run", "--servers", "2", "--workers", "3", "--out", out_dir,
                         "--sbatch", "--time=10", "--train", "my ratings.csv", "--epochs", "5"], d)
script = out.strip()
text = open(script).read() if rc == 0 and os.path.exists(script) else ""
g.check(rc == 0 and script.startswith(out_dir), "submit --dry-run writes the script into --out (%r)" % out)
g.check("#SBATCH --ntasks=5" in text and "#SBATCH --time=10" in text and "@" not in text.split("set -euo")[1],
        "every field is filled: 5 tasks, the extra #SBATCH line, no placeholder left")
g.check("mpirun -np 2 " in text and "-np 3 " in text and "my\\ ratings.csv" in text,
        "the mpirun line has both counts and the options shell-quoted")
g.done()

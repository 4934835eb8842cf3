"""Integration: --save writes every server's shards and a manifest; --source-model starts a
transfer job from it with a different number of servers; a corrupt or mismatched model is a clear
error before any training, and an unwritable --save folder is refused at start."""
import json
import os

import graftest as g

d = g.tmpdir()
src, tgt = os.path.join(d, "src.csv"), os.path.join(d, "tgt.csv")
g.run([g.GRAFT, "gen", "--domains", "2", "--source", src, "--target", tgt, "--users", "600",
       "--items", "200", "--ratings-per-user", "60", "--target-items", "200",
       "--target-ratings-per-user", "12", "--seed", "5"], d, check_exit=0)
model = os.path.join(d, "model", "nested")
common = ["--dim", "8", "--epochs", "8"]
rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", "2", "--train", src, "--save", model] + common, d)
g.check(rc == 0, "plain job with --save exits 0 %s" % err[-300:])
man = open(os.path.join(model, "manifest.json")).read()
g.check('"format":"graft-model"' in man and '"servers":2' in man, "manifest names the format and the server count")
shards = sorted(f for f in os.listdir(model) if f.endswith(".shard"))
g.check(shards == ["item.0-of-2.shard", "item.1-of-2.shard", "user.0-of-2.shard", "user.1-of-2.shard"],
        "one shard per table and server (%s)" % shards)
g.check(not any(f.endswith(".tmp") for f in os.listdir(model)), "no temporary files left")

res = {}
for s in (1, 3):
    m = os.path.join(d, "seed-%d.jsonl" % s)
    rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", str(s), "--workers", "2", "--source", src,
                             "--target", tgt, "--transfer", "seed", "--source-model", model,
                             "--metrics", m] + common, d, timeout=300)
    g.check(rc == 0 and "GRAFT-MODEL-LOADED" in err, "seed from the saved model with %d servers" % s)
    g.check(not any(l.startswith("source") for l in out.splitlines()), "no source phase was trained (%d servers)" % s)
    res[s] = g.metrics(m)[-1]
g.check(abs(res[1]["cold_rmse"] - res[3]["cold_rmse"]) <= 0.01,
        "saved by 2 servers, loaded into 1 or 3: cold RMSE %.4f vs %.4f" % (res[1]["cold_rmse"], res[3]["cold_rmse"]))
rc, out, err, _ = g.run([g.GRAFT, "train", "--source", src, "--target", tgt, "--transfer", "none",
                         "--metrics", os.path.join(d, "none.jsonl")] + common, d, check_exit=0)
none = g.metrics(os.path.join(d, "none.jsonl"))[-1]
g.check(res[1]["cold_rmse"] < none["cold_rmse"], "the loaded source model helps cold users (%.4f < %.4f)"
        % (res[1]["cold_rmse"], none["cold_rmse"]))

def refused(args, fragment, what):
    rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", "2", "--source", src, "--target", tgt] + common + args, d)
    g.check(rc == 2 and fragment in err and "epoch" not in out,
            "%s: exit 2 before training, naming it (%d, %r)" % (what, rc, err.strip()[-200:]))

refused(["--transfer", "seed", "--source-model", model, "--dim", "9"], "has width 9 (dim 8), but this job has --dim 9",
        "a model of another width")
shard = os.path.join(model, "user.1-of-2.shard")
data = bytearray(open(shard, "rb").read())
data[200] ^= 0xff
open(shard, "wb").write(bytes(data))
refused(["--transfer", "map", "--source-model", model], "user.1-of-2.shard: checksum mismatch", "an altered shard")
os.remove(shard)
refused(["--transfer", "seed", "--source-model", model], "user.1-of-2.shard: No such file", "a missing shard")
with open(os.path.join(model, "manifest.json"), "w") as f:
    f.write('{"format":"graft-model","version":1,"dim":8,"servers":2,\n{"name":"user","width":"x"}\n')
refused(["--transfer", "seed", "--source-model", model], "malformed manifest", "a corrupt manifest")
refused(["--transfer", "joint", "--source-model", model], "--source-model is for --transfer seed or map",
        "a source model in joint mode")
blocker = os.path.join(d, "file")
open(blocker, "w").write("x")
refused(["--transfer", "none", "--save", os.path.join(blocker, "sub")], "--save %s/sub" % blocker,
        "an unwritable --save folder")
g.done()

"""Integration: with one worker and a fixed seed, two runs print identical metrics (also with two
servers, whose shards apply one worker's pushes in the order sent), whether the rows cross in
shared memory (the default on one host) or through the sockets (--shm off)."""
import os
import re

import graftest as g

d = g.tmpdir()
train, test, _ = g.gen(d, users=300, items=200, **{"ratings-per-user": 40})
runs = []
arenas = []
shm_bytes = []
for i, shm in enumerate(["auto", "auto", "off"]):
    m = os.path.join(d, "run%d.jsonl" % i)
    rc, out, err, _ = g.run([g.GRAFT, "train", "--servers", "2", "--workers", "1", "--train", train,
                             "--test", test, "--dim", "8", "--epochs", "5", "--seed", "7",
                             "--shm", shm, "--metrics", m], d, check_exit=0)
    # Each server says how many arenas it mapped and how many row bytes crossed in them.
    arenas.append([(int(a), int(b)) for a, b in
                   re.findall(r"GRAFT-SERVER-STATS: .* shared-memory arenas (\d+) bytes (\d+)", err)])
    rows = g.metrics(m)
    for r in rows:
        r.pop("seconds", None)
        r.pop("updates_per_s", None)
        r.pop("wait_seconds", None)  # measurements of this machine, not results
        r.pop("server_peak_rss", None)
        r.pop("bytes_moved", None)  # headers differ in size between the two transports
        if "shm_bytes" in r:
            shm_bytes.append(r.pop("shm_bytes"))
    # The printed lines too, without their timing columns.
    printed = [re.sub(r"\s+[0-9.]+ s\s+.*updates/s", "", l) for l in out.splitlines() if l.startswith("epoch")]
    runs.append((rows, printed))
g.check(runs[0][0] == runs[1][0], "metrics identical across runs with --seed 7")
g.check(runs[0][1] == runs[1][1] and len(runs[0][1]) == 5, "printed epoch lines identical")
g.check(runs[2] == runs[0], "the same run through the sockets (--shm off) gives identical metrics")
g.check(len(arenas[0]) == 2 and all(a >= 1 and b > 0 for a, b in arenas[0]),
        "on one host both servers mapped the worker's arena and rows crossed in it: %s" % arenas[0])
g.check(arenas[2] == [(0, 0), (0, 0)], "with --shm off no arena was mapped: %s" % arenas[2])
g.check(len(shm_bytes) == 3 and shm_bytes[0] == sum(b for _, b in arenas[0]) and shm_bytes[2] == 0,
        "the summary's shm_bytes is what the servers counted: %s" % shm_bytes)

# Servers that refuse arenas (--shm off on the servers alone): the worker says so and falls back
# to the socket, with the same results.
m = os.path.join(d, "fallback.jsonl")
common = ["--train", train, "--test", test, "--dim", "8", "--epochs", "5", "--seed", "7"]
rc, out, err, _ = g.run(["mpirun", "-q", "--oversubscribe",
                         "-np", "2", os.path.join(g.BIN, "graft-server")] + common + ["--shm", "off", ":",
                         "-np", "1", os.path.join(g.BIN, "graft-worker")] + common + ["--metrics", m],
                        d, check_exit=0)
g.check(err.count("GRAFT-SHM-OFF") == 2 and "runs with --shm off" in err,
        "the worker names each refusing server and why")
fallback = g.metrics(m)
for r in fallback:
    for k in ("seconds", "updates_per_s", "wait_seconds", "server_peak_rss", "bytes_moved", "shm_bytes"):
        r.pop(k, None)
g.check(fallback == runs[0][0], "the fallback run's metrics are those of the shared-memory run")
# Server threads (--server-threads), each owning a part of every table: with 1024-rating
# batches a server's requests are large enough to be split between them; the run is the same.
big_train, big_test, _ = g.gen(d, name="big", users=3000, items=1500, **{"ratings-per-user": 20})
lanes = []
for threads in ("1", "3"):
    m = os.path.join(d, "lanes%s.jsonl" % threads)
    g.run([g.GRAFT, "train", "--servers", "1", "--workers", "1", "--train", big_train, "--test",
           big_test, "--dim", "8", "--epochs", "3", "--seed", "7", "--batch", "1024", "--server-threads",
           threads, "--metrics", m], d, check_exit=0)
    rows = g.metrics(m)
    for r in rows:
        for k in ("seconds", "updates_per_s", "wait_seconds", "server_peak_rss", "server_bytes"):
            r.pop(k, None)
    lanes.append(rows)
g.check(lanes[0] == lanes[1] and len(lanes[0]) >= 3,
        "3 server threads give the metrics of 1, bit for bit")

m = os.path.join(d, "other.jsonl")
g.run([g.GRAFT, "train", "--servers", "2", "--workers", "1", "--train", train, "--test", test,
       "--dim", "8", "--epochs", "5", "--seed", "8", "--metrics", m], d, check_exit=0)
other = g.metrics(m)
g.check(other[-1]["test_rmse"] != runs[0][0][-1]["test_rmse"], "another seed gives another run")
g.done()

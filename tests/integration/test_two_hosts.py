"""Integration: a 2x2 job across two emulated hosts. Two network namespaces joined by a veth pair
stand for two hosts (10.77.0.1 and 10.77.0.2), each process started with its own hostname
(`unshare --uts`, else Open MPI's shared-memory files of the two "hosts" collide); mpirun runs on
the first and reaches the second through a plm_rsh_agent script that enters its namespace. The
servers then bind non-loopback addresses, so the traffic crosses the link and CURVE is on, as on
a cluster. The test removes every namespace and link it made (it adds no hosts entry: the hosts
are named by address)."""
import os
import subprocess

import graftest as g

if os.geteuid() != 0:
    print("SKIP: needs root for network namespaces")
    raise SystemExit(77)
tag = str(os.getpid() % 100000)
ns = ["gha" + tag, "ghb" + tag]
veth = ["gva" + tag, "gvb" + tag]
addr = ["10.77.0.1", "10.77.0.2"]


def sh(cmd):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True)


probe = sh("ip netns add %s" % ns[0])
if probe.returncode != 0:
    print("SKIP: cannot make network namespaces here (%s)" % probe.stderr.strip())
    raise SystemExit(77)
d = g.tmpdir()
try:
    steps = ["ip netns add %s" % ns[1],
             "ip link add %s type veth peer name %s" % (veth[0], veth[1])]
    for i in range(2):
        steps += ["ip link set %s netns %s" % (veth[i], ns[i]),
                  "ip netns exec %s ip addr add %s/24 dev %s" % (ns[i], addr[i], veth[i]),
                  "ip netns exec %s ip link set %s up" % (ns[i], veth[i]),
                  "ip netns exec %s ip link set lo up" % ns[i]]
    for s in steps:
        r = sh(s)
        if r.returncode != 0:
            g.fail("%s: %s" % (s, r.stderr.strip()))
    agent = os.path.join(d, "agent.sh")
    with open(agent, "w") as f:
        f.write("#!/bin/sh\n# plm_rsh_agent: 'agent HOST CMD...' runs CMD on the emulated HOST.\n"
                "host=$1; shift\ncase \"$host\" in\n"
                "  %s) ns=%s; name=graft-host-a ;;\n  %s) ns=%s; name=graft-host-b ;;\n"
                "  *) echo \"agent: unknown host $host\" >&2; exit 1 ;;\nesac\n"
                "exec ip netns exec $ns unshare --uts sh -c \"hostname $name; exec $*\"\n"
                % (addr[0], ns[0], addr[1], ns[1]))
    os.chmod(agent, 0o755)
    hostfile = os.path.join(d, "hosts")
    open(hostfile, "w").write("%s slots=2\n%s slots=2\n" % tuple(addr))
    train, test, _ = g.gen(d, users=800, items=300, **{"ratings-per-user": 30})
    m = os.path.join(d, "m.jsonl")
    opts = "--train %s --test %s --dim 8 --epochs 4 --metrics %s" % (train, test, m)
    job = ("hostname graft-host-a; exec mpirun --hostfile %s --map-by node --mca plm_rsh_agent %s "
           "--mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 "
           "-np 2 %s %s : -np 2 %s %s" % (hostfile, agent, os.path.join(g.BIN, "graft-server"), opts,
                                          os.path.join(g.BIN, "graft-worker"), opts))
    rc, out, err, _ = g.run(["ip", "netns", "exec", ns[0], "unshare", "--uts", "sh", "-c", job], d, timeout=180)
    g.check(rc == 0, "the 2x2 job across two hosts exits 0 (%d): %s" % (rc, err.strip()[-600:]))
    g.check("serving tcp://%s:" % addr[0] in err and "serving tcp://%s:" % addr[1] in err,
            "one server on each host, bound to its non-loopback address")
    g.check(err.count("(CURVE on)") == 2 and "GRAFT-AUTH-DENIED" not in err,
            "CURVE is on by default across hosts, and every worker is admitted")
    summ = g.metrics(m)[-1] if rc == 0 else {}
    g.check(summ.get("workers") == 2 and summ.get("test_rmse", 9) < 1.0,
            "the job trained (test RMSE %.3f)" % summ.get("test_rmse", 9))
finally:
    for n in ns:
        sh("ip netns del %s" % n)  # its end of the veth pair goes with it
    left = [n for n in ns if n in sh("ip netns list").stdout]
    links = [v for v in veth if v in sh("ip link show").stdout]
    g.check(not left and not links, "every namespace and link the test made is gone (%s %s)" % (left, links))
g.done()

"""CPU of one run_module call of the integration-test harness (tests/integration/support).

    python benchmarks/harness_bench.py [--calls N] [--rounds R] [TREE ...]

For each TREE (a checkout; default: this one) and each round, a fresh Python
process imports TREE's tests/integration/support, makes one warm-up call of
run_module("fault_info", {}) (it starts the zygote, when the tree has one),
then N calls, then ends its zygotes; printed per call: the CPU (user+sys) of
that process and all its children (RUSAGE_SELF + RUSAGE_CHILDREN, zygotes and
the runs they forked included) and the wall time, median of the rounds.
Trees are interleaved round by round. ``TREE:nozygote`` runs TREE with
FAULTLINE_ZYGOTE=0 (the zygote off, the callback plugin stays).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, os, resource, sys, time
sys.path.insert(0, os.path.join(sys.argv[1], "tests", "integration"))
from support import ansible
n = int(sys.argv[2])
assert not ansible.run_module("fault_info", {})["failed"]
def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
c0, t0 = cpu(), time.monotonic()
for _ in range(n):
    assert not ansible.run_module("fault_info", {})["failed"]
wall = time.monotonic() - t0
pool = getattr(ansible, "zygotes", None)
if pool:
    pool().close()  # reap the zygotes: their CPU (and their runs') becomes ours
print(json.dumps({"cpu": (cpu() - c0) / n, "wall": wall / n}))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("trees", nargs="*", default=[os.path.dirname(os.path.dirname(os.path.abspath(__file__)))])
    a = ap.parse_args()
    res = {t: [] for t in a.trees}
    for r in range(a.rounds):
        for t in a.trees:
            tree, variant = (t.split(":", 1) + [""])[:2]
            env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(tree, "ansible.cfg"))
            if variant == "nozygote":
                env["FAULTLINE_ZYGOTE"] = "0"
            out = subprocess.run([sys.executable, "-c", CHILD, tree, str(a.calls)], cwd=tree, env=env,
                                 capture_output=True, text=True, check=True).stdout
            res[t].append(json.loads(out.strip().splitlines()[-1]))
            print("round %d %s: cpu %.3f s/call, wall %.3f s/call" % (r + 1, t, res[t][-1]["cpu"], res[t][-1]["wall"]),
                  flush=True)
    for t, rs in res.items():
        print("%s: median cpu %.3f s/call, wall %.3f s/call (%d rounds of %d calls)"
              % (t, statistics.median(x["cpu"] for x in rs), statistics.median(x["wall"] for x in rs),
                 len(rs), a.calls))


if __name__ == "__main__":
    main()

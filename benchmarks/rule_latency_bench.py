"""Rule apply and revert latency on one host: faultline against raw nft and iptables doing the same change.

  .venv/bin/python benchmarks/rule_latency_bench.py [--rounds 15] [--module-rounds 5]

The change: a reject rule on one loopback port (127.0.0.1:--port, nothing
listens) in the collection's own nft table ``inet faultline`` (or its own
iptables chains), put in place and taken away again.  The anchors run the
very commands of the fault's plan (``NetworkFault.plan()``), each as its own
process, as a shell script would:

  raw nft       ``nft -f -`` with the plan's script; revert: its undo script, then ``nft delete table``
  raw iptables  the plan's ``iptables``/``ip6tables`` argv lists, one process each (apply and revert)

Ours, with the Python start-up excluded (a warm process, as the supervisor is
when it applies at ``start_at`` or on a flap edge):

  in-process    ``runtime.execute(plan["apply"|"revert"], SessionRunner())``: nft scripts through the
                long-lived ``nft -i`` session, everything else (nft_gc's listing, iptables) as processes

and included (the module as Ansible runs it on the target: a fresh interpreter,
imports, argument checks, reaper, lockout guard, backend probe, ledger record,
the rule, the supervisor started; ``state=up``: the supervisor asked to revert):

  module        ``python -m ansible_collections.faultline.chaos.plugins.modules.network <args.json>``

Rounds are interleaved (every variant once per round, in turn) and the
medians printed with the load average.  Needs root and the project's lab lock:
  flock /tmp/faultline-lab.lock .venv/bin/python benchmarks/rule_latency_bench.py
Everything is reverted after each measurement; the ledger is removed at the end."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
sys.path.insert(0, COLLECTIONS)

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._faults.network import (  # noqa: E402
    NetworkFault, ipt_tables_to_gc)

PYTHON = os.path.join(ROOT, ".venv", "bin", "python")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def raw(argv, data=None):
    cp = subprocess.run(argv, input=data.encode() if data is not None else None, stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE, check=False)
    if cp.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(argv), cp.stderr.decode().strip()))


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


class Bench(object):
    def __init__(self, port, state_dir):
        self.port, self.state_dir = port, state_dir
        self.scope = dict(type="reject", ports=[port], peers=[], protocol="tcp", direction="in", netns=None,
                          loss_percent=None)
        # the tables iptables-nft would create, deleted again on revert (as the module plans it)
        gc = ipt_tables_to_gc(runtime.subprocess_runner, ["iptables", "ip6tables"])
        self.plans = dict((b, NetworkFault(self.scope, backend=b, owner=state_dir, gc_tables=gc).plan())
                          for b in ("nft", "iptables"))
        self.session = runtime.SessionRunner()
        self.before_tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True,
                                            check=False).stdout

    # -- anchors: the plan's own commands, one process each -------------------
    def raw_nft(self):
        plan = self.plans["nft"]
        up, undo = plan["apply"][0], plan["revert"][0]
        return (timed(lambda: raw(up["argv"], up["stdin"])),
                timed(lambda: (raw(undo["argv"], undo["stdin"]), raw(["nft", "delete", "table", "inet", "faultline"]))))

    def raw_ipt(self):
        plan = self.plans["iptables"]
        # revert: the chains and jumps, then the tables iptables-nft made (known to be ours and empty)
        steps = [a["argv"] if a["op"] == "run" else ["nft", "delete", "table", a["family"], a["table"]]
                 for a in plan["revert"]]
        return (timed(lambda: [raw(a["argv"]) for a in plan["apply"]]),
                timed(lambda: [raw(argv) for argv in steps]))

    # -- ours ---------------------------------------------------------------
    def inproc(self, backend):
        plan = self.plans[backend]
        a = timed(lambda: runtime.execute(plan["apply"], self.session))
        errors = []
        r = timed(lambda: errors.extend(runtime.execute_all(plan["revert"], self.session)))
        if errors:
            raise RuntimeError("in-process revert failed: %s" % errors)
        return a, r

    def module(self, backend):
        def run(args):
            with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
                json.dump({"ANSIBLE_MODULE_ARGS": dict(args, state_dir=self.state_dir, backend=backend,
                                                       fault_id="bench-rule-%s" % backend)}, f)
            try:
                cp = subprocess.run([PYTHON, "-m", "ansible_collections.faultline.chaos.plugins.modules.network",
                                     f.name], cwd=ROOT, env=dict(os.environ, PYTHONPATH=COLLECTIONS),
                                    capture_output=True, text=True, check=False)
            finally:
                os.unlink(f.name)
            out = json.loads(cp.stdout[cp.stdout.index("{"):])
            if out.get("failed"):
                raise RuntimeError("module failed: %s" % out.get("msg"))
        return (timed(lambda: run(dict(state="down", type="reject", port=self.port))),
                timed(lambda: run(dict(state="up", type="reject", port=self.port))))

    def check_clean(self):
        if subprocess.run(["nft", "list", "table", "inet", "faultline"], capture_output=True, check=False).returncode == 0:
            raise RuntimeError("table inet faultline left behind")
        for tool in ("iptables", "ip6tables"):
            if b"FLT_" in subprocess.run([tool, "-w", "-S"], capture_output=True, check=False).stdout:
                raise RuntimeError("an FLT_ chain left behind (%s)" % tool)
        left = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False).stdout
        if self.before_tables != left:
            raise RuntimeError("nft tables changed: %r -> %r" % (self.before_tables, left))

    def cleanup(self):
        self.session.close()
        led = runtime.Ledger(self.state_dir)
        for rec in led.list():
            if not runtime.stop_supervisor(led, rec):
                runtime.revert_record(led, rec, "benchmark", "benchmark")
        for plan in self.plans.values():
            runtime.execute_all(plan["revert"])


def med(values):
    return statistics.median(values) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--module-rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=39618)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("rule_latency_bench.py needs root (nftables, iptables)")
    state_dir = tempfile.mkdtemp(prefix="faultline-rulebench-")
    b = Bench(a.port, state_dir)
    variants = [("raw nft", b.raw_nft), ("faultline nft in-process", lambda: b.inproc("nft")),
                ("raw iptables", b.raw_ipt), ("faultline iptables in-process", lambda: b.inproc("iptables")),
                ("faultline nft module", lambda: b.module("nft")),
                ("faultline iptables module", lambda: b.module("iptables"))]
    res = dict((name, ([], [])) for name, _fn in variants)
    print("rule: reject tcp dport %d (loopback, nothing listening); %d rounds in-process, %d with the module, "
          "interleaved; load %s" % (a.port, a.rounds, a.module_rounds, loadavg()))
    try:
        b.inproc("nft")  # warm-up: caches, the session started
        b.raw_nft()
        for n in range(a.rounds):
            for name, fn in variants:
                if "module" in name and n >= a.module_rounds:
                    continue
                ap_s, rv_s = fn()
                b.check_clean()
                res[name][0].append(ap_s)
                res[name][1].append(rv_s)
        print("medians (ms)                    apply   revert")
        for name, _fn in variants:
            print("  %-29s %7.2f  %7.2f" % (name, med(res[name][0]), med(res[name][1])))
        for backend, anchor in (("nft", "raw nft"), ("iptables", "raw iptables")):
            ours, mod, ref = res["faultline %s in-process" % backend], res["faultline %s module" % backend], res[anchor]
            print("%s apply: %s %.2f ms | faultline in-process %.2f ms (%.2fx, goal <= 1.0) | module incl. Python "
                  "start-up and supervisor %.1f ms (%.1fx); revert: %s %.2f ms | in-process %.2f ms (%.2fx) | "
                  "module %.1f ms (%.1fx) | load %s"
                  % (backend, anchor, med(ref[0]), med(ours[0]), med(ours[0]) / med(ref[0]), med(mod[0]),
                     med(mod[0]) / med(ref[0]), anchor, med(ref[1]), med(ours[1]), med(ours[1]) / med(ref[1]),
                     med(mod[1]), med(mod[1]) / med(ref[1]), loadavg()))
    finally:
        b.cleanup()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()

"""A fault task against a command task doing the same rule change, in the same kind of play.

  .venv/bin/python benchmarks/task_overhead_bench.py [--rounds 3] [--profile]

Two plays on localhost, each run with ansible-playbook (wall time of the whole run):

  faultline  5 x ``faultline.chaos.network`` state=down (reject on 5 loopback ports, one fault
             each: ledger record, rule, supervisor started), then 5 x state=up (each
             supervisor reverts and exits; the last revert deletes the emptied table);
  anchor     10 x ``ansible.builtin.command: nft -f -`` with the very scripts the faults'
             plans hold (stdin), the last one also ``delete table inet faultline``.

Rounds are interleaved (anchor, faultline, repeat); the medians, their ratio and
the cost per task are printed with the load average.  An empty play (one
``ansible.builtin.meta: noop``) is timed too, so the per-task figures exclude
ansible-playbook's own start-up.  ``--profile`` also runs the module once
under cProfile (a down and an up, outside Ansible) and prints where its time goes.
Needs root and the project's lab lock:
  flock /tmp/faultline-lab.lock .venv/bin/python benchmarks/task_overhead_bench.py
Every fault is reverted by the play itself; a failed round is cleaned up
(supervisors asked to revert, rules removed) and the ledger removed."""
import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".collections")
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, COLLECTIONS)

from support.ansible import run_playbook  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._faults.network import NetworkFault  # noqa: E402

PORTS = [39620 + i for i in range(5)]


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def scope(port):
    return dict(type="reject", ports=[port], peers=[], protocol="tcp", direction="in", netns=None,
                loss_percent=None)


def anchor_scripts(port, owner, delete_table=False):
    """(apply, revert): the nft scripts of the plan of a reject fault on ``port`` owned by the
    ledger ``owner``, for an ``nft -f -`` command task doing the same rule change as the fault.
    ``delete_table``: the revert also deletes the table, as the revert of the last fault does
    (the plan's ``nft_gc`` step). Also used by hosts_bench.py."""
    plan = NetworkFault(scope(port), backend="nft", owner=owner).plan()
    undo = plan["revert"][0]["stdin"]
    if delete_table:
        undo += "delete table inet faultline\n"
    return plan["apply"][0]["stdin"], undo


def plays(state_dir):
    net = [{"name": "%s %d" % (state, p),
            "faultline.chaos.network": {"state": state, "type": "reject", "port": p, "state_dir": state_dir}}
           for state in ("down", "up") for p in PORTS]
    scripts = [anchor_scripts(p, state_dir, delete_table=i == len(PORTS) - 1) for i, p in enumerate(PORTS)]
    cmd = [{"name": "down %d" % p, "ansible.builtin.command": {"argv": ["nft", "-f", "-"], "stdin": apply}}
           for p, (apply, _undo) in zip(PORTS, scripts)]
    cmd += [{"name": "up %d" % p, "ansible.builtin.command": {"argv": ["nft", "-f", "-"], "stdin": undo}}
            for p, (_apply, undo) in zip(PORTS, scripts)]
    for t in cmd:
        t["changed_when"] = True
    empty = [{"name": "nothing", "ansible.builtin.meta": "noop"}]
    return dict((name, [{"name": name, "hosts": "localhost", "gather_facts": False, "tasks": tasks}])
                for name, tasks in (("anchor", cmd), ("faultline", net), ("empty", empty)))


def run(book):
    t0 = time.monotonic()
    cp = run_playbook(book, env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.default"})
    took = time.monotonic() - t0
    if cp.returncode != 0:
        raise RuntimeError("%s failed (rc=%d):\n%s" % (book, cp.returncode, cp.stdout[-3000:]))
    return took


def check_clean():
    if subprocess.run(["nft", "list", "table", "inet", "faultline"], capture_output=True, check=False).returncode == 0:
        raise RuntimeError("table inet faultline left behind")


def clean(state_dir):
    led = runtime.Ledger(state_dir)
    for rec in led.list():
        if not runtime.stop_supervisor(led, rec):
            runtime.revert_record(led, rec, "benchmark", "benchmark")
    for p in PORTS:
        runtime.execute_all(NetworkFault(scope(p), backend="nft", owner=state_dir).plan()["revert"])


def profile_module(state_dir):
    """cProfile of one down and one up of the module, in this process (Python start-up and imports
    excluded): the module's own time and the calls it spends it in."""
    from ansible.module_utils import basic  # noqa: F401 -- imported before profiling, as the start-up is
    from ansible_collections.faultline.chaos.plugins.modules import network
    sys.path.insert(0, os.path.join(ROOT, "tests", "unit"))
    from module_args import patch_module_args
    wanted = ("reap", "lockout_reason", "detect_backend", "apply", "spawn_supervisor", "execute", "put",
              "journal", "revert", "stop_supervisor", "run_command", "events", "exit_json")
    for state in ("down", "up"):
        prof = cProfile.Profile()
        args = {"state": state, "type": "reject", "port": PORTS[0], "state_dir": state_dir}
        out = io.StringIO()
        with patch_module_args(args):
            saved, sys.stdout = sys.stdout, out  # exit_json prints the result
            t0 = time.perf_counter()
            prof.enable()
            try:
                network.main()
            except SystemExit:
                pass
            finally:
                prof.disable()
                sys.stdout = saved
            took = time.perf_counter() - t0
        rows = []
        for (path, line, func), (_cc, ncalls, _tt, cum, _callers) in pstats.Stats(prof).stats.items():
            if func in wanted and ("faultline" in path or func in ("run_command", "exit_json")):
                rows.append((cum, ncalls, "%s:%s" % (os.path.basename(path), func)))
        print("profile of the module, state=%s: %.1f ms in main() (start-up and imports excluded); cumulative:"
              % (state, took * 1e3))
        for cum, ncalls, name in sorted(rows, reverse=True):
            print("  %7.1f ms  %3d x  %s" % (cum * 1e3, ncalls, name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--profile", action="store_true")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("task_overhead_bench.py needs root (nftables)")
    tmp = tempfile.mkdtemp(prefix="faultline-taskbench-")
    state_dir = os.path.join(tmp, "state")
    books = {}
    for name, play in plays(state_dir).items():
        books[name] = os.path.join(tmp, name + ".yml")
        with open(books[name], "w") as f:
            json.dump(play, f)
    times = {"anchor": [], "faultline": [], "empty": []}
    print("plays of 10 tasks on localhost (5 down + 5 up, ports %d-%d); %d rounds interleaved; load %s"
          % (PORTS[0], PORTS[-1], a.rounds, loadavg()))
    try:
        run(books["empty"])  # warm-up (caches)
        for n in range(1, a.rounds + 1):
            for name in ("empty", "anchor", "faultline"):
                times[name].append(run(books[name]))
                check_clean()
            print("round %d: empty play %.2fs | 10 x command: nft %.2fs | 10 x faultline.chaos.network %.2fs | load %s"
                  % (n, times["empty"][-1], times["anchor"][-1], times["faultline"][-1], loadavg()))
        e, c, f = (statistics.median(times[k]) for k in ("empty", "anchor", "faultline"))
        print("medians of %d rounds: 10 x command: nft %.2fs | 10 x faultline.chaos.network %.2fs, supervisors "
              "included | faultline / command: %.2f (goal <= 1.1) | per task: command %.0f ms, faultline %.0f ms "
              "(+%.0f ms), ansible-playbook start-up (empty play) %.2fs | load %s"
              % (a.rounds, c, f, f / c, (c - e) / 10 * 1e3, (f - e) / 10 * 1e3, (f - c) / 10 * 1e3, e, loadavg()))
        if a.profile:
            profile_module(state_dir)
            check_clean()
    finally:
        clean(state_dir)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Flap edges: how late the rule takes effect, an nft process per edge against the supervisor's nft session.

  .venv/bin/python benchmarks/flap_edge_bench.py [--rounds 2] [--interval 0.25] [--duration 10]

A TCP listener of this script on 127.0.0.1:--port; the network module flaps it
(reject, --interval down / --interval up for --duration s: 40 transitions by
default) through ansible-playbook with ``wait: true``, in a throwaway ledger.
Rounds are interleaved: "process" (FAULTLINE_NFT_SESSION=0: the supervisor
starts ``nft -f -`` for every edge, as before) then "session" (one long-lived
``nft -i`` fed by the supervisor), repeated.  Per edge:

  * wake lag    the supervisor's wake-up after the scheduled instant (journal ``lag_s``);
  * applied lag the rule change done, as the supervisor saw nft return (journal ``applied_lag_s``);
  * seen lag    from outside: the first connect attempt (one every --probe-ms) that
                started after the scheduled instant and saw the new state (refused
                after a down edge, accepted after an up edge); its resolution is the probe gap.

Prints each round, then p50/p99 of every figure per way over all rounds and the
load average.  Needs root (nftables) and the project's lab lock:
  flock /tmp/faultline-lab.lock .venv/bin/python benchmarks/flap_edge_bench.py
Every round's fault ends by itself (its duration) and is reverted by its
supervisor; the ledger is removed afterwards, also on failure."""
import argparse
import os
import shutil
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from support.ansible import run_module  # noqa: E402
from support.net import Listener, connect  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime  # noqa: E402

WAYS = ("process", "session")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def pct(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


class Prober(object):
    """Connects to the port every ``gap`` seconds; keeps (monotonic start, outcome)."""

    def __init__(self, port, gap):
        self.port, self.gap = port, gap
        self.attempts = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            t = time.monotonic()
            self.attempts.append((t, connect(self.port, timeout=0.2)[0]))
            time.sleep(self.gap)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)
        return False

    def seen(self, scheduled, outcome):
        """Seconds from ``scheduled`` to the first attempt started at or after it that saw ``outcome``."""
        for t, o in self.attempts:
            if t >= scheduled and o == outcome:
                return t - scheduled
        return None


def clean(state_dir):
    led = runtime.Ledger(state_dir)
    for rec in led.list():
        if not runtime.stop_supervisor(led, rec):
            runtime.revert_record(led, rec, "benchmark", "benchmark")
    shutil.rmtree(state_dir, ignore_errors=True)


def one_round(way, args):
    os.environ[runtime.NFT_SESSION_ENV] = "0" if way == "process" else "1"
    state_dir = tempfile.mkdtemp(prefix="faultline-flapbench-")
    fid = "bench-flap-%s" % way
    try:
        with Prober(args.port, args.probe_ms / 1000.0) as prober:
            time.sleep(0.2)
            res = run_module("network", dict(state="flap", type="reject", port=args.port, interval=args.interval,
                                             duration=args.duration, wait=True, fault_id=fid,
                                             state_dir=state_dir))
            time.sleep(0.2)
        if res.get("failed"):
            raise RuntimeError("flap failed: %s" % res.get("msg"))
        edges = [e for e in runtime.Ledger(state_dir).events(fid) if e["event"] in ("down", "up")]
    finally:
        clean(state_dir)
        os.environ.pop(runtime.NFT_SESSION_ENV, None)
    out = {"wake": [], "applied": [], "seen": [], "session_edges": 0, "errors": 0}
    for e in edges:
        d = e["detail"]
        out["wake"].append(d["lag_s"])
        out["applied"].append(d["applied_lag_s"])
        out["session_edges"] += 1 if d.get("nft_session") else 0
        out["errors"] += len(d.get("errors") or [])
        seen = prober.seen(d["scheduled_mono"], "refused" if e["event"] == "down" else "ok")
        if seen is not None:
            out["seen"].append(seen)
    gaps = [b[0] - a[0] for a, b in zip(prober.attempts, prober.attempts[1:])]
    out["probe_gap"] = pct(gaps, 50) if gaps else float("nan")
    out["edges"] = len(edges)
    return out


def fmt(values):
    if not values:
        return "n/a"
    return "p50 %.1f ms, p99 %.1f ms" % (pct(values, 50) * 1e3, pct(values, 99) * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--port", type=int, default=39617)
    ap.add_argument("--probe-ms", type=float, default=0.5)
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("flap_edge_bench.py needs root (nftables)")
    print("flap: reject on 127.0.0.1:%d, %.3g s down / %.3g s up for %.3g s per round; %d rounds, interleaved %s"
          % (a.port, a.interval, a.interval, a.duration, a.rounds, " / ".join(WAYS)))
    total = dict((w, {"wake": [], "applied": [], "seen": []}) for w in WAYS)
    listener = Listener(a.port, hold=False)
    try:
        for n in range(1, a.rounds + 1):
            for way in WAYS:
                r = one_round(way, a)
                for k in total[way]:
                    total[way][k] += r[k]
                print("round %d %-7s: %d edges (%d through the session, %d errors) | wake %s | applied %s | "
                      "seen by a client %s (probe gap %.2f ms) | load %s"
                      % (n, way, r["edges"], r["session_edges"], r["errors"], fmt(r["wake"]), fmt(r["applied"]),
                         fmt(r["seen"]), r["probe_gap"] * 1e3, loadavg()))
    finally:
        listener.close()
    old, new = total["process"], total["session"]
    print("all rounds, %d edges per way:" % len(new["applied"]))
    for way in WAYS:
        t = total[way]
        print("  %-7s wake %s | applied %s | seen %s" % (way, fmt(t["wake"]), fmt(t["applied"]), fmt(t["seen"])))
    if old["applied"] and new["applied"]:
        print("flap edge applied lag p99: nft process per edge %.1f ms | nft session %.1f ms (goal <= 5 ms) | "
              "session / process: %.2f | load %s"
              % (pct(old["applied"], 99) * 1e3, pct(new["applied"], 99) * 1e3,
                 pct(new["applied"], 99) / pct(old["applied"], 99), loadavg()))


if __name__ == "__main__":
    main()

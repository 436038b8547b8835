"""Crash consistency: SIGKILL the module or the supervisor at every crash point of
apply, renew, flap and revert; afterwards ``restore`` leaves nothing behind.

The crash points are counted by the engine itself (``runtime.crash_point``:
before every action, before the supervisor is spawned, between a revert and the
deletion of its record); ``FAULTLINE_TEST_CRASH_AT=<module|supervisor>:<n>``
makes the process of that role SIGKILL itself at the n-th one.  Renewals run no
action, so they are killed from outside after a random delay (seeded).

After each crash ``faultline.chaos.restore`` (the same module, run directly)
must leave: an empty ledger, no nftables chain of the ledger, no iptables chain
of the fault, no stopped process, the port reachable, no supervisor alive.  The
same battery runs on the iptables backend (``backend: iptables``, as on a host
without nft) and with two ledgers on one host.

Modules run as ``python <module>.py <args.json>`` (what Ansible does on the
target, minus the transport), so the test owns the process it kills.
``FAULTLINE_CRASH_SEEDS`` (default 3) sets the number of seeded renewal kills.
"""
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from support.ansible import COLLECTIONS, ROOT
from support.net import Listener, connect, owned_chains
from support.util import reap

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="faults need root")]

MODULES = os.path.join(ROOT, "plugins", "modules")
SEEDS = int(os.environ.get("FAULTLINE_CRASH_SEEDS", "3"))
MAX_POINTS = 12
COVERED = {}  # scenario -> crash points that really killed the process


def run_direct(module, args, tmp_path, crash=None, kill_after=None, timeout=60):
    """Run a module as Ansible runs it on the target -> (returncode, result or None)."""
    path = tmp_path / ("args-%s-%d.json" % (module, time.monotonic_ns()))
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS, LC_ALL="C")
    env.pop(runtime.CRASH_ENV, None)
    if crash:
        env[runtime.CRASH_ENV] = crash
    p = subprocess.Popen([sys.executable, os.path.join(MODULES, module + ".py"), str(path)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(tmp_path))
    if kill_after is not None:
        time.sleep(kill_after)
        try:
            p.kill()
        except OSError:
            pass
    out, err = p.communicate(timeout=timeout)
    try:
        result = json.loads(out)
    except ValueError:
        result = None
    assert p.returncode == -signal.SIGKILL or result is not None, (p.returncode, out[-2000:], err[-2000:])
    return p.returncode, result


def chains_of(result):
    """nft/iptables chain names a fault result plans (from its record or its plan)."""
    text = json.dumps(result)
    return sorted(set(re.findall(r"\b(?:flt|FLT)_[A-Za-z0-9]+_(?:in|out|IN|OUT)\b", text)))


def iptables_chains():
    out = []
    for tool in ("iptables", "ip6tables"):
        cp = subprocess.run([tool, "-w", "-S"], capture_output=True, text=True, check=False)
        out += [ln.split()[1] for ln in cp.stdout.splitlines() if ln.startswith("-N ")]
    return out


def supervisors_of(state_dir):
    alive = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    cmd = f.read().split(b"\0")
            except OSError:
                continue
            if state_dir.encode() in cmd and any(c.endswith(b"supervisor.py") for c in cmd):
                alive.append(int(pid))
    return alive


def restore_and_check(state_dir, tmp_path, port, chains, sleeper=None):
    rc, res = run_direct("restore", {"state_dir": state_dir}, tmp_path)
    assert rc == 0 and not res.get("failed"), res
    # a supervisor that outlived the crash may still be finishing its own revert
    end = time.monotonic() + 5
    while supervisors_of(state_dir) and time.monotonic() < end:
        time.sleep(0.05)
    assert supervisors_of(state_dir) == []
    faults = os.path.join(state_dir, "faults")
    assert not os.path.isdir(faults) or os.listdir(faults) == [], os.listdir(faults)
    assert owned_chains(state_dir) == []
    left = set(chains) & (set(iptables_chains()) | set(_nft_chain_names()))
    assert not left, "chains left after restore: %s" % sorted(left)
    if port:
        assert connect(port)[0] == "ok"
    if sleeper is not None:
        assert proc_state(sleeper.pid) not in ("T", "t"), "process %d still stopped" % sleeper.pid
    return res


def _nft_chain_names():
    cp = subprocess.run(["nft", "list", "table", "inet", "faultline"], capture_output=True, text=True, check=False)
    return re.findall(r"^\s*chain (\S+) \{", cp.stdout, re.M) if cp.returncode == 0 else []


@contextlib.contextmanager
def listening_port():
    """A free loopback port with a listener that accepts (and closes) every connection."""
    rnd = random.Random()
    for _i in range(50):
        p = rnd.randint(42000, 42999)
        try:
            listener = Listener(p, hold=False)
        except OSError:
            continue
        try:
            yield p
        finally:
            listener.close()
        return
    pytest.skip("no free port")


@pytest.fixture
def port():
    with listening_port() as p:
        yield p


def _hold(port, state_dir, backend):
    return {"state": "down", "type": "timeout", "port": port, "state_dir": state_dir, "backend": backend,
            "lease": 60}


def _points(scenario, tmp_path, state_dir, port, make_args, role, before=None, after=None, sleeper=None):
    """Crash at point 1, 2, ... until a run goes through without reaching the point."""
    covered = []
    chains = []
    for n in range(1, MAX_POINTS + 1):
        if before:
            before()
        args = make_args()
        rc0, planned = run_direct(args[0], dict(args[1], _ansible_check_mode=True), tmp_path)
        chains = sorted(set(chains) | set(chains_of(planned)))
        rc, res = run_direct(args[0], args[1], tmp_path, crash="%s:%d" % (role, n))
        killed = rc == -signal.SIGKILL
        if after:
            killed = after(rc, res) or killed
        if killed:
            covered.append(n)
        restore_and_check(state_dir, tmp_path, port, chains, sleeper)
        if not killed:
            break
    COVERED[scenario] = covered
    print("%s: %d crash points covered: %s" % (scenario, len(covered), covered))
    assert covered, "no crash point reached"
    return covered


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_module_killed_at_every_point_of_apply(backend, port, state_dir, tmp_path):
    covered = _points("apply/%s" % backend, tmp_path, state_dir, port,
                      lambda: ("network", _hold(port, state_dir, backend)), "module")
    assert len(covered) >= 2  # the rule actions and the supervisor spawn


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_supervisor_killed_at_every_point_of_a_flap(backend, port, state_dir, tmp_path):
    args = {"state": "flap", "type": "timeout", "port": port, "interval": 0.15, "duration": 1.2,
            "state_dir": state_dir, "backend": backend, "lease": 60}

    def after(rc, res):
        assert rc == 0, res
        fid = res["fault_id"]
        sup = res["supervisor"]
        end = time.monotonic() + 10
        while runtime.proc_alive(sup["pid"], sup.get("starttime")) and time.monotonic() < end:
            time.sleep(0.02)
        rec = runtime.Ledger(state_dir).get(fid)
        # the supervisor died with its record still there: it was killed mid-schedule
        return rec is not None

    covered = _points("flap-supervisor/%s" % backend, tmp_path, state_dir, port,
                      lambda: ("network", args), "supervisor", after=after)
    assert len(covered) >= 6  # several down/up transitions


@pytest.mark.parametrize("backend", ["nft", "iptables"])
def test_module_killed_at_every_point_of_a_revert(backend, port, state_dir, tmp_path):
    """The module reverts only what no supervisor can: a fault whose supervisor was SIGKILLed and
    whose deadline passed is reverted by the next module call's reaper, and that call is killed."""
    # 3 s: the supervisor must still hold the fault when it is killed (with 0.5 s, at load
    # 10-12, it had reverted before the kill, and no module call found anything to revert)
    args = dict(_hold(port, state_dir, backend), duration=3)

    def before():
        rc, res = run_direct("network", args, tmp_path)
        assert rc == 0, res
        sup = res["supervisor"]
        os.kill(sup["pid"], signal.SIGKILL)
        end = time.monotonic() + 5
        while runtime.proc_alive(sup["pid"], sup.get("starttime")) and time.monotonic() < end:
            time.sleep(0.02)
        assert runtime.Ledger(state_dir).list(), "the supervisor reverted the fault before it was killed"
        time.sleep(max(0.0, res["deadline"] - time.time()) + 0.2)  # past the deadline: overdue, no supervisor

    covered = _points("revert-module/%s" % backend, tmp_path, state_dir, port,
                      lambda: ("network", dict(args, state="up")), "module", before=before)
    assert len(covered) >= 2


def test_supervisor_killed_at_every_point_of_a_revert(port, state_dir, tmp_path):
    """`state: up` asks the supervisor, which is killed in the middle of its revert."""
    covered = []
    for n in range(1, MAX_POINTS + 1):
        args = _hold(port, state_dir, "nft")
        rc, res = run_direct("network", args, tmp_path, crash="supervisor:%d" % n)
        assert rc == 0, res
        chains = chains_of(res)
        t0 = time.monotonic()
        rc, up = run_direct("network", dict(args, state="up"), tmp_path, timeout=120)
        took = time.monotonic() - t0
        assert rc == 0 and not up.get("failed"), up
        events = [e for e in runtime.Ledger(state_dir).events(res["fault_id"]) if e["event"] == "reverted"]
        killed = not events or events[-1]["detail"].get("by") != "supervisor"
        restore_and_check(state_dir, tmp_path, port, chains)
        if killed:
            covered.append(n)
            # the module must notice the dead supervisor at once, not wait out its timeout
            assert took < 5, "state=up took %.1f s after the supervisor died" % took
        else:
            break
    COVERED["revert-supervisor/nft"] = covered
    print("revert-supervisor/nft: %d crash points covered: %s" % (len(covered), covered))
    assert covered


def test_module_killed_at_random_moments_of_a_renewal(port, state_dir, tmp_path):
    """Renewals run no action: kill the module from outside after a seeded random delay."""
    kills = 0
    for seed in range(SEEDS * 4):
        rnd = random.Random(seed)
        args = _hold(port, state_dir, "nft")
        rc, res = run_direct("network", args, tmp_path)
        assert rc == 0, res
        rc, _res = run_direct("network", dict(args, lease=90), tmp_path, kill_after=rnd.uniform(0.02, 0.45))
        kills += rc == -signal.SIGKILL
        # the fault survives a killed renewal and is still supervised
        rec = runtime.Ledger(state_dir).get(res["fault_id"])
        assert rec is not None and runtime.proc_alive(rec["supervisor"]["pid"], rec["supervisor"]["starttime"])
        restore_and_check(state_dir, tmp_path, port, chains_of(res))
    COVERED["renew/external"] = kills
    print("renew: %d of %d renewals killed mid-way" % (kills, SEEDS * 4))
    assert kills >= 1


def test_module_killed_at_every_point_of_a_pause(state_dir, tmp_path):
    """A paused process is resumed by restore whatever point the module died at."""
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        _points("pause/process", tmp_path, state_dir, None,
                lambda: ("process", {"state": "paused", "pid": sleeper.pid, "state_dir": state_dir, "lease": 60}),
                "module", sleeper=sleeper)
    finally:
        sleeper.kill()
        reap(sleeper.pid)


def test_two_ledgers_a_crash_and_restore_in_one_leaves_the_other_in_place(port, state_dir, tmp_path):
    other = str(tmp_path / "other-ledger")
    try:
        rc, first = run_direct("network", _hold(port, other, "nft"), tmp_path)
        assert rc == 0, first
        rc, _res = run_direct("network", _hold(port, state_dir, "nft"), tmp_path, crash="module:2")
        assert rc == -signal.SIGKILL
        restore_and_check_keep(state_dir, tmp_path)
        # the other ledger's fault is still in place and still drops the port
        assert runtime.Ledger(other).get(first["fault_id"]) is not None
        assert connect(port, timeout=0.5)[0] == "timeout"
    finally:
        run_direct("restore", {"state_dir": other}, tmp_path)
        run_direct("restore", {"state_dir": state_dir}, tmp_path)
    assert connect(port)[0] == "ok"


def restore_and_check_keep(state_dir, tmp_path):
    rc, res = run_direct("restore", {"state_dir": state_dir}, tmp_path)
    assert rc == 0 and not res.get("failed"), res
    faults = os.path.join(state_dir, "faults")
    assert not os.path.isdir(faults) or os.listdir(faults) == []
    assert owned_chains(state_dir) == []

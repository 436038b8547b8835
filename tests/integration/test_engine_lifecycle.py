"""Engine lifecycle on the real machine: a SIGKILLed supervisor is reaped by the
next module call, concurrent applies give one supervisor, start_at fires on
time, a pid's network namespace outlives the pid.

Loopback ports and processes of our own only; every test restores in teardown
(the ``state_dir`` fixture reverts and asserts an empty ledger).
"""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from support.net import Listener, connect, owned_chains
from support.util import wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="faults need root")

PORT = 39431


@pytest.fixture
def listener():
    lst = Listener(PORT)
    yield lst
    lst.close()


@pytest.fixture
def sleeper():
    """A process of our own to pause; resumed and killed at teardown."""
    p = subprocess.Popen(["sleep", "600"], start_new_session=True)
    wait_for(lambda: proc_state(p.pid) in ("S", "R"), 5, 0.01, "sleeper to start")
    yield p
    try:
        os.kill(p.pid, signal.SIGCONT)
        p.kill()
    except OSError:
        pass
    p.wait()


def supervisors(state_dir):
    """pids of the running supervisor processes of this ledger."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if runtime.is_supervisor_cmdline(argv) and state_dir in argv and runtime.proc_state(int(name)) != "Z":
            out.append(int(name))
    return out


def kill_supervisor(state_dir, fault_id):
    sup = wait_for(lambda: runtime.supervisor_holder(state_dir, fault_id), 5, 0.02, "the supervisor")
    os.kill(sup["pid"], signal.SIGKILL)
    wait_for(lambda: not runtime.proc_alive(sup["pid"], sup["starttime"]), 5, 0.02, "the supervisor's death")
    return sup


def test_sigkilled_supervisor_of_a_timed_network_fault_is_reaped_by_fault_info(run_module, state_dir, listener):
    # duration 10: with 3, ansible-playbook took longer than the fault to return at
    # load 5 (3 parallel workers) and the supervisor had reverted it before the check
    res = run_module("network", dict(state="down", type="reject", port=PORT, duration=10, state_dir=state_dir))
    assert not res["failed"], res["msg"]
    assert connect(PORT)[0] == "refused"
    kill_supervisor(state_dir, res["fault_id"])
    # nothing runs for it any more: the rule outlives its deadline ...
    time.sleep(max(0.0, res["deadline"] - time.time()) + 1.0)
    assert connect(PORT)[0] == "refused", "something else reverted it"
    info = run_module("fault_info", dict(state_dir=state_dir))
    # ... until the next module call of the collection on this host reaps it
    assert not info["failed"], info["msg"]
    assert [(r["id"], r["action"]) for r in info["reaped"]] == [(res["fault_id"], "reverted")]
    assert info["faults"] == [] and info["orphans"] == []
    assert connect(PORT)[0] == "ok"
    assert owned_chains(state_dir) == []
    rev = [e for e in runtime.Ledger(state_dir).events(res["fault_id"]) if e["event"] == "reverted"]
    assert rev[0]["detail"]["by"] == "reaper" and rev[0]["detail"]["reason"] == "orphan"


def test_sigkilled_supervisor_of_a_pause_is_restarted_then_reaped(run_module, state_dir, sleeper):
    # the first fault_info must run before the deadline: ansible-playbook takes over 4 s under load
    # (seen failing with duration=4: the reaper had already reverted it)
    res = run_module("process", dict(state="paused", pid=sleeper.pid, duration=15, state_dir=state_dir))
    assert not res["failed"], res["msg"]
    assert proc_state(sleeper.pid) == "T"
    first = kill_supervisor(state_dir, res["fault_id"])
    # before the deadline: fault_info flags nothing left behind, the reaper started a new supervisor
    info = run_module("fault_info", dict(state_dir=state_dir))
    assert [(r["id"], r["action"]) for r in info["reaped"]] == [(res["fault_id"], "supervisor_restarted")]
    assert info["faults"][0]["supervisor_alive"] and not info["faults"][0]["orphan"]
    assert info["faults"][0]["supervisor"]["pid"] != first["pid"]
    # the new supervisor resumes the process at the deadline; kill it too, and
    # the module call after the deadline resumes it
    kill_supervisor(state_dir, res["fault_id"])
    time.sleep(max(0.0, res["deadline"] - time.time()) + 0.5)
    assert proc_state(sleeper.pid) == "T"
    info = run_module("fault_info", dict(state_dir=state_dir))
    assert [(r["id"], r["action"]) for r in info["reaped"]] == [(res["fault_id"], "reverted")]
    wait_for(lambda: proc_state(sleeper.pid) in ("S", "R"), 3, 0.02, "the resume")


def test_a_process_fault_never_pauses_a_supervisor(run_module, state_dir, listener):
    res = run_module("network", dict(state="down", type="reject", port=PORT, duration=30, state_dir=state_dir))
    sup = runtime.supervisor_holder(state_dir, res["fault_id"])
    bad = run_module("process", dict(state="paused", pid=sup["pid"], state_dir=state_dir))
    assert bad["failed"] and "faultline supervisor or worker" in bad["msg"]
    assert proc_state(sup["pid"]) != "T"
    bad = run_module("process", dict(state="paused", match="supervisor.py --state-dir %s" % state_dir,
                                     state_dir=state_dir))
    assert bad["failed"] and "no process command line matches" in bad["msg"]
    assert proc_state(sup["pid"]) != "T"


def test_two_concurrent_identical_applies_start_one_supervisor(run_module, state_dir, listener):
    results = [None, None]

    def go(i):
        results[i] = run_module("network", dict(state="down", type="reject", port=PORT, duration=30,
                                                state_dir=state_dir))

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(r and not r["failed"] for r in results), results
    assert sorted(r["renewed"] for r in results) == [False, True]
    assert len(set(r["fault_id"] for r in results)) == 1
    time.sleep(runtime.LOCK_GRAB + 0.3)
    assert len(supervisors(state_dir)) == 1
    assert len(owned_chains(state_dir)) == 1
    assert connect(PORT)[0] == "refused"


def test_start_at_applies_on_time_on_loopback(run_module, state_dir, listener):
    # two ansible-playbook runs (apply, fault_info) must finish before it fires: each takes
    # 2-3 s on an idle machine, over 6 s under load (seen failing with 6 s of lead) and
    # over 17 s at load 13 (failed with 15 s): the lead is measured, not guessed
    t0 = time.time()
    assert not run_module("fault_info", dict(state_dir=state_dir))["failed"]
    start = time.time() + max(15.0, 4 * (time.time() - t0) + 5.0)
    res = run_module("network", dict(state="down", type="reject", port=PORT, duration=2,
                                     start_at="%.3f" % start, state_dir=state_dir))
    assert not res["failed"], res["msg"]
    returned = time.time()
    assert returned < start, "the module must return before the fault fires"
    assert res["start_at"] == pytest.approx(start, abs=1e-3)
    info = run_module("fault_info", dict(state_dir=state_dir))
    assert [s["id"] for s in info["scheduled"]] == [res["fault_id"]]
    assert connect(PORT)[0] == "ok"
    # the client's view: first refused connect
    while connect(PORT, 0.2)[0] == "ok" and time.time() < start + 3:
        time.sleep(0.002)
    seen = time.time()
    assert connect(PORT)[0] == "refused"
    journal = res["apply_journal"]

    def applied():
        with open(journal["path"]) as f:
            events = [json.loads(x) for x in f]
        return [e for e in events if e["id"] == journal["fault_id"] and e["event"] == journal["event"]]

    d = wait_for(applied, 2, 0.01, "the applied journal line")[0]["detail"]
    print("start_at lag: journal %.1f ms (applied %.1f ms), client saw it %.1f ms after start_at"
          % (d["lag_s"] * 1000, d["applied_lag_s"] * 1000, (seen - start) * 1000))
    assert 0 <= d["lag_s"] < 0.05 and d["applied_lag_s"] < 0.2
    assert seen - start < 0.3
    # duration counts from the apply: the revert comes 2 s after it
    wait_for(lambda: connect(PORT, 0.2)[0] == "ok", 5, 0.01, "the revert")
    assert time.time() - d["wall"] == pytest.approx(2.0, abs=0.4)


def test_start_at_in_the_past_or_too_far_is_refused(run_module, state_dir, listener):
    for when, msg in ((time.time() - 60, "in the past"), (time.time() + 2 * 86400, "more than a day ahead")):
        res = run_module("network", dict(state="down", type="reject", port=PORT, start_at="%.0f" % when,
                                         state_dir=state_dir))
        assert res["failed"] and msg in res["msg"]
    assert runtime.Ledger(state_dir).list() == [] and connect(PORT)[0] == "ok"


def test_a_pid_netns_fault_is_reverted_after_the_process_exited(run_module, state_dir):
    """Before: nsenter --net=/proc/<pid>/ns/net failed after the pid exited: the revert
    failed, the record was deleted anyway and the chain stayed in the namespace."""
    owner = subprocess.Popen(["unshare", "--net", "sleep", "600"], start_new_session=True)
    try:
        ns = "/proc/%d/ns/net" % owner.pid
        wait_for(lambda: os.path.exists(ns) and os.stat(ns).st_ino != os.stat("/proc/self/ns/net").st_ino,
                 5, 0.01, "the namespace")
        ino = os.stat(ns).st_ino
        res = run_module("network", dict(state="down", type="timeout", port=PORT, netns=str(owner.pid),
                                         duration=60, state_dir=state_dir))
        assert not res["failed"], res["msg"]
        pin = os.path.join(state_dir, "netns", res["fault_id"])
        assert os.path.ismount(pin) and os.stat(pin).st_ino == ino
        owner.kill()
        owner.wait()
        # the namespace lives on in the pin, with its chain
        out = subprocess.run(["nsenter", "--net=%s" % pin, "nft", "list", "table", "inet", "faultline"],
                             capture_output=True, text=True, check=False)
        assert out.returncode == 0 and "flt_" in out.stdout
        up = run_module("network", dict(state="up", fault_id=res["fault_id"], state_dir=state_dir))
        assert not up["failed"], up["msg"]
        assert up["reverted"][0]["reverted"] is True
        assert not os.path.exists(pin), "the pin must be released after the revert"
        assert runtime.Ledger(state_dir).list() == []
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()

"""faultline.chaos.network / restore / fault_info against the real kernel firewall.

Each test listens on its own loopback port, faults it through Ansible, and
checks what a real client sees. Every test restores in teardown.
"""
import json
import os
import signal
import socket
import subprocess
import time

import pytest

from support.ansible import ROOT, ansible_env, tool
from support.net import Listener, connect, nft_chains
from support.util import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network faults need root")

PORT = 39401


@pytest.fixture
def listener():
    lst = Listener(PORT)
    yield lst
    lst.close()


def down(run_module, state_dir, **kw):
    args = dict(state="down", type="reject", port=PORT, state_dir=state_dir)
    if "ports" in kw:
        del args["port"]
    args.update(kw)
    return run_module("network", args)


def test_reject_gives_connection_refused_within_a_second_and_up_restores(run_module, state_dir, listener):
    assert connect(PORT)[0] == "ok"
    res = down(run_module, state_dir)
    assert not res["failed"], res["msg"]
    assert res["changed"] and res["backend"] == "nft"
    outcome, took = connect(PORT)
    assert outcome == "refused" and took < 1.0
    assert any(c.startswith("flt_") for c in nft_chains())
    up = run_module("network", {"state": "up", "fault_id": res["fault_id"], "state_dir": state_dir})
    assert up["changed"] and up["reverted"][0]["reverted"]
    assert connect(PORT)[0] == "ok"
    assert res["fault_id"] not in json.dumps(nft_chains())


def test_reject_resets_an_established_connection(run_module, state_dir, listener):
    s = socket.create_connection(("127.0.0.1", PORT), 2)
    try:
        res = down(run_module, state_dir)
        assert not res["failed"], res["msg"]
        s.settimeout(2)
        with pytest.raises((ConnectionResetError, BrokenPipeError)):
            for _i in range(5):
                s.sendall(b"x" * 100)
                time.sleep(0.05)
                s.recv(1)
    finally:
        s.close()


def test_timeout_makes_connect_time_out(run_module, state_dir, listener):
    res = down(run_module, state_dir, type="timeout")
    assert not res["failed"], res["msg"]
    outcome, took = connect(PORT, timeout=1.5)
    assert outcome == "timeout" and took >= 1.4


def test_down_is_idempotent_and_renews_the_lease(run_module, state_dir, listener):
    first = down(run_module, state_dir, lease=30)
    second = down(run_module, state_dir, lease=600)
    assert first["changed"] and not second["changed"] and second["renewed"]
    assert second["fault_id"] == first["fault_id"]
    assert second["deadline"] > first["deadline"] + 500
    # the rule vanished behind our back: re-running puts it back (only our chain: other
    # runs on this machine may have chains in the table too)
    ours = [c for c in nft_chains() if c in first["rules"]][0]
    subprocess.run(["nft", "-f", "-"], check=True, text=True,
                   input="flush chain inet faultline %s\ndelete chain inet faultline %s\n" % (ours, ours))
    third = down(run_module, state_dir)
    assert third["changed"] and connect(PORT)[0] == "refused"


def test_check_mode_changes_nothing_and_shows_the_rules(run_module, state_dir, listener, tmp_path):
    before = nft_chains()
    res = run_module("network", dict(state="down", type="reject", port=PORT, state_dir=state_dir),
                     check=True, diff=True)
    assert not res["failed"], res["msg"]
    assert res["changed"] and "reject with tcp reset" in res["diff"]["after"]
    assert nft_chains() == before and connect(PORT)[0] == "ok"
    assert not os.path.exists(os.path.join(state_dir, "faults")) or not os.listdir(os.path.join(state_dir, "faults"))


def test_duration_is_reverted_by_the_supervisor(run_module, state_dir, listener):
    res = down(run_module, state_dir, duration=10)
    assert not res["failed"], res["msg"]
    deadline = res["deadline"]
    assert time.time() < deadline - 1, "ansible took too long to observe the fault"
    assert connect(PORT)[0] == "refused"
    while connect(PORT, 0.3)[0] != "ok" and time.time() < deadline + 3:
        time.sleep(0.05)
    assert connect(PORT)[0] == "ok"
    assert time.time() - deadline < 1.5
    info = run_module("fault_info", {"state_dir": state_dir, "journal_since": deadline - 10})
    reverted = [e for e in info["journal"] if e["id"] == res["fault_id"] and e["event"] == "reverted"]
    assert reverted[0]["detail"]["by"] == "supervisor" and reverted[0]["detail"]["reason"] == "duration"


def test_kill_9_of_ansible_playbook_during_a_timed_fault(state_dir, listener, tmp_path):
    """The dead-man switch: the controller dies, the fault still ends at its deadline."""
    playbook = tmp_path / "fault.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - faultline.chaos.network: {state: down, type: reject, port: %d, duration: 20, state_dir: %s}\n"
        "    - ansible.builtin.pause: {seconds: 120}\n" % (PORT, state_dir))
    proc = subprocess.Popen([tool("ansible-playbook"), "-i", "localhost,", "-c", "local",
                             "-e", "ansible_python_interpreter=%s" % tool("python"), str(playbook)],
                            cwd=ROOT, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    faults = os.path.join(state_dir, "faults")
    try:
        end = time.time() + 60
        rec = None
        while time.time() < end and rec is None:
            for name in (os.listdir(faults) if os.path.isdir(faults) else []):
                if not name.endswith(".json"):
                    continue  # a record being written (atomic rename pending)
                with open(os.path.join(faults, name)) as f:
                    data = json.load(f)
                if data.get("supervisor", {}).get("pid") and data.get("applied"):
                    rec = data
            time.sleep(0.05)
        assert rec is not None, "the fault was never applied"
        assert connect(PORT)[0] == "refused"
        os.killpg(proc.pid, signal.SIGKILL)  # the whole controller: ansible-playbook and its workers
        proc.wait()
        deadline = rec["deadline"]
        while connect(PORT, 0.2)[0] != "ok" and time.time() < deadline + 5:
            time.sleep(0.05)
        restored_at = time.time()
        assert connect(PORT)[0] == "ok", "rule still present after the deadline"
        assert restored_at - deadline < 1.0
        assert not any(c.startswith("flt_") and c in json.dumps(rec["params"]["chains"]) for c in (nft_chains() or []))

        def reverted_events():
            # the supervisor journals right after its revert actions: the port
            # can be seen open a few milliseconds before the line is written
            with open(os.path.join(state_dir, "journal.jsonl")) as f:
                events = [json.loads(x) for x in f]
            return [e for e in events if e["id"] == rec["id"] and e["event"] == "reverted"]

        rev = wait_for(reverted_events, 3, 0.05, "the supervisor's reverted event")
        assert rev[0]["detail"]["by"] == "supervisor" and abs(rev[0]["ts"] - deadline) < 1.0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_flap_alternates_and_ends_up(run_module, state_dir, listener):
    res = run_module("network", dict(state="flap", type="reject", port=PORT, interval=0.5, duration=2.0,
                                     state_dir=state_dir, wait=True))
    assert not res["failed"], res["msg"]
    evs = res["events"]
    assert [e["detail"]["cycle"] for e in evs if e["event"] == "down"] == [1, 2]
    assert [e["detail"]["cycle"] for e in evs if e["event"] == "up"] == [1, 2]
    assert connect(PORT)[0] == "ok"


def test_restore_reverts_everything_and_sweeps_orphans(run_module, state_dir, listener):
    a = down(run_module, state_dir)
    b = down(run_module, state_dir, ports=[PORT + 1], type="timeout")
    assert not a["failed"] and not b["failed"]
    # an orphan: a chain of ours no ledger knows about (a crashed run)
    subprocess.run(["nft", "-f", "-"], check=True, text=True,
                   input="add table inet faultline\nadd chain inet faultline flt_0rphan00_in "
                         "{ type filter hook input priority -10; policy accept; }\n")
    res = run_module("restore", {"state_dir": state_dir})
    assert not res["failed"], res["msg"]
    assert sorted(r["id"] for r in res["reverted"]) == sorted([a["fault_id"], b["fault_id"]])
    assert "flt_0rphan00_in" in res["orphans"]
    assert connect(PORT)[0] == "ok"
    assert "flt_0rphan00_in" not in (nft_chains() or [])
    again = run_module("restore", {"state_dir": state_dir})
    assert not again["changed"] and again["reverted"] == [] and again["orphans"] == []


@pytest.mark.parametrize("args,message", [
    (dict(type="bogus"), "value of type must be one of"),
    (dict(port=70000), "port=70000 is out of range: must be a port number from 1 to 65535"),
    (dict(duration=-5), "duration=-5.0 is out of range"),
    (dict(duration="nan"), "duration=nan is out of range"),
    (dict(netns="no-such-ns"), "unknown network namespace"),
    (dict(type="loss"), "loss_percent"),
    (dict(state="flap"), "needs duration"),
    (dict(state="flap", duration=1, interval=5), "shorter than one down interval"),
    (dict(type="service"), "needs service_unit"),
])
def test_bad_input_fails_cleanly_and_applies_nothing(run_module, state_dir, args, message):
    before = nft_chains()
    full = dict(state="down", type="reject", port=PORT, state_dir=state_dir)
    full.update(args)
    res = run_module("network", full)
    assert res["failed"] and message in res["msg"], res["msg"]
    assert "Traceback" not in res["msg"] and "Traceback" not in res.get("module_stderr", "")
    assert nft_chains() == before


def test_lockout_guard_refuses_to_cut_the_ssh_session(state_dir, tmp_path):
    before = nft_chains()
    playbook = tmp_path / "lock.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - faultline.chaos.network: {state: down, type: reject, port: 22, state_dir: %s}\n"
        "      environment: {SSH_CONNECTION: '10.9.9.9 50000 10.9.9.1 22'}\n" % state_dir)
    cp = subprocess.run([tool("ansible-playbook"), "-i", "localhost,", "-c", "local",
                         "-e", "ansible_python_interpreter=%s" % tool("python"), str(playbook)],
                        cwd=ROOT, env=ansible_env(), capture_output=True, text=True, check=False)
    assert cp.returncode != 0 and "allow_lockout" in cp.stdout
    assert nft_chains() == before


def test_fault_info_shows_status(run_module, state_dir, listener):
    res = down(run_module, state_dir)
    info = run_module("fault_info", {"state_dir": state_dir})
    assert [f["id"] for f in info["faults"]] == [res["fault_id"]]
    f = info["faults"][0]
    assert f["supervisor_alive"] and f["remaining_s"] > 3000
    assert [e["event"] for e in f["events"]][:2] == ["requested", "down"]
    assert not info["network"]["is_clear"] and "reject with tcp reset" in info["network"]["ruleset"]

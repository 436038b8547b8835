"""network/restore module entry points: refusals before anything is applied (no I/O)."""
import fcntl
import os

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._faults import network as net
from ansible_collections.faultline.chaos.plugins.modules import network as network_module
from ansible_collections.faultline.chaos.plugins.modules import restore as restore_module


def test_not_root_is_refused_before_anything_happens(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out = run_module(network_module, {"state": "down", "port": 3306, "state_dir": str(tmp_path)})
    assert code == 1 and out["failed"] and "needs root" in out["msg"]
    assert not (tmp_path / "faults").exists()
    code, out = run_module(restore_module, {"state_dir": str(tmp_path)})
    assert code == 1 and "needs root" in out["msg"]


def test_no_firewall_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: None)
    with pytest.raises(EngineError, match="no usable firewall backend .*nft not installed.*iptables not installed"):
        net.detect_backend(lambda argv, data: (0, "", ""))


def test_backend_that_fails_is_reported_and_the_other_used(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    calls = []

    def runner(argv, data):
        calls.append(argv[0])
        return (1, "", "Operation not permitted") if argv[0] == "nft" else (0, "", "")

    assert net.detect_backend(runner) == "iptables" and calls == ["nft", "iptables"]
    with pytest.raises(EngineError, match="nft unusable: Operation not permitted"):
        net.detect_backend(runner, wanted="nft")


@pytest.mark.parametrize("args,message", [
    ({"port": 0}, "port=0 is out of range: must be a port number from 1 to 65535"),
    ({"ports": [22, 65536]}, "ports[1]=65536 is out of range: must be a port number from 1 to 65535"),
    ({"duration": 0}, "duration=0.0 is out of range: must be a finite number of seconds greater than 0"),
    ({"lease": -1}, "lease=-1.0 is out of range: must be a finite number of seconds greater than 0 and at most "
                    "604800 (7 days)"),
    ({"type": "loss", "loss_percent": 101}, "loss_percent=101 is out of range: must be a whole number of percent "
                                            "from 1 to 100"),
    ({"state": "flap", "type": "service", "duration": 10, "interval": 1}, "supports type reject, timeout or loss"),
    ({"port": 1, "ports": [2]}, "mutually exclusive"),
])
def test_bad_input_messages(args, message, run_module, tmp_path):
    full = {"state": "down", "state_dir": str(tmp_path)}
    if "ports" not in args:
        full["port"] = 3306
    full.update(args)
    code, out = run_module(network_module, full)
    assert code == 1 and message in out["msg"], out["msg"]
    assert not (tmp_path / "faults").exists()


@pytest.mark.parametrize("args,message", [
    ({"ports": []}, "ports is an empty list"),
    ({"port": 3306, "peers": []}, "peers is an empty list"),
    ({"type": "timeout"}, "set all_traffic: true"),
])
def test_empty_scope_is_refused_even_in_check_mode(args, message, monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    full = dict({"state": "down", "state_dir": str(tmp_path), "_ansible_check_mode": True}, **args)
    code, out = run_module(network_module, full)
    assert code == 1 and message in out["msg"], out
    assert not (tmp_path / "faults").exists()


def test_the_lockout_guard_sees_the_session_found_in_the_ancestry(monkeypatch, run_module, tmp_path):
    # what controller_connections finds above a module run with become (no SSH_CONNECTION)
    conn = dict(local=("198.18.0.11", 22), peer=("198.18.0.1", 40000), netns=net.netns_identity(None),
                source="sshd pid 200")
    monkeypatch.setattr(net, "controller_connections", lambda: [conn])
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    for extra in ({}, {"netns": "/proc/self/ns/net"}, {"netns": str(os.getpid())}):
        args = dict({"state": "down", "port": 22, "state_dir": str(tmp_path), "_ansible_check_mode": True}, **extra)
        code, out = run_module(network_module, args)
        assert code == 1 and "SSH session 198.18.0.1:40000 -> 198.18.0.11:22" in out["msg"], out
    assert not (tmp_path / "faults").exists()


def _put(ledger, fid, kind, type_):
    ledger.put(dict(id=fid, kind=kind, type=type_, summary="%s %s" % (kind, type_), params={}, apply=[], revert=[]))


def test_restore_kinds_service_selects_service_stops(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    # these bare records have no supervisor and no deadline: the reaper would revert them first
    monkeypatch.setattr(restore_module, "reap_orphans", lambda module: [])
    led = runtime.Ledger(str(tmp_path))
    _put(led, "network_svc", "network", "service")  # what network type=service records
    _put(led, "network_rej", "network", "reject")
    _put(led, "process_p", "process", "pause")
    base = {"state_dir": str(tmp_path), "sweep": False, "stop_workers": False}
    for kinds, want in ((["service"], ["network_svc"]), (["network"], ["network_rej"]),
                        (["service", "process"], ["network_svc", "process_p"])):
        _code, out = run_module(restore_module, dict(base, kinds=kinds, _ansible_check_mode=True))
        assert sorted(r["id"] for r in out["reverted"]) == want, (kinds, out)
    code, out = run_module(restore_module, dict(base, kinds=["service"]))
    assert code == 0 and [(r["id"], r["kind"], r["reverted"]) for r in out["reverted"]] == [
        ("network_svc", "service", True)]
    assert sorted(r["id"] for r in led.list()) == ["network_rej", "process_p"]


def test_restore_sweeps_while_holding_the_ledger_lock(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    runtime.Ledger(str(tmp_path)).ensure()
    seen = []

    def list_owned(runner, prefix):
        return {"nft": ["flt_dead_in"], "iptables": [], "nft_table": False, "owners": {}}

    def execute_all(actions, runner=None):
        fd = os.open(os.path.join(str(tmp_path), "lock"), os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            seen.append("free")
        except BlockingIOError:
            seen.append("held")
        finally:
            os.close(fd)
        return []

    monkeypatch.setattr(restore_module, "list_owned", list_owned)
    monkeypatch.setattr(restore_module, "execute_all", execute_all)
    code, out = run_module(restore_module, {"state_dir": str(tmp_path), "stop_workers": False})
    assert code == 0 and out["orphans"] == ["flt_dead_in"], out
    assert seen == ["held"]


def _network_id(state_dir, **kw):
    """The id network state=down gives the scope (what state=up with the same scope reverts)."""
    scope = dict(type="reject", ports=[3317], peers=None, protocol="tcp", direction="in", netns=None,
                 loss_percent=None)
    scope.update(kw)
    return net.NetworkFault(scope, owner=state_dir).fault_id


def test_up_reverts_what_matches_its_scope_through_the_engine(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(network_module, "reap_orphans", lambda module: [])  # bare records: no supervisor
    calls = []
    revert_where = network_module.FaultEngine.revert_where

    def spy(self, kind=None, match=None, **kw):
        calls.append(kind)
        return revert_where(self, kind, match, **kw)

    monkeypatch.setattr(network_module.FaultEngine, "revert_where", spy)
    sd = str(tmp_path)
    led = runtime.Ledger(sd)
    mine, other = _network_id(sd), _network_id(sd, ports=[3318])
    for fid, kind, type_ in ((mine, "network", "reject"), (other, "network", "reject"),
                             ("network_svc", "network", "service"), ("process_p", "process", "pause")):
        _put(led, fid, kind, type_)
    base = {"state": "up", "state_dir": sd}
    # the scope of a down task: exactly its fault; check mode reverts nothing
    code, out = run_module(network_module, dict(base, port=3317, _ansible_check_mode=True))
    assert code == 0 and [r["id"] for r in out["reverted"]] == [mine] and out["changed"]
    assert out["reverted"][0]["check_mode"] and led.get(mine) is not None
    code, out = run_module(network_module, dict(base, port=3317))
    assert code == 0 and out["changed"] and [(r["id"], r["reverted"], r["summary"], r["type"])
                                             for r in out["reverted"]] == [(mine, True, "network reject", "reject")]
    assert out["diff"] == {"before": "network reject\n", "after": ""} and led.get(mine) is None
    code, out = run_module(network_module, dict(base, port=3317))  # again: nothing left of that scope
    assert code == 0 and not out["changed"] and out["reverted"] == []
    # fault_id: that fault only; no scope (or all): every network fault, service stops too, never a process fault
    code, out = run_module(network_module, dict(base, fault_id="network_svc"))
    assert [r["id"] for r in out["reverted"]] == ["network_svc"]
    _put(led, "network_svc", "network", "service")
    code, out = run_module(network_module, base)
    assert code == 0 and sorted(r["id"] for r in out["reverted"]) == sorted([other, "network_svc"])
    assert [r["id"] for r in led.list()] == ["process_p"]
    assert calls == ["network"] * 5  # every state=up goes through FaultEngine.revert_where


def test_restore_reports_unreadable_records_and_selects_by_run(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(restore_module, "reap_orphans", lambda module: [])
    led = runtime.Ledger(str(tmp_path))
    _put(led, "process_a", "process", "pause")
    led.put(dict(id="process_run", kind="process", type="pause", summary="of the run", params={}, apply=[],
                 revert=[], run_id="r1", state="revert_failed", revert_errors=["earlier"]))
    base = {"state_dir": str(tmp_path), "sweep": False, "stop_workers": False}
    code, out = run_module(restore_module, dict(base, run_id="r1"))
    # a revert_failed record is retried at once; only the run's faults
    assert code == 0 and [(r["id"], r["kind"], r["reverted"]) for r in out["reverted"]] == [
        ("process_run", "process", True)]
    assert [r["id"] for r in led.list()] == ["process_a"]
    with open(os.path.join(str(tmp_path), "faults", "broken.json"), "w") as f:
        f.write("{not json")
    code, out = run_module(restore_module, dict(base, _ansible_check_mode=True))
    assert code == 0 and [r["id"] for r in out["reverted"]] == ["process_a"]  # check mode: not listed, no failure
    code, out = run_module(restore_module, base)
    assert code == 1 and out["errors"] == ["broken: record is unreadable; its supervisor (if alive) reverts "
                                           "it at its deadline"]
    assert [(r["id"], r["reverted"]) for r in out["reverted"]] == [("process_a", True), ("broken", False)]


def test_the_network_module_imports_the_process_planner_only_for_type_service():
    """Before: every network task imported _faults/process.py and _engine/background.py
    (compiled from the AnsiballZ zip on every run: about 8 ms a task here)."""
    import subprocess
    import sys
    code = ("import sys; import ansible_collections.faultline.chaos.plugins.modules.network; "
            "print(' '.join(m.rsplit('.', 1)[-1] for m in sys.modules if m.endswith(('_faults.process', "
            "'_engine.background'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True,
                         env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert out.stdout.strip() == ""
    fault = network_module._build_fault(type("M", (), {"params": dict(
        type="service", service_unit="x.service", service_pidfile=None, service_start=None, service_host="h",
        service_stop_timeout=5.0, fault_id=None)})(), {}, [3306])
    assert type(fault).__name__ == "ServiceStopFault"

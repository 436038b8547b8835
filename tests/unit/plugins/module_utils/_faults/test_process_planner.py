"""Unit tests for _faults/process.py over a fake /proc tree."""
import os

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._faults import process as P


def test_hex_addr():
    assert procfs.hex_addr("0100007F:0CF5") == ("127.0.0.1", 3317)
    assert procfs.hex_addr("00000000000000000000000001000000:0016")[1] == 22


def test_find_by_port_and_identity(fake_proc):
    root = fake_proc[0]
    t = P.find_targets({"port": 3317}, proc_root=root, environ={})
    assert t == [{"pid": 100, "starttime": 5000, "state": "S", "cmdline": ["/usr/sbin/mariadbd", "--port=3317"]}]
    assert P.listening_pids(8080, host="127.0.0.1", proc_root=root) == [101]  # wildcard listener
    assert P.listening_pids(3317, host="10.1.1.1", proc_root=root) == []


def test_match_ambiguity_and_allow_multiple(fake_proc):
    root = fake_proc[0]
    with pytest.raises(EngineError, match="hits 2 processes"):
        P.find_targets({"match": "myapp"}, proc_root=root, environ={})
    t = P.find_targets({"match": "myapp", "allow_multiple": True}, proc_root=root, environ={})
    assert [x["pid"] for x in t] == [101, 102]
    with pytest.raises(P.NotFound):
        P.find_targets({"match": "nothing-like-this"}, proc_root=root, environ={})


def test_refusals(fake_proc, tmp_path):
    root = fake_proc[0]
    with pytest.raises(EngineError, match="PID 1"):
        P.find_targets({"pid": 1}, proc_root=root, environ={})
    env = {"SSH_CONNECTION": "10.0.0.9 50000 10.0.0.5 22"}
    with pytest.raises(EngineError, match="SSH session"):
        P.find_targets({"pid": 200}, proc_root=root, environ=env)
    assert P.ssh_session_pids(env, root) == [200]
    with pytest.raises(P.NotFound, match="no process with pid 999"):
        P.find_targets({"pid": 999}, proc_root=root, environ={})
    pf = tmp_path / "x.pid"
    pf.write_text("garbage")
    with pytest.raises(EngineError, match="does not hold a pid"):
        P.find_targets({"pidfile": str(pf)}, proc_root=root, environ={})


def test_own_ancestry_refused_on_the_real_proc():
    with pytest.raises(EngineError, match="own ancestry"):
        P.find_targets({"pid": os.getppid()})
    assert os.getpid() in P.ancestry() and P.ancestry()[-1] == 1


TARGETS = [{"pid": 100, "starttime": 5000, "state": "S", "cmdline": ["/usr/sbin/mariadbd"]}]


def test_plans_carry_identity_and_restart():
    base = {"port": 3317, "targets": TARGETS, "start_argv": ["/usr/sbin/mariadbd", "--x"], "timeout": 5}
    pause = P.ProcessFault(dict(base, state="paused")).plan()
    assert pause["apply"] == [{"op": "signal", "signal": "SIGSTOP", "pid": 100, "starttime": 5000}]
    assert pause["revert"][0]["signal"] == "SIGCONT"
    kill = P.ProcessFault(dict(base, state="killed")).plan()
    assert [a["op"] for a in kill["apply"]] == ["signal", "wait_exit"]
    assert kill["apply"][0]["signal"] == "SIGKILL"
    assert [a["op"] for a in kill["revert"]] == ["spawn", "wait_port"]
    assert kill["revert"][0]["unless_alive"] == [{"pid": 100, "starttime": 5000}]
    bare = P.ProcessFault({"pid": 100, "targets": TARGETS, "state": "terminated"}).plan()
    assert bare["revert"] == []
    # the fault id does not depend on the (changing) pid of a port/pidfile target
    a = P.ProcessFault(dict(base, state="killed"))
    b = P.ProcessFault(dict(base, state="killed", targets=[dict(TARGETS[0], pid=4242)]))
    assert a.fault_id == b.fault_id and a.fault_id.startswith("process_")


def test_service_stop_fault_needs_start(tmp_path):
    with pytest.raises(EngineError, match="service_pidfile and service_start"):
        P.ServiceStopFault({"service_pidfile": "/x.pid"}).plan()
    pf = tmp_path / "svc.pid"
    pf.write_text("4194303\n")
    with pytest.raises(EngineError, match="not running"):
        P.ServiceStopFault({"service_pidfile": str(pf), "service_start": ["/bin/true"]}).plan()

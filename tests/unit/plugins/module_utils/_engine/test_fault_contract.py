"""The engine contract, checked for every Fault subclass (docs/extending.md, step 5).

Every fault kind is a planner: FaultEngine applies, renews, rolls back and
reverts it the same way. Each kind has one entry in SAMPLES (a fault and a
variant with another scope); a Fault subclass without an entry fails
test_every_fault_kind_has_a_sample, so a new kind cannot skip these tests.

The engine runs against a FakeModule (tests/unit/conftest.py) with the
runtime's execute/execute_all and the supervisor replaced by recorders:
nothing here touches a process, a firewall or a file outside tmp_path,
except the toy kind's own end-to-end test at the bottom (real actions, real
supervisor, inside tmp_path).
"""
import copy
import importlib
import json
import os
import pkgutil
import re
import time

import pytest
import yaml

from ansible_collections.faultline.chaos.plugins.module_utils import _faults
from ansible_collections.faultline.chaos.plugins.module_utils._engine import base
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import Fault, FaultEngine
from ansible_collections.faultline.chaos.plugins.module_utils._faults import binlog as bl
from ansible_collections.faultline.chaos.plugins.module_utils._faults import network as net
from ansible_collections.faultline.chaos.plugins.module_utils._faults import process as proc
from ansible_collections.faultline.chaos.plugins.modules import restore as restore_module

# every planner module, also one added after this file was written: its Fault
# subclasses must then be in SAMPLES and in base.KINDS
for _info in pkgutil.iter_modules(_faults.__path__):
    importlib.import_module("%s.%s" % (_faults.__name__, _info.name))


# --------------------------------------------------------------------------
# the walkthrough's toy fault kind (docs/extending.md): a file that exists
# while the fault is on. Defined here, covered by every contract test below.
# --------------------------------------------------------------------------

class FileTouchFault(Fault):
    """params: path. apply creates the file, revert removes it."""

    kind = "file_touch"

    def identity(self):
        return {"path": self.params["path"]}

    def plan(self):
        path = self.params["path"]
        return dict(type="touch", summary="file %s present" % path,
                    apply=[rt.run_action(["touch", path])],
                    revert=[rt.run_action(["rm", "-f", path])],
                    preview="touch %s" % path)

    def probe_active(self, runner):
        return os.path.exists(self.params["path"])


# --------------------------------------------------------------------------
# one sample per kind: (make(params) -> Fault, params, params of another scope)
# --------------------------------------------------------------------------

def _network(p):
    return net.NetworkFault(p, backend="nft")


NETWORK = dict(type="reject", ports=[3317], peers=None, protocol="tcp", direction="in", netns=None,
               loss_percent=None)
PROCESS = dict(state="paused", pid=4242, targets=[{"pid": 4242, "starttime": 777, "cmdline": ["/usr/sbin/mariadbd"]}])
SERVICE = dict(service_unit="mariadb.service", service_port=3317)
BINLOG = dict(path="/var/lib/mysql/binlog.000002", type="truncate", sha256="ab" * 32,
              backup="/run/faultline/backup/binlog.000002", offset=4, stat={"uid": 0, "gid": 0, "mode": 0o640})

SAMPLES = {
    net.NetworkFault: (_network, NETWORK, dict(NETWORK, ports=[3318])),
    proc.ProcessFault: (proc.ProcessFault, PROCESS, dict(PROCESS, state="killed")),
    proc.ServiceStopFault: (proc.ServiceStopFault, SERVICE, dict(SERVICE, service_unit="websocketd.service")),
    bl.BinlogFault: (bl.BinlogFault, BINLOG, dict(BINLOG, type="bitflip")),
    FileTouchFault: (FileTouchFault, {"path": "/tmp/faultline-toy"}, {"path": "/tmp/faultline-toy-2"}),
}


def fault_kinds():
    """Every Fault subclass of the collection, and the toy kind of this file
    (test doubles of other test files are theirs)."""
    out, todo = [], list(Fault.__subclasses__())
    while todo:
        cls = todo.pop(0)
        if cls.__module__.startswith("ansible_collections.") or cls.__module__ == __name__:
            out.append(cls)
        todo.extend(cls.__subclasses__())
    return out


def test_every_fault_kind_has_a_sample():
    missing = [c.__name__ for c in fault_kinds() if c not in SAMPLES]
    assert not missing, "add a contract sample to SAMPLES for: %s" % ", ".join(missing)


def test_every_fault_kind_is_in_the_registry_and_nothing_else_is():
    """base.KINDS is the one list of kinds a user names (restore's kinds): the
    name of each shipped Fault subclass's records (kind_of: a network record of
    type service is 'service') is in it, and every entry names a shipped kind."""
    names = {}
    for cls in fault_kinds():
        if cls.__module__ == __name__:
            continue  # the walkthrough's toy is not shipped
        make, params, _other = SAMPLES[cls]
        names[cls.__name__] = base.kind_of({"kind": cls.kind, "type": make(copy.deepcopy(params)).plan()["type"]})
    missing = dict((c, n) for c, n in names.items() if n not in base.KINDS)
    assert not missing, "add these kinds to base.KINDS (and restore's documented choices): %s" % missing
    assert sorted(set(names.values())) == sorted(base.KINDS), "a KINDS entry without a Fault subclass"
    assert len(set(base.KINDS)) == len(base.KINDS)


def test_restore_kinds_choices_are_the_registry():
    """validate-modules needs literal choices in DOCUMENTATION: they must say what KINDS says."""
    doc = yaml.safe_load(restore_module.DOCUMENTATION)
    assert doc["options"]["kinds"]["choices"] == list(base.KINDS)


def test_kind_of_names_service_stops_and_keeps_every_other_kind():
    assert base.kind_of({"kind": "network", "type": "service"}) == "service"
    assert base.kind_of({"kind": "network", "type": "reject"}) == "network"
    assert base.kind_of({"kind": "binlog", "type": "service"}) == "binlog"
    assert base.kind_of({"id": "unreadable"}) is None


def test_planners_build_actions_with_the_runtime_constructors():
    """No action literal in a planner ({"op": ...} or dict(op=...)): the
    runtime's constructors are the one way to write an action."""
    found = []
    for name in sorted(os.listdir(os.path.dirname(_faults.__file__))):
        if name.endswith(".py"):
            with open(os.path.join(os.path.dirname(_faults.__file__), name)) as f:
                for n, line in enumerate(f, 1):
                    if re.search(r"""["']op["']\s*:|\bop\s*=""", line):
                        found.append("%s:%d: %s" % (name, n, line.strip()))
    assert not found, "\n".join(found)


@pytest.fixture(autouse=True)
def systemd_host(monkeypatch):
    # ServiceStopFault plans a systemd unit; the plan must not depend on the test host
    monkeypatch.setattr(proc, "has_systemd", lambda: True)


@pytest.fixture
def engine_calls(monkeypatch):
    """Replace the runtime's effects in base with recorders; returns the call log."""
    calls = {"execute": [], "execute_all": [], "spawn": [], "fail_apply": False}

    def execute(actions, runner=None):
        calls["execute"].append(copy.deepcopy(actions))
        if calls["fail_apply"]:
            raise rt.EngineError("step %s failed (injected)" % actions[-1]["op"])
        return [{"op": a["op"]} for a in actions]

    def execute_all(actions, runner=None):
        calls["execute_all"].append(copy.deepcopy(actions))
        return []

    def spawn(state_dir, fault_id, python=None):
        calls["spawn"].append(fault_id)
        return {}  # no supervisor process: revert runs in the engine

    monkeypatch.setattr(base, "execute", execute)
    monkeypatch.setattr(base, "execute_all", execute_all)
    monkeypatch.setattr(base, "spawn_supervisor", spawn)
    monkeypatch.setattr(rt, "execute_all", execute_all)  # revert_record's steps
    return calls


KINDS = pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda c: c.__name__)


@KINDS
def test_plan_shape(cls):
    make, params, _other = SAMPLES[cls]
    fault = make(copy.deepcopy(params))
    plan = fault.plan()
    assert isinstance(plan["type"], str) and plan["type"]
    assert isinstance(plan["summary"], str) and plan["summary"]
    assert plan["apply"], "a fault must do something"
    for action in plan["apply"] + plan["revert"]:
        assert action["op"] in rt.ACTIONS, action  # the runtime's vocabulary, nothing else
    # the record is JSON on the target: the plan and what the ledger keeps must survive a round trip
    kept = plan.get("params", fault.identity())
    assert json.loads(json.dumps([plan["apply"], plan["revert"], kept])) == [plan["apply"], plan["revert"], kept]
    assert isinstance(plan.get("preview", plan["summary"]), str)


@KINDS
def test_id_is_stable_per_scope(cls):
    make, params, other = SAMPLES[cls]
    a, b = make(copy.deepcopy(params)), make(copy.deepcopy(params))
    assert a.fault_id == b.fault_id and a.fault_id.startswith(cls.kind + "_")
    assert make(copy.deepcopy(other)).fault_id != a.fault_id
    assert cls(copy.deepcopy(params), fault_id="mine").fault_id == "mine"


@KINDS
def test_check_mode_plans_and_changes_nothing(cls, fake_module, engine_calls, tmp_path):
    make, params, _other = SAMPLES[cls]
    module = fake_module(check_mode=True)
    fault = make(copy.deepcopy(params))
    res = FaultEngine(module, state_dir=str(tmp_path)).apply(fault, lease=60)
    plan = fault.plan()
    assert res["changed"] and res["fault_id"] == fault.fault_id
    assert res["planned"] == {"apply": plan["apply"], "revert": plan["revert"]}
    assert res["diff"]["after"].strip()
    assert engine_calls["execute"] == [] and engine_calls["spawn"] == [] and module.commands == []
    assert not (tmp_path / "faults").exists() or not os.listdir(str(tmp_path / "faults"))


@KINDS
def test_failing_apply_step_rolls_back(cls, fake_module, engine_calls, tmp_path):
    make, params, _other = SAMPLES[cls]
    engine_calls["fail_apply"] = True
    engine = FaultEngine(fake_module(), state_dir=str(tmp_path))
    fault = make(copy.deepcopy(params))
    with pytest.raises(rt.EngineError, match="could not apply"):
        engine.apply(fault, lease=60)
    assert engine_calls["execute_all"] == [fault.plan()["revert"]]  # the whole revert list, once
    assert engine.ledger.list() == [] and engine_calls["spawn"] == []
    failed = [e for e in engine.ledger.events(fault.fault_id) if e["event"] == "apply_failed"]
    assert failed and "injected" in failed[0]["detail"]["error"]


@KINDS
def test_apply_renew_revert(cls, fake_module, engine_calls, tmp_path, monkeypatch):
    make, params, _other = SAMPLES[cls]
    monkeypatch.setattr(cls, "probe_active", lambda self, runner: True)  # the effect is still in place
    engine = FaultEngine(fake_module(), state_dir=str(tmp_path))
    first = engine.apply(make(copy.deepcopy(params)), lease=60)
    assert first["changed"] and not first["renewed"]
    rec = engine.ledger.get(first["fault_id"])
    assert rec["kind"] == cls.kind and rec["apply"] == engine_calls["execute"][0]
    assert engine_calls["spawn"] == [first["fault_id"]]

    time.sleep(0.01)
    again = engine.apply(make(copy.deepcopy(params)), lease=120)
    assert again["renewed"] and not again["changed"] and again["fault_id"] == first["fault_id"]
    assert len(engine_calls["execute"]) == 1, "renewal must not apply again"
    assert engine.ledger.get(first["fault_id"])["lease_until"] > rec["lease_until"]

    out = engine.revert(first["fault_id"], reason="up")
    assert out["reverted"] and engine.ledger.get(first["fault_id"]) is None
    assert engine_calls["execute_all"] == [rec["revert"]]
    assert [e["detail"]["reason"] for e in engine.ledger.events(first["fault_id"]) if e["event"] == "reverted"] == ["up"]


@KINDS
def test_effect_gone_behind_our_back_is_applied_again(cls, fake_module, engine_calls, tmp_path, monkeypatch):
    make, params, _other = SAMPLES[cls]
    engine = FaultEngine(fake_module(), state_dir=str(tmp_path))
    first = engine.apply(make(copy.deepcopy(params)), lease=60)
    monkeypatch.setattr(cls, "probe_active", lambda self, runner: False)  # e.g. someone deleted the chain
    again = engine.apply(make(copy.deepcopy(params)), lease=60)
    assert again["changed"] and not again["renewed"] and again["fault_id"] == first["fault_id"]
    plan = make(copy.deepcopy(params)).plan()
    assert engine_calls["execute_all"] == [plan["revert"]] and engine_calls["execute"] == [plan["apply"]] * 2
    assert engine.ledger.get(first["fault_id"]) is not None


@KINDS
def test_apply_resolves_before_it_plans(cls, fake_module, engine_calls, tmp_path, monkeypatch):
    make, params, _other = SAMPLES[cls]
    seen, resolve = [], cls.resolve

    def spy(self, engine=None):
        seen.append(engine)
        return resolve(self, engine)

    monkeypatch.setattr(cls, "resolve", spy)
    engine = FaultEngine(fake_module(check_mode=True), state_dir=str(tmp_path))
    engine.apply(make(copy.deepcopy(params)), lease=60)
    assert seen and seen[0] is engine  # first the engine's call (a planner may ask again without it)


def test_a_renewal_keeps_the_targets_of_the_active_fault():
    recorded = [{"pid": 4242, "starttime": 777, "cmdline": ["/usr/sbin/mariadbd"]}]

    class Engine(object):
        def active(self, fault_id):
            return {"id": fault_id, "params": {"targets": recorded}}

    # no pidfile read, no /proc walk: the service may be down right now (it is the fault)
    fault = proc.ServiceStopFault(dict(service_pidfile="/nonexistent.pid", service_start=["x"]))
    assert fault.resolve(Engine()) == recorded and fault.plan()["apply"][0]["pid"] == 4242
    pf = proc.ProcessFault(dict(state="paused", pid=4242))
    assert pf.resolve(Engine()) == recorded and pf.plan()["revert"][0]["signal"] == "SIGCONT"


def test_revert_where_reverts_exactly_the_matching_faults(fake_module, engine_calls, tmp_path):
    engine = FaultEngine(fake_module(), state_dir=str(tmp_path))
    ids = {}
    for cls in (FileTouchFault, bl.BinlogFault):
        make, params, other = SAMPLES[cls]
        ids[cls] = [engine.apply(make(copy.deepcopy(p)), lease=60)["fault_id"] for p in (params, other)]
    toy_a, toy_b = ids[FileTouchFault]
    out = engine.revert_where("file_touch", lambda rec: rec["params"]["path"] == "/tmp/faultline-toy", reason="scope")
    assert [r["id"] for r in out] == [toy_a] and out[0]["reverted"] and out[0]["params"] == {"path": "/tmp/faultline-toy"}
    assert out[0]["kind"] == "file_touch" and out[0]["summary"] == "file /tmp/faultline-toy present"
    assert sorted(r["id"] for r in engine.faults()) == sorted([toy_b] + ids[bl.BinlogFault])
    assert [r["id"] for r in engine.faults(["binlog"])] == sorted(ids[bl.BinlogFault])
    assert sorted(r["id"] for r in engine.revert_where(["binlog", "file_touch"])) == sorted([toy_b] + ids[bl.BinlogFault])
    assert engine.faults() == [] and engine.revert_where("file_touch") == []


def test_run_now_runs_and_journals_or_in_check_mode_nothing(fake_module, tmp_path):
    marker = tmp_path / "ran"
    actions = [rt.run_action(["touch", str(marker)])]
    dry = FaultEngine(fake_module(check_mode=True, run=rt.subprocess_runner), state_dir=str(tmp_path))
    assert dry.run_now("toy_restart", "restarted", actions) is None and not marker.exists()
    engine = FaultEngine(fake_module(run=rt.subprocess_runner), state_dir=str(tmp_path))
    results = engine.run_now("toy_restart", "restarted", actions, lambda res: {"ops": [r["op"] for r in res]})
    assert marker.exists() and results[0]["rc"] == 0
    assert [(e["event"], e["detail"]) for e in engine.ledger.events("toy_restart")] == [("restarted", {"ops": ["run"]})]


# --------------------------------------------------------------------------
# the toy kind for real: actions run, the supervisor reverts at the lease
# --------------------------------------------------------------------------

def test_toy_kind_applies_and_the_supervisor_reverts_it(fake_module, tmp_path):
    target = tmp_path / "touched"
    module = fake_module(run=rt.subprocess_runner)
    engine = FaultEngine(module, state_dir=str(tmp_path / "state"))
    # a 2 s lease: the apply (a supervisor started) must return before it runs out, on a busy host too
    res = engine.apply(FileTouchFault({"path": str(target)}), lease=2.0)
    try:
        assert target.exists() and res["changed"]
        sup = res["supervisor"]
        assert rt.proc_alive(sup["pid"], sup.get("starttime"))
        end = time.time() + 10
        while engine.ledger.get(res["fault_id"]) is not None and time.time() < end:
            time.sleep(0.02)
        assert not target.exists() and engine.ledger.get(res["fault_id"]) is None
        reverted = [e for e in engine.ledger.events(res["fault_id"]) if e["event"] == "reverted"]
        assert reverted[0]["detail"]["by"] == "supervisor" and reverted[0]["detail"]["reason"] == "lease"
    finally:
        engine.revert(res["fault_id"], reason="test_cleanup")

"""The shared number validator (_engine/validate.py) and every module's use of it.

Issue 10 item 4: ``nan``/``inf`` passed Ansible's float type and the ``<= 0``
checks, so a fault with ``duration: nan`` or ``lease: inf`` was never reverted.
Each module is run through its real ``main()`` (patch_module_args) with
nan, inf, below-range and huge values for every bounded option: the task must
fail with a message naming the option, the value and the range, before any
command runs or any file is written.
"""
import json
import math
import os

import pytest
from ansible.module_utils.basic import AnsibleModule
from module_args import patch_module_args

from ansible_collections.faultline.chaos.plugins.module_utils._engine import validate as v
from ansible_collections.faultline.chaos.plugins.modules import (
    binlog, datagen, fault_info, network, probe, process, report, restore, verify, websocket_flap,
)

ALL_MODULES = [binlog, datagen, fault_info, network, probe, process, report, restore, verify, websocket_flap]


# ---------------------------------------------------------------------------
# the validator itself
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 0.0, -1.0, 604800.5, 1e300])
def test_seconds_refuse_non_finite_non_positive_and_huge(value):
    assert v.SECONDS.problem(value) == "is out of range"


@pytest.mark.parametrize("value", [1e-6, 0.1, 30, 604800])
def test_seconds_accept_the_range(value):
    assert v.SECONDS.problem(value) is None


def test_messages_name_option_value_and_range():
    out = v.problems({"lease": float("nan"), "port": 0, "ports": [22, 70000], "total": 2.5},
                     {"lease": v.LEASE, "port": v.PORT, "ports": v.PORT, "total": v.count(1, 10, "rows")})
    assert out == [
        "lease=nan is out of range: must be a finite number of seconds greater than 0 and at most 604800 (7 days)",
        "port=0 is out of range: must be a port number from 1 to 65535",
        "ports[1]=70000 is out of range: must be a port number from 1 to 65535",
        "total=2.5 is out of range: must be a whole number of rows from 1 to 10",
    ]


def test_zero_allowed_only_where_declared():
    assert v.SECONDS_OR_ZERO.problem(0.0) is None and v.SECONDS.problem(0.0)
    assert "from 0 to 604800 (7 days)" in v.SECONDS_OR_ZERO.describe()


def test_nested_dicts_and_lists_of_dicts():
    bounds = {"mysql": {"login_port": v.PORT}, "windows": {"down_at": v.TIMESTAMP}}
    out = v.problems({"mysql": [{"login_port": 3306}, {"login_port": 0}], "windows": [{"down_at": "nan"}]}, bounds)
    assert out == ["mysql[1].login_port=0 is out of range: must be a port number from 1 to 65535",
                   "windows[0].down_at=nan is out of range: must be a finite number of seconds since the epoch "
                   "from 0 to 4102444800"]


def test_raw_timestamps_check_numbers_and_leave_dates_to_the_module():
    assert v.TIMESTAMP.problem("2026-12-01T10:00:00") is None
    assert v.TIMESTAMP.problem("1764583200.5") is None
    assert v.TIMESTAMP.problem("inf") == "is out of range"
    assert v.TIMESTAMP.problem(-5) == "is out of range"


def test_booleans_are_not_numbers():
    assert v.PORT.problem(True) == "is not a number"


def test_an_option_the_table_forgot_is_still_finite():
    spec = {"a": {"type": "float"}, "b": {"type": "int", "choices": [1, 2]}, "c": {"type": "list", "elements": "int"},
            "d": {"type": "list", "elements": "dict", "options": {"x": {"type": "float"}}}}
    assert v.unbounded(spec, {}) == ["a", "c", "d.x"]
    out = v.problems({"a": float("inf"), "c": [1], "d": [{"x": float("nan")}]}, {}, spec)
    assert out == ["a=inf is out of range: must be a finite number", "d[0].x=nan is out of range: must be a finite number"]


# ---------------------------------------------------------------------------
# every module: each bounded option, each bad value -> fail_json, nothing done
# ---------------------------------------------------------------------------

def base_args(mod, tmp_path):
    """Arguments that pass AnsibleModule's own checks and point at nothing real."""
    state = str(tmp_path / "state")
    return {
        binlog: dict(state="corrupted", file=str(tmp_path / "mysql-bin.000001"), binlog_dir=str(tmp_path),
                     state_dir=state),
        datagen: dict(state="present", total=1, login_port=1, state_dir=state),
        fault_info: dict(state_dir=state),
        network: dict(state="down", port=3306, state_dir=state),
        probe: dict(name="t", state="started", kind="tcp", port=1, state_dir=state),
        process: dict(state="paused", pid=4194000, state_dir=state),
        report: dict(scenario="t", report_dir=str(tmp_path / "reports")),
        restore: dict(state_dir=state),
        verify: dict(source_port=1, destination_port=1, state_dir=state),
        websocket_flap: dict(url="ws://127.0.0.1:1/"),
    }[mod]


# options that need another one (required_together) and list options
PARTNERS = {(datagen, "count"): dict(interval=1), (datagen, "interval"): dict(count=1)}
LISTS = ("ports", "expect_status")


def bad_values(bound):
    vals = [] if bound.integer else ["nan", "inf", "-inf", "1e400"]
    vals.append(bound.low if bound.low_open else bound.low - 1)
    vals.append(bound.high + 1 if bound.integer else bound.high * 10)
    return vals


def cases():
    for mod in ALL_MODULES:
        for name, bound in sorted(getattr(mod, "BOUNDS", {}).items()):
            if isinstance(bound, dict):
                for key, sub in sorted(bound.items()):
                    for val in bad_values(sub):
                        tag = "%s-%s.%s=%s" % (mod.__name__.rsplit(".", maxsplit=1)[-1], name, key, val)
                        yield pytest.param(mod, name, key, val, id=tag)
            else:
                for val in bad_values(bound):
                    yield pytest.param(mod, name, None, val, id="%s-%s=%s" % (mod.__name__.rsplit(".", maxsplit=1)[-1], name, val))


@pytest.fixture
def nothing_runs(monkeypatch):
    calls = []

    def run_command(self, *a, **kw):
        calls.append(a)
        raise AssertionError("a command ran before the input was validated: %r" % (a,))
    monkeypatch.setattr(AnsibleModule, "run_command", run_command)
    # never root here: a module that slipped past validation stops at its root check
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    return calls


def run_main(mod, args, capsys):
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            mod.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("mod,name,key,value", list(cases()))
def test_bad_number_fails_before_anything_happens(mod, name, key, value, tmp_path, capsys, nothing_runs):
    args = base_args(mod, tmp_path)
    args.update(PARTNERS.get((mod, name), {}))
    if key is None and name in LISTS:
        args.pop("port" if name == "ports" else "", None)
        args[name] = [value]
        where = "%s[0]" % name
    elif key is None:
        args[name] = value
        where = name
    else:
        item = {"name": "x"} if mod is fault_info else {"down_at": 1}
        item[key] = value
        args[name] = [item]
        where = "%s[0].%s" % (name, key)
    code, out = run_main(mod, args, capsys)
    assert code == 1 and out.get("failed"), out
    shown = "%s=" % where
    assert shown in out["msg"] and "is out of range: must be" in out["msg"], out["msg"]
    assert not nothing_runs
    assert sorted(os.listdir(str(tmp_path))) == [], "files were written: %s" % os.listdir(str(tmp_path))


def test_a_flap_of_nan_seconds_is_refused(tmp_path, capsys, nothing_runs):
    """The recipe of the issue: duration nan made a flap that never ends."""
    code, out = run_main(network, dict(state="flap", port=3317, interval=1, duration="nan",
                                       state_dir=str(tmp_path)), capsys)
    assert code == 1 and out["msg"].startswith("duration=nan is out of range"), out["msg"]
    assert os.listdir(str(tmp_path)) == []


def test_binlog_lease_is_checked(tmp_path, capsys, nothing_runs):
    code, out = run_main(binlog, dict(base_args(binlog, tmp_path), lease=1e9), capsys)
    assert code == 1 and "lease=1000000000.0 is out of range" in out["msg"], out["msg"]


@pytest.mark.parametrize("name", ["timeout", "start_timeout"])
def test_negative_process_timeouts_are_refused(name, tmp_path, capsys, nothing_runs):
    code, out = run_main(process, dict(base_args(process, tmp_path), state="restarted", start_argv=["true"],
                                       **{name: -5}), capsys)
    assert code == 1 and "%s=-5.0 is out of range" % name in out["msg"], out["msg"]


# ---------------------------------------------------------------------------
# contract: every module calls enforce right after AnsibleModule, with a table
# that bounds each of its numeric options
# ---------------------------------------------------------------------------

class Enforced(Exception):
    pass


@pytest.mark.parametrize("mod", ALL_MODULES, ids=lambda m: m.__name__.split(".")[-1])
def test_every_numeric_option_has_a_bound(mod, monkeypatch, tmp_path, nothing_runs):
    seen = {}

    def recorder(module, bounds):
        seen.update(spec=module.argument_spec, bounds=bounds)
        raise Enforced()
    monkeypatch.setattr(v, "enforce", recorder)  # checked_module calls it
    with patch_module_args(dict(base_args(mod, tmp_path), _ansible_check_mode=True)):
        with pytest.raises(Enforced):
            mod.main()
    assert v.unbounded(seen["spec"], seen["bounds"]) == []
    for bound in seen["bounds"].values():
        for b in (bound.values() if isinstance(bound, dict) else [bound]):
            assert math.isfinite(b.low) and math.isfinite(b.high)

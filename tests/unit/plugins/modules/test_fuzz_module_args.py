"""Property-based fuzzing of every module's arguments (hypothesis), in-process, in check mode.

For any input a module must end with exit_json or fail_json (with a message),
never with a traceback, and must leave nothing applied: no ledger record, no
nftables chain of its ledger, no running worker, no process of its own, no
report written.  Bounded: FAULTLINE_FUZZ_EXAMPLES examples per module (default 150).

The real, non-check battery (kernel state checked after each input) is
tests/integration/test_fuzz_real.py.
"""
import math
import os
import shutil
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_harness as fh

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.modules import (
    binlog, datagen, fault_info, network, probe, process, report, restore, suite_report, verify,
    websocket_flap,
)

MODULES = {"binlog": binlog, "datagen": datagen, "fault_info": fault_info, "network": network, "probe": probe,
           "process": process, "report": report, "restore": restore, "suite_report": suite_report, "verify": verify,
           "websocket_flap": websocket_flap}
EXAMPLES = int(os.environ.get("FAULTLINE_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.filter_too_much])

# created by the fixture below (not at import: a --collect-only run leaves nothing)
BASE = os.path.join(tempfile.gettempdir(), "faultline-fuzz-%d" % os.getpid())
STATE_DIR = os.path.join(BASE, "state")
REPORTS = os.path.join(BASE, "reports")


@pytest.fixture(scope="module", autouse=True)
def fuzz_dir():
    os.makedirs(BASE, 0o700, exist_ok=True)
    yield BASE
    shutil.rmtree(BASE, ignore_errors=True)


def fixed_args(spec):
    fixed = {}
    if "state_dir" in spec:
        fixed["state_dir"] = STATE_DIR
    if "report_dir" in spec:
        fixed["report_dir"] = REPORTS
    return fixed


def own_processes():
    """Processes (not this one) whose command line names the fuzz directory."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                if BASE.encode() in f.read():
                    out.append(int(pid))
        except OSError:
            continue
    return out


def own_nft_chains():
    cp = subprocess.run(["nft", "list", "table", "inet", "faultline"], capture_output=True, text=True, check=False)
    return [ln for ln in cp.stdout.splitlines() if BASE in ln] if cp.returncode == 0 else []


def assert_nothing_applied():
    faults = os.path.join(STATE_DIR, "faults")
    assert not os.path.isdir(faults) or not os.listdir(faults), os.listdir(faults)
    running = [m for m in background.list_workers(STATE_DIR) if m["running"]]
    assert not running, running
    assert not os.path.exists(REPORTS), "a report was written in check mode"
    assert own_processes() == []
    assert own_nft_chains() == []


def clean():
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    shutil.rmtree(REPORTS, ignore_errors=True)


def check_outcome(name, args, code, result):
    assert code in (0, 1), (code, result)
    if code == 1:
        assert result.get("failed") is True, result
        msg = result.get("msg")
        assert isinstance(msg, str) and msg.strip(), "fail_json without a message: %r" % (result,)
        assert "Traceback" not in msg and "Exception" not in msg.split(":")[0], msg
    else:
        assert not result.get("failed"), result


@pytest.mark.parametrize("name", sorted(MODULES))
def test_any_input_ends_in_exit_or_fail_json_and_applies_nothing(name):
    module = MODULES[name]
    spec, _kw = fh.spec_of(module)

    @FUZZ
    @given(args=fh.args_for(spec, BASE, fixed=fixed_args(spec)))
    def prop(args):
        clean()
        try:
            code, result = fh.run(module, args, check=True)
        except AssertionError:
            raise
        except BaseException as e:  # noqa: BLE001 -- the defect we look for
            pytest.fail("%s raised %s: %s with %r" % (name, type(e).__name__, e, args))
        check_outcome(name, args, code, result)
        assert_nothing_applied()

    try:
        prop()
    finally:
        clean()


# Every number a user passes must be finite and bounded (issue 10, item 4).
NON_FINITE = [float("nan"), float("inf"), float("-inf"), "nan", "inf"]
NUMBER_CASES = []
for _name in sorted(MODULES):
    _spec, _kw = fh.spec_of(MODULES[_name])
    for _opt, _o in sorted(_spec.items()):
        if _o.get("type") == "float":
            NUMBER_CASES.append((_name, _opt))


# the minimal arguments with which each module reaches its number checks
BASE_ARGS = {
    "network": {"state": "down", "port": 1},
    "binlog": {"state": "corrupted", "target": "latest_rotated", "binlog_dir": BASE},
    "datagen": {"state": "started", "run_id": "fuzz", "count": 1, "interval": 1.0, "login_port": 1},
    "probe": {"name": "fuzz", "kind": "tcp", "port": 1},
    "process": {"match": "no-such-process-faultline-fuzz", "state": "paused"},
    "verify": {"database": "d", "table": "t", "source_port": 1, "destination_port": 1},
    "websocket_flap": {"url": "ws://127.0.0.1:1/x"},
    "fault_info": {},
    "report": {"scenario": "fuzz"},
    "restore": {},
    "suite_report": {"started": 0},
}


@pytest.mark.parametrize("name,option", NUMBER_CASES)
def test_non_finite_and_unbounded_numbers_are_refused(name, option):
    module = MODULES[name]
    spec, _kw = fh.spec_of(module)
    for value in NON_FINITE + [1e308]:
        clean()
        args = dict(BASE_ARGS[name], **fixed_args(spec))
        args[option] = value
        code, result = fh.run(module, args, check=True)
        assert code == 1 and result.get("failed"), "%s %s=%r accepted: %r" % (name, option, value, result)
        assert option in result["msg"], result["msg"]
        assert_nothing_applied()
    clean()


@pytest.mark.parametrize("name,option", [("verify", "connect_timeout"), ("verify", "converge_timeout"),
                                         ("process", "timeout"), ("process", "start_timeout"),
                                         ("probe", "timeout"), ("datagen", "write_timeout")])
def test_negative_timeouts_are_refused(name, option):
    module = MODULES[name]
    spec, _kw = fh.spec_of(module)
    clean()
    args = dict(BASE_ARGS[name], **fixed_args(spec))
    args[option] = -1.0
    try:
        code, result = fh.run(module, args, check=True)
    except ValueError as e:
        pytest.fail("%s %s=-1: traceback %s" % (name, option, e))
    assert code == 1 and option in result["msg"], result
    assert_nothing_applied()


INT_CASES = []
for _name in sorted(MODULES):
    _spec, _kw = fh.spec_of(MODULES[_name])
    INT_CASES += [(_name, _opt) for _opt, _o in sorted(_spec.items()) if _o.get("type") == "int"]


@pytest.mark.parametrize("name,option", INT_CASES)
def test_non_finite_numbers_for_int_options_are_refused(name, option):
    module = MODULES[name]
    spec, _kw = fh.spec_of(module)
    for value in (float("inf"), float("-inf"), float("nan"), "inf", "1e999"):
        clean()
        args = dict(BASE_ARGS[name], **fixed_args(spec))
        args[option] = value
        try:
            code, result = fh.run(module, args, check=True)
        except (OverflowError, ValueError) as e:
            pytest.fail("%s %s=%r: traceback %s: %s" % (name, option, value, type(e).__name__, e))
        assert code == 1 and option in result["msg"], result
        assert_nothing_applied()
    clean()


def test_the_fuzzer_really_drives_the_modules():
    """A fuzz run that never reached a module's own checks would prove nothing."""
    code, result = fh.run(network, dict(state="down", port=0, state_dir=STATE_DIR))
    assert code == 1 and "out of range" in result["msg"]
    code, result = fh.run(network, dict(state="down", port=5, state_dir=STATE_DIR, duration="x"))
    assert code == 1 and "duration" in result["msg"]
    code, result = fh.run(probe, dict(name="p", kind="tcp", port=1, state_dir=STATE_DIR))
    assert code == 0 and result["changed"] is True  # check mode: would start
    assert_nothing_applied()
    assert math.isnan(float("nan"))

"""The real (non-check) fuzz battery: random network and process arguments applied for
real on loopback, kernel state checked after every example (hypothesis, bounded).

Whatever the input: a refusal leaves nothing (no ledger record, no nftables or
iptables chain of the fault, no stopped process); an accepted fault is gone
after ``restore`` and the port answers again.  Scope is pinned for safety: one
loopback port of this test (never an empty port list: that would be every
port), loopback peers, bogus network namespaces, no service faults.  Numbers
stay finite and bounded here: nan/inf/unbounded values are
tests/unit/plugins/modules/test_fuzz_module_args.py::test_non_finite_and_unbounded_numbers_are_refused.
``FAULTLINE_FUZZ_REAL_EXAMPLES`` (default 20) per test.
"""
import os
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support.util import reap

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state
from test_crash_consistency import chains_of, listening_port, restore_and_check, run_direct

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="faults need root")]

EXAMPLES = int(os.environ.get("FAULTLINE_FUZZ_REAL_EXAMPLES", "20"))
REAL = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                suppress_health_check=list(HealthCheck))

NUM = st.one_of(st.none(), st.floats(-5, 5), st.sampled_from([0, -1, 0.01, 0.3, 1e6, "x", "", True]))
BACKEND = st.sampled_from(["auto", "nft", "iptables"])


@pytest.fixture
def port():
    with listening_port() as p:
        yield p


@REAL
@given(data=st.data())
def test_network_random_arguments_for_real(data, tmp_path_factory, port):
    tmp = tmp_path_factory.mktemp("fuzzreal")
    state_dir = str(tmp / "state")
    args = {"port": port, "state_dir": state_dir, "lease": 30}
    draw = data.draw
    args["state"] = draw(st.sampled_from(["down", "down", "flap", "up"]))
    args["type"] = draw(st.sampled_from(["reject", "timeout", "loss", "bogus"]))
    for key in ("duration", "interval", "down_for", "up_for"):
        v = draw(NUM)
        if v is not None:
            args[key] = v
    if args["state"] == "flap" and isinstance(args.get("duration"), (int, float)) and args["duration"] > 3:
        args["duration"] = 3  # bounded runtime
    extra = draw(st.fixed_dictionaries({}, optional={
        "loss_percent": st.sampled_from([0, 1, 50, 100, 101, -5, "x"]),
        "protocol": st.sampled_from(["tcp", "udp", "all", "sctp"]),
        "direction": st.sampled_from(["in", "out", "both", "sideways"]),
        "peers": st.lists(st.sampled_from(["127.0.0.1", "::1", "127.0.0.0/8", "not-an-ip", "::1/200"]),
                          min_size=1, max_size=3),
        "backend": BACKEND,
        "netns": st.sampled_from(["nosuchns-faultline", "/nonexistent/ns", "999999999"]),
        "fault_id": st.sampled_from(["fz1", "../x", ".hidden", "a/b", "x" * 200]),
        "run_id": st.sampled_from(["r1", ""]),
    }))
    args.update(extra)
    rc, res = run_direct("network", args, tmp)
    assert rc in (0, 1) and res is not None, (rc, res)
    if rc == 1:
        assert res["failed"] and res["msg"].strip(), res
        assert "Traceback" not in res["msg"], res["msg"]
        faults = os.path.join(state_dir, "faults")
        assert not os.path.isdir(faults) or os.listdir(faults) == [], (args, res)
    restore_and_check(state_dir, tmp, port, chains_of(res))


@REAL
@given(state=st.sampled_from(["paused", "killed", "terminated", "resumed", "stopped", "bogus"]),
       duration=NUM, timeout=NUM, lease=st.sampled_from([30, 0, -1, "x"]))
def test_process_random_arguments_for_real(state, duration, timeout, lease, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzzproc")
    state_dir = str(tmp / "state")
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        args = {"state": state, "pid": sleeper.pid, "state_dir": state_dir, "lease": lease}
        if duration is not None:
            args["duration"] = duration
        if timeout is not None:
            args["timeout"] = timeout
        rc, res = run_direct("process", args, tmp)
        assert rc in (0, 1) and res is not None, (rc, res)
        if rc == 1:
            assert res["msg"].strip() and "Traceback" not in res["msg"], res
            assert proc_state(sleeper.pid) not in ("T", "t"), (args, res)
        restore_and_check(state_dir, tmp, None, [], sleeper if sleeper.poll() is None else None)
    finally:
        sleeper.kill()
        reap(sleeper.pid)

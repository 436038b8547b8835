"""T040.S4 playbook against a real 3-member etcd cluster (support/etcd.py on 127.0.0.41-43).

The cluster is described like roles/lab_etcd describes its own (lab_etcd.json)
and handed to the playbook with ``faultline_lab_file``; the ledger and the
reports are private to the test.
"""
import glob
import json
import os
import signal
import subprocess
import time

import pytest

from support.ansible import ROOT, ansible_env, run_module, run_playbook, tool
from support.util import wait_for
from support.etcd import EtcdCluster
from support.net import owned_chains

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PLAYBOOK = "playbooks/t040_service_reconnection.yml"


@pytest.fixture
def cluster(tmp_path):
    c = EtcdCluster(str(tmp_path / "etcd")).start()
    yield c
    c.stop()


def play(tmp_path, cluster, scenarios, timeout=600, **extra):
    ev = {"faultline_lab_file": cluster.describe(str(tmp_path / "lab_etcd.json")), "t040_scenarios": scenarios,
          "faultline_state_dir": str(tmp_path / "state"), "faultline_report_dir": str(tmp_path / "reports")}
    ev.update(extra)
    cp = run_playbook(PLAYBOOK, ev, timeout=timeout)
    reports = sorted(glob.glob(str(tmp_path / "reports" / "t040_service_reconnection" / "*" / "report.json")))
    rep = None
    if reports:
        with open(reports[-1]) as f:
            rep = json.load(f)
    return cp, rep


def assert_clean(tmp_path, cluster):
    """No fault in the ledger, no rule of this ledger, every member running (not stopped) and healthy."""
    sd = str(tmp_path / "state")
    faults = os.path.join(sd, "faults")
    assert [f for f in os.listdir(faults) if f.endswith(".json")] == [], "faults left in the ledger"
    assert owned_chains(sd) == []
    for m in cluster.members:
        assert m.pid and proc_state(m.pid) not in ("T", "t"), "%s is not running" % m.name
    assert cluster.wait_healthy(30)


def test_short_form_s2_s3_passes_with_the_matrix_filled(tmp_path, cluster):
    cp, rep = play(tmp_path, cluster, "s2,s3")
    assert cp.returncode == 0, cp.stdout[-5000:]
    assert rep["result"] == "PASS"
    by = dict((s["scenario"], s) for s in rep["sections"])
    s2, s3 = by["s2"], by["s3"]
    assert s2["result"] == "PASS" and s3["result"] == "PASS"
    assert 0 < float(s2["observations"]["time_to_new_leader_s"]) < 10
    assert s2["observations"]["hashes_equal"] in (True, "True")
    assert int(s3["observations"]["writes"]["acked"]) > 0
    # S3 elects no new leader of its own: its report must not carry S2's figure over
    assert s3["observations"]["time_to_new_leader_s"] in (None, "None", ""), s3["observations"]
    assert s3["observations"]["measured"]["errors_without_quorum"], s3["observations"]
    matrix = rep["extra"]["test_matrix"]
    row = [r for r in matrix if r["Scenario"].startswith("S2")][0]
    assert row["FlareDB (grpc-proxy)"].startswith("PASS") or row["FlareDB (grpc-proxy)"].startswith("FAIL")
    assert [r for r in matrix if r["Scenario"].startswith("S1")][0]["ChainFire (etcd)"] == "not run"
    assert_clean(tmp_path, cluster)


def test_unknown_scenario_is_refused_before_anything_starts(tmp_path, cluster):
    cp, rep = play(tmp_path, cluster, "s2,s9")
    assert cp.returncode != 0 and rep is None
    assert "unknown scenario name(s): s9" in cp.stdout
    assert not os.path.exists(str(tmp_path / "state" / "workers"))


def test_unhealthy_cluster_is_refused_naming_the_member(tmp_path, cluster):
    cluster.kill(cluster.members[2])
    cp, rep = play(tmp_path, cluster, "s2")
    assert cp.returncode != 0 and rep is None
    assert "the cluster is not healthy before the test" in cp.stdout
    assert "m3 (http://127.0.0.43:2379)" in cp.stdout
    assert not os.path.exists(str(tmp_path / "state" / "workers"))


def sections(rep, key):
    return [s for s in rep["sections"] if s["scenario"] == key]


# The scenarios the short form (s2,s3) does not run, in the role's order.
ONE_RUN = ["s1", "s4", "s5", "pause"]


def test_s1_s4_s5_pause_in_one_run_each_pass_and_leave_nothing(tmp_path, cluster):
    """S1, S4, S5 and pause in ONE playbook run (they ran alone, one run each, before).

    Each scenario's sections are asserted exactly as the alone runs were (checks,
    hashes, acknowledged writes, new leader timed, matrix cell), plus what only a
    shared run can show: S4 and S5 elect no leader of their own, so their sections
    must not carry S1's new-leader figure over (the role resets the facts per
    scenario). Lost against one run each: a scenario is no longer seen starting on
    a freshly started cluster. That is acceptable: each scenario starts with its own
    health check and leader lookup (leftovers such as a member still down, paused or
    partitioned fail that check and the run); S1's partition ends with its duration,
    S5's kill and pause's SIGSTOP end before their finish, which waits for every
    member healthy; and after the run the ledger, the chains and the members are
    asserted clean. It saves three playbook starts, three initial health checks and
    three reports (the fixed cost of a run).
    """
    # four scenarios in one run: about 4 min at load 2-7, 9 min at load 10-15 (2 CPUs shared)
    cp, rep = play(tmp_path, cluster, ",".join(ONE_RUN), timeout=1200)
    assert rep is not None, cp.stdout[-5000:]
    failed = [(s["title"], c["name"], c["detail"]) for s in rep["sections"] for c in s["checks"] if not c["passed"]]
    assert cp.returncode == 0 and rep["result"] == "PASS", (failed, cp.stdout[-3000:])
    assert [s["scenario"] for s in rep["sections"]] == ["s1", "s1", "s4", "s5", "pause"], rep["sections"]
    matrix = rep["extra"]["test_matrix"]
    for scenario in ONE_RUN:
        secs = sections(rep, scenario)
        assert secs and all(s["result"] == "PASS" for s in secs), scenario
        for s in secs:
            assert s["observations"]["hashes_equal"] in (True, "True"), (scenario, s["observations"])
            assert int(s["observations"]["writes"]["acked"]) > 0, (scenario, s["observations"])
            if scenario in ("s1", "pause"):
                # the leader was cut off / stopped: the others elected a new one, timed from their logs
                assert 0 < float(s["observations"]["time_to_new_leader_s"]) < 10, (scenario, s["observations"])
            else:
                # S4 and S5 elect no new leader of their own: S1's figure must not be carried over
                assert s["observations"]["time_to_new_leader_s"] in (None, "None", ""), (scenario, s["observations"])
        if scenario == "s1":
            assert [s["title"].split("(")[1].split(":")[0] for s in secs] == ["timeout", "reject"]
        row = [r for r in matrix if r["Scenario"].lower().startswith(scenario)
               or (scenario == "pause" and r["Scenario"].startswith("Pause"))][0]
        cell = row["ChainFire (etcd)"]
        assert cell.startswith("DOC-GAP measured, checks PASS" if scenario == "s5" else "PASS"), row
    # the scenarios of the short form were not run
    for title in ("S2", "S3"):
        row = [r for r in matrix if r["Scenario"].startswith(title)][0]
        assert row["FlareDB (grpc-proxy)"] == "not run", row
    assert_clean(tmp_path, cluster)


def _records(state_dir):
    faults = os.path.join(state_dir, "faults")
    out = []
    for name in sorted(os.listdir(faults)) if os.path.isdir(faults) else []:
        if name.endswith(".json"):
            with open(os.path.join(faults, name)) as f:
                out.append(json.load(f))
    return out


def test_controller_killed_during_s3_leaves_members_running_and_unpartitioned_by_the_lease(tmp_path, cluster):
    """ansible-playbook SIGKILLed while S3 holds a member isolated and a second one killed:
    the supervisors heal the partition and start the killed member at the lease deadline."""
    sd = str(tmp_path / "state")
    ev = {"faultline_lab_file": cluster.describe(str(tmp_path / "lab_etcd.json")), "t040_scenarios": "s3",
          "faultline_state_dir": sd, "faultline_report_dir": str(tmp_path / "reports"),
          "service_reconnection_settle_timeout": 10}  # S3's leases: 3 x 10 s
    ctl = subprocess.Popen([tool("ansible-playbook"), os.path.join(ROOT, PLAYBOOK), "-e", json.dumps(ev)],
                           cwd=ROOT, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        # both S3 faults in place: the partition and the killed second member
        def both_faults():
            recs = _records(sd)
            return recs if set(r["id"] for r in recs) >= {"t040-s3-partition", "t040-s3-kill"} else None

        recs = wait_for(both_faults, 120, 0.2, "S3's partition and kill")
        os.killpg(ctl.pid, signal.SIGKILL)
        killed_at = time.time()
        ctl.wait(30)
        deadline = max(min(x for x in (r.get("deadline"), r.get("lease_until")) if x) for r in recs)
        assert owned_chains(sd), "the partition should still be there right after the controller died"
        down = [m for m in cluster.members if m.pid is None]
        assert len(down) == 1, "one member killed by S3"
        # by the lease deadline (+ the supervisor's poll) everything is back
        wait_for(lambda: _records(sd) == [] and owned_chains(sd) == [], max(deadline - time.time(), 0) + 10, 0.2,
                 "the faults reverted by their supervisors")
        healed_at = time.time()
        assert all(m.pid for m in cluster.members), "the killed member was not started again"
        assert cluster.wait_healthy(30)
        print("\ncontroller SIGKILLed %.1f s before the lease deadline; faults gone %.1f s after it"
              % (deadline - killed_at, healed_at - deadline))
        assert healed_at <= deadline + 10
    finally:
        if ctl.poll() is None:
            os.killpg(ctl.pid, signal.SIGKILL)
            ctl.wait(30)
        # the probes the dead controller started stop here (restore stops workers too)
        res = run_module("restore", {"state_dir": sd})
        assert not res["failed"], res["msg"]
    assert_clean(tmp_path, cluster)

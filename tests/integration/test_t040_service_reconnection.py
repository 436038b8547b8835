"""T040.S4 playbook against a real 3-member etcd cluster (support/etcd.py on 127.0.0.41-43).

The cluster is described like roles/lab_etcd describes its own (lab_etcd.json)
and handed to the playbook with ``faultline_lab_file`` (a cluster the lab did not
make, as a user's own); the ledger and the reports are private to the test.
Here: what the playbook refuses before anything starts, and a controller killed
mid-scenario.  Every scenario's sections are asserted on the full form's runs
against the lab, one per layout (test_lab_etcd.py::test_t040_playbook_passes_on_the_lab).
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

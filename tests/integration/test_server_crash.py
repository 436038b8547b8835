"""The server_crash role end to end (playbooks/server_crash.yml) against a
MariaDB pair of its own: ports 3617/3618 under /var/lib/faultline-lab-srv
(``FAULTLINE_SRV_*`` to change them), brought up with playbooks/lab.yml when
not already running and taken down at the end if this module started it.

kill -9 of the replica and SIGSTOP of the source, each brought back by the
fault's supervisor at the deadline: the report PASSes with measured detection
and recovery, every acknowledged write is on the replica once, the timeline
carries the rows written on the source and the rows present on the replica,
and the pair replicates again afterwards.
"""
import json
import os

import pymysql
import pytest

from support.ansible import LAB_PLAYBOOK
from support.util import read_lab

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background, runtime
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="signals the lab's servers as root")]

SOURCE_PORT = int(os.environ.get("FAULTLINE_SRV_SOURCE_PORT", "3617"))
REPLICA_PORT = int(os.environ.get("FAULTLINE_SRV_REPLICA_PORT", "3618"))
BASE_DIR = os.environ.get("FAULTLINE_SRV_BASE_DIR", "/var/lib/faultline-lab-srv/mysql")
PLAYBOOK = "playbooks/server_crash.yml"
LAB_VARS = {"lab_components": ["mysql"], "lab_mysql_source_port": SOURCE_PORT, "lab_mysql_replica_port": REPLICA_PORT,
            "lab_mysql_base_dir": BASE_DIR}
LAB_FILE = os.path.join(BASE_DIR, "lab_mysql.json")


def _lab(run_playbook, state):
    cp = run_playbook(LAB_PLAYBOOK, dict(LAB_VARS, lab_state=state), timeout=600)
    assert cp.returncode == 0, "lab %s failed:\n%s\n%s" % (state, cp.stdout[-4000:], cp.stderr[-2000:])


@pytest.fixture(scope="module")
def srv_lab(run_playbook):
    started = read_lab(LAB_FILE) is None
    if started:
        try:
            _lab(run_playbook, "up")
        except AssertionError:
            _lab(run_playbook, "down")
            raise
    try:
        yield read_lab(LAB_FILE)
    finally:
        if started and os.environ.get("FAULTLINE_KEEP_LAB") != "1":
            _lab(run_playbook, "down")


def pid_of(desc, server):
    with open(desc[server]["pidfile"]) as f:
        return int(f.read().strip())


def run_case(run_playbook, tmp_path, target, action, duration):
    sd, reports = str(tmp_path / "state"), str(tmp_path / "reports")
    cp = run_playbook(PLAYBOOK, {"faultline_lab_file": LAB_FILE, "crash_target": target, "crash_action": action,
                                 "crash_duration": duration, "faultline_state_dir": sd,
                                 "faultline_report_dir": reports}, timeout=600)
    try:
        runs = os.listdir(os.path.join(reports, "server_crash"))
        assert len(runs) == 1, runs
        with open(os.path.join(reports, "server_crash", runs[0], "report.json")) as f:
            report = json.load(f)
        with open(os.path.join(reports, "server_crash", runs[0], "timeline.svg")) as f:
            svg = f.read()
    finally:
        led = runtime.Ledger(sd)
        left = led.list()
        workers = [m for m in background.list_workers(sd) if m["running"]]
        for meta in workers:
            background.stop(sd, meta["kind"], meta["id"])
    assert left == [] and workers == [], (left, workers)
    assert cp.returncode == 0, cp.stdout[-5000:]
    return report, svg


def check_report(report, svg, duration):
    checks = {c["name"]: c for c in report["checks"]}
    assert report["result"] == "PASS", [c for c in report["checks"] if not c["passed"]]
    back = next(c for n, c in checks.items() if n.startswith("The server came back"))
    after = float(back["detail"].split(" s after")[0].split()[-1])
    assert duration - 0.5 <= after <= duration + 3.0, back["detail"]
    obs = report["observations"]
    assert obs["time_to_detect_s"] is not None and obs["time_to_recover_s"] is not None, obs
    integ = report["integrity"]
    assert integ["missing"] == 0 and integ["duplicates"] == 0 and integ["destination_rows"] == integ["source_rows"] > 0
    written = report["series"]["rows written (source, acked)"]
    present = report["series"]["rows present (replica)"]
    # the series count this run's rows; integrity compares the whole table (an earlier case's rows too)
    assert written and present and present[-1][1] == written[-1][1] > 0, (written[-3:], present)
    assert written[-1][1] <= integ["expected_rows"], (written[-1], integ)
    assert "rows present (replica)" in svg and "rows written (source, acked)" in svg
    return obs, after


def test_kill_9_of_the_replica_is_restarted_by_the_supervisor_and_nothing_is_lost(
        srv_lab, run_playbook, tmp_path, mysql_srv):
    before = pid_of(srv_lab, "replica")
    report, svg = run_case(run_playbook, tmp_path, "replica", "kill", 6)
    obs, after = check_report(report, svg, 6)
    assert proc_state(before) is None  # really killed ...
    assert pid_of(srv_lab, "replica") != before and proc_state(pid_of(srv_lab, "replica")) in ("S", "R")  # ... and new
    # while the replica was down, its rows stood still: the line has a step after the restart
    present = report["series"]["rows present (replica)"]
    assert len(present) >= 3, present
    print("replica kill -9: detect %.2f s, back after %.2f s, recover %.2f s" % (
        obs["time_to_detect_s"], after, obs["time_to_recover_s"]))


def test_sigstop_of_the_source_is_resumed_at_the_deadline(srv_lab, run_playbook, tmp_path, mysql_srv):
    before = pid_of(srv_lab, "source")
    report, svg = run_case(run_playbook, tmp_path, "source", "pause", 6)
    obs, after = check_report(report, svg, 6)
    assert pid_of(srv_lab, "source") == before and proc_state(before) in ("S", "R")  # the same process, running
    print("source SIGSTOP: detect %.2f s, resumed after %.2f s, recover %.2f s" % (
        obs["time_to_detect_s"], after, obs["time_to_recover_s"]))


@pytest.fixture
def mysql_srv(srv_lab):
    """After each case: the pair replicates again (both threads running)."""
    yield
    r = srv_lab["replica"]
    conn = pymysql.connect(host=r["host"], port=int(r["port"]), user=r["user"], password=r["password"],
                           cursorclass=pymysql.cursors.DictCursor, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            st = cur.fetchone()
    finally:
        conn.close()
    assert st["Slave_IO_Running"] == "Yes" and st["Slave_SQL_Running"] == "Yes", st

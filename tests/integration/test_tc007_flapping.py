"""TC-007 flapping connection end to end, against a MariaDB pair of its own.

The lab instance of these tests runs on ports 3517/3518 with its own base
directory (``FAULTLINE_TC007_*`` to change them), so other test sessions using
the default lab are not disturbed; it is brought up with ``playbooks/lab.yml``
when not already running and taken down again at the end if this module
started it.
"""
import json
import os
import socket
import subprocess
import time

import pymysql
import pytest

from support.ansible import LAB_PLAYBOOK, ROOT, ansible_env, tool
from support.net import owned_chains
from support.util import kill_run, read_lab

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="network faults need root")]

SOURCE_PORT = int(os.environ.get("FAULTLINE_TC007_SOURCE_PORT", "3517"))
REPLICA_PORT = int(os.environ.get("FAULTLINE_TC007_REPLICA_PORT", "3518"))
BASE_DIR = os.environ.get("FAULTLINE_TC007_BASE_DIR", "/var/lib/faultline-lab-tc007/mysql")
PLAYBOOK = "playbooks/tc007_flapping_connection.yml"
LAB_VARS = {"lab_components": ["mysql"], "lab_mysql_source_port": SOURCE_PORT, "lab_mysql_replica_port": REPLICA_PORT,
            "lab_mysql_base_dir": BASE_DIR}


def _read_lab():
    return read_lab(os.path.join(BASE_DIR, "lab_mysql.json"))


def _lab(run_playbook, state):
    cp = run_playbook(LAB_PLAYBOOK, dict(LAB_VARS, lab_state=state), timeout=600)
    assert cp.returncode == 0, "lab %s failed:\n%s\n%s" % (state, cp.stdout[-4000:], cp.stderr[-2000:])


@pytest.fixture(scope="module")
def tc007_lab(run_playbook):
    desc = _read_lab()
    started = desc is None
    if started:
        try:
            _lab(run_playbook, "up")
        except AssertionError:
            _lab(run_playbook, "down")
            raise
        desc = _read_lab()
    try:
        yield desc
    finally:
        if started and os.environ.get("FAULTLINE_KEEP_LAB") != "1":
            _lab(run_playbook, "down")


def query(desc, instance, sql, args=None):
    i = desc[instance]
    conn = pymysql.connect(host=i["host"], port=int(i["port"]), user=i["user"], password=i["password"],
                           autocommit=True, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def scenario_vars(desc, state_dir, report_dir, **kw):
    ev = {"faultline_source": {"host": "127.0.0.1", "port": desc["source"]["port"], "user": "root", "password": ""},
          "faultline_replica": {"host": "127.0.0.1", "port": desc["replica"]["port"], "user": "root", "password": ""},
          "faultline_state_dir": state_dir, "faultline_report_dir": report_dir}
    ev.update(kw)
    return ev


def only_report(report_dir):
    runs = os.path.join(report_dir, "tc007_flapping_connection")
    names = os.listdir(runs) if os.path.isdir(runs) else []
    assert len(names) == 1, names
    with open(os.path.join(runs, names[0], "report.json")) as f:
        return json.load(f), os.path.join(runs, names[0])


def acked_seqs(state_dir, run_id):
    """Sequence numbers the source acknowledged, straight from the datagen ledger file."""
    acked = set()
    for ln in background.read_output(state_dir, "datagen", run_id):
        if ln.get("status") == "acked":
            acked.update(range(int(ln["seq_from"]), int(ln["seq_to"]) + 1))
    return acked


def nothing_running(state_dir):
    workers = os.path.join(state_dir, "workers")
    for name in os.listdir(workers) if os.path.isdir(workers) else []:
        if name.endswith(".json"):
            kind, wid = name[:-5].split("-", 1)
            meta = background.read_meta(state_dir, kind, wid)
            assert meta is not None and not meta["running"], "%s still running" % name
    faults = os.path.join(state_dir, "faults")
    assert not os.path.isdir(faults) or not os.listdir(faults)
    assert owned_chains(state_dir) == []


def test_short_flap_with_datagen_every_acked_row_once_pass(tc007_lab, run_playbook, state_dir, tmp_path):
    report_dir = str(tmp_path / "reports")
    # one user criterion on top of the seed's checklist (flapping_connection_extra_checks)
    extra = [{"name": "Every cycle back within 5 s", "expr": "max(cycles[].time_to_recover_s | [?@ != null]) || `0`",
              "op": "<", "value": 5}]
    cp = run_playbook(PLAYBOOK, scenario_vars(tc007_lab, state_dir, report_dir, flap_interval=2, flap_duration=12,
                                              datagen_count=5, datagen_interval=0.5,
                                              flapping_connection_extra_checks=extra))
    assert cp.returncode == 0, cp.stdout[-6000:]
    report, run_dir = only_report(report_dir)
    assert report["result"] == "PASS", json.dumps(report["checks"], indent=1)
    assert [c["name"] for c in report["checks"]] == [
        "Pipeline survived flapping period", "Reconnection successful each cycle",
        "Final row count matches expected", "No duplicate records", "Binlog position correct",
        "Every cycle back within 5 s"]
    assert report["checks"][-1]["detail"].endswith("(expected < 5)")
    assert report["configuration"]["interval"] == 2 and report["configuration"]["duration"] == 12
    assert report["configuration"]["type"] == "reject"

    # one row per cycle: 12 s of 2 s down / 2 s up = 3 cycles, each with down and up times
    cycles = report["cycles"]
    assert [c["n"] for c in cycles] == [1, 2, 3]
    for c in cycles:
        assert c["down_at"] and c["up_at"] and c["notes"]
        assert c["verdict"] in ("reconnected", "survived")
        if c["verdict"] == "reconnected":
            assert c["detected_at"] and c["recovered_at"] and "reconnected" in c["notes"]
        else:
            assert c["detected_at"] is None and "survived without disconnect" in c["notes"]

    # independently of verify: every acknowledged row is on the replica exactly once,
    # and source and replica hold the same rows of this run
    run_id = report["metadata"]["run_id"]
    acked = acked_seqs(state_dir, run_id)
    assert len(acked) >= 5 * 12
    table = "faultline.tc007_rows"
    src = query(tc007_lab, "source", "SELECT seq, COUNT(*) FROM %s WHERE run_id=%%s GROUP BY seq" % table, (run_id,))
    dst = query(tc007_lab, "replica", "SELECT seq, COUNT(*) FROM %s WHERE run_id=%%s GROUP BY seq" % table, (run_id,))
    assert all(n == 1 for _s, n in dst)
    assert set(s for s, _n in dst) == set(s for s, _n in src)
    assert acked <= set(s for s, _n in dst)
    integ = report["integrity"]
    assert integ["source_rows"] == integ["destination_rows"] == integ["expected_rows"]
    assert integ["missing"] == integ["extra"] == integ["duplicates"] == 0 and integ["checksum_match"] is True

    # the series: rows generated (datagen acks) and rows replicated (counted on the replica)
    gen, rep = report["series"]["rows generated (source, acked)"], report["series"]["rows replicated (destination)"]
    assert gen[-1][1] == len(acked)
    assert rep[-1][1] == len(dst)
    for name in ("report.md", "junit.xml", "timeline.svg", "events.jsonl"):
        assert os.path.getsize(os.path.join(run_dir, name)) > 0
    with open(os.path.join(run_dir, "report.md")) as f:
        md = f.read()
    assert "| Cycle | Down Time | Recovery Time | Notes |" in md and "- [x] Reconnection successful each cycle" in md
    nothing_running(state_dir)


def test_bad_flap_input_through_the_playbook_fails_before_anything_starts(run_playbook, state_dir, tmp_path):
    report_dir = str(tmp_path / "reports")
    ev = {"faultline_source": {"host": "127.0.0.1", "port": SOURCE_PORT, "user": "root", "password": ""},
          "faultline_state_dir": state_dir, "faultline_report_dir": report_dir}
    cp = run_playbook(PLAYBOOK, dict(ev, flap_interval=0))
    assert cp.returncode != 0
    assert "interval=0.0 is out of range: must be a finite number of seconds greater than 0" in cp.stdout
    cp = run_playbook(PLAYBOOK, dict(ev, flap_interval=1, flap_duration="nan"))
    assert cp.returncode != 0
    assert ("duration=nan is out of range: must be a finite number of seconds greater than 0 and at most "
            "604800 (7 days)") in cp.stdout
    cp = run_playbook(PLAYBOOK, dict(ev, flap_interval=10, flap_duration=5))
    assert cp.returncode != 0
    assert "duration (5.0s) is shorter than one down interval (10.0s)" in cp.stdout
    assert not os.path.exists(report_dir)
    assert not os.path.exists(os.path.join(state_dir, "workers"))
    assert owned_chains(state_dir) == []


def test_bad_datagen_count_through_the_playbook_fails_and_starts_nothing(tc007_lab, run_playbook, state_dir,
                                                                         tmp_path):
    report_dir = str(tmp_path / "reports")
    cp = run_playbook(PLAYBOOK, scenario_vars(tc007_lab, state_dir, report_dir, flap_interval=1, flap_duration=4,
                                              datagen_count=0))
    assert cp.returncode != 0
    assert "count=0 is out of range" in cp.stdout
    report, _d = only_report(report_dir)
    assert report["result"] == "FAIL"
    assert any("count=0 is out of range" in c["detail"] for c in report["checks"] if not c["passed"])
    assert report["cycles"] == []
    assert not os.path.exists(os.path.join(state_dir, "workers")) or not [
        n for n in os.listdir(os.path.join(state_dir, "workers")) if n.startswith("datagen-")]
    nothing_running(state_dir)


KILL_PLAYBOOK = """
- name: flap with a datagen, then a long pause (the controller gets killed mid-flap)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Data generation bounded by its own duration
      faultline.chaos.datagen:
        state: started
        run_id: {run_id}
        login_port: {port}
        table: tc007_rows
        count: 2
        interval: 0.5
        duration: {datagen_duration}
        state_dir: {state_dir}
    - name: Flap the source port
      faultline.chaos.network:
        state: flap
        type: reject
        port: {port}
        interval: 1
        duration: {flap_duration}
        fault_id: {run_id}
        state_dir: {state_dir}
    - name: A long pause
      ansible.builtin.pause:
        seconds: 300
"""


def journal(state_dir):
    path = os.path.join(state_dir, "journal.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_killing_the_controller_mid_flap_the_supervisor_ends_it_on_time(tc007_lab, state_dir, tmp_path, run_module):
    run_id = "tc007-kill-%d" % int(time.time())
    port = tc007_lab["source"]["port"]
    book = tmp_path / "kill.yml"
    book.write_text(KILL_PLAYBOOK.format(run_id=run_id, port=port, state_dir=state_dir,
                                         flap_duration=10, datagen_duration=14))
    proc = subprocess.Popen([tool("ansible-playbook"), str(book)], cwd=ROOT, env=ansible_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # mid-flap: cycle 2 is down
            if any(e["id"] == run_id and e["event"] == "down" and (e.get("detail") or {}).get("cycle") == 2
                   for e in journal(state_dir)):
                break
            assert proc.poll() is None, "ansible-playbook ended before the flap"
            time.sleep(0.1)
        else:
            pytest.fail("the flap never reached cycle 2")
        kill_run(proc.pid)  # and its task workers: groups of their own
        proc.wait(10)
        killed_at = time.time()

        events = [e for e in journal(state_dir) if e["id"] == run_id and e["source"] == "fault"]
        flap_deadline = [e for e in events if e["event"] == "supervisor_started"][0]["detail"]["deadline"]
        assert flap_deadline > killed_at
        while time.time() < flap_deadline + 15:
            if any(e["id"] == run_id and e["event"] == "reverted" for e in journal(state_dir)):
                break
            time.sleep(0.2)
        events = [e for e in journal(state_dir) if e["id"] == run_id and e["source"] == "fault"]
        (rev,) = [e for e in events if e["event"] == "reverted"]
        assert rev["detail"]["reason"] == "schedule_end" and rev["detail"]["by"] == "supervisor"
        # 10 s of 1 s down / 1 s up: the 5th cycle's up phase is the last one; the
        # supervisor journals the end of the schedule right after it (the network
        # stays up until the nominal end, nothing is left to do)
        downs = [e for e in events if e["event"] == "down"]
        ups = [e for e in events if e["event"] == "up"]
        assert [e["detail"]["cycle"] for e in downs] == [e["detail"]["cycle"] for e in ups] == [1, 2, 3, 4, 5]
        assert abs(ups[-1]["ts"] - (downs[-1]["ts"] + 1.0)) < 0.2
        assert ups[-1]["ts"] <= rev["ts"] < ups[-1]["ts"] + 0.5
        assert downs[-1]["ts"] - downs[0]["ts"] == pytest.approx(8.0, abs=0.2)
        with socket.create_connection(("127.0.0.1", port), 2):
            pass
        assert owned_chains(state_dir) == []
        assert not os.listdir(os.path.join(state_dir, "faults"))

        # the data generator stops at its own duration (14 s after its start), nobody stops it
        started = background.read_meta(state_dir, "datagen", run_id)["started"]
        while time.time() < started + 14 + 15:
            meta = background.read_meta(state_dir, "datagen", run_id)
            if not meta["running"]:
                break
            time.sleep(0.2)
        meta = background.read_meta(state_dir, "datagen", run_id)
        assert not meta["running"]
        fin = [ln for ln in background.read_output(state_dir, "datagen", run_id) if ln.get("event") == "finished"]
        # it ended by itself, not "stopped" by anyone: "done", its schedule (2 rows every 0.5 s
        # for 14 s) ran to the end; or "duration", its 14 s ran out with the last burst late
        # (two make test runs at once, load 12: row 55 in flight at the cut, 'indeterminate')
        assert fin and fin[-1]["detail"]["reason"] in ("done", "duration"), fin
        if fin[-1]["detail"]["reason"] == "done":
            assert fin[-1]["detail"]["next_seq"] - 1 == 56
        else:
            assert 50 <= fin[-1]["detail"]["next_seq"] - 1 <= 56, fin
        assert started + 14 - 0.5 <= fin[-1]["ts"] <= started + 14 + 3
    finally:
        kill_run(proc.pid)  # when it failed before the kill above
        run_module("datagen", {"state": "stopped", "run_id": run_id, "state_dir": state_dir})


def test_steady_state_guard_on_replication_lag_aborts_the_flap_midway_and_heals_within_a_second(
        tc007_lab, run_playbook, state_dir, tmp_path):
    """A guard on lag_s trips in cycle 1 of a 40 s flap: the run is ABORTED, the fault is
    reverted by its supervisor within a second of the abort (journal times), the data
    generator is stopped, the play runs restore run_id on every host, nothing is left."""
    report_dir = str(tmp_path / "reports")
    guard = {"metric": "lag_s", "op": ">", "threshold": 1.5, "for": 2}
    t_start = time.time()
    cp = run_playbook(PLAYBOOK, scenario_vars(tc007_lab, state_dir, report_dir, flap_interval=4, flap_duration=40,
                                              datagen_count=5, datagen_interval=0.5, abort_when=guard,
                                              flapping_connection_fail_on_fail=False))
    assert cp.returncode == 0, cp.stdout[-6000:]
    report, run_dir = only_report(report_dir)
    run_id = report["metadata"]["run_id"]
    assert report["result"] == "ABORTED", report
    assert report["aborted"]["guard"].startswith("pipeline-") and report["aborted"]["run_id"] == run_id
    assert "lag_s > 1.5 for 2 consecutive samples" in report["aborted"]["reason"]

    events = journal(state_dir)
    (abort,) = [e for e in events if e["source"] == "guard" and e["event"] == "abort"]
    (rev,) = [e for e in events if e["id"] == run_id and e["source"] == "fault" and e["event"] == "reverted"]
    flap_start = [e for e in events if e["id"] == run_id and e["event"] == "supervisor_started"][0]
    # midway: the guard tripped long before the flap's own end, within the first two cycles
    assert abort["ts"] < flap_start["detail"]["deadline"] - 25
    assert rev["detail"]["reason"] == "signal" and rev["detail"]["by"] == "supervisor"
    heal_s = rev["ts"] - abort["ts"]
    assert 0 <= heal_s < 1.0, heal_s
    print("guard abort -> fault reverted: %.3f s" % heal_s)
    downs = [e for e in events if e["id"] == run_id and e["event"] == "down"]
    assert 1 <= len(downs) <= 2
    # the lag was really above the threshold when it tripped
    assert abort["detail"]["value"] > 1.5 and abort["ts"] > t_start

    # the data generator was stopped by the guard, within a second of the abort
    meta = background.read_meta(state_dir, "datagen", run_id)
    assert not meta["running"] and meta["stopped_by"] == "signal"
    assert meta["finished"] - abort["ts"] < 1.0, meta["finished"] - abort["ts"]
    assert [e for e in events if e["source"] == "guard" and e["event"] == "aborted"][0]["detail"]["stopped"] == [run_id]
    # the play noticed and ran restore run_id on every host
    assert "Guard tripped, revert every fault of the run on every host" in cp.stdout

    with open(os.path.join(run_dir, "junit.xml")) as f:
        assert 'type="Aborted"' in f.read()
    with open(os.path.join(run_dir, "report.md")) as f:
        assert "| Result | ABORTED |" in f.read()
    with socket.create_connection(("127.0.0.1", tc007_lab["source"]["port"]), 2):
        pass
    nothing_running(state_dir)

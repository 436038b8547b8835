"""playbooks/suite.yml end to end: a failing case does not stop the others.

Runs the suite with two cases on a MariaDB pair of its own (ports 3527/3528,
own base directory and ledger, ``FAULTLINE_SUITE_*`` to change them), brought up
and taken down by the suite itself:

* TC-004 with an impossible detection limit (``connection_refused_detect_limit_s``,
  a public role variable given as extra var): its report FAILs;
* WS-006 without the websocket lab component: its role stops before writing a
  report (the ``lab_websocket`` fact is missing), so the case is an ERROR;

and checks that both are in suite.md, junit.xml, suite.svg and suite.json, that
the playbook fails only at its end, after the lab went down, and that nothing is
left behind.  The full suite (every case passing) is ``make suite``.
"""
import json
import os
import xml.etree.ElementTree as ET

import pytest

from support.net import owned_chains

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="network faults need root")]

SOURCE_PORT = int(os.environ.get("FAULTLINE_SUITE_SOURCE_PORT", "3527"))
REPLICA_PORT = int(os.environ.get("FAULTLINE_SUITE_REPLICA_PORT", "3528"))
BASE_DIR = os.environ.get("FAULTLINE_SUITE_BASE_DIR", "/var/lib/faultline-lab-suite/mysql")
NS = "{http://www.w3.org/2000/svg}"


def test_a_failing_case_and_a_case_without_report_do_not_stop_the_suite(run_playbook, tmp_path):
    state_dir = str(tmp_path / "ledger")
    reports = tmp_path / "reports"
    extra = {"suite_only": "TC-004,WS-006", "suite_lab_components": "mysql",
             "lab_mysql_source_port": SOURCE_PORT, "lab_mysql_replica_port": REPLICA_PORT,
             "lab_mysql_base_dir": BASE_DIR, "faultline_state_dir": state_dir,
             "faultline_report_dir": str(reports),
             "connection_refused_fault_duration": 5, "connection_refused_detect_limit_s": 0.0001}
    try:
        cp = run_playbook("playbooks/suite.yml", extra, timeout=600)
    finally:
        if os.path.exists(os.path.join(BASE_DIR, "lab_mysql.json")):  # the suite did not reach its lab down
            run_playbook("playbooks/lab.yml", dict(extra, lab_state="down", lab_components=["mysql"]), timeout=300)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 2, out[-4000:]
    # it failed at its very end, after the lab went down
    assert "PLAY [Suite - result]" in cp.stdout and "suite: FAIL (2 cases: 1 FAIL, 1 ERROR;" in cp.stdout, out[-4000:]
    assert not os.path.exists(BASE_DIR), "the suite left its lab behind"
    assert owned_chains(state_dir) == []
    faults = os.path.join(state_dir, "faults")
    assert not os.path.isdir(faults) or os.listdir(faults) == []

    (suite_dir,) = list((reports / "suite").iterdir())
    data = json.loads((suite_dir / "suite.json").read_text())
    assert data["result"] == "FAIL"
    tc004, ws006 = data["cases"]
    assert (tc004["name"], tc004["result"], ws006["name"], ws006["result"]) == ("TC-004", "FAIL", "WS-006", "ERROR")
    assert "Error detected immediately (< 0.0001 seconds)" in tc004["failed_checks"], tc004
    assert (suite_dir / tc004["report"] / "report.md").is_file()
    assert "lab_websocket fact is missing" in ws006["error"] and ws006["report"] is None
    # WS-006 ran after TC-004 failed
    assert ws006["started"] >= tc004["finished"]

    md = (suite_dir / "suite.md").read_text()
    assert "| TC-004 (tc004_connection_refused) | **FAIL** |" in md
    assert "| WS-006 (ws006_websocket_flapping) | **ERROR** |" in md
    junit = ET.parse(str(suite_dir / "junit.xml")).getroot()
    suites = junit.findall("testsuite")
    assert [s.get("name") for s in suites] == ["TC-004 tc004_connection_refused", "WS-006 ws006_websocket_flapping"]
    assert int(suites[0].get("failures")) >= 1 and suites[1].get("errors") == "1"
    svg = ET.parse(str(suite_dir / "suite.svg")).getroot()
    text = " ".join("".join(t.itertext()) for t in svg.iter(NS + "text"))
    assert "TC-004 (tc004_connection_refused) — FAIL" in text and "WS-006 (ws006_websocket_flapping) — ERROR" in text

"""TC-001 end to end: playbooks/tc001_pipeline_restart.yml against a real MariaDB pair."""
import glob
import json
import os

import pytest


pytestmark = [pytest.mark.lab, pytest.mark.slow]

PLAYBOOK = "playbooks/tc001_pipeline_restart.yml"
CHECKLIST = [
    "Pipeline detects failure and shows error status",
    'Pipeline shows "Running" or "Active" status',
    'All objects show "Syncing" or "Completed"',
    "Row counts match between source and destination",
    "No duplicate records in destination",
    "Binlog position advanced correctly",
]


# Shorter waits than the role's defaults (the role's checks do not depend on them):
# - baseline 1 s instead of 3: the probe samples every 0.1 s and datagen writes
#   every 1 s, so the pipeline is seen syncing and rows are written before the
#   failure (each mode also starts with a toolkit status that waits for both
#   replica threads running);
# - 1 s instead of 3 for the recovery attempt after Fix Now while the failure is
#   still there: the lab replica retries every second (lab_mysql_connect_retry);
#   the tests assert the pipeline was seen not running then;
# - resume grace 5 s instead of 10 before the second Fix Now: a network mode
#   resumes 0.04-0.2 s after the restore (measured), the tests assert that one
#   Fix Now was enough for those, and the truncated binlog never resumes without
#   a second one (the withheld-fix test waits the grace twice for it).
FAST = {"pipeline_restart_baseline_s": 1, "pipeline_restart_attempt_wait_s": 1, "pipeline_restart_resume_grace_s": 5}


def playbook_vars(lab, state_dir, report_dir, **extra):
    out = {"faultline_source": lab.login("source"), "faultline_replica": lab.login("replica"),
           "faultline_lab_file": lab.state_file, "faultline_state_dir": state_dir,
           "faultline_report_dir": report_dir}
    out.update(FAST)
    out.update(extra)
    return out


def only_report(report_dir):
    found = glob.glob(os.path.join(report_dir, "tc001_pipeline_restart", "*", "report.json"))
    assert len(found) == 1, found
    with open(found[0]) as f:
        return json.load(f)


def check(section, prefix):
    hits = [c for c in section["checks"] if c["name"].startswith(prefix)]
    assert len(hits) == 1, (prefix, section["checks"])
    return hits[0]


def assert_nothing_left(run_module, state_dir):
    info = run_module("fault_info", {"state_dir": state_dir})
    assert not info["failed"] and info["faults"] == [], info
    # no chain of this ledger (chains are tagged with their ledger's state_dir)
    assert "faultline:" + state_dir not in (info["network"]["ruleset"] or ""), info["network"]["ruleset"]
    again = run_module("restore", {"state_dir": state_dir})
    assert not again["failed"] and not again["changed"], again


def test_all_four_failure_modes_pass(tc001_lab, state_dir, tmp_path, run_playbook, run_module):
    lab = tc001_lab
    report_dir = str(tmp_path / "reports")
    try:
        cp = run_playbook(PLAYBOOK, playbook_vars(lab, state_dir, report_dir))
        assert cp.returncode == 0, cp.stdout[-6000:]
        rep = only_report(report_dir)
        assert rep["result"] == "PASS"
        assert [s["title"].split(":")[0] for s in rep["sections"]] == [
            "Network failure (connection refused)", "Network timeout", "MySQL service down", "Binlog corruption"]
        for s in rep["sections"]:
            assert s["result"] == "PASS", s
            for name in CHECKLIST:
                assert check(s, name)["passed"], (s["title"], check(s, name))
            integ = s["integrity"]
            assert integ["source_rows"] == integ["destination_rows"] == integ["expected_rows"] > 0, integ
            assert integ["missing"] == integ["extra"] == integ["duplicates"] == 0 and integ["checksum_match"], integ
            assert s["observations"]["error_message"], s["observations"]
            assert s["positions"]["before"] and s["positions"]["after"], s["positions"]
            # Fix Now with the failure still there did not bring the pipeline back
            assert not s["observations"]["state_after_fix"].startswith("IO thread Yes"), s["observations"]
        # the failures were real: refused, timed out, source down, fatal binlog error
        msgs = [s["observations"]["error_message"] for s in rep["sections"]]
        assert "111" in msgs[0] and "110" in msgs[1] and "1236" in msgs[3], msgs
        # binlog damage needs the pipeline restarted once the file is back: a second Fix Now
        assert len(rep["sections"][3]["observations"]["fix_now"]) == 2
        # ... a network failure does not: the pipeline resumed within the grace after one
        assert [len(s["observations"]["fix_now"]) for s in rep["sections"][:3]] == [1, 1, 1], rep["sections"]
        # and the servers agree with the report
        table = "faultline.tc001_rows"
        n_src = lab.query("source", "SELECT COUNT(*) AS n FROM " + table)[0]["n"]
        n_dst = lab.query("replica", "SELECT COUNT(*) AS n FROM " + table)[0]["n"]
        assert n_src == n_dst == rep["sections"][-1]["integrity"]["source_rows"]
        assert_nothing_left(run_module, state_dir)
    finally:
        run_module("restore", {"state_dir": state_dir})
        lab.heal_and_sync()


def test_withheld_fix_fails_with_the_reason(tc001_lab, state_dir, tmp_path, run_playbook, run_module):
    lab = tc001_lab
    report_dir = str(tmp_path / "reports")
    try:
        cp = run_playbook(PLAYBOOK, playbook_vars(lab, state_dir, report_dir, fix_action="command",
                                                  fix_command=["/bin/false"],
                                                  failure_modes=["reject", "binlog_truncate"]))
        assert cp.returncode != 0 and "TC-001 FAIL" in cp.stdout, cp.stdout[-4000:]
        rep = only_report(report_dir)
        assert rep["result"] == "FAIL" and len(rep["sections"]) == 2
        for s in rep["sections"]:
            assert s["result"] == "FAIL"
            fix = check(s, "Fix Now applied")
            assert not fix["passed"] and "/bin/false" in fix["detail"] and "rc=1" in fix["detail"], fix
        reject, binlog = rep["sections"]
        # a refused connection heals by itself once the network is up ...
        assert check(reject, 'Pipeline shows "Running"')["passed"]
        # ... a truncated binlog does not: without the fix the pipeline stays down and rows are missing
        assert not check(binlog, 'Pipeline shows "Running"')["passed"]
        assert "1236" in check(binlog, 'All objects show')["detail"]
        assert binlog["integrity"]["missing"] > 0 and not check(binlog, "Row counts match")["passed"]
        with open(os.path.join(os.path.dirname(glob.glob(os.path.join(
                report_dir, "tc001_pipeline_restart", "*", "report.json"))[0]), "junit.xml")) as f:
            assert "/bin/false" in f.read()
        assert_nothing_left(run_module, state_dir)
    finally:
        run_module("restore", {"state_dir": state_dir})
        lab.heal_and_sync()

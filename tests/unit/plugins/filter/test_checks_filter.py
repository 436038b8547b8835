"""faultline.chaos.checks: pass criteria as JMESPath over a run's report data,
and TC-004's own checklist expressed that way."""
import json
import os
import subprocess
import sys

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

from ansible_collections.faultline.chaos.plugins.filter.checks import checks

try:  # ansible-core >= 2.19 templates only trusted strings (as role vars files are)
    from ansible.template import trust_as_template
except ImportError:  # older ansible-core templates every string
    def trust_as_template(value):
        return value

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 4))  # tests/unit/plugins/filter/

DATA = {
    "observations": {"time_to_detect_s": 1.25, "error_message": "Can't connect (111 Connection refused)",
                     "retries": 4, "time_to_recover_s": 2.5},
    "cycles": [{"n": 1, "verdict": "reconnected", "time_to_recover_s": 0.8},
               {"n": 2, "verdict": "not_recovered", "time_to_recover_s": None}],
    "integrity": {"missing": 0, "extra": 0, "duplicates": 0, "checksum_match": True},
}


def one(expr, op=None, value=None, **kw):
    spec = dict(name="c", expr=expr, **kw)
    if op is not None:
        spec["op"] = op
    if value is not None:
        spec["value"] = value
    [res] = checks(DATA, [spec])
    return res


@pytest.mark.parametrize("expr,op,value,passed", [
    ("observations.time_to_detect_s", "<", 30, True),
    ("observations.time_to_detect_s", "<", 1, False),
    ("observations.retries", "<=", 3, False),              # "no more than 3 retries"
    ("observations.retries", ">=", 4, True),
    ("observations.retries", "==", 4, True),
    ("observations.retries", "!=", 4, False),
    ("observations.error_message", "search", "(?i)connection refused", True),
    ("observations.error_message", "search", "timed out", False),
    ("length(cycles[?verdict == 'not_recovered'])", "==", 0, False),
    ("max(cycles[].time_to_recover_s | [?@ != null])", "<", 1, True),
    ("cycles[0].verdict", "in", ["reconnected", "survived"], True),
    ("cycles[1].verdict", "not_in", ["reconnected", "survived"], True),
    ("integrity.missing == `0` && integrity.checksum_match", "truthy", None, True),
    ("integrity.duplicates", "falsy", None, True),          # 0 is falsy in Python terms
    ("observations.nothing", "null", None, True),
    ("observations.retries", "not_null", None, True),
])
def test_ops(expr, op, value, passed):
    res = one(expr, op, value)
    assert res["passed"] is passed, res
    assert res["name"] == "c"


def test_default_op_is_truthy_and_detail_names_what_was_found():
    res = one("integrity.checksum_match")
    assert res["passed"] is True and res["value"] is True
    res = one("observations.retries", "<=", 3)
    assert res["detail"] == "observations.retries = 4 (expected <= 3)" and res["value"] == 4


def test_missing_data_fails_the_check_not_the_run():
    res = one("observations.time_to_lag_s", "<", 1)
    assert res["passed"] is False and "found nothing (null)" in res["detail"]
    res = one("observations.error_message", "<", 5)
    assert res["passed"] is False and "cannot compare str with int" in res["detail"]
    res = one("length(observations.missing)", "==", 0)        # a JMESPath type error on this run's data
    assert res["passed"] is False and "failed on this run's data" in res["detail"]


def test_own_detail_is_kept_and_the_reason_added():
    res = one("observations.time_to_lag_s", "<", 1, detail="lag never measured")
    assert res["detail"] == "lag never measured (the expression found nothing (null))"


@pytest.mark.parametrize("spec,message", [
    ({"name": "Lag under 1 s", "expr": "observations.[lag", "op": "<", "value": 1},
     "check 'Lag under 1 s': invalid JMESPath expression 'observations.[lag'"),
    ({"name": "Lag under 1 s", "expr": "observations.lag", "op": "=<", "value": 1},
     "check 'Lag under 1 s': unknown op '=<'"),
    ({"name": "Lag under 1 s", "expr": "observations.lag", "op": "<"},
     "check 'Lag under 1 s': op '<' needs a value"),
    ({"name": "Msg", "expr": "observations.error_message", "op": "search", "value": "(unclosed"},
     "check 'Msg': invalid regular expression '(unclosed'"),
    ({"name": "Msg", "expr": "observations.error_message", "op": "in", "value": 3},
     "check 'Msg': op in needs a list or string"),
    ({"name": "Typo", "expr": "observations.retries", "opp": "<"},
     "check 'Typo': unknown keys opp"),
    ({"name": "No expr"}, "check 'No expr' has no expr"),
    ({"expr": "observations.retries"}, "check #2 has no name"),
    ("retries < 3", "check #2 is not a dict"),
])
def test_bad_checks_stop_with_a_message_naming_the_check(spec, message):
    good = {"name": "fine", "expr": "observations.retries"}
    with pytest.raises(AnsibleFilterError) as e:
        checks(DATA, [good, spec])
    assert message in str(e.value)


def test_input_must_be_report_data():
    with pytest.raises(AnsibleFilterError, match="must be the report data"):
        checks(["not", "a", "dict"], [])
    with pytest.raises(AnsibleFilterError, match="must be a list"):
        checks({}, {"name": "x"})


# -- TC-004's own checklist, as the role judges it ---------------------------------

def role_checks(role, check_data, extra=(), **variables):
    """The role's built-in checks, templated as the role does, judged with ``extra`` appended."""
    with open(os.path.join(ROOT, "roles", role, "vars", "main.yml")) as f:
        role_vars = yaml.safe_load(f)
    with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
        defaults = yaml.safe_load(f)
    variables = dict(defaults, **variables)
    variables[role + "_check_data"] = check_data
    templar = Templar(loader=DataLoader(), variables=variables)
    trusted = [dict((k, trust_as_template(v) if isinstance(v, str) else v) for k, v in c.items())
               for c in role_vars[role + "_builtin_checks"]]
    specs = templar.template(trusted)
    return checks(check_data, specs + list(extra))


def tc004_checks(check_data, extra=()):
    with open(os.path.join(ROOT, "roles", "connection_refused", "vars", "main.yml")) as f:
        pattern = yaml.safe_load(f)["connection_refused_error_patterns"]["reject"]
    return role_checks("connection_refused", check_data, extra, connection_refused_pattern=pattern)


def tc004_data(**over):
    data = {
        "observations": {"time_to_detect_s": 0.4, "error_message": "Can't connect to server (111)",
                         "retries": 2, "time_to_recover_s": 1.7},
        "cycles": [], "metrics": {},
        "integrity": {"expected_rows": 5, "source_rows": 5, "destination_rows": 5, "missing": 0, "extra": 0,
                      "duplicates": 0, "checksum_match": True},
        "verify": {"checks": [{"name": "Binlog position advanced", "passed": True, "detail": "pos 1 -> 2"},
                              {"name": "Row counts match", "passed": True, "detail": "5 = 5"}],
                   "converged": True, "msg": "verify PASSED"},
        "pipeline": {"check": "replica", "after": {"io_running": "Yes", "sql_running": "Yes"}},
    }
    for key, value in over.items():
        data[key] = value
    return data


def test_tc004_checklist_passes_a_good_run():
    res = tc004_checks(tc004_data())
    assert [c["name"] for c in res] == [
        "Error detected immediately (< 30 seconds)", "Error message clearly indicates connection refused",
        "Pipeline recovers after network restore", "Replication position is maintained",
        "No data gaps or duplicates"]
    assert [c for c in res if not c["passed"]] == []
    assert res[0]["detail"] == "detected after 0.40 s"
    assert res[3]["detail"] == "pos 1 -> 2"
    assert res[4]["detail"].startswith("expected 5, source 5, destination 5, missing 0")


def test_tc004_checklist_fails_what_went_wrong():
    bad = tc004_data(observations={"time_to_detect_s": 31.0, "error_message": "Lost connection (2013)",
                                   "retries": 9, "time_to_recover_s": None},
                     pipeline={"check": "replica", "after": {"io_running": "No", "sql_running": "Yes"}},
                     verify={"checks": [{"name": "Binlog position advanced", "passed": False, "detail": "stuck"}],
                             "converged": False, "msg": "verify FAILED"},
                     integrity={"missing": 1, "extra": 0, "duplicates": 0, "checksum_match": False})
    res = tc004_checks(bad)
    assert [c["passed"] for c in res] == [False, False, False, False, False]
    assert res[2]["detail"] == "no recovery observed within 120 s"
    # verification that did not run: no position checks, no integrity
    res = tc004_checks(tc004_data(verify={"checks": [], "converged": None, "msg": "verification did not run"},
                                  integrity={}))
    assert [(c["passed"], c["detail"]) for c in res[3:]] == [
        (False, "verification did not run"), (False, "verification did not run")]


def test_tc004_user_check_is_judged_with_the_role_checks():
    extra = [{"name": "No more than 3 retries", "expr": "observations.retries", "op": "<=", "value": 3}]
    assert tc004_checks(tc004_data(), extra)[-1] == {
        "name": "No more than 3 retries", "passed": True, "value": 2,
        "detail": "observations.retries = 2 (expected <= 3)"}


def test_numeric_string_threshold_compares_as_a_number():
    """ansible-core before 2.19 templates "{{ limit | float }}" to a string, and -e gives strings."""
    assert one("observations.time_to_detect_s", "<", "30.0")["passed"] is True
    assert one("observations.retries", "<=", "3")["passed"] is False
    res = one("observations.retries", "<", "many")
    assert res["passed"] is False and "cannot compare int with str" in res["detail"]


# -- TC-007's checklist ------------------------------------------------------------

def tc007_data(**over):
    data = {
        "observations": {}, "metrics": {},
        "cycles": [{"n": 1, "verdict": "reconnected", "time_to_recover_s": 0.9},
                   {"n": 2, "verdict": "survived", "time_to_recover_s": None}],
        "integrity": {"expected_rows": 5, "source_rows": 5, "destination_rows": 5, "missing": 0, "extra": 0,
                      "duplicates": 0, "checksum_match": True},
        "verify": {"checks": [{"name": "Replica applied the source position", "passed": True, "detail": "gtid 0-1-9"}],
                   "converged": True, "msg": "verify PASSED",
                   "datagen": {"rows_acked": 5, "acked_missing": 0, "lost_on_source": 0, "rows_indeterminate": 0,
                               "indeterminate_present": 0, "acked_duplicates": 0, "indeterminate_duplicates": 0,
                               "unexpected": 0}},
        "pipeline": {"after": {"io_running": "Yes", "sql_running": "Yes", "last_sql_error": None}},
        "flap": {"planned": 2, "flapped": 2, "end_reason": "schedule_end", "journal": []},
    }
    data.update(over)
    return data


def test_tc007_checklist_passes_a_good_run_and_fails_a_bad_one():
    res = role_checks("flapping_connection", tc007_data())
    assert [c["name"] for c in res] == [
        "Pipeline survived flapping period", "Reconnection successful each cycle",
        "Final row count matches expected", "No duplicate records", "Binlog position correct"]
    assert [c for c in res if not c["passed"]] == []
    assert res[0]["detail"] == ("2 of 2 planned cycles flapped, flapping ended by schedule_end; "
                                "pipeline after the flap: IO and SQL threads running")
    assert res[1]["detail"].startswith("2 cycles: 1 disconnected and reconnected (max 0.90 s after")
    bad = tc007_data(flap={"planned": 3, "flapped": 2, "end_reason": "lease", "journal": []},
                     cycles=[{"n": 1, "verdict": "not_recovered", "time_to_recover_s": None}])
    bad["verify"] = dict(bad["verify"], datagen=dict(bad["verify"]["datagen"], acked_missing=1, unexpected=2))
    res = role_checks("flapping_connection", bad)
    assert [c["passed"] for c in res] == [False, False, False, False, True]
    assert "NOT recovered (cycle 1)" in res[1]["detail"]
    # threads running but a SQL error left behind: not survived
    res = role_checks("flapping_connection", tc007_data(pipeline={"after": {
        "io_running": "Yes", "sql_running": "Yes", "last_sql_error": "Duplicate entry '7' for key 'PRIMARY'"}}))
    assert res[0]["passed"] is False and res[0]["detail"].endswith("SQL error: Duplicate entry '7' for key 'PRIMARY'")


# -- TC-001's checklist (one failure mode) -----------------------------------------

def tc001_data(**over):
    names = ["Row counts match between source and destination", "No missing rows on destination",
             "Every acknowledged write present exactly once", "No duplicate records",
             "Indeterminate writes present at most once", "Binlog position advanced",
             "Replica applied the source position"]
    data = {
        "mode": "reject",
        "observations": {"time_to_detect_s": 1.5, "time_to_recover_s": 0.7}, "metrics": {}, "cycles": [],
        "integrity": {}, "fixes": [{"ok": True, "detail": "STOP SLAVE; START SLAVE"}],
        "verify": {"checks": [{"name": n, "passed": True, "detail": n.lower()} for n in names],
                   "converged": True, "waited_s": 0.4, "msg": "verify PASSED"},
        "pipeline": {"detected": {"io_running": "Connecting", "sql_running": "Yes", "last_io_errno": 2003,
                                  "last_io_error": "error connecting (111)", "last_sql_errno": 0},
                     "after": {"io_running": "Yes", "sql_running": "Yes", "last_io_errno": 0, "last_sql_errno": 0}},
    }
    data.update(over)
    return data


def test_tc001_checklist_passes_a_good_mode_and_fails_a_bad_one():
    res = role_checks("pipeline_restart", tc001_data())
    assert [c["name"] for c in res][:2] == ["Pipeline detects failure and shows error status", "Fix Now applied (lab)"]
    assert [c for c in res if not c["passed"]] == []
    assert res[0]["detail"] == "error status after 1.50 s: error connecting (111)"
    assert res[3]["detail"] == "threads running, no errors; destination caught up with the source in 0.4 s"
    bad = tc001_data(fixes=[{"ok": False, "detail": "restart failed"}],
                     pipeline={"detected": {"io_running": "Yes", "sql_running": "Yes", "last_io_errno": 0,
                                            "last_sql_errno": 0},
                               "after": None})
    bad["verify"] = dict(bad["verify"], converged=False,
                         checks=[c for c in bad["verify"]["checks"] if c["name"] != "Binlog position advanced"])
    res = role_checks("pipeline_restart", bad)
    assert [c["passed"] for c in res] == [False, False, False, False, True, True, False]
    assert res[0]["detail"] == "the pipeline reported no error within 60 s"
    assert res[2]["detail"] == "the pipeline did not resume within the wait"
    # errno as strings (another MySQL driver) are judged the same
    strs = tc001_data()
    strs["pipeline"]["detected"]["last_io_errno"] = "2003"
    assert role_checks("pipeline_restart", strs)[0]["passed"] is True


@pytest.mark.parametrize("playbook,role", [("tc004_connection_refused", "connection_refused"),
                                           ("tc007_flapping_connection", "flapping_connection"),
                                           ("tc001_pipeline_restart", "pipeline_restart")])
def test_role_stops_on_a_bad_extra_check_before_anything_runs(playbook, role, tmp_path):
    """The roles judge <role>_extra_checks up front: no fault, no report, a message naming the check."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    extra = {role + "_extra_checks": [{"name": "Lag back under 1 s", "expr": "observations.[lag", "op": "<",
                                       "value": 1}],
             "faultline_report_dir": str(tmp_path / "reports"), "faultline_state_dir": str(tmp_path / "state"),
             # no lab description: a lab that is up on this host (a layout `hosts` one
             # refuses source and replica on localhost) must not decide this test
             "faultline_lab_file": str(tmp_path / "no-lab.json")}
    cp = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
                         os.path.join("playbooks", playbook + ".yml"), "-e", json.dumps(extra)],
                        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert cp.returncode == 2, cp.stdout
    assert "check 'Lag back under 1 s': invalid JMESPath expression 'observations.[lag'" in cp.stdout
    assert "Check the extra checks before anything runs" in cp.stdout
    assert not (tmp_path / "reports").exists() and not (tmp_path / "state").exists()

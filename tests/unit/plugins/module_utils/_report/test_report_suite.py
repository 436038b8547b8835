"""The suite report: suite.md, junit.xml, suite.svg and suite.json from the cases' run directories."""
import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._report import suite, writer
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import ReportError
from ansible_collections.faultline.chaos.plugins.modules import suite_report

from test_report_data import FAILING, PASSING, T0, flap_cycles, flap_events, params

NS = "{http://www.w3.org/2000/svg}"


def write_case(cases_dir, scenario, started, **kw):
    """A case's run directory as faultline.chaos.report writes it."""
    p = params(scenario=scenario, report_dir=str(cases_dir), started=started, finished=started + 200, **kw)
    report, texts, _w = writer.build(p, started + 300, "tester1")
    path = writer.run_dir(str(cases_dir), report)
    writer.write(path, texts)
    return path


def suite_params(tmp_path, cases, **kw):
    p = dict(name="suite", report_dir=str(tmp_path / "reports"), cases_dir=None, started=T0 - 10,
             finished=T0 + 1000, cases=cases)
    p.update(kw)
    return p


def cases_dir_of(tmp_path):
    return tmp_path / "reports" / "suite" / "20260210T115950Z" / "cases"


@pytest.fixture
def three(tmp_path):
    """TC-004 passed, TC-007 failed a check, WS-006 wrote no report (its play failed early)."""
    cdir = cases_dir_of(tmp_path)
    write_case(cdir, "tc004_connection_refused", T0, checks=PASSING, events=flap_events(1),
               observations={"time_to_detect_s": 1.5, "time_to_recover_s": 0.8},
               integrity={"source_rows": 5, "destination_rows": 5, "missing": 0, "duplicates": 0})
    write_case(cdir, "tc007_flapping_connection", T0 + 300, template="tc007", checks=FAILING,
               cycles=flap_cycles(3), events=flap_events(3))
    cases = [{"name": "TC-004", "scenario": "tc004_connection_refused"},
             {"name": "TC-007", "scenario": "tc007_flapping_connection"},
             {"name": "WS-006", "scenario": "ws006_websocket_flapping",
              "error": "lab_websocket fact is missing", "started": T0 + 600, "finished": T0 + 610}]
    return suite_params(tmp_path, cases)


def test_a_failed_and_a_missing_case_make_the_suite_fail_and_every_case_is_reported(three, tmp_path):
    data, texts, path = suite.build(three, T0 + 2000)
    assert path == str(tmp_path / "reports" / "suite" / "20260210T115950Z")
    assert data["result"] == "FAIL"
    assert [(c["name"], c["result"]) for c in data["cases"]] == [
        ("TC-004", "PASS"), ("TC-007", "FAIL"), ("WS-006", "ERROR")]
    assert data["counts"] == {"PASS": 1, "FAIL": 1, "ABORTED": 0, "ERROR": 1}
    tc004, tc007, ws006 = data["cases"]
    assert tc004["figures"] == ["2/2 checks", "detect 1.50 s", "recover 0.80 s", "5 rows, 0 missing, 0 duplicated"]
    assert tc004["wall_s"] == 200.0
    assert tc007["failed_checks"] == ["No data gaps or duplicates"]
    assert "3 cycles" in tc007["figures"]
    assert ws006["error"] == "lab_websocket fact is missing" and ws006["report"] is None
    assert ws006["wall_s"] == 10.0
    assert json.loads(texts["json"]) == data


def test_suite_md_has_one_row_per_case_with_a_link_that_resolves(three):
    data, texts, path = suite.build(three, T0 + 2000)
    md = texts["md"]
    assert md.startswith("# faultline.chaos suite: FAIL\n")
    rows = [ln for ln in md.splitlines() if ln.startswith("| TC-") or ln.startswith("| WS-")]
    assert len(rows) == 3
    assert "| **PASS** | 200.0 s | 2/2 checks; detect 1.50 s;" in rows[0]
    assert "**ERROR**" in rows[2] and rows[2].endswith("| - |")
    link = data["cases"][0]["report"] + "/report.md"
    assert "[report.md](%s)" % link in rows[0]
    assert os.path.isfile(os.path.join(path, link))
    assert "- **TC-007** FAIL" in md and "  - failed check: No data gaps or duplicates" in md
    assert "- **WS-006** ERROR: lab_websocket fact is missing" in md


def test_junit_has_a_testsuite_per_case_and_counts_that_add_up(three):
    _data, texts, _path = suite.build(three, T0 + 2000)
    root = ET.fromstring(texts["junit"].encode("utf-8"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["TC-004 tc004_connection_refused", "TC-007 tc007_flapping_connection",
                                               "WS-006 ws006_websocket_flapping"]
    for s in suites:
        cases = s.findall("testcase")
        assert int(s.get("tests")) == len(cases)
        assert int(s.get("failures")) == len([c for c in cases if c.find("failure") is not None])
        assert int(s.get("errors")) == len([c for c in cases if c.find("error") is not None])
    assert [(s.get("tests"), s.get("failures"), s.get("errors")) for s in suites] == [
        ("2", "0", "0"), ("3", "1", "0"), ("1", "0", "1")]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("6", "1", "1")
    err = suites[2].find("testcase/error")
    assert err.get("type") == "ERROR" and "lab_websocket fact is missing" in err.get("message")


def test_svg_is_one_page_with_a_bar_and_a_panel_per_case(three):
    _data, texts, _path = suite.build(three, T0 + 2000)
    root = ET.fromstring(texts["svg"].encode("utf-8"))
    text = " ".join("".join(t.itertext()) for t in root.iter(NS + "text"))
    for name in ("TC-004 (tc004_connection_refused) —", "TC-007 (tc007_flapping_connection) —", "WS-006"):
        assert name in text
    assert "no timeline: lab_websocket fact is missing" in text
    bars = [r for r in root.iter(NS + "rect") if r.find(NS + "title") is not None
            and r.find(NS + "title").text.split(" ")[0] in ("TC-004", "TC-007", "WS-006")]
    assert [b.find(NS + "title").text.split(" ")[:2] for b in bars] == [
        ["TC-004", "PASS"], ["TC-007", "FAIL"], ["WS-006", "ERROR"]]
    # the bars sit in time order on the suite's axis
    xs = [float(b.get("x")) for b in bars]
    assert xs == sorted(xs)
    # fault windows of TC-007's three cycles are drawn in its panel
    windows = [r for r in root.iter(NS + "rect") if r.find(NS + "title") is not None
               and r.find(NS + "title").text.startswith("cycle ")]
    assert len(windows) == 1 + 3


def test_a_case_whose_play_failed_after_a_pass_report_is_a_fail(three):
    three["cases"][0]["error"] = "restore failed: nft exited 1"
    data, texts, _path = suite.build(three, T0 + 2000)
    assert data["cases"][0]["result"] == "FAIL"
    root = ET.fromstring(texts["junit"].encode("utf-8"))
    first = root.findall("testsuite")[0]
    assert first.get("errors") == "1" and "nft exited 1" in first.find("testcase/error").get("message")


def test_every_case_passing_is_a_pass(three):
    three["cases"] = three["cases"][:1]
    data, _texts, _path = suite.build(three, T0 + 2000)
    assert data["result"] == "PASS"


def test_no_cases_is_not_a_pass(tmp_path):
    data, _texts, _path = suite.build(suite_params(tmp_path, []), T0 + 2000)
    assert data["result"] == "FAIL"


def test_the_newest_run_directory_is_taken(three, tmp_path):
    cdir = cases_dir_of(tmp_path)
    newer = write_case(cdir, "tc004_connection_refused", T0 + 700, checks=FAILING)
    data, _texts, _path = suite.build(three, T0 + 2000)
    assert data["cases"][0]["result"] == "FAIL"
    assert data["cases"][0]["report"].endswith(os.path.basename(newer))


def test_an_unreadable_report_is_an_error_not_a_traceback(three, tmp_path):
    bad = cases_dir_of(tmp_path) / "tc004_connection_refused" / "20260210T120000Z" / "report.json"
    bad.write_text('{"result": "PASS", "checks": "all"}')
    data, _texts, _path = suite.build(three, T0 + 2000)
    assert data["cases"][0]["result"] == "ERROR"
    assert "checks is not a list of dicts" in data["cases"][0]["error"]


@pytest.mark.parametrize("change,message", [
    (lambda p: p["cases"].append(dict(p["cases"][0])), "case TC-004 is given twice"),
    (lambda p: p["cases"][0].update(scenario="../x"), "scenario"),
    (lambda p: p["cases"][0].pop("name"), "name (the test case, e.g. TC-004) is required"),
    (lambda p: p["cases"][0].update(colour="red"), "unknown keys colour"),
    (lambda p: p.update(finished=T0 - 100), "is before started"),
    (lambda p: p.update(started=None), "started is required"),
    (lambda p: p["cases"][2].update(finished=T0), "finished is before started"),
])
def test_bad_input_is_a_clear_error(three, change, message):
    change(three)
    with pytest.raises(ReportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        suite.build(three, T0 + 2000)


# ---------------------------------------------------------------- the module
def module_args(p):
    return dict((k, v) for k, v in p.items() if v is not None)


def test_module_check_mode_names_the_directories_and_writes_nothing(run_module, tmp_path):
    code, out = run_module(suite_report, dict(started=T0, report_dir=str(tmp_path / "r"), _ansible_check_mode=True))
    assert code == 0 and out["changed"] is False
    assert out["path"] == str(tmp_path / "r" / "suite" / "20260210T120000Z")
    assert out["cases_dir"] == out["path"] + "/cases"
    assert not (tmp_path / "r").exists()


def test_module_writes_the_suite_and_is_idempotent(run_module, three):
    code, out = run_module(suite_report, module_args(three))
    assert code == 0 and out["changed"] is True and out["result"] == "FAIL"
    assert out["summary"].startswith("suite: FAIL (3 cases: 1 PASS, 1 FAIL, 1 ERROR; 1010 s wall); "
                                     "not passed: TC-007, WS-006 -> ")
    for f in out["files"].values():
        assert os.path.isfile(f)
    code, again = run_module(suite_report, module_args(three))
    assert code == 0 and again["changed"] is False


def test_module_bad_input_fails_with_a_message(run_module, three):
    three["cases"].append(dict(three["cases"][0]))
    code, out = run_module(suite_report, module_args(three))
    assert code == 1 and out["msg"] == "case TC-004 is given twice"

"""report model: time parsing, validation, report.json contract, result."""
import json
import os
import re

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._report import model, writer
from ansible_collections.faultline.chaos.plugins.module_utils._report.events import merge
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import ReportError

from test_report_data import FAILING, PASSING, T0, flap_cycles, params

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), *[os.pardir] * 5))  # tests/unit/plugins/module_utils/_report/
CONTRACT = ("scenario", "result", "started", "finished", "hosts", "checks", "observations", "cycles",
            "integrity", "positions", "events")


def build(**kw):
    return writer.build(params(**kw), T0 + 500, "tester1")


@pytest.mark.parametrize("value, expected", [
    ("2026-02-10T12:00:00Z", T0),
    ("2026-02-10T12:00:00.250+00:00", T0 + 0.25),
    ("2026-02-10T13:00:00+01:00", T0),
    ("2026-02-10T12:00:00", T0),          # naive = UTC
    ("2026-02-10 12:00:00", T0),
    (T0, T0), (int(T0), T0), (str(T0), T0),
    (None, None), ("", None),
])
def test_to_unix_accepts_iso_and_unix(value, expected):
    assert model.to_unix(value) == expected


@pytest.mark.parametrize("bad", ["yesterday", True, [1], {"a": 1}])
def test_to_unix_rejects_garbage_with_a_clear_message(bad):
    with pytest.raises(ReportError, match="started"):
        model.to_unix(bad, "started")


def test_iso_and_dir_stamp():
    assert model.to_iso(T0 + 3.12) == "2026-02-10T12:00:03.120Z"
    assert model.dir_stamp(T0 + 3.9) == "20260210T120003Z"
    assert model.to_iso(None) is None


def test_contract_keys_present_with_null_when_not_given():
    report, texts, _w = build()
    data = json.loads(texts["json"])
    for key in CONTRACT:
        assert key in data
    for key in ("observations", "cycles", "integrity", "positions"):
        assert data[key] is None
    assert data["events"] == "events.jsonl"
    assert data["started"] == "2026-02-10T12:00:00.000Z"
    assert data["finished"] == "2026-02-10T12:03:20.000Z"
    assert data["metadata"]["tester"] == "tester1"


def test_partial_dicts_get_every_contract_key():
    report, _t, _w = build(observations={"time_to_detect_s": "2.5"}, integrity={"missing": 0},
                           positions={"before": {"file": "b.000001", "pos": 4}})
    assert report["observations"] == {"time_to_detect_s": 2.5, "error_message": None, "retries": None,
                                      "time_to_recover_s": None}
    assert set(report["integrity"]) == set(model.INTEGRITY_KEYS)
    assert report["integrity"]["checksum_match"] is None and report["integrity"]["missing"] == 0
    assert report["positions"]["after"] is None


def test_cycles_times_become_iso_and_keep_probe_metrics():
    report, _t, _w = build(cycles=flap_cycles(2, unrecovered=(2,)))
    c1, c2 = report["cycles"]
    assert c1["down_at"] == "2026-02-10T12:00:10.000Z" and c1["retries"] == 3
    assert c2["recovered_at"] is None and c2["n"] == 2


def test_result_auto_pass_fail_and_override():
    assert build(checks=PASSING)[0]["result"] == "PASS"
    assert build(checks=FAILING)[0]["result"] == "FAIL"
    sec = [{"title": "network reject", "checks": FAILING}]
    assert build(checks=PASSING, sections=sec)[0]["result"] == "FAIL"
    assert build(checks=PASSING, sections=[{"title": "x", "result": "FAIL"}])[0]["result"] == "FAIL"
    report, texts, warnings = build(checks=FAILING, result="PASS")
    assert report["result"] == "PASS"
    assert any("although 1 checks failed" in w for w in warnings)
    assert "although 1 checks failed" in texts["md"]


def test_section_result_defaults_from_its_checks():
    report, _t, _w = build(template="tc001", sections=[{"title": "a", "checks": PASSING},
                                                       {"title": "b", "checks": FAILING}])
    assert [s["result"] for s in report["sections"]] == ["PASS", "FAIL"]


@pytest.mark.parametrize("kw, message", [
    (dict(template="tc999"), "unknown template 'tc999'"),
    (dict(checks="all good"), "checks must be a list of dicts"),
    (dict(checks=["x"]), r"checks\[0\] must be a dict with name and passed"),
    (dict(checks=[{"passed": True}]), r"checks\[0\] has no name"),
    (dict(checks=[{"name": "a"}]), r"checks\[0\] \('a'\) has no 'passed'"),
    (dict(checks=[{"name": "a", "passed": None}]), "passed must be a boolean"),
    (dict(checks=[{"name": "a", "passed": "maybe"}]), "passed must be a boolean"),
    (dict(sections=[{"title": "s", "checks": [{"name": "a"}]}]), r"sections\[0\].checks\[0\]"),
    (dict(sections=[{"checks": []}]), r"sections\[0\] has no title"),
    (dict(sections=[{"title": "s", "result": "MAYBE"}]), "result must be PASS or FAIL"),
    (dict(scenario="../etc"), "scenario must be a directory name"),
    (dict(started="soon"), "started: cannot parse 'soon'"),
    (dict(started=T0 + 10, finished=T0), "finished .* is before started"),
    (dict(cycles=[{"n": 1, "down_at": "later"}]), r"cycles\[0\].down_at"),
    (dict(series={"rows": [[T0, "many"]]}), "is not a number"),
    (dict(observations={"retries": "a few"}), "observations.retries"),
])
def test_bad_input_is_a_clear_error(kw, message):
    with pytest.raises(ReportError, match=message):
        build(**kw)


def test_passed_accepts_boolean_strings():
    report, _t, _w = build(checks=[{"name": "a", "passed": "True"}, {"name": "b", "passed": "no"}])
    assert [c["passed"] for c in report["checks"]] == [True, False]


def test_started_defaults_to_first_event():
    ev = [{"ts": T0 + 7, "source": "fault", "event": "down"}]
    report, _t, _w = build(started=None, events=ev)
    assert report["started"] == "2026-02-10T12:00:07.000Z"


def test_merge_sorts_dedupes_and_fills_missing_fields(tmp_path):
    f = tmp_path / "journal.jsonl"
    f.write_text('{"ts": %r, "source": "fault", "id": "f", "event": "down", "host": "h"}\n'
                 'not json\n\n{"ts": "2026-02-10T12:00:01Z", "event": "x"}\n' % (T0 + 5))
    given = [{"ts": T0 + 5, "source": "fault", "id": "f", "event": "down", "host": "h"},  # duplicate
             {"ts": None, "event": "no time"}, "garbage", {"ts": T0 + 2}]
    events, warnings = merge([given], [str(f), str(tmp_path / "missing.jsonl")])
    assert [e["ts"] for e in events] == [T0 + 1, T0 + 2, T0 + 5, None]
    assert all(set(e) >= set(model.EVENT_KEYS) for e in events)
    assert events[1]["detail"] == {} and events[1]["source"] is None
    assert len([w for w in warnings if "missing.jsonl" in w]) == 1
    assert any("1 lines are not JSON" in w for w in warnings)
    assert any("not event dicts" in w for w in warnings)


def test_collection_version_matches_galaxy_yml():
    with open(os.path.join(ROOT, "galaxy.yml")) as f:
        version = re.search(r"^version:\s*['\"]?([^'\"\s]+)", f.read(), re.M).group(1)
    assert model.COLLECTION_VERSION == version


def test_summary_names_failed_checks():
    report, _t, _w = build(checks=FAILING, observations={"time_to_detect_s": 1.5})
    line = model.summary_line(report, "/r")
    assert line.startswith("tc004_connection_refused: FAIL (2/3 checks passed")
    assert "detect 1.50 s" in line and "No data gaps or duplicates" in line and line.endswith("-> /r")


@pytest.mark.parametrize("value", [253402300800.0, 1e308, float("nan"), float("inf"), "inf", "nan", -1.0,
                                   "99999-01-01T00:00:00"])
def test_times_outside_1970_to_9999_are_a_report_error_not_a_traceback(value):
    """Found by tests/unit/plugins/modules/test_fuzz_module_args.py: finished=253402300800 (year 10000) raised ValueError."""
    from ansible_collections.faultline.chaos.plugins.module_utils._report.model import ReportError, to_unix
    with pytest.raises(ReportError, match="finished"):
        to_unix(value, "finished")
    with pytest.raises(ReportError):
        model.build_report({"scenario": "s", "finished": value}, 1000.0, "t")

"""Steady-state guard: the abort_when condition, the abort of a run, ABORTED reports (no kernel state)."""
import json

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import Ledger
from ansible_collections.faultline.chaos.plugins.module_utils._probes import guard
from ansible_collections.faultline.chaos.plugins.module_utils._report import writer


def cond(**kw):
    c, err = guard.validate(kw, "run1")
    assert err is None, err
    return c


def replica(ts, ok, behind=None):
    return {"ts": ts, "ok": ok, "latency_ms": 1.0, "error": None if ok else "Connection refused",
            "detail": {"seconds_behind": behind, "io_running": "Yes" if ok else "Connecting"}}


@pytest.mark.parametrize("given,message", [
    ({"metric": "bogus"}, "abort_when.metric must be one of"),
    ({"metric": "lag_s", "op": "~"}, "abort_when.op must be one of"),
    ({"metric": "lag_s", "threshold": float("nan")}, "must be finite"),
    ({"metric": "lag_s", "threshold": float("inf")}, "must be finite"),
    ({"metric": "lag_s", "threshold": "x"}, "threshold must be a number"),
    ({"metric": "lag_s", "threshold": 1, "for": 0}, "between 1 and"),
    ({"metric": "lag_s", "threshold": 1, "for": 2.5}, "whole number"),
    ({"metric": "lag_s", "threshold": 1, "color": "red"}, "unknown keys color"),
])
def test_bad_conditions_are_refused_with_a_message(given, message):
    c, err = guard.validate(given, "run1")
    assert c is None and message in err


def test_a_guard_needs_the_run_it_aborts():
    assert "needs run_id" in guard.validate({"metric": "failed"}, None)[1]


def test_lag_while_connected_is_seconds_behind_and_while_disconnected_the_time_since():
    g = guard.Guard(cond(metric="lag_s", op=">", threshold=2, **{"for": 2}))
    assert g.feed(replica(100.0, True, 1)) is None
    assert g.feed(replica(100.5, True, 0)) is None
    assert g.feed(replica(101.0, False)) is None     # lag 0.5
    assert g.feed(replica(102.4, False)) is None     # lag 1.9
    assert g.feed(replica(102.6, False)) is None     # lag 2.1, streak 1 of 2
    trip = g.feed(replica(102.7, False))              # lag 2.2, streak 2
    assert trip is not None and trip["value"] == pytest.approx(2.2) and trip["sample_ts"] == 102.7
    assert "lag_s > 2 for 2 consecutive samples" in trip["reason"] and "Connection refused" in trip["reason"]
    assert g.feed(replica(103.0, False)) is None      # trips once


def test_an_ok_sample_breaks_the_streak_and_unknown_values_do_not_count():
    g = guard.Guard(cond(metric="failed", **{"for": 3}))
    for ts, ok in ((1, False), (2, False), (3, True), (4, False), (5, False)):
        assert g.feed(replica(ts, ok)) is None
    assert g.feed(replica(6, False))["metric"] == "failed"
    g = guard.Guard(cond(metric="lag_s", threshold=0))
    assert g.feed(replica(1, False)) is None  # never connected: lag unknown
    v = guard.Guard(cond(metric="value", op=">=", threshold=10))
    assert v.feed({"ts": 1, "ok": True, "detail": {"value": "abc"}}) is None
    assert v.feed({"ts": 2, "ok": True, "detail": {"value": "12"}})["value"] == 12


def test_failing_s_counts_from_the_first_failing_sample():
    g = guard.Guard(cond(metric="failing_s", op=">=", threshold=1.5))
    assert g.feed(replica(10, True, 0)) is None
    assert g.feed(replica(11, False)) is None
    assert g.feed(replica(12, False)) is None
    assert g.feed(replica(12.5, False))["value"] == 1.5


def _flag_worker(params, output, flag):
    while not flag.wait(0.05):
        output.write({"alive": True})
    return {}


def test_abort_run_reverts_only_the_runs_faults_and_stops_its_datagen(tmp_path):
    sd = str(tmp_path)
    ledger = Ledger(sd)
    marker = tmp_path / "reverted"
    mine = {"id": "f1", "kind": "network", "run_id": "run1",
            "revert": [{"op": "run", "argv": ["touch", str(marker)]}]}
    other = {"id": "f2", "kind": "network", "run_id": "run2", "revert": [{"op": "run", "argv": ["false"]}]}
    with ledger:
        ledger.put(mine)
        ledger.put(other)
    background.start(sd, "datagen", "run1", _flag_worker, {"run_id": "run1"}, lease=30)
    background.start(sd, "datagen", "run2", _flag_worker, {"run_id": "run2"}, lease=30)
    try:
        trip = {"reason": "lag_s > 2", "metric": "lag_s", "value": 2.5, "threshold": 2.0}
        out = guard.abort_run(sd, "run1", trip, "pipeline")
        assert out == {"reverted": ["f1"], "stopped": ["run1"], "errors": []}
        assert marker.exists() and ledger.get("f1") is None and ledger.get("f2") is not None
        assert not background.read_meta(sd, "datagen", "run1")["running"]
        assert background.read_meta(sd, "datagen", "run2")["running"]
        evs = [(e["source"], e["id"], e["event"]) for e in ledger.events()]
        assert evs[0] == ("guard", "run1", "abort") and ("fault", "f1", "reverted") in evs
        assert evs[-1] == ("guard", "run1", "aborted")
        abort = ledger.events()[0]
        assert abort["detail"]["guard"] == "pipeline" and abort["detail"]["reason"] == "lag_s > 2"
    finally:
        background.stop(sd, "datagen", "run2")


def _report(events, **extra):
    params = dict(scenario="tc007_flapping_connection", template="tc007", started=1000.0, finished=1010.0,
                  checks=[{"name": "Pipeline survived flapping period", "passed": True}], events=events)
    params.update(extra)
    return writer.build(params, 1010.0, "tester")


ABORT_EVENT = {"ts": 1004.5, "host": "db1", "source": "guard", "id": "run1", "event": "abort",
               "detail": {"reason": "lag_s > 2 for 1 consecutive samples (lag_s = 2.3)", "guard": "pipeline",
                          "run_id": "run1"}}


def test_an_abort_event_makes_the_report_aborted_in_every_artefact():
    report, texts, _w = _report([ABORT_EVENT])
    assert report["result"] == "ABORTED"
    assert report["aborted"] == {"reason": "lag_s > 2 for 1 consecutive samples (lag_s = 2.3)",
                                 "at": "1970-01-01T00:16:44.500Z", "host": "db1", "guard": "pipeline",
                                 "run_id": "run1"}
    assert json.loads(texts["json"])["result"] == "ABORTED"
    assert "| Result | ABORTED |" in texts["md"]
    assert "> **ABORTED** at 1970-01-01T00:16:44.500Z by guard `pipeline` on db1: lag_s > 2" in texts["md"]
    assert '<error message="ABORTED at 1970-01-01T00:16:44.500Z by guard pipeline: lag_s &gt; 2' in texts["junit"]
    assert 'errors="1"' in texts["junit"]
    assert 'class="abort"' in texts["svg"] and "ABORTED 00:16:44" in texts["svg"]


def test_a_run_without_abort_keeps_its_result_and_no_marker():
    report, texts, _w = _report([dict(ABORT_EVENT, event="aborted_not")])
    assert report["result"] == "PASS" and report["aborted"] is None
    assert 'class="abort"' not in texts["svg"] and "<error" not in texts["junit"]


def test_an_explicit_aborted_needs_a_reason():
    from ansible_collections.faultline.chaos.plugins.module_utils._report.model import ReportError
    with pytest.raises(ReportError, match="aborted needs a reason"):
        _report([], aborted={"at": 1003})
    report, _t, _w = _report([], aborted={"reason": "operator", "at": 1003})
    assert report["result"] == "ABORTED" and report["aborted"]["reason"] == "operator"

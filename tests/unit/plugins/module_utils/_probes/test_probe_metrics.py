"""Unit tests of the pure probe metrics (synthetic samples and fault events)."""
import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._probes import metrics

REFUSED = "Connection refused (errno 111)"


def samples_from(spec, t0=100.0, step=0.1, error=REFUSED, detail=None):
    """'1' = ok sample, '0' = failing sample, one every ``step`` seconds."""
    out = []
    for i, c in enumerate(spec):
        ok = c == "1"
        out.append({"ts": round(t0 + i * step, 6), "ok": ok, "latency_ms": 1.0,
                    "error": None if ok else error, "detail": dict(detail or {})})
    return out


def fault_event(ts, event, cycle=None, fid="f1", source="fault"):
    return {"ts": ts, "host": "h", "source": source, "id": fid, "event": event,
            "detail": {} if cycle is None else {"cycle": cycle}}


# -- windows from the journal ---------------------------------------------------

def test_windows_from_flap_cycles():
    evs = [fault_event(0.5, "requested"), fault_event(1.0, "down", 1), fault_event(2.0, "up", 1),
           fault_event(3.0, "down", 2), fault_event(4.0, "up", 2), fault_event(4.1, "reverted", 2)]
    w = metrics.windows_from_events(evs)
    assert [(x["n"], x["cycle"], x["down_at"], x["up_at"]) for x in w] == [(1, 1, 1.0, 2.0), (2, 2, 3.0, 4.0)]


def test_windows_hold_fault_closed_by_reverted_and_filters():
    evs = [fault_event(1.0, "down", 1, fid="a"), fault_event(1.5, "down", 1, fid="b"),
           fault_event(2.0, "reverted", 1, fid="a"),
           fault_event(1.2, "error", source="probe", fid="a")]
    assert [(x["fault_id"], x["up_at"]) for x in metrics.windows_from_events(evs)] == [("a", 2.0), ("b", None)]
    only_b = metrics.windows_from_events(evs, fault_ids=["b"])
    assert [(x["n"], x["fault_id"], x["down_at"]) for x in only_b] == [(1, "b", 1.5)]
    assert metrics.windows_from_events(evs, since=1.1) == [
        {"fault_id": "b", "cycle": 1, "down_at": 1.5, "up_at": None, "n": 1}]


def test_up_without_down_is_ignored_and_second_down_keeps_first():
    evs = [fault_event(1.0, "up", 1), fault_event(2.0, "down", 1), fault_event(2.5, "down", 1),
           fault_event(3.0, "up", 1)]
    assert [(x["down_at"], x["up_at"]) for x in metrics.windows_from_events(evs)] == [(2.0, 3.0)]


def test_normalize_explicit_windows():
    w = metrics.normalize_windows([{"down_at": 5, "up_at": 6}, {"down_at": 1, "up_at": None, "n": 7}])
    assert w == [{"n": 7, "down_at": 1.0, "up_at": None}, {"n": 2, "down_at": 5.0, "up_at": 6.0}]


# -- transitions and series ---------------------------------------------------

def test_transitions_only_on_change_and_carry_error():
    s = samples_from("1100011")
    s[3]["error"] = "timed out"
    evs = metrics.transitions(s, "p1", host="h")
    assert [(e["event"], e["ts"]) for e in evs] == [
        ("ok", 100.0), ("error", 100.2), ("error", 100.3), ("error", 100.4), ("ok", 100.5)]
    assert [e["detail"].get("error") for e in evs] == [None, REFUSED, "timed out", REFUSED, None]
    assert all(e["source"] == "probe" and e["id"] == "p1" and e["host"] == "h" for e in evs)
    assert set(evs[0]) == {"ts", "host", "source", "id", "event", "detail"}


def test_series_run_length_with_last_sample():
    assert metrics.series(samples_from("110001")) == [[100.0, 1], [100.2, 0], [100.5, 1]]
    assert metrics.series(samples_from("1100")) == [[100.0, 1], [100.2, 0], [100.3, 0]]
    assert metrics.series([]) == []


def test_values_step_where_the_number_changes_and_skip_failures_and_text():
    rows = ["5", "5", "5", None, "7", "7", "9", "x", "9", "nan", "12"]
    samples = [{"ts": 100.0 + i, "ok": v is not None, "detail": {"value": v}} for i, v in enumerate(rows)]
    # first, both sides of every change, last; failed samples (None), text and nan carry no value
    assert metrics.values(samples) == [[100.0, 5], [102.0, 5], [104.0, 7], [105.0, 7], [106.0, 9],
                                       [108.0, 9], [110.0, 12]]
    assert metrics.values([{"ts": 1.0, "ok": True, "detail": {"value": "2.5"}}]) == [[1.0, 2.5]]
    assert metrics.values(samples_from("111")) == []  # a tcp probe has no values
    assert metrics.compute(samples, [], "rows")["values"] == metrics.values(samples)


# -- per-window metrics ---------------------------------------------------------

def test_single_window_detect_recover_retries():
    # ok until 100.5, down_at 100.45; failures 100.5..100.9; up_at 100.85; ok from 101.0
    s = samples_from("11111" + "00000" + "0" + "1111")
    r = metrics.compute(s, [{"n": 1, "down_at": 100.45, "up_at": 100.85}], "p", kind="tcp")
    w = r["windows"][0]
    assert w["detected_at"] == 100.5
    assert w["time_to_detect_s"] == pytest.approx(0.05)
    assert w["recovered_at"] == 101.1
    assert w["time_to_recover_s"] == pytest.approx(0.25)
    assert w["retries"] == 6 and w["failed_samples"] == 6
    assert w["error_message"] == REFUSED
    assert r["samples"] == 15 and r["ok_ratio"] == pytest.approx(9 / 15.0, abs=1e-3)
    m = r["metrics"]
    assert m["time_to_detect_s"] == w["time_to_detect_s"] and m["error_message"] == REFUSED
    assert m["windows"] == m["detected"] == m["recovered"] == 1


def test_recover_after_needs_a_full_run():
    # after up: ok, ok, fail, ok, ok, ok -> recovery starts at the 4th sample after up
    s = samples_from("1" + "000" + "110111")
    w = metrics.compute(s, [{"n": 1, "down_at": 100.05, "up_at": 100.35}], "p", recover_after=3)["windows"][0]
    assert w["recovered_at"] == 100.7
    w1 = metrics.compute(s, [{"n": 1, "down_at": 100.05, "up_at": 100.35}], "p", recover_after=1)["windows"][0]
    assert w1["recovered_at"] == 100.4


def test_several_flap_cycles_and_aggregates():
    # cycle 1: down 100.0 up 101.0, cycle 2: down 102.0 up 103.0 (10 samples/s)
    spec = "1" + "0" * 10 + "1" * 9 + "1" * 3 + "0" * 7 + "1" * 10
    s = samples_from(spec, t0=99.9)
    wins = [{"n": 1, "down_at": 100.0, "up_at": 101.0}, {"n": 2, "down_at": 102.0, "up_at": 103.0}]
    r = metrics.compute(s, wins, "p", kind="tcp")
    w1, w2 = r["windows"]
    assert (w1["detected_at"], w1["time_to_detect_s"]) == (100.0, 0.0)
    assert (w1["recovered_at"], w1["time_to_recover_s"]) == (101.0, 0.0)
    assert w1["retries"] == 10
    assert w2["detected_at"] == 102.2 and w2["time_to_detect_s"] == pytest.approx(0.2)
    assert w2["recovered_at"] == pytest.approx(103.0) and w2["time_to_recover_s"] == pytest.approx(0.0)
    assert w2["retries"] == 7
    m = r["metrics"]
    assert m["max_time_to_detect_s"] == pytest.approx(0.2)
    assert m["mean_time_to_detect_s"] == pytest.approx(0.1)
    assert m["max_retries"] == 10 and m["mean_retries"] == pytest.approx(8.5)
    assert m["retries"] == 10  # the first window's


def test_never_recovered():
    s = samples_from("11" + "0" * 20)
    r = metrics.compute(s, [{"n": 1, "down_at": 100.15, "up_at": 100.5}], "p")
    w = r["windows"][0]
    assert w["detected_at"] == 100.2 and w["recovered_at"] is None and w["time_to_recover_s"] is None
    assert w["retries"] == 20  # counted to the last sample
    assert r["metrics"]["recovered"] == 0 and r["metrics"]["max_time_to_recover_s"] is None


def test_still_down_window_has_no_recovery():
    s = samples_from("1001111")
    w = metrics.compute(s, [{"n": 1, "down_at": 100.05, "up_at": None}], "p")["windows"][0]
    assert w["detected_at"] == 100.1 and w["recovered_at"] is None


def test_never_detected():
    s = samples_from("1" * 30)
    r = metrics.compute(s, [{"n": 1, "down_at": 100.5, "up_at": 101.0}], "p")
    w = r["windows"][0]
    for k in ("detected_at", "recovered_at", "time_to_detect_s", "time_to_recover_s", "error_message", "retries"):
        assert w[k] is None, k
    assert r["metrics"]["detected"] == 0 and r["metrics"]["time_to_detect_s"] is None


def test_error_before_window_is_not_attributed():
    s = samples_from("00" + "1111" + "0000" + "111", error="early")
    for i in range(6, 10):
        s[i]["error"] = REFUSED
    r = metrics.compute(s, [{"n": 1, "down_at": 100.55, "up_at": 100.95}], "p")
    w = r["windows"][0]
    assert w["detected_at"] == 100.6 and w["error_message"] == REFUSED and w["retries"] == 4


def test_failures_belong_to_their_own_cycle():
    # cycle 1 never recovers before cycle 2 starts: its scope ends at cycle 2's down_at
    s = samples_from("0" * 10 + "0" * 10, t0=100.0)
    for x in s[10:]:
        x["error"] = "second"
    wins = [{"n": 1, "down_at": 100.0, "up_at": 100.5}, {"n": 2, "down_at": 101.0, "up_at": 101.5}]
    w1, w2 = metrics.compute(s, wins, "p")["windows"]
    assert w1["retries"] == 10 and w1["error_message"] == REFUSED and w1["recovered_at"] is None
    assert w2["retries"] == 10 and w2["error_message"] == "second"


def test_no_windows_no_samples():
    r = metrics.compute([], [], "p")
    assert r["samples"] == 0 and r["ok_ratio"] is None and r["windows"] == [] and r["events"] == []
    assert r["metrics"]["windows"] == 0 and r["metrics"]["time_to_detect_s"] is None


# -- mysql_replica retries ----------------------------------------------------

def test_replica_retries_from_error_timestamps():
    s = samples_from("1" + "0" * 9 + "111")
    for i, x in enumerate(s[1:10]):
        x["detail"] = {"last_io_error_ts": "260101 10:00:0%d" % (i // 3)}  # 3 distinct stamps
    w = metrics.compute(s, [{"n": 1, "down_at": 100.05, "up_at": 100.95}], "p", kind="mysql_replica")["windows"][0]
    assert w["retries"] == 3


def test_replica_retries_from_connect_retry_without_timestamps():
    # MariaDB: no Last_IO_Error_Timestamp; failing from 100.0 to 102.5 with Connect_Retry 1
    s = samples_from("0" * 26 + "111", t0=100.0, detail={"connect_retry": 1, "last_io_error_ts": None})
    w = metrics.compute(s, [{"n": 1, "down_at": 100.0, "up_at": 102.55}], "p", kind="mysql_replica")["windows"][0]
    assert w["retries"] == 3


def test_replica_error_message_is_the_servers_last_io_error():
    s = samples_from("1" + "0" * 4 + "111")
    s[1]["error"] = "IO thread: Connecting, SQL thread: Yes"  # lost, not yet retried
    for x in s[2:5]:
        x["error"] = x["detail"]["last_io_error"] = "error reconnecting to master ..."
    wins = [{"n": 1, "down_at": 100.05, "up_at": 100.45}]
    w = metrics.compute(s, wins, "p", kind="mysql_replica")["windows"][0]
    assert w["detected_at"] == 100.1 and w["error_message"] == "error reconnecting to master ..."
    assert metrics.compute(s, wins, "p", kind="tcp")["windows"][0]["error_message"] == s[1]["error"]

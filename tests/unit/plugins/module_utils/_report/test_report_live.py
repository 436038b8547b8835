"""The live timeline's tailer (the callback's logic) on real files."""
import json
import os

from ansible_collections.faultline.chaos.plugins.module_utils._report.live import MAX_RESULT_LINES, Tailer

T = 1770724800.0


def append(path, *objs, raw=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        for o in objs:
            f.write(json.dumps(o) + "\n")
        if raw:
            f.write(raw)


def fault(ts, event, cycle=None, host="here"):
    return {"ts": ts, "host": host, "source": "fault", "id": "net_reject_ab12", "event": event,
            "detail": {"cycle": cycle} if cycle else {}}


def test_prints_fault_events_and_only_probe_transitions(tmp_path):
    sd = str(tmp_path)
    t = Tailer(sd, heartbeat=0, host="here")
    t.prime()
    append(sd + "/journal.jsonl", fault(T, "down", 2))
    probe = sd + "/workers/probe-replica.jsonl"
    append(probe, *[{"ts": T + i * 0.1, "ok": True, "error": None} for i in range(5)])
    append(probe, *[{"ts": T + 1 + i * 0.1, "ok": False, "error": "Can't connect (111)"} for i in range(20)])
    lines = t.poll()
    assert lines[0].endswith(" fault net_reject_ab12 down cycle 2")
    assert lines[0].startswith("[faultline] ")
    assert [l.split(" ", 2)[2] for l in lines[1:]] == ["probe replica ok", "probe replica error: Can't connect (111)"]
    assert t.poll() == []  # nothing new: quiet
    append(probe, {"ts": T + 5, "ok": True})
    append(sd + "/journal.jsonl", fault(T + 4.9, "up", 2))
    lines = t.poll()
    assert any(l.endswith("fault net_reject_ab12 up cycle 2") for l in lines)
    assert any("probe replica ok (after 4.0 s error)" in l for l in lines)


def test_history_is_skipped_but_new_files_are_read_from_the_start(tmp_path):
    sd = str(tmp_path)
    append(sd + "/journal.jsonl", fault(T, "down", 1))
    t = Tailer(sd, heartbeat=0)
    t.prime()
    assert t.poll() == []
    append(sd + "/workers/datagen-gen1.jsonl",
           {"ts": T, "seq_from": 1, "seq_to": 50, "status": "acked", "error": None},
           {"ts": T + 30, "seq_from": 51, "seq_to": 100, "status": "acked", "error": None},
           {"ts": T + 60, "seq_from": 101, "seq_to": 150, "status": "indeterminate", "error": "Lost connection"})
    lines = t.poll()
    assert [l.split(" ", 2)[2] for l in lines] == ["datagen gen1 acked",
                                                   "datagen gen1 indeterminate: Lost connection"]
    assert t.streams[("datagen", "gen1")]["rows"] == 100


def test_partial_lines_wait_for_their_newline_and_truncation_restarts(tmp_path):
    sd = str(tmp_path)
    t = Tailer(sd, heartbeat=0, host="here")
    path = sd + "/journal.jsonl"
    line = json.dumps(fault(T, "down", 1))
    append(path, raw=line[:20])
    assert t.poll() == []
    append(path, raw=line[20:] + "\n")
    assert len(t.poll()) == 1
    with open(path, "w") as f:  # rotated / recreated smaller
        f.write(json.dumps(fault(T + 9, "reverted")) + "\n")
    assert t.poll()[0].endswith("fault net_reject_ab12 reverted")


def test_heartbeat_only_when_something_happened(tmp_path):
    sd = str(tmp_path)
    t = Tailer(sd, heartbeat=10, host="here")
    t.last_beat = T
    append(sd + "/journal.jsonl", fault(T, "down", 3))
    assert len(t.poll(now=T + 1)) == 1
    beat = t.poll(now=T + 11)
    assert len(beat) == 1 and "still running: fault net_reject_ab12 down cycle 3 for 11 s" in beat[0]
    assert t.poll(now=T + 30) == []  # no activity since: quiet


def test_result_events_not_yet_printed_and_capped(tmp_path):
    sd = str(tmp_path)
    t = Tailer(sd, heartbeat=0, host="here")
    append(sd + "/journal.jsonl", fault(T, "down", 1))
    t.poll()
    remote = [fault(T, "down", 1), fault(T + 1, "down", 1, host="db2"), fault(T + 2, "up", 1, host="db2")]
    lines = t.result_lines(remote)
    assert len(lines) == 2 and "@db2 down cycle 1" in lines[0] and "@db2 up cycle 1" in lines[1]
    assert t.result_lines(remote) == []
    many = [fault(T + 10 + i, "down", i) for i in range(100)]
    lines = t.result_lines(many)
    assert len(lines) == MAX_RESULT_LINES + 1 and "70 more events" in lines[-1]
    assert t.result_lines("not a list") == [] and t.result_lines([None, 3]) == []


def test_missing_or_unreadable_state_dir_is_silent(tmp_path):
    t = Tailer(str(tmp_path / "nope"), heartbeat=0)
    t.prime()
    assert t.poll() == []

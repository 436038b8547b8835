"""The engine runtime: ledger, actions and the supervisor (real processes, no network)."""
import os
import signal
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt


@pytest.fixture
def ledger(tmp_path):
    led = rt.Ledger(str(tmp_path / "state")).ensure()
    yield led
    for rec in led.list():  # never leave a supervisor behind
        sup = rec.get("supervisor") or {}
        if sup.get("pid") and rt.proc_alive(sup["pid"], sup.get("starttime")):
            os.kill(sup["pid"], signal.SIGKILL)


def record(ledger, fid, revert, span, schedule=None, apply=None):
    now, mono = time.time(), time.monotonic()
    rec = dict(id=fid, kind="test", type="t", summary="test fault", apply=apply or [], revert=revert,
               deadline=now + span, deadline_mono=mono + span, schedule=schedule or {"mode": "hold"})
    if schedule:
        rec["schedule"] = dict(schedule, start_mono=mono)
    ledger.put(rec)
    return rec


def test_ledger_roundtrip_and_journal(ledger):
    ledger.put({"id": "a", "kind": "x"})
    ledger.put({"id": "b", "kind": "y"})
    assert [r["id"] for r in ledger.list()] == ["a", "b"]
    ledger.journal("a", "down", {"cycle": 1})
    ev = ledger.events("a")[0]
    assert set(ev) == {"ts", "host", "source", "id", "event", "detail"}
    assert ev["source"] == "fault" and ev["detail"] == {"cycle": 1}
    assert ledger.delete("a") and not ledger.delete("a")
    with pytest.raises(rt.EngineError):
        ledger.get("../etc/passwd")


def test_run_action_checks_rc_and_never_uses_a_shell(tmp_path):
    rt.execute([{"op": "run", "argv": ["touch", str(tmp_path / "x; rm -rf /")]}])
    assert (tmp_path / "x; rm -rf /").exists()
    with pytest.raises(rt.EngineError, match="rc=1"):
        rt.execute([{"op": "run", "argv": ["false"]}])
    rt.execute([{"op": "run", "argv": ["false"], "ok_rc": [0, 1]}])


def test_signal_refuses_pid_1_and_skips_a_recycled_pid():
    with pytest.raises(rt.EngineError, match="refusing"):
        rt.execute([{"op": "signal", "pid": 1, "signal": "SIGKILL"}])
    me = os.getpid()
    res = rt.execute([{"op": "signal", "pid": me, "starttime": rt.proc_starttime(me) + 1, "signal": "SIGKILL"}])
    assert res[0]["sent"] is False  # start time differs: not the process we meant


def test_copy_restores_byte_identical_or_refuses(tmp_path):
    src, dst = tmp_path / "backup", tmp_path / "file"
    src.write_bytes(b"original" * 1000)
    dst.write_bytes(b"damaged")
    rt.execute([{"op": "copy", "src": str(src), "dst": str(dst), "sha256": rt.sha256_file(str(src))}])
    assert dst.read_bytes() == src.read_bytes()
    with pytest.raises(rt.EngineError, match="sha256"):
        rt.execute([{"op": "copy", "src": str(src), "dst": str(tmp_path / "other"), "sha256": "0" * 64}])
    assert not (tmp_path / "other").exists()


def test_action_vocabulary_is_one_table_with_a_constructor_per_op():
    made = [
        rt.run_action(["true"], ok_rc=[0, 1]), rt.signal_action({"pid": 2, "starttime": 5}, "SIGSTOP"),
        rt.wait_exit_action({"pid": 2, "starttime": 5}, 3, True), rt.spawn_action(["sleep", "1"]),
        rt.wait_port_action(3317), rt.copy_action("/a", "/b", sha256="0" * 64),
        rt.corrupt_action("/a", "truncate", offset=4), rt.nft_gc_action([], "inet", "faultline"),
        rt.ns_pin_action("/proc/7/ns/net", "/run/faultline/netns/x", 42), rt.ns_unpin_action("/run/faultline/netns/x"),
        {"op": "sleep", "seconds": 0},
    ]
    assert sorted(a["op"] for a in made) == sorted(rt.ACTIONS)
    assert rt.signal_action({"pid": 2, "starttime": None}, "SIGCONT") == {"op": "signal", "signal": "SIGCONT", "pid": 2}
    assert rt.run_action(("nft", "-f", "-"), stdin="x") == {"op": "run", "argv": ["nft", "-f", "-"], "stdin": "x"}
    with pytest.raises(rt.EngineError, match="unknown action op 'reboot'"):
        rt.execute([{"op": "reboot"}])
    assert rt.execute([{"op": "sleep", "seconds": 0}]) == [{"op": "sleep"}]


def test_supervisor_reverts_at_the_deadline(ledger, tmp_path):
    marker = tmp_path / "reverted"
    record(ledger, "hold", [{"op": "run", "argv": ["touch", str(marker)]}], span=1.0)
    deadline = time.time() + 1.0
    sup = rt.spawn_supervisor(ledger.state_dir, "hold")
    assert rt.proc_alive(sup["pid"], sup["starttime"])
    while not marker.exists() and time.time() < deadline + 3:
        time.sleep(0.01)
    assert marker.exists()
    assert abs(os.stat(str(marker)).st_mtime - deadline) < 0.5
    # the revert step runs first, then the journal line, then the record goes: wait for that (3 s at most)
    while ledger.get("hold") is not None and time.time() < deadline + 3:
        time.sleep(0.01)
    assert ledger.get("hold") is None
    reverted = [e for e in ledger.events("hold") if e["event"] == "reverted"]
    assert reverted and reverted[0]["detail"]["by"] == "supervisor" and reverted[0]["detail"]["reason"] == "lease"


def test_sigterm_to_supervisor_reverts_at_once(ledger, tmp_path):
    marker = tmp_path / "reverted"
    record(ledger, "term", [{"op": "run", "argv": ["touch", str(marker)]}], span=60)
    sup = rt.spawn_supervisor(ledger.state_dir, "term")
    t0 = time.time()
    assert rt.stop_supervisor(ledger, ledger.get("term"), timeout=5)
    assert marker.exists() and time.time() - t0 < 2
    assert [e["detail"]["reason"] for e in ledger.events("term") if e["event"] == "reverted"] == ["signal"]
    assert not rt.proc_alive(sup["pid"], sup["starttime"])


def test_renewed_deadline_is_honoured(ledger, tmp_path):
    # Spans in seconds, not tenths: on a busy host (two concurrent make test runs,
    # load 8-10) a 0.6 s lease ran out before the test renewed it.
    marker = tmp_path / "reverted"
    first = record(ledger, "renew", [{"op": "run", "argv": ["touch", str(marker)]}], span=4.0)
    rt.spawn_supervisor(ledger.state_dir, "renew")
    # under the ledger lock, as the engine renews: spawn_supervisor returns once the
    # supervisor holds its fault lock, maybe before it wrote its identity into the
    # record (a read-modify-write of its own); unlocked, that write could put the old
    # deadline back (a failure in CI, 2026-12-03)
    with ledger:
        rec = ledger.get("renew")
        assert rec is not None, "the lease ran out before the renewal (the machine stalled for 4 s)"
        renewed = time.time() + 8.0
        rec["deadline"], rec["deadline_mono"] = renewed, time.monotonic() + 8.0
        ledger.put(rec)
    while time.time() < first["deadline"] + 1.5:
        time.sleep(0.05)
    assert not marker.exists(), "supervisor ignored the renewed lease"
    end = time.time() + 30
    while not marker.exists() and time.time() < end:
        time.sleep(0.05)
    assert marker.exists()
    # the revert's action ran; its journal line follows (a moment later on a busy host)
    while not [e for e in ledger.events("renew") if e["event"] == "reverted"] and time.time() < end:
        time.sleep(0.05)
    reverted = [e for e in ledger.events("renew") if e["event"] == "reverted"]
    assert reverted and reverted[0]["ts"] >= renewed - 0.05, (reverted, renewed)


def test_flap_runs_on_a_fixed_grid(ledger, tmp_path):
    on, off = tmp_path / "down", tmp_path / "up"
    record(ledger, "flap", apply=[{"op": "run", "argv": ["touch", str(on)]}],
           revert=[{"op": "run", "argv": ["touch", str(off)]}], span=1.2,
           schedule={"mode": "flap", "down_for": 0.2, "up_for": 0.2})
    rt.spawn_supervisor(ledger.state_dir, "flap")
    end = time.time() + 4
    while ledger.get("flap") is not None and time.time() < end:
        time.sleep(0.02)
    evs = ledger.events("flap")
    downs = [e for e in evs if e["event"] == "down"]
    ups = [e for e in evs if e["event"] == "up"]
    assert [e["detail"]["cycle"] for e in downs] == [1, 2, 3]
    assert [e["detail"]["cycle"] for e in ups] == [1, 2, 3]
    assert max(abs(e["detail"]["lag_s"]) for e in downs + ups) < 0.05
    assert evs[-1]["event"] == "reverted" and evs[-1]["detail"]["reason"] == "schedule_end"

"""Engine lifecycle: failed reverts, dead supervisors, one supervisor per fault, start_at.

Real supervisor processes in a temp state dir; the faults are fake (actions
that touch or append to files), so nothing here touches the kernel or the lab.
"""
import json
import os
import signal
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import base
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt
from ansible_collections.faultline.chaos.plugins.module_utils._faults import process as proc


def supervisors_of(state_dir, fid):
    """pids of every running supervisor process of ``fid`` in ``state_dir``."""
    out = []
    for pid in proc.list_pids():
        argv = proc.cmdline(pid)
        if rt.is_supervisor_cmdline(argv) and state_dir in argv and fid in argv and rt.proc_state(pid) != "Z":
            out.append(pid)
    return out


def wait_until(fn, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        val = fn()
        if val:
            return val
        time.sleep(0.01)
    raise AssertionError("timed out waiting for %s" % what)


@pytest.fixture
def state_dir(tmp_path):
    sd = str(tmp_path / "state")
    rt.Ledger(sd).ensure()
    yield sd
    for name in os.listdir(os.path.join(sd, "faults")):  # never leave a supervisor behind
        fid = name[:-5]
        for pid in supervisors_of(sd, fid):
            os.kill(pid, signal.SIGKILL)


def put_record(state_dir, fid, revert, span, apply=None, **extra):
    now, mono = time.time(), time.monotonic()
    rec = dict(id=fid, kind="test", type="t", summary="test fault", apply=apply or [], revert=revert,
               deadline=now + span, deadline_mono=mono + span, duration=span, span=span,
               schedule={"mode": "hold"}, state="active", created=now)
    rec.update(extra)
    rt.Ledger(state_dir).put(rec)
    return rec


class FakeModule(object):
    """What FaultEngine needs of an AnsibleModule."""

    def __init__(self, params=None, check_mode=False):
        self.params = dict(params or {})
        self.check_mode = check_mode
        self.warnings = []

    def run_command(self, argv, data=None, binary_data=False, check_rc=False, environ_update=None):
        return rt.subprocess_runner(argv, data)

    def warn(self, msg):
        self.warnings.append(msg)


class FileFault(base.Fault):
    """Apply appends a line to ``log`` (slowly, to widen races); revert removes ``flag``."""

    kind = "test"

    def plan(self):
        log, flag = self.params["log"], self.params["flag"]
        return dict(type="t", summary="file fault",
                    apply=[{"op": "run", "argv": ["sh", "-c", 'echo x >> "$0"; touch "$1"; sleep 0.3', log, flag]}],
                    revert=[{"op": "run", "argv": ["rm", "-f", flag]}])

    def probe_active(self, runner):
        return os.path.exists(self.params["flag"])


# ---------------------------------------------------------------------------
# 5: a failed revert keeps the record
# ---------------------------------------------------------------------------

def test_failed_revert_keeps_the_record_as_revert_failed(state_dir, tmp_path):
    """Before: the record was deleted and reverted=True although the revert failed."""
    ledger = rt.Ledger(state_dir)
    rec = put_record(state_dir, "bad", [{"op": "run", "argv": ["false"]}], span=60)
    res = rt.revert_record(ledger, rec, "up", "module")
    assert res["reverted"] is False and res["errors"]
    kept = ledger.get("bad")
    assert kept["state"] == "revert_failed" and kept["revert_attempts"] == 1 and kept["revert_errors"]
    assert [e["event"] for e in ledger.events("bad")] == ["revert_failed"]
    # a second try (restore) tries again and counts
    assert rt.revert_record(ledger, kept, "restore", "restore")["attempts"] == 2


def test_supervisor_retries_a_failed_revert_with_backoff(state_dir, tmp_path):
    """The revert fails until the file it needs exists; the supervisor keeps retrying."""
    ledger = rt.Ledger(state_dir)
    gate = tmp_path / "gate"
    put_record(state_dir, "retry", [{"op": "run", "argv": ["test", "-e", str(gate)]}], span=0.2)
    rt.spawn_supervisor(state_dir, "retry")
    wait_until(lambda: (ledger.get("retry") or {}).get("state") == "revert_failed", 3, "revert_failed")
    gate.write_text("")
    wait_until(lambda: ledger.get("retry") is None, 5, "the retried revert")
    evs = [e["event"] for e in ledger.events("retry")]
    assert "revert_failed" in evs and evs[-1] == "reverted"
    rev = [e for e in ledger.events("retry") if e["event"] == "reverted"][0]
    assert rev["detail"]["reason"] == "retry" and rev["detail"]["attempts"] >= 2


def test_engine_revert_reports_failure_and_restore_retries(state_dir, tmp_path):
    """FaultEngine.revert said reverted=True and the record was gone after a failed revert."""
    gate = tmp_path / "gate"
    put_record(state_dir, "eng", [{"op": "run", "argv": ["test", "-e", str(gate)]}], span=60)
    engine = base.FaultEngine(FakeModule(), state_dir=state_dir)
    res = engine.revert("eng", reason="up")
    assert res["reverted"] is False and res["errors"]
    assert engine.ledger.get("eng")["state"] == "revert_failed"
    # a supervisor was started to retry it (first retry after RETRY_FIRST s) ...
    holder = wait_until(lambda: (rt.supervisor_holder(state_dir, "eng") or {}).get("pid") and rt.supervisor_holder(state_dir, "eng"),
                        3, "the retrying supervisor")
    # ... and a restore (revert_all) retries at once, without it. The supervisor is
    # stopped first: under load its own retry could win the race after the gate opens
    # (CI saw revert_all return [] because the supervisor had reverted it already).
    os.kill(holder["pid"], signal.SIGKILL)
    wait_until(lambda: not rt.supervisor_holder(state_dir, "eng"), 3, "the supervisor's end")
    gate.write_text("")
    out = engine.revert_all(reason="restore", by="restore")
    assert [r["reverted"] for r in out] == [True]
    assert engine.ledger.get("eng") is None


def test_retry_backoff_is_bounded():
    assert [rt.retry_delay(n) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 8.0]
    assert rt.retry_delay(50) == rt.RETRY_MAX


# ---------------------------------------------------------------------------
# 6: dead supervisors, unreadable records
# ---------------------------------------------------------------------------

def test_unreadable_record_is_still_reverted_from_memory(state_dir, tmp_path):
    """Before: an unreadable record was taken for 'reverted elsewhere' and the fault stayed."""
    marker = tmp_path / "reverted"
    put_record(state_dir, "mem", [{"op": "run", "argv": ["touch", str(marker)]}], span=1.0)
    rt.spawn_supervisor(state_dir, "mem")
    time.sleep(0.3)
    with open(os.path.join(state_dir, "faults", "mem.json"), "w") as f:
        f.write("{ half a record")
    wait_until(marker.exists, 4, "the revert from memory")
    ledger = rt.Ledger(state_dir)
    wait_until(lambda: not os.path.exists(os.path.join(state_dir, "faults", "mem.json")), 2, "record removal")
    rev = [e for e in ledger.events("mem") if e["event"] == "reverted"]
    assert rev and rev[0]["detail"]["record_unreadable"] is True


def test_ledger_read_tells_missing_from_unreadable(state_dir):
    ledger = rt.Ledger(state_dir)
    assert ledger.read("nope") is None
    with open(os.path.join(state_dir, "faults", "x.json"), "w") as f:
        f.write("not json")
    with pytest.raises(rt.RecordUnreadable):
        ledger.read("x")
    assert ledger.unreadable() == ["x"]


def test_reaper_reverts_an_overdue_fault_whose_supervisor_was_killed(state_dir, tmp_path):
    """Before: nothing reverted it until someone ran restore."""
    marker = tmp_path / "reverted"
    put_record(state_dir, "dead", [{"op": "run", "argv": ["touch", str(marker)]}], span=1.0)
    sup = rt.spawn_supervisor(state_dir, "dead")
    os.kill(sup["pid"], signal.SIGKILL)
    wait_until(lambda: not rt.proc_alive(sup["pid"], sup["starttime"]), 2, "the supervisor's death")
    time.sleep(1.2)
    assert not marker.exists()
    engine = base.FaultEngine(FakeModule(), state_dir=state_dir)
    view = engine.describe(engine.ledger.get("dead"))
    assert view["orphan"] is True and view["supervisor_alive"] is False and view["overdue"] is True
    module = FakeModule({"state_dir": state_dir})
    done = base.reap_orphans(module)
    assert [(d["id"], d["action"]) for d in done] == [("dead", "reverted")]
    assert marker.exists() and rt.Ledger(state_dir).get("dead") is None
    assert module.warnings and "dead" in module.warnings[0]
    rev = [e for e in rt.Ledger(state_dir).events("dead") if e["event"] == "reverted"]
    assert rev[0]["detail"]["by"] == "reaper"


def test_reaper_restarts_the_supervisor_of_a_fault_not_yet_due(state_dir, tmp_path):
    marker = tmp_path / "reverted"
    put_record(state_dir, "early", [{"op": "run", "argv": ["touch", str(marker)]}], span=2.0)
    sup = rt.spawn_supervisor(state_dir, "early")
    os.kill(sup["pid"], signal.SIGKILL)
    wait_until(lambda: not rt.proc_alive(sup["pid"], sup["starttime"]), 2, "the supervisor's death")
    done = rt.reap(state_dir)
    assert [(d["id"], d["action"]) for d in done] == [("early", "supervisor_restarted")]
    assert not marker.exists()
    assert len(supervisors_of(state_dir, "early")) == 1
    wait_until(marker.exists, 4, "the new supervisor's revert at the deadline")
    assert rt.reap(state_dir) == []  # nothing left to do: cheap no-op


def test_reaper_leaves_a_live_supervisor_alone_and_never_raises(state_dir, tmp_path):
    put_record(state_dir, "alive", [{"op": "run", "argv": ["true"]}], span=0.1)
    sup = rt.spawn_supervisor(state_dir, "alive")
    with open(os.path.join(state_dir, "faults", "junk.json"), "w") as f:
        f.write("{")
    out = rt.reap(state_dir)
    assert all(d["id"] == "junk" for d in out)
    assert rt.reap(str(tmp_path / "does-not-exist")) == []
    wait_until(lambda: not rt.proc_alive(sup["pid"], sup["starttime"]), 3, "the supervisor's end")


# ---------------------------------------------------------------------------
# 10: one supervisor per fault, renewals under the lock
# ---------------------------------------------------------------------------

def test_two_supervisors_started_for_one_fault_leave_one(state_dir, tmp_path):
    put_record(state_dir, "twice", [{"op": "run", "argv": ["true"]}], span=30)
    script = rt.install_supervisor(state_dir)
    argv = [sys.executable, script, "--state-dir", state_dir, "--id", "twice"]
    procs = [subprocess.Popen(argv) for _i in range(3)]
    # the others give up after LOCK_GRAB; their Python start-up comes first (0.5 s at load 10 here)
    end = time.monotonic() + rt.LOCK_GRAB + 10
    alive = procs
    while time.monotonic() < end:
        alive = [p for p in procs if p.poll() is None]
        if len(alive) <= 1:
            break
        time.sleep(0.05)
    time.sleep(0.2)
    alive = [p for p in procs if p.poll() is None]
    assert len(alive) == 1, "one supervisor per fault, got %d" % len(alive)
    holder = rt.supervisor_holder(state_dir, "twice")
    assert holder["pid"] == alive[0].pid
    alive[0].send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(5)


def test_slow_supervisor_start_under_systemd_starts_no_second_one(state_dir, tmp_path, monkeypatch):
    """Before: with systemd, a supervisor not registered within 2 s (ledger lock held by
    a long revert) made spawn_supervisor double-fork a second one."""
    fake = tmp_path / "bin"
    fake.mkdir()
    argv_log = tmp_path / "systemd-run.argv"
    run = fake / "systemd-run"
    run.write_text("#!/bin/sh\necho \"$@\" > %s\n"
                   "while [ \"$1\" != \"${1#-}\" ]; do case \"$1\" in --unit|--property) shift;; esac; shift; done\n"
                   "setsid \"$@\" </dev/null >/dev/null 2>&1 &\nexit 0\n" % argv_log)
    run.chmod(run.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", "%s:%s" % (fake, os.environ["PATH"]))
    monkeypatch.setattr(rt, "has_systemd", lambda: True)
    put_record(state_dir, "slow", [{"op": "run", "argv": ["true"]}], span=30)
    # someone holds the ledger lock for 3 s (a revert waiting for a port)
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, os, time; fd = os.open(%r, os.O_RDWR | os.O_CREAT);"
                               " fcntl.flock(fd, fcntl.LOCK_EX); print('x', flush=True); time.sleep(3)"
                               % os.path.join(state_dir, "lock")], stdout=subprocess.PIPE)
    holder.stdout.readline()
    sup = rt.spawn_supervisor(state_dir, "slow")
    assert sup and sup["pid"]
    holder.wait(10)
    time.sleep(0.5)
    assert supervisors_of(state_dir, "slow") == [sup["pid"]]
    assert "Restart=on-failure" in argv_log.read_text()
    os.kill(sup["pid"], signal.SIGTERM)
    wait_until(lambda: rt.Ledger(state_dir).get("slow") is None, 5, "the revert")


def _fork_apply(state_dir, params, out):
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            engine = base.FaultEngine(FakeModule(), state_dir=state_dir)
            res = engine.apply(FileFault(params, fault_id="conc"), duration=30, lease=60)
            with open(out, "w") as f:
                json.dump({"changed": res["changed"], "renewed": res["renewed"]}, f)
        except BaseException:  # noqa: BLE001
            code = 1
        os._exit(code)
    return pid


def test_two_concurrent_identical_applies_give_one_fault_and_one_supervisor(state_dir, tmp_path):
    """Before: both read 'no record' without the lock, both applied, two supervisors ran."""
    params = {"log": str(tmp_path / "applied.log"), "flag": str(tmp_path / "flag")}
    pids = [_fork_apply(state_dir, params, str(tmp_path / ("res%d" % i))) for i in range(2)]
    for pid in pids:
        assert os.waitpid(pid, 0)[1] == 0
    results = [json.load(open(str(tmp_path / ("res%d" % i)))) for i in range(2)]
    assert sorted(r["renewed"] for r in results) == [False, True]
    assert open(params["log"]).read() == "x\n", "the fault was applied twice"
    time.sleep(rt.LOCK_GRAB + 0.2)
    assert len(supervisors_of(state_dir, "conc")) == 1
    engine = base.FaultEngine(FakeModule(), state_dir=state_dir)
    assert engine.revert("conc")["reverted"] is True
    assert not os.path.exists(params["flag"])


def test_renewal_racing_a_revert_applies_again_instead_of_writing_the_old_record_back(state_dir, tmp_path):
    """Before: apply read the record without the lock, then wrote the stale copy back
    under the lock after the supervisor had reverted it, and said 'renewed'."""
    params = {"log": str(tmp_path / "applied.log"), "flag": str(tmp_path / "flag")}
    engine = base.FaultEngine(FakeModule(), state_dir=state_dir)
    fault = FileFault(params, fault_id="race")
    put_record(state_dir, "race", fault.plan()["revert"], span=30, apply=fault.plan()["apply"])
    open(params["flag"], "w").close()
    # a 'supervisor' holds the ledger lock while it reverts and drops the record
    reverter = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, time, sys; fd = os.open(%r, os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX);"
        " print('x', flush=True); time.sleep(0.5); os.unlink(%r); os.unlink(%r)") % (
        os.path.join(state_dir, "lock"), params["flag"], os.path.join(state_dir, "faults", "race.json"))],
        stdout=subprocess.PIPE)
    reverter.stdout.readline()
    res = engine.apply(fault, duration=30, lease=60)
    reverter.wait(5)
    assert res["renewed"] is False and res["changed"] is True
    assert os.path.exists(params["flag"]), "renewed says applied, but nothing is applied"
    assert engine.ledger.get("race") is not None
    assert engine.revert("race")["reverted"] is True


def test_a_due_revert_loses_to_a_renewal_under_the_lock(state_dir, tmp_path):
    marker = tmp_path / "reverted"
    rec = put_record(state_dir, "due", [{"op": "run", "argv": ["touch", str(marker)]}], span=60)
    res = rt.revert_record(rt.Ledger(state_dir), rec, "lease", "supervisor", only_if_due=True)
    assert res.get("renewed") and not marker.exists()


# ---------------------------------------------------------------------------
# start_at
# ---------------------------------------------------------------------------

def test_start_at_parsing_and_bounds():
    now = 1800000000.0
    assert rt.parse_instant("1800000000.5") == 1800000000.5
    assert rt.parse_instant("2027-01-15T08:00:00Z") == rt.parse_instant("2027-01-15T09:00:00+01:00")
    assert rt.parse_instant("2027-01-15T08:00:00") == rt.parse_instant("2027-01-15T08:00:00Z")
    assert rt.check_start_at(str(now - 1), now=now) == now - 1
    with pytest.raises(rt.EngineError, match="in the past"):
        rt.check_start_at(str(now - 10), now=now)
    with pytest.raises(rt.EngineError, match="more than a day ahead"):
        rt.check_start_at(str(now + 86401), now=now)
    for bad in ("tomorrow", "nan", "inf", ""):
        with pytest.raises(rt.EngineError):
            rt.check_start_at(bad, now=now)


def test_start_at_is_applied_by_the_supervisor_at_that_instant(state_dir, tmp_path):
    params = {"log": str(tmp_path / "applied.log"), "flag": str(tmp_path / "flag")}
    # on a busy host the lead covers a slow apply, and the instant is read from what
    # the supervisor did (the flag's mtime, the journal), not from when this process
    # got to look
    start = time.time() + 3.0
    engine = base.FaultEngine(FakeModule({"start_at": "%.6f" % start}), state_dir=state_dir)
    res = engine.apply(FileFault(params, fault_id="later"), duration=1.0, lease=60)
    assert res["changed"] and abs(res["start_at"] - start) < 1e-6
    assert res["apply_journal"]["event"] == "applied" and res["apply_journal"]["fault_id"] == "later"
    assert not os.path.exists(params["flag"]), "applied before start_at"
    view = engine.describe(engine.ledger.get("later"))
    assert view["state"] == "scheduled" and view["starts_in_s"] > 0.5 and not view["orphan"]
    wait_until(lambda: os.path.exists(params["flag"]), 6, "the scheduled apply")
    assert os.stat(params["flag"]).st_mtime - start < 0.25  # sh started by the supervisor, then touch
    applied = wait_until(lambda: [e for e in engine.ledger.events("later") if e["event"] == "applied"], 2, "journal")
    d = applied[0]["detail"]
    assert d["intended"] == pytest.approx(start) and 0 <= d["lag_s"] < 0.05 and d["mono"] > 0
    assert "clock" in d
    rec = engine.ledger.get("later")
    assert rec["state"] == "active" and rec["deadline"] == pytest.approx(d["wall"] + 1.0)
    wait_until(lambda: engine.ledger.get("later") is None, 6, "the revert one duration after the apply")
    assert not os.path.exists(params["flag"])


def test_start_at_refused_when_reverting_and_cancelled_before_it_fires(state_dir, tmp_path):
    params = {"log": str(tmp_path / "applied.log"), "flag": str(tmp_path / "flag")}
    engine = base.FaultEngine(FakeModule({"start_at": "%.3f" % (time.time() + 30)}), state_dir=state_dir)
    engine.apply(FileFault(params, fault_id="cancel"), duration=5, lease=60)
    with pytest.raises(rt.EngineError, match="cannot be used to revert"):
        engine.revert("cancel")
    res = base.FaultEngine(FakeModule(), state_dir=state_dir).revert("cancel")
    assert res["reverted"] is True
    assert [e["event"] for e in engine.ledger.events("cancel")][-1] == "cancelled"
    assert not os.path.exists(params["log"])


def test_chrony_tracking_is_parsed(monkeypatch, tmp_path):
    fake = tmp_path / "chronyc"
    fake.write_text("#!/bin/sh\ncat <<'EOF'\nReference ID    : C0A80001 (192.168.0.1)\n"
                    "System time     : 0.000120000 seconds slow of NTP time\n"
                    "Root delay      : 0.002000000 seconds\nRoot dispersion : 0.000500000 seconds\nEOF\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    c = rt.clock_status()
    assert c["offset_s"] == pytest.approx(-0.00012)
    assert c["error_bound_s"] == pytest.approx(0.00012 + 0.0005 + 0.001)


# ---------------------------------------------------------------------------
# process faults never target the collection's own processes
# ---------------------------------------------------------------------------

def test_process_faults_never_target_a_supervisor_or_a_worker(state_dir, tmp_path):
    """Before: `match: supervisor.py` (or `python`) found the supervisor and a pause froze the dead-man switch."""
    put_record(state_dir, "guarded", [{"op": "run", "argv": ["true"]}], span=30)
    sup = rt.spawn_supervisor(state_dir, "guarded")
    with pytest.raises(rt.EngineError, match="faultline supervisor or worker"):
        proc.find_targets({"pid": sup["pid"], "state_dir": state_dir}, environ={})
    with pytest.raises(proc.NotFound):
        proc.find_targets({"match": "supervisor.py --state-dir %s" % state_dir, "state_dir": state_dir}, environ={})
    assert sup["pid"] in proc.faultline_pids([state_dir])
    # a background worker of the ledger, by its meta
    from ansible_collections.faultline.chaos.plugins.module_utils._engine import background

    def idle(params, output, flag):
        flag.wait(30)

    meta = background.start(state_dir, "probe", "guard", idle, {}, lease=30)
    try:
        with pytest.raises(rt.EngineError, match="faultline supervisor or worker"):
            proc.find_targets({"pid": meta["pid"], "state_dir": state_dir}, environ={})
    finally:
        background.stop(state_dir, "probe", "guard")
    os.kill(sup["pid"], signal.SIGTERM)


# ---------------------------------------------------------------------------
# a process's network namespace is pinned for the revert
# ---------------------------------------------------------------------------

def test_network_fault_in_a_pid_namespace_pins_it_under_the_ledger(state_dir):
    """Before: the plan ran `nsenter --net=/proc/<pid>/ns/net`, which fails once the process exited."""
    from ansible_collections.faultline.chaos.plugins.module_utils._faults.network import NetworkFault
    me = str(os.getpid())
    fault = NetworkFault(dict(type="reject", ports=[9], peers=[], protocol="tcp", direction="in", netns=me),
                         backend="nft", owner=state_dir)
    plan = fault.plan()
    pin = plan["apply"][0]
    dst = os.path.join(state_dir, "netns", fault.fault_id)
    assert pin == {"op": "ns_pin", "src": "/proc/%s/ns/net" % me, "dst": dst,
                   "ino": os.stat("/proc/self/ns/net").st_ino}
    assert all(a["argv"][:2] == ["nsenter", "--net=%s" % dst] for a in plan["apply"][1:] + plan["revert"]
               if a["op"] == "run")
    assert plan["revert"][-1] == {"op": "ns_unpin", "dst": dst}
    assert "ns_unpin" in rt.HOUSEKEEPING_OPS  # a flap never releases the pin between cycles


def test_revert_failure_message_names_the_fault_and_its_errors():
    assert base.FaultEngine.revert_failure([{"id": "a", "reverted": True, "errors": []}]) is None
    msg = base.FaultEngine.revert_failure([{"id": "b", "reverted": False, "errors": ["run: nsenter failed"]}])
    assert "b: run: nsenter failed" in msg and "revert_failed" in msg


def test_a_scheduled_flap_anchors_its_grid_at_start_at(state_dir, tmp_path):
    on, off = tmp_path / "down", tmp_path / "up"
    start = time.time() + 3.0  # the supervisor's start may be slow on a busy host
    put_record(state_dir, "sflap", apply=[{"op": "run", "argv": ["touch", str(on)]}],
               revert=[{"op": "run", "argv": ["touch", str(off)]}], span=0.8, state="scheduled",
               start_at=start, schedule={"mode": "flap", "down_for": 0.2, "up_for": 0.2})
    rt.spawn_supervisor(state_dir, "sflap")
    ledger = rt.Ledger(state_dir)
    wait_until(lambda: ledger.get("sflap") is None, 10, "the end of the flap")
    evs = ledger.events("sflap")
    applied = [e for e in evs if e["event"] == "applied"][0]["detail"]
    assert applied["intended"] == pytest.approx(start) and 0 <= applied["lag_s"] < 0.05
    downs = [e for e in evs if e["event"] == "down"]
    assert [e["detail"]["cycle"] for e in downs] == [1, 2]
    assert downs[0]["ts"] - start < 0.1
    assert evs[-1]["event"] == "reverted" and evs[-1]["detail"]["reason"] == "schedule_end"


def test_spawn_returns_at_once_when_the_supervisor_dies_right_after_it_registered(state_dir, tmp_path, monkeypatch):
    """A supervisor killed just after it took its lock (here: at its first crash point, the revert
    of a fault already due) made spawn_supervisor wait its whole timeout for a second one that never
    comes, then fail the apply; it must return the identity it saw registered (the reaper of the next
    module call recovers the fault)."""
    flag = tmp_path / "flag"
    flag.write_text("x")
    put_record(state_dir, "dies", revert=[{"op": "run", "argv": ["rm", "-f", str(flag)]}], span=0.0)
    monkeypatch.setenv(rt.CRASH_ENV, "supervisor:1")
    # every poll of spawn_supervisor falls after the death (deterministic: no live window seen)
    monkeypatch.setattr(rt, "supervisor_holder", lambda sd, fid: None)
    t0 = time.monotonic()
    try:
        ident = rt.spawn_supervisor(state_dir, "dies", timeout=5.0)
    except rt.EngineError as e:
        pytest.fail("spawn waited %.1f s and failed: %s" % (time.monotonic() - t0, e))
    took = time.monotonic() - t0
    monkeypatch.undo()
    assert ident and ident.get("pid") and ident.get("exited") is True, ident
    assert took < 2.0, took
    wait_until(lambda: not rt.proc_alive(ident["pid"], ident.get("starttime")), 5, "the supervisor's death")
    assert rt.Ledger(state_dir).get("dies") is not None and flag.exists()  # killed before its revert
    assert [r["id"] for r in rt.reap(state_dir)] == ["dies"] and not flag.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may raise a priority")
def test_a_supervisor_spawned_by_a_niced_module_runs_at_its_own_priority(state_dir, tmp_path):
    """Before: the supervisor lowered its nice by 5 from the module's, so a module run at
    nice 19 (make test's background steps, a user's `nice ansible-playbook`) left its
    reverts and start_at instants at nice 14, late on a busy host; it is -5 whatever the
    module's."""
    put_record(state_dir, "nice", revert=[{"op": "run", "argv": ["true"]}], span=30.0)
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    os.setpriority(os.PRIO_PROCESS, 0, 19)
    try:
        ident = rt.spawn_supervisor(state_dir, "nice")
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, mine)
    wait_until(lambda: os.getpriority(os.PRIO_PROCESS, ident["pid"]) != 19, 5, "the supervisor's renice")
    assert os.getpriority(os.PRIO_PROCESS, ident["pid"]) == rt.SUPERVISOR_NICE


def test_reap_removes_the_temp_file_of_a_writer_killed_mid_write(state_dir):
    """Crash consistency found it: a module SIGKILLed inside Ledger.put (between write and rename)
    left faults/<id>.json.tmp.<pid> behind for ever; a live writer's temp file is left alone."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    faults = os.path.join(state_dir, "faults")
    stale = os.path.join(faults, "network_x.json.tmp.%d" % dead.pid)
    live = os.path.join(faults, "network_y.json.tmp.%d" % os.getpid())
    for path in (stale, live):
        with open(path, "w") as f:
            f.write("{")
    rt.reap(state_dir)
    assert not os.path.exists(stale) and os.path.exists(live)
    os.unlink(live)

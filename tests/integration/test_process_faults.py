"""faultline.chaos.process and ServiceStopFault against real processes and a real MariaDB pair."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from support.ansible import PYTHON, ROOT
from support.util import wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import FaultEngine
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import port_open, proc_state
from ansible_collections.faultline.chaos.plugins.module_utils._faults.process import ServiceStopFault

pytestmark = pytest.mark.lab


class EngineModule(object):
    """The two things FaultEngine needs from an AnsibleModule."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def run_command(self, argv, data=None, binary_data=False, check_rc=False, environ_update=None):
        return runtime.subprocess_runner(argv, data)


@pytest.fixture
def sleeper():
    """A process of our own to signal; killed at teardown."""
    procs = []

    def make(tag="faultline-sleeper"):
        p = subprocess.Popen(["sleep", "600"], start_new_session=True)
        procs.append(p)
        wait_for(lambda: proc_state(p.pid) in ("S", "R"), 5, 0.01, "sleeper to start")
        return p

    yield make
    for p in procs:
        try:
            os.kill(p.pid, signal.SIGCONT)
            p.kill()
        except OSError:
            pass
        p.wait()


def records(d):
    return runtime.Ledger(d).list()


# ---------------------------------------------------------------- sleepers

def test_pause_then_resume_and_check_mode(sleeper, state_dir, run_module):
    p = sleeper()
    args = dict(pid=p.pid, state="paused", state_dir=state_dir)
    chk = run_module("process", args, check=True, diff=True)
    assert chk["changed"] and "SIGSTOP" in chk["diff"]["after"]
    assert proc_state(p.pid) in ("S", "R") and records(state_dir) == []

    res = run_module("process", args)
    assert res["changed"] and res["targets"][0]["pid"] == p.pid
    assert proc_state(p.pid) == "T"
    again = run_module("process", args)  # idempotent: renews the lease
    assert not again["changed"] and again["renewed"]

    chk = run_module("process", dict(args, state="resumed"), check=True)
    assert chk["changed"] and proc_state(p.pid) == "T"
    res = run_module("process", dict(args, state="resumed"))
    assert res["changed"] and res["reverted"]
    wait_for(lambda: proc_state(p.pid) in ("S", "R"), 5, 0.02, "resume")
    assert records(state_dir) == []
    assert not run_module("process", dict(args, state="resumed"))["changed"]


def test_term_and_kill_without_restart_are_journaled(sleeper, state_dir, run_module):
    a, b = sleeper(), sleeper()
    res = run_module("process", dict(pid=a.pid, state="terminated", timeout=5, state_dir=state_dir))
    assert res["changed"]
    assert a.wait(5) == -signal.SIGTERM
    res = run_module("process", dict(pid=b.pid, state="killed", state_dir=state_dir))
    assert b.wait(5) == -signal.SIGKILL
    # nothing to start again: the record closes itself, the journal keeps the fault
    wait_for(lambda: records(state_dir) == [], 10, what="records to close")
    events = runtime.Ledger(state_dir).events(res["fault_id"])
    assert [e["event"] for e in events][:2] == ["requested", "down"]
    assert events[-1]["event"] == "reverted"


def test_match_ambiguous_then_allow_multiple(sleeper, state_dir, run_module):
    tag = "faultline-test-%d" % os.getpid()
    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", tag], start_new_session=True)
             for dummy in range(2)]
    try:
        wait_for(lambda: all(proc_state(q.pid) == "S" for q in procs), 5, 0.01)
        res = run_module("process", dict(match=tag, state="paused", state_dir=state_dir))
        assert res.get("failed") and "hits 2 processes" in res["msg"] and "allow_multiple" in res["msg"]
        assert all(proc_state(q.pid) == "S" for q in procs) and records(state_dir) == []
        res = run_module("process", dict(match=tag, state="paused", allow_multiple=True, state_dir=state_dir))
        assert sorted(t["pid"] for t in res["targets"]) == sorted(q.pid for q in procs)
        assert all(proc_state(q.pid) == "T" for q in procs)
        FaultEngine(EngineModule(), state_dir).revert_all()
        wait_for(lambda: all(proc_state(q.pid) == "S" for q in procs), 5, 0.02)
    finally:
        for q in procs:
            q.kill()
            q.wait()


@pytest.mark.parametrize("args,needle", [
    (dict(pid=1, state="killed"), "pid=1 is out of range"),  # the shared validator: 1 is init
    (dict(pid=os.getpid(), state="paused"), "own ancestry"),
    (dict(match="no-such-process-[f]aultline-zz", state="killed"), "no process command line matches"),
    (dict(pid=4194304, state="killed"), "no process with pid"),
    (dict(port=1, state="killed"), "no process listens on TCP port 1"),
    (dict(pidfile="/nonexistent/x.pid", state="paused"), "does not exist"),
    (dict(match="(", state="paused"), "not a valid regular expression"),
    (dict(pid=12345, state="stopped"), "start_argv"),
])
def test_bad_input_fails_cleanly(args, needle, state_dir, run_module):
    res = run_module("process", dict(args, state_dir=state_dir))
    assert res.get("failed") and needle in res["msg"], res
    assert records(state_dir) == []


def test_pause_resumes_on_time_when_the_play_is_killed(sleeper, tmp_path):
    p = sleeper()
    sd = str(tmp_path / "ledger")
    play = tmp_path / "pause.yml"
    play.write_text(textwrap.dedent("""\
        - name: Pause then hang
          hosts: localhost
          gather_facts: false
          tasks:
            - name: Pause the sleeper for 10 s
              faultline.chaos.process:
                pid: %d
                state: paused
                duration: 10
                state_dir: %s
            - name: Hang until killed
              ansible.builtin.pause:
                seconds: 300
        """ % (p.pid, sd)))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"))
    play_proc = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", "ansible_python_interpreter=%s" % PYTHON, str(play)],
        cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        def applied():
            recs = runtime.Ledger(sd).list()
            return recs[0] if recs and recs[0].get("applied") and recs[0].get("supervisor") else None
        rec = wait_for(applied, 60, 0.05, "the pause to be applied")
        assert proc_state(p.pid) == "T"
        time.sleep(1.0)
        os.killpg(play_proc.pid, signal.SIGKILL)  # the play, its workers, its module processes
        play_proc.wait()
        assert proc_state(p.pid) == "T"
        deadline = rec["deadline"]
        while proc_state(p.pid) == "T" and time.time() < deadline + 5:
            time.sleep(0.01)
        resumed_at = time.time()
        assert proc_state(p.pid) in ("S", "R")
        assert abs(resumed_at - deadline) <= 1.0, (resumed_at, deadline)
        # journaled right after the SIGCONT: allow the line a moment to land
        ev = wait_for(lambda: [e for e in runtime.Ledger(sd).events(rec["id"]) if e["event"] == "reverted"],
                      3, 0.05, "the supervisor's reverted event")
        assert ev[0]["detail"]["by"] == "supervisor" and ev[0]["detail"]["reason"] == "duration"
    finally:
        if play_proc.poll() is None:
            os.killpg(play_proc.pid, signal.SIGKILL)
            play_proc.wait()
        led = runtime.Ledger(sd)
        for r in led.list():
            runtime.stop_supervisor(led, r) or runtime.revert_record(led, r, "test", "test")


# ---------------------------------------------------------------- MariaDB pair

def io_state(pair):
    st = pair.replica_status()
    return st.get("Slave_IO_Running"), st.get("Last_IO_Error") or ""


def test_kill_source_then_restart_recovers_replica(mariadb_pair, state_dir, run_module):
    pair, src = mariadb_pair, mariadb_pair.source
    old_pid = src.pid()
    args = dict(port=src.port, host="127.0.0.1", state="killed", start_argv=src.start_argv, state_dir=state_dir)
    chk = run_module("process", args, check=True)
    assert chk["changed"] and port_open("127.0.0.1", src.port) and records(state_dir) == []
    res = run_module("process", args)
    assert res["changed"] and res["targets"][0]["pid"] == old_pid
    assert not port_open("127.0.0.1", src.port)
    wait_for(lambda: io_state(pair)[0] == "Connecting", 20, 0.2, "replica IO thread to be Connecting")

    res = run_module("process", dict(args, state="restarted"))
    assert res["changed"] and res["reverted"]
    assert port_open("127.0.0.1", src.port) and src.pid() != old_pid
    src.pids.add(src.pid())
    wait_for(lambda: io_state(pair)[0] == "Yes", 30, 0.2, "replica IO thread to reconnect")
    pair.insert(20)
    assert pair.wait_synced() == pair.count(src)
    assert records(state_dir) == []


def test_service_stop_fault_planner(mariadb_pair, state_dir):
    """What `network type: service` drives: TERM + wait, then spawn + wait_port."""
    src = mariadb_pair.source
    fault = ServiceStopFault(dict(service_pidfile=src.pidfile, service_start=src.start_argv,
                                  service_port=src.port, service_host="127.0.0.1"))
    plan = fault.plan()
    assert [a["op"] for a in plan["apply"]] == ["signal", "wait_exit"]
    assert plan["apply"][1]["kill_after"] is True
    assert [a["op"] for a in plan["revert"]] == ["spawn", "wait_port"]
    assert plan["type"] == "service" and fault.kind == "network"

    check = FaultEngine(EngineModule(check_mode=True), state_dir).apply(fault)
    assert check["changed"] and port_open("127.0.0.1", src.port) and records(state_dir) == []

    old = src.pid()
    engine = FaultEngine(EngineModule(), state_dir)
    res = engine.apply(fault, duration=4)
    assert res["changed"] and not port_open("127.0.0.1", src.port)
    t0 = time.monotonic()
    wait_for(lambda: port_open("127.0.0.1", src.port), 60, 0.1, "the supervisor to start the source again")
    assert time.monotonic() - t0 > 1.0
    new = wait_for(src.pid, 10)
    assert new != old
    src.pids.add(new)
    wait_for(lambda: records(state_dir) == [], 10)
    wait_for(lambda: io_state(mariadb_pair)[0] == "Yes", 30, 0.2, "replica IO thread to reconnect")
    mariadb_pair.insert(3)
    mariadb_pair.wait_synced()


def test_stopped_then_restore_all(mariadb_pair, sleeper, state_dir, run_module):
    """A mix of faults, then revert_all (what faultline.chaos.restore runs): nothing left."""
    src = mariadb_pair.source
    p = sleeper()
    res = run_module("process", dict(pidfile=src.pidfile, state="stopped", start_argv=src.start_argv,
                                     port=src.port, state_dir=state_dir))
    assert res["changed"] and not port_open("127.0.0.1", src.port)
    run_module("process", dict(pid=p.pid, state="paused", state_dir=state_dir))
    assert proc_state(p.pid) == "T" and len(records(state_dir)) == 2
    sups = [r["supervisor"] for r in records(state_dir)]

    out = FaultEngine(EngineModule(), state_dir).revert_all()
    assert sorted(r["type"] for r in out) == ["paused", "stopped"]
    assert all(r["reverted"] for r in out)
    assert records(state_dir) == []
    assert port_open("127.0.0.1", src.port) and proc_state(p.pid) in ("S", "R")
    src.pids.add(src.pid())
    assert not any(runtime.proc_alive(s["pid"], s["starttime"]) for s in sups)
    journal = [json.loads(x) for x in open(os.path.join(state_dir, "journal.jsonl"))]
    assert sum(1 for e in journal if e["event"] == "reverted") == 2

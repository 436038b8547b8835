"""The supervisor's long-lived nft session (runtime.NftSession / SessionRunner).

A fake ``nft`` (a small Python script run through the session's command
prefix) speaks the protocol real ``nft -i`` speaks: it reads one command line
at a time, reports errors on stderr (message, the line, a caret line), and
says nothing on success.  Lines containing ``hang`` or ``die`` make it hang
or exit, so the failure paths (timeout, dead child, fallback to a fresh
``nft -f -``) run against real processes.  The real nft is exercised in
tests/integration (test_flap_timing.py, test_network.py).
"""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt

FAKE_NFT = textwrap.dedent('''\
    import os, sys, time
    log = os.environ["FAKE_NFT_LOG"]
    def record(what):
        with open(log, "a") as f:
            f.write("%d %s\\n" % (os.getpid(), what))
    if sys.argv[-2:] == ["-f", "-"]:            # a fresh nft process
        data = sys.stdin.read()
        record("file " + " | ".join(data.splitlines()))
        if "fail" in data:
            sys.stderr.write("Error: Could not process rule\\n")
            sys.exit(1)
        sys.exit(0)
    for line in iter(sys.stdin.readline, ""):  # nft -i
        line = line.rstrip("\\n")
        if line.startswith("@@"):
            sys.stderr.write("Error: syntax error, unexpected @\\n%s\\n^\\n" % line)
        elif "hang" in line:
            time.sleep(60)
        elif "die" in line:
            sys.exit(3)
        elif "fail" in line:
            sys.stderr.write("Error: Could not process rule: No such file or directory\\n%s\\n^^^^\\n" % line)
        else:
            record("line " + line)
        sys.stderr.flush()
''')


@pytest.fixture
def fake(tmp_path, monkeypatch):
    script = tmp_path / "fake_nft.py"
    script.write_text(FAKE_NFT)
    log = tmp_path / "nft.log"
    monkeypatch.setenv("FAKE_NFT_LOG", str(log))
    monkeypatch.delenv(rt.NFT_SESSION_ENV, raising=False)

    class Fake(object):
        prefix = [sys.executable, str(script)]

        @staticmethod
        def lines():
            if not log.exists():
                return []
            return [ln.split(" ", 1) for ln in log.read_text().splitlines()]

        @staticmethod
        def argv():
            return Fake.prefix + ["nft", "-f", "-"]

    return Fake


@pytest.fixture
def sessions():
    made = []

    def make(*args, **kw):
        s = rt.NftSession(*args, **kw)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


def test_one_line_joins_commands_and_refuses_what_would_change_meaning():
    script = 'add table inet t\nadd chain inet t c { type filter hook input priority -10; policy accept; }\n\n'
    assert rt.NftSession.one_line(script) == \
        'add table inet t; add chain inet t c { type filter hook input priority -10; policy accept; }'
    assert rt.NftSession.one_line("add table inet t # note\n") is None   # a comment eats the rest
    assert rt.NftSession.one_line("add table \\\ninet t\n") is None       # a continuation
    assert rt.NftSession.one_line("\n  \n") is None
    # longer than fits into the pipe at once: its own process (a hung child can never block the write)
    big = "add element inet t s { %s }\n" % ", ".join(str(i) for i in range(10000))
    assert len(big) > rt.NFT_SESSION_MAX_LINE and rt.NftSession.one_line(big) is None


def test_a_session_answers_every_script_from_one_child(fake, sessions):
    s = sessions(fake.prefix, timeout=5)
    assert s.run("add table inet t\nadd chain inet t c\n") == (0, "", "")
    pid = s.proc.pid
    assert s.run("delete chain inet t c\n") == (0, "", "")
    assert s.proc.pid == pid
    assert fake.lines() == [[str(pid), "line add table inet t; add chain inet t c"],
                            [str(pid), "line delete chain inet t c"]]


def test_an_error_is_reported_with_its_text_and_the_marker_is_not(fake, sessions):
    s = sessions(fake.prefix, timeout=5)
    rc, _out, err = s.run("add rule inet fail x drop\n")
    assert rc == 1
    assert "Could not process rule" in err and "add rule inet fail x drop" in err
    assert "@@" not in err and "syntax error" not in err
    # the session is still in step: the next answer is the next script's
    assert s.run("add table inet t\n") == (0, "", "")


def test_a_hung_child_is_killed_after_the_timeout_and_a_new_one_answers_next(fake, sessions):
    s = sessions(fake.prefix, timeout=0.5)
    assert s.ping()
    hung = s.proc.pid
    t0 = time.monotonic()
    assert s.run("add table inet hang\n") is None
    assert time.monotonic() - t0 < 3.0
    assert s.proc is None and not rt.proc_alive(hung)
    assert os.path.exists("/proc/%d" % hung) is False  # reaped, no zombie
    assert s.run("add table inet t\n") == (0, "", "")
    assert s.proc.pid != hung


def test_a_dead_child_is_noticed_and_replaced(fake, sessions):
    s = sessions(fake.prefix, timeout=5)
    assert s.run("add table inet die\n") is None
    assert s.proc is None
    assert s.run("add table inet t\n") == (0, "", "")


def test_a_session_that_cannot_start_answers_none(sessions):
    s = sessions(["/nonexistent/faultline-no-such-binary"], timeout=1)
    assert s.run("add table inet t\n") is None
    assert not s.ping()


def test_runner_sends_nft_scripts_to_the_session_and_everything_else_to_a_process(fake):
    calls = []

    def fallback(argv, data=None):
        calls.append((argv, data))
        return 0, "listed", ""

    r = rt.SessionRunner(fallback=fallback, timeout=5)
    try:
        assert r(fake.argv(), "add table inet t\n") == (0, "", "")
        assert r(fake.prefix + ["nft", "-j", "list", "table", "inet", "t"], None) == (0, "listed", "")
        assert r(["iptables", "-w", "-N", "FLT_X_IN"], None) == (0, "listed", "")
        assert [c[0][-2:] for c in calls] == [["inet", "t"], ["-N", "FLT_X_IN"]]
        assert r.stats == {"session": 1, "fallback": 2}
    finally:
        r.close()


def test_runner_falls_back_to_a_fresh_nft_on_an_error_a_hang_or_a_death(fake):
    r = rt.SessionRunner(timeout=0.5)
    try:
        rc, _o, err = r(fake.argv(), "add rule inet fail x\n")
        assert rc == 1 and "Could not process rule" in err      # the fresh nft's own verdict
        assert r(fake.argv(), "add table inet hang\n") == (0, "", "")
        assert r(fake.argv(), "add table inet die\n") == (0, "", "")
        assert r(fake.argv(), "add table inet t\n") == (0, "", "")
    finally:
        r.close()
    kinds = [text.split(" ", 1)[0] for _pid, text in fake.lines()]
    # fail, hang and die each ran once more as their own `nft -f -`; the last one in a new session
    assert kinds == ["file", "file", "file", "line"]
    assert r.stats == {"session": 1, "fallback": 3}


def test_runner_with_sessions_off_runs_every_script_as_a_process(fake, monkeypatch):
    monkeypatch.setenv(rt.NFT_SESSION_ENV, "0")
    r = rt.SessionRunner(timeout=5)
    try:
        assert r(fake.argv(), "add table inet t\n") == (0, "", "")
        assert r.sessions == {}
    finally:
        r.close()
    assert [text for _pid, text in fake.lines()] == ["file add table inet t"]


def test_prepare_starts_the_sessions_of_the_nft_steps_only(fake):
    r = rt.SessionRunner(timeout=5)
    try:
        r.prepare([rt.run_action(fake.argv(), stdin="add table inet t\n"),
                   rt.run_action(["true"]),
                   rt.nft_gc_action(fake.prefix, "inet", "t")])
        assert list(r.sessions) == [tuple(fake.prefix)]
        child = r.sessions[tuple(fake.prefix)].proc.pid
        assert rt.proc_alive(child)
    finally:
        r.close()
    assert not rt.proc_alive(child)
    assert fake.lines() == []  # a ping changes nothing


def test_execute_through_the_runner_raises_on_a_failing_script(fake):
    r = rt.SessionRunner(timeout=5)
    try:
        with pytest.raises(rt.EngineError, match="Could not process rule"):
            rt.execute([rt.run_action(fake.argv(), stdin="add rule inet fail x\n")], r)
    finally:
        r.close()


def test_a_supervised_flap_runs_its_edges_through_one_session(fake, tmp_path):
    led = rt.Ledger(str(tmp_path / "state")).ensure()
    now, mono = time.time(), time.monotonic()
    rec = dict(id="flap-session", kind="test", type="t", summary="flap through a session",
               apply=[rt.run_action(fake.argv(), stdin="add chain inet t down\n")],
               revert=[rt.run_action(fake.argv(), stdin="delete chain inet t down\n"),
                       rt.nft_gc_action(fake.prefix, "inet", "t")],
               deadline=now + 1.2, deadline_mono=mono + 1.2,
               schedule={"mode": "flap", "down_for": 0.2, "up_for": 0.2, "start_mono": mono})
    led.put(rec)
    assert rt.run_supervisor(led.state_dir, "flap-session") == 0
    edges = [e["detail"] for e in led.events("flap-session") if e["event"] in ("down", "up")]
    assert len(edges) == 6
    assert all(d["nft_session"] == 1 and not d["errors"] for d in edges)
    lines = fake.lines()
    pids = set(pid for pid, text in lines if text.startswith("line"))
    assert len(pids) == 1  # one child for every edge
    assert [t for _p, t in lines if t.startswith("line")] == \
        ["line add chain inet t down", "line delete chain inet t down"] * 3 + ["line delete chain inet t down"]
    assert not rt.proc_alive(int(pids.pop()))  # ended with the supervisor


def test_a_realtime_parent_starts_its_session_one_priority_below_itself(fake, sessions):
    if not rt.set_realtime(0, rt.SUPERVISOR_RT_PRIORITY, reset_on_fork=True):
        pytest.skip("SCHED_FIFO not permitted here")
    try:
        s = sessions(fake.prefix, timeout=5)
        assert s.ping()
        assert os.sched_getscheduler(s.proc.pid) == os.SCHED_FIFO
        assert os.sched_getparam(s.proc.pid).sched_priority == rt.SUPERVISOR_RT_PRIORITY - 1
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    assert not rt.is_realtime()


def test_a_signal_ends_the_supervisors_nap_at_once():
    """Before: the supervisor slept in steps of SUPERVISOR_POLL (50 ms) and saw SIGTERM only after
    the step; `state=up` waited for that.  Now the signal's wakeup fd ends the nap."""
    got = []
    old = signal.signal(signal.SIGUSR1, lambda signum, frame: got.append(signum))
    state = {}
    try:
        rt._wake_on_signals(state)
        assert "wake" in state
        timer = threading.Timer(0.1, os.kill, (os.getpid(), signal.SIGUSR1))
        timer.start()
        t0 = time.monotonic()
        rt._nap(state, 5.0)
        assert time.monotonic() - t0 < 2.0 and got == [signal.SIGUSR1]
        timer.join()
    finally:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGUSR1, old)
        os.close(state["wake"])


def test_a_supervisor_started_with_interpreter_options_is_still_recognised():
    argv = ["/usr/bin/python3", "-S", "/run/faultline/supervisor.py", "--state-dir", "/run/faultline", "--id", "x"]
    assert rt.is_supervisor_cmdline(argv)
    assert rt.is_supervisor_cmdline([argv[0]] + argv[2:])
    assert not rt.is_supervisor_cmdline(["/usr/bin/python3", "-S", "/tmp/other.py", "--state-dir", "d", "--id", "x"])
    assert not rt.is_supervisor_cmdline(["/usr/bin/python3", "-S"])


def test_the_runner_moves_itself_and_its_sessions_in_and_out_of_real_time(fake):
    r = rt.SessionRunner(timeout=5)
    try:
        r.prepare([rt.run_action(fake.argv(), stdin="add table inet t\n")])
        child = r.sessions[tuple(fake.prefix)].proc.pid
        if not r.set_realtime(True):
            pytest.skip("SCHED_FIFO not permitted here")
        assert rt.is_realtime()
        assert os.sched_getscheduler(child) == os.SCHED_FIFO
        assert os.sched_getparam(child).sched_priority == rt.SUPERVISOR_RT_PRIORITY - 1
        assert r.set_realtime(False)
        assert not rt.is_realtime() and os.sched_getscheduler(child) == os.SCHED_OTHER
    finally:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        r.close()


def test_an_nft_without_an_interactive_mode_is_given_up_after_three_children(sessions):
    started = []

    def popen(*args, **kw):
        started.append(args[0])
        return subprocess.Popen(*args, **kw)

    # exits at once, as an nft built without -i does ("interactive CLI not supported")
    s = sessions([sys.executable, "-c", "import sys; sys.exit(1)"], timeout=5, popen=popen)
    for _i in range(5):
        assert s.run("add table inet t\n") is None
    assert len(started) == rt.NFT_SESSION_GIVE_UP
    assert not s.ping()

"""Unit tests of the WS-006 logic: /proc parsing on a fake tree, verdicts, log counting."""
import os

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._websocket import flap, server


def _stat(pid, ppid, sid, start, rss=100, state="S"):
    return {"pid": pid, "ppid": ppid, "pgid": sid, "sid": sid, "starttime": start, "rss_kb": rss,
            "state": state, "comm": "x"}


def test_workers_tree_and_own_session():
    table = {1: _stat(1, 0, 1, 0), 50: _stat(50, 1, 40, 10),   # server; session leader 40 is gone
             51: _stat(51, 50, 40, 20), 52: _stat(52, 51, 40, 21),  # handler + child
             60: _stat(60, 1, 40, 30),                                # double-forked leak, re-parented
             70: _stat(70, 1, 70, 5)}                                 # unrelated
    found = dict((w["pid"], w["via"]) for w in server.workers({"pid": 50, "starttime": 10}, table))
    assert found == {51: "tree", 52: "tree", 60: "session"}


def test_workers_ignore_a_shared_session_with_a_live_leader():
    table = {30: _stat(30, 1, 30, 1), 50: _stat(50, 30, 30, 10), 60: _stat(60, 30, 30, 30)}
    assert server.workers({"pid": 50, "starttime": 10}, table) == []


def test_tcp_table_and_established(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (net / "tcp").write_text(head +
                             "   0: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 111 1\n"
                             "   1: 0100007F:1F91 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000 0 0 112 1\n"
                             "   2: 0100007F:D2F0 0100007F:1F91 01 00000000:00000000 00:00000000 00000000 0 0 113 1\n")
    (net / "tcp6").write_text(head)
    rows = procfs.tcp_sockets(str(tmp_path))
    assert [r["local"] for r in rows] == [("127.0.0.1", 8081), ("127.0.0.1", 8081), ("127.0.0.1", 54000)]
    assert procfs.established_on_port(8081, rows) == 1


def _snap(procs=0, rss=1000, fds=10, est=0, alive=True, extra=()):
    ps = [{"pid": 100 + i, "ppid": 1, "starttime": i, "state": "S", "via": "tree", "cmdline": "h"} for i in range(procs)]
    ps += list(extra)
    return {"alive": alive, "rss_kb": rss, "fds": fds, "processes": ps, "process_count": len(ps), "established": est}


P = dict(process_tolerance=0, rss_tolerance_kb=100, fd_tolerance=0, cleanup_pattern="done", log_file="/l")
CYCLES = [{"n": i, "error": None, "hold_ms": 100, "gap_ms": 50, "connect_ms": 1, "close_ms": 1, "start_lag_ms": 0}
          for i in range(3)]
FINAL = {"ok": True, "reply": "x", "latency_ms": 1.0, "connect_ms": 1.0, "error": None}


def test_evaluate_clean_run_passes():
    crit, leak = flap.evaluate(P, CYCLES, FINAL, _snap(), _snap(rss=1050), [], {"matched": 3, "lines": 6}, None, 1024)
    assert leak == [] and all(c["passed"] for c in crit)
    assert [c["name"] for c in crit] == [n for _k, n in flap.CRITERIA]


def test_evaluate_names_the_leak_and_fails_each_affected_criterion():
    leaked = {"pid": 4242, "ppid": 1, "starttime": 99, "state": "S", "via": "session", "cmdline": "sleep 300"}
    crit, leak = flap.evaluate(P, CYCLES, FINAL, _snap(), _snap(rss=3000, fds=13, extra=[leaked]),
                               [], {"matched": 2, "lines": 4}, None, 1024)
    by = dict((c["key"], c) for c in crit)
    assert [x["pid"] for x in leak] == [4242]
    assert "pid 4242 sleep 300" in by["no_duplicate_agents"]["detail"]
    assert by["no_duplicate_agents"]["passed"] is False
    assert by["memory_stable"]["passed"] is False
    assert by["connection_pool"]["passed"] is False
    assert by["cleanup_logged"]["passed"] is False  # 2 cleanup lines for 3 disconnects
    assert by["final_connection"]["passed"] is True


def test_evaluate_agent_count_and_dead_server():
    crit = flap.evaluate(P, CYCLES, FINAL, _snap(), _snap(alive=False), [], None,
                         {"before": 1, "after": 4}, None)[0]
    by = dict((c["key"], c) for c in crit)
    assert by["no_duplicate_agents"]["passed"] is False and "agent count before 1, after 4" in by["no_duplicate_agents"]["detail"]
    assert by["no_exhaustion"]["passed"] is False
    assert by["cleanup_logged"]["passed"] is None


def test_evaluate_without_server_marks_unmeasured():
    crit = flap.evaluate(P, CYCLES, None, None, None, [], None, None, None)[0]
    by = dict((c["key"], c) for c in crit)
    assert by["memory_stable"]["passed"] is None and by["final_connection"]["passed"] is None
    assert by["connection_pool"]["passed"] is True


def test_count_log_lines_only_appended_and_rotation(tmp_path):
    log = tmp_path / "s.log"
    log.write_text("old cleanup=done\n")
    start = flap.log_position(str(log))
    with open(str(log), "a") as f:
        f.write("a cleanup=done\nb connect\nc cleanup=done\n")
    assert flap.count_log_lines(str(log), start, "cleanup=done")["matched"] == 2
    os.unlink(str(log))
    log.write_text("x cleanup=done\n")  # rotated: a new file, read from the start
    res = flap.count_log_lines(str(log), start, "cleanup=done")
    assert res["matched"] == 1


@pytest.mark.parametrize("text,count", [("3\n", 3), ('{"sessions": 7}', 7), ("agents: 12 active", 12), ("[]x 5", 5)])
def test_parse_count(text, count):
    assert flap.parse_count(text) == count


def test_parse_count_rejects_garbage():
    with pytest.raises(flap.FlapError):
        flap.parse_count("none")


@pytest.mark.parametrize("url", ["http://h/", "ws:///x", "ws://h:99999/", "h:80"])
def test_validate_url_rejects(url):
    with pytest.raises(flap.FlapError):
        flap.validate_url(url)


def test_connect_kwargs_auth_and_tls():
    kw = flap.connect_kwargs(dict(url="wss://h/", headers={"X": "1"}, auth_token="s3cret", connect_timeout=1,
                                  close_timeout=1, validate_certs=False, ca_path=None, subprotocol="chat"))
    assert kw["additional_headers"] == {"X": "1", "Authorization": "Bearer s3cret"}
    assert kw["subprotocols"] == ["chat"] and kw["ssl"].check_hostname is False
    assert flap.connect_kwargs(dict(url="ws://h/", connect_timeout=1, close_timeout=1))["ssl"] is None


def test_describe_error():
    assert "connection refused" in flap.describe_error(ConnectionRefusedError(111, "x"), "ws://h/")


SAMPLER_RUN = r"""
import os, sys, time
from ansible_collections.faultline.chaos.plugins.module_utils._websocket import flap
flap.ws_server.snapshot = lambda server, port, with_cmdline=False: dict(
    rss_kb=1, fds=2, process_count=1, established=0, alive=True)
s = flap.Sampler(None, 1, 0.05, lambda t: t)
s.start()
print(s.path, flush=True)
if sys.argv[1] == "stop":
    print(len(s.stop()), flush=True)
else:
    os._exit(0)  # the module killed: stop() never runs
"""


@pytest.mark.parametrize("how", ["stop", "killed"])
def test_the_sampler_file_is_removed_also_when_the_module_dies(how):
    """Before: a module killed during a flap left /tmp/faultline-ws-samples-* behind."""
    import subprocess
    import sys
    import time
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    cp = subprocess.run([sys.executable, "-c", SAMPLER_RUN, how], capture_output=True, text=True, timeout=60,
                        check=False, env=env)
    assert cp.returncode == 0, cp.stderr
    lines = cp.stdout.split()
    path = lines[0]
    if how == "stop":
        assert int(lines[1]) >= 1  # the samples were read, then the file removed
    deadline = time.monotonic() + 10  # the orphaned sampler notices at its next sample
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(path)

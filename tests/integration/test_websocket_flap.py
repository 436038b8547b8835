"""WS-RESILIENCE-006 against a real websocketd (ports 8082-8087), through Ansible.

Every websocketd here is started by the ``websocketd`` fixture in its own
session and stopped by pid at teardown together with whatever its handlers
left in that session (the leaky handler's grandchildren), also when a test fails.
"""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_alive
from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HANDLERS = os.path.join(ROOT, "roles", "lab_websocket", "files")
WEBSOCKETD = "/usr/bin/websocketd"
CLEANUP = r"disconnect session=\d+ cleanup=done"

pytestmark = pytest.mark.skipif(not os.path.exists(WEBSOCKETD), reason="websocketd is not installed")


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


def _session_members(sid):
    return [st for st in procfs.proc_table().values() if st["sid"] == sid and st["state"] != "Z"]


class Server(object):
    def __init__(self, handler, port, tmp):
        self.port, self.url = port, "ws://127.0.0.1:%d/" % port
        self.session_log = str(tmp / ("sessions-%d.log" % port))
        self.log = open(str(tmp / ("websocketd-%d.log" % port)), "ab")
        assert not _port_open(port), "port %d is already in use" % port
        self.proc = subprocess.Popen(
            [WEBSOCKETD, "--address=127.0.0.1", "--port=%d" % port, "--loglevel=access",
             os.path.join(HANDLERS, handler + ".sh"), self.session_log],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 10
        while not _port_open(port):
            assert self.proc.poll() is None, "websocketd exited"
            assert time.monotonic() < deadline, "websocketd did not listen on %d" % port
            time.sleep(0.05)

    def sessions(self):
        """[(connect_ts, disconnect_ts)] per handler process, from the session log."""
        opened, out = {}, []
        with open(self.session_log) as f:
            for line in f:
                m = re.match(r"^(\d+\.\d+) (connect|disconnect) session=(\d+)", line)
                if not m:
                    continue
                ts, kind, sess = float(m.group(1)), m.group(2), m.group(3)
                if kind == "connect":
                    opened[sess] = ts
                elif sess in opened:
                    out.append((opened.pop(sess), ts))
        return sorted(out)

    def stop(self):
        """Stop websocketd, then every process left in its session, by pid."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            left = _session_members(self.pid)
            for st in left:
                try:
                    os.kill(st["pid"], sig)
                except OSError:
                    pass
            deadline = time.monotonic() + 5
            while _session_members(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        self.log.close()
        assert not _session_members(self.pid)


@pytest.fixture
def websocketd(tmp_path):
    servers = []

    def start(handler, port):
        s = Server(handler, port, tmp_path)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


def flap_args(server, **kw):
    args = dict(url=server.url, server_pid=server.pid, log_file=server.session_log,
                cleanup_pattern=CLEANUP, final_message="hello", final_expect="hello")
    args.update(kw)
    return args


def test_clean_handler_passes(websocketd, run_module):
    srv = websocketd("echo", 8082)
    res = run_module("websocket_flap", flap_args(srv))
    assert not res["failed"], res["msg"]
    crit = dict((c["key"], c) for c in res["criteria"])
    assert res["passed"] is True, [c["detail"] for c in res["criteria"] if not c["passed"]]
    assert all(c["passed"] is True for c in res["criteria"])
    assert res["leaked_processes"] == []
    assert res["after"]["process_count"] == res["before"]["process_count"] == 0
    assert res["after"]["fds"] == res["before"]["fds"]
    assert res["after"]["established"] == 0
    assert crit["cleanup_logged"]["measured"]["cleanup_lines"] == 20
    assert res["final"]["reply"] == "hello"
    assert len(res["cycles"]) == 20 and all(c["error"] is None for c in res["cycles"])
    # the samples saw the per-connection handler come and go
    assert max(s["processes"] for s in res["samples"]) >= 1
    assert len(srv.sessions()) == 21  # 20 cycles + the final connection
    # events for the timeline: one up and one down per cycle
    ups = [e for e in res["events"] if e["source"] == "fault" and e["event"] == "up"]
    downs = [e for e in res["events"] if e["source"] == "fault" and e["event"] == "down"]
    assert len(ups) == len(downs) == 20
    assert set(["ts", "host", "source", "id", "event", "detail"]) <= set(ups[0])


def on_grid(values_ms, want_ms):
    """The cycles' holds or gaps on their scheduled length: the median within
    10 ms, nine in ten within 20 ms. A single connect can start late under load
    (84 ms once, three lab instances on two CPUs); the grid itself must not
    drift, checked separately."""
    off = sorted(abs(v - want_ms) for v in values_ms)
    return off[len(off) // 2] <= 10 and off[int(len(off) * 0.9) - 1] <= 20


def test_timing_on_the_grid(websocketd, run_module):
    srv = websocketd("echo", 8083)
    res = run_module("websocket_flap", flap_args(srv, iterations=20, hold_ms=100, gap_ms=50, final_check=False))
    assert not res["failed"], res["msg"]
    cycles = res["cycles"]
    holds = [c["hold_ms"] for c in cycles]
    gaps = [c["gap_ms"] for c in cycles[:-1]]
    assert len(holds) == 20 and len(gaps) == 19
    # as root the cycles run SCHED_FIFO (the client's edges stay on the grid on a busy host)
    assert res["timing"]["realtime"] is (os.geteuid() == 0), res["timing"]
    assert on_grid(holds, 100), holds
    assert on_grid(gaps, 50), gaps
    # no drift: the 20th connect starts 19 periods after the first
    span = cycles[-1]["connected_at"] - cycles[0]["connected_at"]
    assert abs(span - 19 * 0.150) <= 0.020, span
    # independently, from the server's own session log (handler start / EOF)
    sessions = srv.sessions()
    assert len(sessions) == 20
    s_holds = [(d - c) * 1000 for c, d in sessions]
    s_gaps = [(n[0] - p[1]) * 1000 for p, n in zip(sessions, sessions[1:])]
    assert on_grid(s_holds, 100), s_holds
    assert on_grid(s_gaps, 50), s_gaps


def test_leaky_handler_fails_naming_the_leak(websocketd, run_module):
    srv = websocketd("leaky", 8084)
    res = run_module("websocket_flap", flap_args(srv, iterations=10))
    assert not res["failed"], res["msg"]
    assert res["passed"] is False
    crit = dict((c["key"], c) for c in res["criteria"])
    assert crit["no_duplicate_agents"]["passed"] is False
    assert crit["final_connection"]["passed"] is True
    leaked = res["leaked_processes"]
    assert len(leaked) == 10
    for p in leaked:
        assert p["cmdline"] == "sleep 300"
        assert proc_alive(p["pid"], p["starttime"])          # really running now
        assert procfs.stat(p["pid"])["sid"] == srv.pid  # in websocketd's session
        assert "pid %d sleep 300" % p["pid"] in crit["no_duplicate_agents"]["detail"] or len(leaked) > 10
    # fail_on_leak turns the verdict into a failed task that names the criterion
    res2 = run_module("websocket_flap", flap_args(srv, iterations=2, fail_on_leak=True))
    assert res2["failed"] and "No duplicate agent instances" in res2["msg"]
    assert len(res2["leaked_processes"]) == 2
    srv.stop()
    for p in leaked + res2["leaked_processes"]:
        assert not proc_alive(p["pid"], p["starttime"])


def test_check_mode_connects_nothing(websocketd, run_module):
    srv = websocketd("echo", 8085)
    res = run_module("websocket_flap", flap_args(srv, server_pid=None, server_port=8085), check=True)
    assert not res["failed"], res["msg"]
    assert res["server"]["pid"] == srv.pid and 8085 in res["server"]["ports"]
    assert res["cycles"] == [] and res["passed"] is None
    assert not os.path.exists(srv.session_log)  # no handler ever ran


@pytest.mark.parametrize("args,message", [
    (dict(url="http://127.0.0.1:8086/"), "must start with ws:// or wss://"),
    (dict(url="ws://127.0.0.1:8086/"), "connection refused"),
    (dict(url="ws://127.0.0.1:8086/", server_pid=4194000), "is not running"),
    (dict(url="ws://127.0.0.1:8086/", server_port=8086), "no process is listening on TCP port 8086"),
    (dict(url="ws://127.0.0.1:8086/", server_pidfile="/nonexistent/ws.pid"), "cannot read server_pidfile"),
    (dict(url="ws://127.0.0.1:8086/", log_file="/tmp/x.log", cleanup_pattern="("), "not a valid regular expression"),
    (dict(url="ws://127.0.0.1:8086/", iterations=0), "iterations=0 is out of range"),
    (dict(url="ws://127.0.0.1:8086/", log_file="/tmp/x.log"), "cleanup_pattern"),
])
def test_bad_input_fails_cleanly(run_module, args, message):
    res = run_module("websocket_flap", args)
    assert res["failed"]
    assert message in res["msg"], res["msg"]
    assert "Traceback" not in res["msg"]


def test_tls_failure_and_no_connection_left_open(websocketd, run_module):
    srv = websocketd("echo", 8087)
    res = run_module("websocket_flap", dict(url="wss://127.0.0.1:8087/", server_pid=srv.pid))
    assert res["failed"] and "TLS handshake with wss://127.0.0.1:8087/ failed" in res["msg"], res["msg"]
    res = run_module("websocket_flap", dict(url="wss://127.0.0.1:8087/", validate_certs=False, ca_path="/etc/ssl/certs/ca-certificates.crt"))
    assert res["failed"] and "TLS" in res["msg"], res["msg"]
    time.sleep(0.5)
    assert procfs.established_on_port(8087) == 0
    assert _session_members(srv.pid) == [] or all(st["pid"] == srv.pid for st in _session_members(srv.pid))


@pytest.mark.slow
@pytest.mark.parametrize("handler,ok", [("echo", True), ("leaky", False)])
def test_ws006_playbook(run_playbook, tmp_path, handler, ok):
    cp = run_playbook("playbooks/ws006_websocket_flapping.yml",
                      {"ws_lab_handler": handler, "faultline_report_dir": str(tmp_path)})
    assert (cp.returncode == 0) is ok, cp.stdout[-3000:]
    [report_dir] = list((tmp_path / "ws006_websocket_flapping").iterdir())
    report = json.loads((report_dir / "report.json").read_text())
    assert report["result"] == ("PASS" if ok else "FAIL")
    assert len(report["checks"]) == 6
    md = (report_dir / "report.md").read_text()
    if not ok:
        leaked = report["extra"]["leaked_processes"]
        assert len(leaked) == 20 and all(p["cmdline"] == "sleep 300" for p in leaked)
        assert "sleep 300" in md
        # the lab's `down` in the playbook's always: killed the leaked grandchildren
        for p in leaked:
            assert not proc_alive(p["pid"], p["starttime"])
    assert not _port_open(8081)

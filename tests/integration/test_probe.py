"""faultline.chaos.probe against real listeners (tcp, http, command), run through Ansible.

Ports 8091-8095 on 127.0.0.1 belong to these tests.  Every probe and listener
is stopped at teardown, also when a test fails.
"""
import socket
import subprocess
import sys
import threading
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import Ledger, port_open

REFUSED = "Connection refused (errno 111)"


class Listener(object):
    """A TCP listener that accepts and closes connections; close() makes the port refuse."""

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.thread = None

    def open(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(128)
        s.settimeout(0.05)
        self.sock = s
        self.thread = threading.Thread(target=self._accept, args=(s,), daemon=True)
        self.thread.start()
        return time.time()

    def _accept(self, s):
        while self.sock is s:
            try:
                c, _addr = s.accept()
                c.close()
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        s, self.sock = self.sock, None
        if s is not None:
            s.close()
            self.thread.join(2)
        return time.time()


@pytest.fixture
def listener():
    lst = Listener(8091)
    lst.open()
    try:
        yield lst
    finally:
        lst.close()


def probe(run_module, state_dir, check=False, **args):
    args.setdefault("state_dir", state_dir)
    return run_module("probe", args, check=check)


def test_tcp_probe_detects_close_and_recovers_per_cycle(run_module, state_dir, listener):
    r = probe(run_module, state_dir, name="tcp1", kind="tcp", port=8091, interval=0.1)
    assert not r["failed"], r["msg"]
    assert r["changed"] and r["running"] and r["pid"] > 1
    ledger = Ledger(state_dir)
    time.sleep(0.5)
    for cycle in (1, 2):  # two flap cycles recorded in the journal the way the fault engine does
        down = listener.close()
        ledger.journal("tcpfault", "down", {"cycle": cycle})
        time.sleep(1.0)
        listener.open()
        ledger.journal("tcpfault", "up", {"cycle": cycle})
        time.sleep(1.0)
    r = probe(run_module, state_dir, name="tcp1", state="stopped")
    assert not r["failed"], r["msg"]
    assert r["changed"] and not r["running"]
    assert r["samples"] >= 30 and 0 < r["ok_ratio"] < 1
    assert [w["cycle"] for w in r["windows"]] == [1, 2]
    for w in r["windows"]:
        assert w["fault_id"] == "tcpfault"
        assert w["time_to_detect_s"] is not None and w["time_to_detect_s"] < 0.5, w
        assert w["error_message"] == REFUSED
        assert w["recovered_at"] is not None and w["recovered_at"] >= w["up_at"], w
        assert w["retries"] == w["failed_samples"] >= 5
    m = r["metrics"]
    assert m["windows"] == m["detected"] == m["recovered"] == 2
    assert m["error_message"] == REFUSED and m["max_time_to_detect_s"] < 0.5
    kinds = [e["event"] for e in r["events"]]
    # ok/error alternate; a change of error text while failing adds an "error" event
    runs = [k for i, k in enumerate(kinds) if i == 0 or kinds[i - 1] != k]
    assert runs == ["ok", "error", "ok", "error", "ok"], r["events"]
    assert all(e["source"] == "probe" and e["id"] == "tcp1" for e in r["events"])
    assert [v for _ts, v in r["series"]][:5] == [1, 0, 1, 0, 1]
    # the transitions went to the shared journal
    assert [e["event"] for e in ledger.events("tcp1")] == kinds
    assert down < r["windows"][1]["detected_at"]

    # stopping again: nothing to do, metrics still there
    again = probe(run_module, state_dir, name="tcp1", state="stopped")
    assert not again["failed"] and not again["changed"] and again["samples"] == r["samples"]


def test_start_is_idempotent_and_refuses_other_parameters(run_module, state_dir, listener):
    args = dict(name="tcp2", kind="tcp", port=8091)
    first = probe(run_module, state_dir, **args)
    assert first["changed"] and not first["failed"]
    second = probe(run_module, state_dir, **args)
    assert not second["changed"] and not second["failed"] and second["pid"] == first["pid"]
    other = probe(run_module, state_dir, name="tcp2", kind="tcp", port=8092)
    assert other["failed"] and "already running" in other["msg"] and "stop it first" in other["msg"]
    check_other = probe(run_module, state_dir, check=True, name="tcp2", kind="tcp", port=8092)
    assert check_other["failed"] and "already running" in check_other["msg"]
    # collected keeps it running
    col = probe(run_module, state_dir, name="tcp2", state="collected")
    assert not col["changed"] and col["running"] and col["samples"] >= 1 and col["ok_ratio"] == 1.0
    assert background.read_meta(state_dir, "probe", "tcp2")["running"]


def test_check_mode_changes_nothing(run_module, state_dir, listener):
    r = probe(run_module, state_dir, check=True, name="tcp3", kind="tcp", port=8091)
    assert r["changed"] and not r["failed"] and not r["running"]
    assert background.read_meta(state_dir, "probe", "tcp3") is None
    probe(run_module, state_dir, name="tcp3", kind="tcp", port=8091)
    r = probe(run_module, state_dir, check=True, name="tcp3", state="stopped")
    assert r["changed"] and not r["failed"] and "samples" in r
    assert background.read_meta(state_dir, "probe", "tcp3")["running"]


@pytest.mark.parametrize("args,msg", [
    (dict(kind="nope"), "value of kind must be one of"),
    (dict(kind="tcp"), "kind is tcp but all of the following are missing: port"),
    (dict(kind="http"), "missing: url"),
    (dict(kind="command"), "missing: command"),
    (dict(kind="tcp", port=8091, interval=0), "interval=0.0 is out of range"),
    (dict(kind="tcp", port=8091, interval=-1), "interval=-1.0 is out of range"),
    (dict(kind="tcp", port=8091, lease="nan"), "lease=nan is out of range"),
    (dict(kind="tcp", port=99999), "port=99999 is out of range"),
    (dict(kind="mysql_query", query="SELECT 1", expect="("), "expect is not a valid regular expression"),
    (dict(name="bad/name", kind="tcp", port=8091), "invalid worker id"),
    (dict(), "state is started but all of the following are missing: kind"),
])
def test_bad_input_fails_clearly_and_leaves_nothing(run_module, state_dir, args, msg):
    args = dict(dict(name="bad"), **args)
    r = probe(run_module, state_dir, **args)
    assert r["failed"] and msg in r["msg"], r["msg"]
    assert "Traceback" not in r["msg"]
    assert background.list_workers(state_dir) == []


def test_stop_unknown_probe_is_ok(run_module, state_dir):
    r = probe(run_module, state_dir, name="ghost", state="stopped")
    assert not r["failed"] and not r["changed"] and r["samples"] == 0 and not r["running"]


@pytest.fixture
def http_server(tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "health").write_text("ok\n")
    srv = {"proc": None}

    def start():
        srv["proc"] = subprocess.Popen([sys.executable, "-m", "http.server", "8092", "--bind", "127.0.0.1",
                                        "--directory", str(tmp_path / "www")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", 8092, 0.2):
            assert time.monotonic() < deadline, "http.server did not start"
            time.sleep(0.05)
        return time.time()

    def stop():
        p = srv["proc"]
        if p is not None and p.poll() is None:
            p.terminate()
            p.wait(10)
        srv["proc"] = None
        return time.time()

    srv.update(start=start, stop=stop)
    start()
    try:
        yield srv
    finally:
        stop()


def test_http_probe_against_http_server(run_module, state_dir, http_server):
    url = "http://127.0.0.1:8092/health"
    one = probe(run_module, state_dir, name="web", kind="http", url=url, state="sampled")
    assert one["sample"]["ok"] and one["sample"]["detail"]["status"] == 200
    missing = probe(run_module, state_dir, name="web", kind="http", url=url + "-nope", state="sampled")
    assert not missing["sample"]["ok"] and missing["sample"]["error"] == "HTTP status 404 (expected 200)"
    allowed = probe(run_module, state_dir, name="web", kind="http", url=url + "-nope", state="sampled",
                    expect_status=[404])
    assert allowed["sample"]["ok"]

    r = probe(run_module, state_dir, name="web", kind="http", url=url, url_username="u", url_password="s3cret")
    assert r["changed"] and not r["failed"]
    with open(r["output"].replace(".jsonl", ".json")) as f:
        assert "s3cret" not in f.read()  # the secret stays in memory
    time.sleep(0.5)
    down = http_server["stop"]()
    time.sleep(1.0)
    up = http_server["start"]()
    time.sleep(1.0)
    r = probe(run_module, state_dir, name="web", state="stopped", windows=[{"down_at": down, "up_at": up}])
    assert not r["failed"], r["msg"]
    w = r["windows"][0]
    assert w["n"] == 1 and w["time_to_detect_s"] < 0.5
    assert w["error_message"] == REFUSED
    assert w["recovered_at"] is not None and w["time_to_recover_s"] < 1.0
    assert r["metrics"]["time_to_detect_s"] == w["time_to_detect_s"]


def test_command_probe(run_module, state_dir, tmp_path):
    flag = tmp_path / "healthy"
    flag.write_text("")
    r = probe(run_module, state_dir, name="cmd", kind="command", command=["test", "-e", str(flag)], interval=0.1)
    assert r["changed"] and not r["failed"]
    skipped = probe(run_module, state_dir, check=True, name="cmd", kind="command", command=["false"],
                    state="sampled")
    assert skipped.get("skipped_sample") and "sample" not in skipped
    time.sleep(0.5)
    down = time.time()
    flag.unlink()
    time.sleep(0.8)
    up = time.time()
    flag.write_text("")
    time.sleep(0.8)
    r = probe(run_module, state_dir, name="cmd", state="stopped", windows=[{"down_at": down, "up_at": up}],
              recover_after=2)
    w = r["windows"][0]
    assert w["time_to_detect_s"] < 0.5 and w["error_message"] == "rc=1"
    assert w["recovered_at"] is not None and w["retries"] == w["failed_samples"] >= 3

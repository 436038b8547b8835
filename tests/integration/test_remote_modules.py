"""Every module on a remote target: run over SSH on the lab hosts (roles/lab_hosts).

The modules run inside node1..3 (network namespaces on 198.18.0.0/24, each
with its own sshd and its own /run), exactly as on remote machines: probe (every
kind but the etcd ones, which test_lab_etcd/T040 prove on the hosts layout),
process, websocket_flap, and, against a MariaDB source on node1 replicating to
a replica on node2 (support/mariadb.py ``Pair(hosts=...)``, each server inside
its host's namespace bound to its address), datagen, verify, binlog and the
mysql probe kinds. A lab host whose Python lacks a library gets
``missing_required_lib`` naming the host.

Servers and listeners the tests start inside the namespaces are started and
stopped here by pid; the ``hosts`` fixture (test_netns) takes the lab hosts
down and checks nothing is left.
"""
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest
import yaml

from support import mariadb
from support.ansible import ROOT
from support.util import wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state

from test_netns import INVENTORY, PORT, hosts, listeners, node, nft_table  # noqa: F401 pylint: disable=unused-import

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")]

HTTP_PORT, WS_PORT, DB_PORT = 8000, 8081, 3306
T = "faultline.faultline_datagen"


def on(run_module, host, module, args, **kw):
    """Run a module on one lab host over SSH; its result dict."""
    return run_module(module, args, inventory=INVENTORY, hosts=host, **kw)[host]


def start_in(netns, argv):
    """A process of the test inside a lab host's namespace (ip netns exec execs: same pid)."""
    return subprocess.Popen(["ip", "netns", "exec", netns] + argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def stop(proc):
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def stop_workers(state_dir):
    for meta in background.list_workers(state_dir):
        if meta["running"]:
            background.stop(state_dir, meta["kind"], meta["id"])
    assert not any(m["running"] for m in background.list_workers(state_dir))


def journal(state_dir):
    path = os.path.join(state_dir, "journal.jsonl")
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def ledger(tmp_path):
    """A private ledger path for the lab hosts (they share this machine's
    filesystem); probe/datagen workers left in it are stopped at the end."""
    sd = str(tmp_path / "ledger")
    yield sd
    stop_workers(sd)


@pytest.fixture(scope="module")
def http_server(hosts):
    n2 = node(hosts, "node2")
    proc = start_in(n2["netns"], [os.path.join(ROOT, ".venv", "bin", "python"), "-m", "http.server",
                                  "--bind", n2["address"], str(HTTP_PORT), "--directory", ROOT + "/docs"])
    try:
        wait_for(lambda: subprocess.run(["ip", "netns", "exec", node(hosts, "node1")["netns"], "bash", "-c",
                                         "exec 3<>/dev/tcp/%s/%d" % (n2["address"], HTTP_PORT)],
                                        check=False).returncode == 0, 20, 0.2, "http.server on node2")
        yield "http://%s:%d/" % (n2["address"], HTTP_PORT)
    finally:
        stop(proc)


# --------------------------------------------------------------------------
# probe (tcp, http, command) and the background worker over SSH
# --------------------------------------------------------------------------

def test_probe_samples_every_non_mysql_kind_on_a_lab_host(hosts, listeners, http_server, ledger, run_module):
    n2 = node(hosts, "node2")
    base = {"state": "sampled", "state_dir": ledger, "timeout": 2}
    ok = on(run_module, "node1", "probe", dict(base, name="tcp", kind="tcp", host=n2["address"], port=PORT))
    closed = on(run_module, "node1", "probe", dict(base, name="tcp2", kind="tcp", host=n2["address"], port=PORT + 1))
    http = on(run_module, "node1", "probe", dict(base, name="http", kind="http", url=http_server + "index.md"))
    missing = on(run_module, "node1", "probe", dict(base, name="http", kind="http", url=http_server + "nope"))
    cmd = on(run_module, "node1", "probe", dict(base, name="cmd", kind="command", command=["hostname"]))
    bad = on(run_module, "node1", "probe", dict(base, name="cmd", kind="command", command=["false"]))
    for res in (ok, closed, http, missing, cmd, bad):
        assert not res["failed"], res["msg"]
    assert ok["sample"]["ok"] is True, ok["sample"]
    assert closed["sample"]["ok"] is False and "refused" in json.dumps(closed["sample"]).lower(), closed["sample"]
    assert http["sample"]["ok"] is True, http["sample"]
    assert missing["sample"]["ok"] is False and "404" in json.dumps(missing["sample"]), missing["sample"]
    assert cmd["sample"]["ok"] is True and "node1" in json.dumps(cmd["sample"]), cmd["sample"]  # ran on node1
    assert bad["sample"]["ok"] is False, bad["sample"]


def test_probe_worker_on_node1_measures_a_reject_applied_on_node2(hosts, listeners, ledger, tmp_path, run_module):
    """The probe's worker outlives the SSH session that started it; the fault is on another host."""
    n2 = node(hosts, "node2")
    node2_ledger = str(tmp_path / "node2")
    probe = {"name": "remote", "kind": "tcp", "host": n2["address"], "port": PORT, "interval": 0.1,
             "timeout": 0.5, "state_dir": ledger, "lease": 120}
    res = on(run_module, "node1", "probe", dict(probe, state="started"))
    assert not res["failed"] and res["changed"], res["msg"]
    fault = {"state": "down", "type": "reject", "port": PORT, "duration": 3, "state_dir": node2_ledger}
    try:
        time.sleep(1.0)  # a baseline of ok samples
        down = on(run_module, "node2", "network", dict(fault, wait=True))
        assert not down["failed"] and down["changed"], down["msg"]
        time.sleep(1.5)  # the recovery
        events = journal(node2_ledger)
        down_at = [e["ts"] for e in events if e["event"] == "down"][0]
        up_at = [e["ts"] for e in events if e["event"] == "reverted"][0]
        assert {e["host"] for e in events} == {"node2"}, events  # journalled on node2, by node2
        stopped = on(run_module, "node1", "probe", {"name": "remote", "state": "stopped", "state_dir": ledger,
                                                    "windows": [{"down_at": down_at, "up_at": up_at}]})
    finally:
        on(run_module, "node2", "restore", {"state_dir": node2_ledger})
    assert not stopped["failed"], stopped["msg"]
    m = stopped["windows"][0]
    assert m["time_to_detect_s"] is not None and 0 <= m["time_to_detect_s"] < 1.0, m
    assert m["time_to_recover_s"] is not None and 0 <= m["time_to_recover_s"] < 1.5, m
    assert "refused" in (m["error_message"] or "").lower(), m
    assert 2.5 < up_at - down_at < 4.5
    assert all(e["host"] == "node1" for e in stopped["events"]), stopped["events"][:3]
    assert nft_table(n2["netns"]) is None


# --------------------------------------------------------------------------
# process over SSH
# --------------------------------------------------------------------------

def test_process_pause_on_node1_is_resumed_by_its_supervisor_and_kill_kills(hosts, ledger, run_module):
    n1 = node(hosts, "node1")
    victim = start_in(n1["netns"], ["sleep", "600"])
    try:
        wait_for(lambda: proc_state(victim.pid) in ("S", "R"), 10, 0.05, "sleep to start")
        paused = on(run_module, "node1", "process", {"state": "paused", "pid": victim.pid, "duration": 3,
                                                     "state_dir": ledger})
        assert not paused["failed"] and paused["changed"], paused["msg"]
        assert proc_state(victim.pid) == "T"
        wait_for(lambda: proc_state(victim.pid) in ("S", "R"), 8, 0.05, "the supervisor's SIGCONT")
        events = journal(ledger)
        down = [e for e in events if e["event"] == "down"]
        resumed = [e for e in events if e["event"] == "reverted"]
        assert resumed and resumed[-1]["detail"]["by"] == "supervisor" and resumed[-1]["host"] == "node1", resumed
        assert 2.9 < resumed[-1]["ts"] - down[0]["ts"] < 4.5, (down, resumed)  # at the deadline, node1's clock

        killed = on(run_module, "node1", "process", {"state": "killed", "pid": victim.pid, "state_dir": ledger})
        assert not killed["failed"] and killed["changed"], killed["msg"]
        assert victim.wait(5) == -signal.SIGKILL
    finally:
        stop(victim)


def test_process_refuses_the_sshd_that_serves_the_controller_on_node1(hosts, ledger, run_module):
    n1 = node(hosts, "node1")
    with open(n1["pidfile"]) as f:
        sshd = int(f.read().strip())
    res = on(run_module, "node1", "process", {"state": "killed", "pidfile": n1["pidfile"], "state_dir": ledger})
    assert res["failed"] and not res.get("unreachable"), res
    assert str(sshd) in res["msg"] and "Traceback" not in res["msg"], res["msg"]
    assert proc_state(sshd) not in (None, "Z")
    ping = run_module("ansible.builtin.ping", inventory=INVENTORY, hosts="node1")["node1"]
    assert ping.get("ping") == "pong", ping


# --------------------------------------------------------------------------
# websocket_flap over SSH
# --------------------------------------------------------------------------

def test_websocket_flap_on_the_servers_lab_host(hosts, run_module):
    n2 = node(hosts, "node2")
    server = start_in(n2["netns"], ["websocketd", "--address=%s" % n2["address"], "--port=%d" % WS_PORT, "cat"])
    try:
        wait_for(lambda: subprocess.run(["ip", "netns", "exec", n2["netns"], "bash", "-c",
                                         "exec 3<>/dev/tcp/%s/%d" % (n2["address"], WS_PORT)],
                                        check=False).returncode == 0, 20, 0.2, "websocketd on node2")
        url = "ws://%s:%d/" % (n2["address"], WS_PORT)
        args = {"url": url, "iterations": 20, "hold_ms": 20, "gap_ms": 10, "server_pid": server.pid,
                "settle_ms": 500, "process_tolerance": 0}
        res = on(run_module, "node2", "websocket_flap", args)
        assert not res["failed"], res["msg"]
        assert res["passed"] is True, res["criteria"]
        assert res["server"]["pid"] == server.pid, res["server"]
        assert res["final"]["ok"] is True and "faultline-ping" in res["final"]["reply"], res["final"]
        assert len(res["cycles"]) == 20, res["cycles"][:2]
        # and from another host (the client on node1, no server sampling there)
        remote = on(run_module, "node1", "websocket_flap", {"url": url, "iterations": 10, "hold_ms": 20,
                                                            "gap_ms": 10})
        assert not remote["failed"] and remote["passed"] is True, remote.get("criteria", remote["msg"])
    finally:
        stop(server)


# --------------------------------------------------------------------------
# a lab host whose Python lacks the libraries
# --------------------------------------------------------------------------

@pytest.fixture
def bare_python_inventory(tmp_path, hosts):
    """node1 with the system's /usr/bin/python3 (no PyMySQL, no websockets) as its interpreter;
    the connection settings are the netns inventory's own."""
    with open(os.path.join(INVENTORY, "group_vars", "lab_hosts.yml")) as f:
        conn = yaml.safe_load(f)
    conn["ansible_python_interpreter"] = "/usr/bin/python3"
    inv = {"all": {"vars": conn, "hosts": {"node1": {"ansible_host": node(hosts, "node1")["address"]}}}}
    path = str(tmp_path / "bare.yml")
    with open(path, "w") as f:
        yaml.safe_dump(inv, f)
    for lib in ("pymysql", "websockets"):
        assert subprocess.run(["/usr/bin/python3", "-c", "import " + lib], capture_output=True,
                              check=False).returncode != 0, "/usr/bin/python3 has %s: pick another interpreter" % lib
    return path


@pytest.mark.parametrize("module, args, lib", [
    ("probe", {"state": "started", "name": "q", "kind": "mysql_query", "query": "SELECT 1",
               "login_host": "198.18.0.11"}, "PyMySQL"),
    ("datagen", {"state": "started", "run_id": "bare", "count": 5, "interval": 0.1,
                 "login_host": "198.18.0.11"}, "PyMySQL"),
    ("verify", {"source_host": "198.18.0.11", "destination_host": "198.18.0.12"}, "PyMySQL"),
    ("binlog", {"state": "corrupted", "target": "latest_rotated", "login_host": "198.18.0.11"}, "PyMySQL"),
    ("websocket_flap", {"url": "ws://198.18.0.12:8081/"}, "websockets"),
], ids=lambda v: v if isinstance(v, str) and "." not in v and len(v) < 16 else None)
def test_a_missing_library_on_a_lab_host_is_named_with_the_host(bare_python_inventory, ledger, module, args, lib,
                                                                run_module):
    if module != "websocket_flap":
        args = dict(args, state_dir=ledger)
    res = run_module(module, args, inventory=bare_python_inventory, hosts="node1")["node1"]
    assert res["failed"] and not res.get("unreachable"), res
    assert "required Python library (%s) on node1's Python /usr/bin/python3" % lib in res["msg"], res["msg"]
    assert background.list_workers(ledger) == []
    assert not os.path.isdir(os.path.join(ledger, "faults")) or os.listdir(os.path.join(ledger, "faults")) == []


# --------------------------------------------------------------------------
# MySQL-backed modules: source on node1, replica on node2
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair(hosts):
    if not mariadb.available():
        pytest.skip("MariaDB server not installed")
    n1, n2 = node(hosts, "node1"), node(hosts, "node2")
    p = mariadb.Pair(DB_PORT, DB_PORT, hosts=[(n1["address"], n1["netns"]), (n2["address"], n2["netns"])])
    p.start()
    try:
        yield p
    finally:
        p.stop()


def login(prefix, server):
    return {prefix + "host": server.address, prefix + "port": server.port,
            prefix + "user": mariadb.REMOTE_USER, prefix + "password": mariadb.REMOTE_PASSWORD}


@pytest.fixture(scope="module")
def written(pair, hosts, run_module, tmp_path_factory):
    """1000 rows written by datagen on node1 (the application's host) into the source on node1."""
    sd = str(tmp_path_factory.mktemp("written"))
    res = on(run_module, "node1", "datagen", dict(login("login_", pair.source), total=1000, batch=100,
                                                  state_dir=sd))
    assert not res["failed"] and res["rows_acked"] == 1000, res["msg"]
    pair.wait_replica()
    return res


def test_datagen_in_the_background_on_node1_survives_the_ssh_session(pair, written, ledger, run_module):
    args = dict(login("login_", pair.source), state="started", run_id="bg-node1", count=5, interval=0.2, total=20,
                state_dir=ledger)
    started = on(run_module, "node1", "datagen", args)
    assert not started["failed"] and started["changed"], started["msg"]

    def finished():
        res = on(run_module, "node1", "datagen", dict(args, state="stopped"))
        return None if res["running"] else res
    stopped = wait_for(finished, 30, 0.5, "datagen to finish")
    assert stopped["rows_acked"] == 20 and stopped["rows_failed"] == 0, stopped
    assert {e["host"] for e in stopped["events"]} == {"node1"}
    assert pair.source.query("SELECT COUNT(*) AS n FROM %s WHERE run_id='bg-node1'" % T)[0]["n"] == 20


def test_verify_from_node3_passes_then_names_a_row_deleted_on_the_replica_host(pair, written, run_module):
    run = written["run_id"]
    pair.wait_replica()
    args = dict(login("source_", pair.source), **login("destination_", pair.replica))
    args.update(datagen_run_id=run, acked_ranges=written["acked_ranges"], converge_timeout=5, poll_interval=0.5)
    ok = on(run_module, "node3", "verify", args)
    assert not ok["failed"] and ok["passed"], ok["msg"]
    row = pair.replica.sql("SELECT * FROM %s WHERE run_id='%s' AND seq=333" % (T, run))[0]
    pair.replica.sql("SET SESSION sql_log_bin=0", "DELETE FROM %s WHERE run_id='%s' AND seq=333" % (T, run))
    try:
        bad = on(run_module, "node3", "verify", dict(args, converge_timeout=1))
        assert bad["failed"] and not bad["passed"], bad
        assert bad["missing_keys"] == [[run, 333]] and "(%s, 333)" % run in bad["msg"], bad["msg"]
    finally:
        pair.replica.sql("SET SESSION sql_log_bin=0",
                         "INSERT INTO %s VALUES ('%s', %d, '%s', %d, '%s')" % ((T,) + row))


def test_probe_mysql_kinds_on_the_replica_and_source_hosts(pair, written, ledger, run_module):
    rep = on(run_module, "node2", "probe", dict(login("login_", pair.replica), state="sampled", name="rep",
                                                kind="mysql_replica", state_dir=ledger))
    assert not rep["failed"] and rep["sample"]["ok"] is True, rep.get("sample", rep["msg"])
    q = on(run_module, "node1", "probe", dict(login("login_", pair.source), state="sampled", name="q",
                                              kind="mysql_query", query="SELECT COUNT(*) FROM %s" % T,
                                              expect="^[0-9]+$", state_dir=ledger))
    assert not q["failed"] and q["sample"]["ok"] is True, q.get("sample", q["msg"])
    pair.replica.sql("STOP SLAVE")
    try:
        stopped = on(run_module, "node2", "probe", dict(login("login_", pair.replica), state="sampled",
                                                        name="rep", kind="mysql_replica", state_dir=ledger))
        assert stopped["sample"]["ok"] is False, stopped["sample"]
    finally:
        pair.replica.sql("START SLAVE")
        pair.wait_running()


def test_binlog_damage_on_the_source_host_and_byte_identical_restore(pair, written, ledger, tmp_path, run_module):
    pair.insert(40)  # rotate (max_binlog_size 4 KiB)
    pair.source.sql("FLUSH BINARY LOGS")
    args = dict(login("login_", pair.source), state="corrupted", type="garbage", target="latest_rotated",
                state_dir=ledger, backup_dir=str(tmp_path / "backups"))
    res = on(run_module, "node1", "binlog", args)
    assert not res["failed"] and res["changed"], res["msg"]
    path = res["file"]
    assert path.startswith(pair.source.dir) and sha(path) != res["sha256"], res
    assert sha(res["backup"]) == res["sha256"]
    back = on(run_module, "node1", "binlog", {"state": "restored", "file": "all", "state_dir": ledger})
    assert not back["failed"] and back["changed"], back["msg"]
    assert sha(path) == res["sha256"]
    assert not os.path.isdir(os.path.join(ledger, "faults")) or os.listdir(os.path.join(ledger, "faults")) == []

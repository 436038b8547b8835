"""Helpers for the process and binlog integration tests (no tests here).

- ``run_module``: run a module of the working tree the way Ansible does
  (``ANSIBLE_MODULE_ARGS`` file), return its JSON result.
- ``mariadb_pair``: a throwaway MariaDB source (3357) + GTID replica (3358)
  in a temporary directory, tiny ``max_binlog_size`` so binlogs rotate;
  stopped by pid at teardown.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COLLECTIONS = os.path.join(ROOT, ".collections")
PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"

pymysql = pytest.importorskip("pymysql")


def run_module(name, args, check_mode=False, diff=False, timeout=120):
    """Run ``faultline.chaos.<name>`` with ``args``; return its result dict."""
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    fd, path = tempfile.mkstemp(prefix="faultline-args-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
        env = dict(os.environ, PYTHONPATH=COLLECTIONS)
        p = subprocess.run([PYTHON, "-m", "ansible_collections.faultline.chaos.plugins.modules." + name, path],
                           capture_output=True, text=True, timeout=timeout, env=env, cwd="/")
    finally:
        os.unlink(path)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    assert lines, "module %s printed no JSON (rc=%s): %s %s" % (name, p.returncode, p.stdout, p.stderr)
    res = json.loads(lines[-1])
    assert "Traceback" not in p.stderr, p.stderr
    return res


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), timeout=0.3).close()
        return True
    except OSError:
        return False


def wait_for(pred, timeout=30.0, step=0.1, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for %s" % what)


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return None


class Instance(object):
    def __init__(self, base, name, port, server_id):
        self.name, self.port, self.server_id = name, port, server_id
        self.dir = os.path.join(base, name)
        self.datadir = os.path.join(self.dir, "data")
        self.cnf = os.path.join(self.dir, "my.cnf")
        self.pidfile = os.path.join(self.dir, "mariadbd.pid")
        self.socket = os.path.join(self.dir, "mariadbd.sock")
        self.binlog_base = os.path.join(self.dir, "binlog", "mysql-bin")
        self.pids = set()

    @property
    def start_argv(self):
        return [MARIADBD, "--defaults-file=%s" % self.cnf]

    def write_config(self):
        os.makedirs(os.path.dirname(self.binlog_base), exist_ok=True)
        lines = [
            "[mysqld]", "user=root", "datadir=%s" % self.datadir, "port=%d" % self.port,
            "bind-address=127.0.0.1", "socket=%s" % self.socket, "pid-file=%s" % self.pidfile,
            "log-error=%s" % os.path.join(self.dir, "error.log"), "server-id=%d" % self.server_id,
            "skip-name-resolve", "log-bin=%s" % self.binlog_base, "binlog-format=ROW",
            "max_binlog_size=4096", "innodb_buffer_pool_size=16M", "innodb_log_file_size=8M",
            "performance_schema=OFF", "skip-slave-start=%d" % (1 if self.server_id == 1 else 0),
            "relay-log=%s" % os.path.join(self.dir, "relay-bin"),
        ]
        with open(self.cnf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def install(self):
        self.write_config()
        subprocess.run([INSTALL_DB, "--defaults-file=%s" % self.cnf, "--skip-test-db",
                        "--auth-root-authentication-method=normal"],
                       check=True, capture_output=True, timeout=120)

    def start(self):
        log = open(os.path.join(self.dir, "stdout.log"), "ab")
        p = subprocess.Popen(self.start_argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                             start_new_session=True)
        log.close()
        self.pids.add(p.pid)
        wait_for(lambda: port_open(self.port), 60, what="%s port %d" % (self.name, self.port))
        self.pids.add(self.pid())
        return p.pid

    def pid(self):
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def conn(self):
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               autocommit=True, cursorclass=pymysql.cursors.DictCursor,
                               connect_timeout=5)

    def query(self, sql, *args):
        c = self.conn()
        try:
            with c.cursor() as cur:
                cur.execute(sql, args or None)
                return cur.fetchall()
        finally:
            c.close()

    def stop(self):
        pids = set(self.pids)
        if self.pid():
            pids.add(self.pid())
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
                os.kill(pid, signal.SIGTERM)
            except OSError:
                pass
        end = time.monotonic() + 30
        for pid in pids:
            while proc_state(pid) not in (None, "Z") and time.monotonic() < end:
                time.sleep(0.1)
            if proc_state(pid) not in (None, "Z"):
                os.kill(pid, signal.SIGKILL)
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass


class Pair(object):
    def __init__(self, base):
        self.base = base
        self.source = Instance(base, "source", 3357, 1)
        self.replica = Instance(base, "replica", 3358, 2)

    def replica_status(self):
        rows = self.replica.query("SHOW SLAVE STATUS")
        return rows[0] if rows else {}

    def start_replication(self):
        self.replica.query(
            "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', "
            "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1" % self.source.port)
        self.replica.query("START SLAVE")
        wait_for(lambda: self.replica_status().get("Slave_IO_Running") == "Yes", 30, what="replica IO")

    def count(self, inst, table="flt.t"):
        return inst.query("SELECT COUNT(*) AS n FROM %s" % table)[0]["n"]

    def wait_synced(self, timeout=30):
        want = self.count(self.source)
        wait_for(lambda: self.count(self.replica) == want, timeout, what="replica to catch up (%d rows)" % want)
        return want

    def insert(self, n, pad=200):
        c = self.source.conn()
        try:
            with c.cursor() as cur:
                for _ in range(n):
                    cur.execute("INSERT INTO flt.t (pad) VALUES (REPEAT('x', %s))", (pad,))
        finally:
            c.close()


_SHARED = {"pair": None, "users": 0}


@pytest.fixture(scope="session")
def mariadb_pair():
    """One pair per session, shared by every test module that imports this fixture.

    (Imported into two modules, pytest makes two session fixtures; the
    reference count starts the pair once and stops it after the last user.)
    """
    if _SHARED["pair"] is not None:
        _SHARED["users"] += 1
        try:
            yield _SHARED["pair"]
        finally:
            _SHARED["users"] -= 1
            if _SHARED["users"] == 0:
                _stop_pair(_SHARED.pop("pair"))
                _SHARED["pair"] = None
        return
    for port in (3357, 3358):
        if port_open(port):
            pytest.skip("port %d is already in use" % port)
    base = tempfile.mkdtemp(prefix="faultline-faults-")
    pair = Pair(base)
    _SHARED["users"] += 1
    try:
        for inst in (pair.source, pair.replica):
            inst.install()
            inst.start()
        pair.source.query("CREATE DATABASE flt")
        pair.source.query("CREATE TABLE flt.t (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(255))")
        pair.start_replication()
        pair.insert(5)
        pair.wait_synced()
        _SHARED["pair"] = pair
        yield pair
    finally:
        _SHARED["users"] -= 1
        if _SHARED["users"] == 0:
            _SHARED["pair"] = None
            _stop_pair(pair)


def _stop_pair(pair):
    pair.replica.stop()
    pair.source.stop()
    shutil.rmtree(pair.base, ignore_errors=True)


@pytest.fixture
def state_dir(tmp_path):
    """A private ledger; at teardown every fault left in it is reverted."""
    d = str(tmp_path / "state")
    yield d
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime
    led = runtime.Ledger(d)
    for rec in led.list():
        if not runtime.stop_supervisor(led, rec):
            runtime.revert_record(led, rec, "test_teardown", "test")

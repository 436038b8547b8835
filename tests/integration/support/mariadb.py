"""A throwaway MariaDB source + GTID replica on 127.0.0.1, started and stopped by pid.

Each server gets a fresh data directory from ``mariadb-install-db`` under a
temp dir (removed by ``Pair.stop()``), a ``my.cnf`` of its own (``start_argv``
is what a fault needs to start it again) and a tiny ``max_binlog_size`` so
binlogs rotate.  The replica replicates with GTID (``slave_pos``, connect
retry 1 s) as the user ``repl`` (password ``REPL_PASSWORD``).  ``stop()``
signals only processes started here or recorded in ``pids`` (a fault that
restarted the server: add the new pid), and the pidfile's pid only while its
command line is this server's.

``Pair(..., hosts=[(address, netns), (address, netns)])`` puts each server in
a network namespace of roles/lab_hosts, bound to that host's address (the
source on one lab host, the replica on another, replicating over the lab
bridge); the test reaches them through their unix sockets (the filesystem is
shared), the lab hosts over TCP as ``REMOTE_USER``.

Used by the ``mariadb_pair`` fixture of tests/integration/conftest.py, by
tests/integration/test_remote_modules.py and by benchmarks/ (``make_pair``).
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

import pymysql
import pymysql.cursors

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import port_open, proc_state

from .util import reap, read_pidfile, wait_for

MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
INSTALL_DB = shutil.which("mariadb-install-db") or "/usr/bin/mariadb-install-db"
REPL_USER, REPL_PASSWORD = "repl", "replpw"
# the login of the lab hosts (from 198.18.0.0/24) to a pair with ``hosts``
REMOTE_USER, REMOTE_PASSWORD, REMOTE_HOSTS = "chaos", "chaospw", "198.18.0.%"
# Options for throughput (benchmarks); the test pair is small by default.
SERVER_OPTS = [
    "--innodb-buffer-pool-size=256M",
    "--innodb-log-file-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
    "--sync-binlog=0",
    "--max-connections=200",
    "--binlog-format=ROW",
]


def available():
    return os.path.exists(MARIADBD) and os.path.exists(INSTALL_DB)


class Server(object):
    """One mariadbd: ``install()``, ``start()``/``stop(sig)`` (both return time.time()),
    ``sql(*statements)`` -> tuples of the last one, ``query(sql, *args)`` -> dict rows."""

    def __init__(self, base, name, port, server_id, options=(), max_binlog_size=4096, address="127.0.0.1",
                 netns=None):
        """``netns``: start the server inside that network namespace, bound to ``address``."""
        self.name, self.port, self.server_id = name, port, server_id
        self.address, self.netns = address, netns
        self.dir = os.path.join(base, name)
        self.datadir = os.path.join(self.dir, "data")
        self.cnf = os.path.join(self.dir, "my.cnf")
        self.pidfile = os.path.join(self.dir, "mariadbd.pid")
        self.socket = os.path.join(self.dir, "mariadbd.sock")
        self.binlog_base = os.path.join(self.dir, "binlog", "mysql-bin")
        self.options = list(options)
        self.max_binlog_size = max_binlog_size
        self.pids = set()

    @property
    def start_argv(self):
        return [MARIADBD, "--defaults-file=%s" % self.cnf] + self.options

    def write_config(self):
        os.makedirs(os.path.dirname(self.binlog_base), exist_ok=True)
        # a private tmpdir: mariadb-install-db run by two servers at once with the
        # shared /tmp failed ("Could not remove temporary table '/tmp/#sql-temptable-...'",
        # "Installation of system tables failed!"), 1 of 4 concurrent runs here
        os.makedirs(os.path.join(self.dir, "tmp"), exist_ok=True)
        lines = [
            "[mysqld]", "user=root", "datadir=%s" % self.datadir, "port=%d" % self.port,
            "tmpdir=%s" % os.path.join(self.dir, "tmp"),
            "bind-address=%s" % self.address, "socket=%s" % self.socket, "pid-file=%s" % self.pidfile,
            "log-error=%s" % os.path.join(self.dir, "error.log"), "server-id=%d" % self.server_id,
            "skip-name-resolve", "log-bin=%s" % self.binlog_base, "binlog-format=ROW",
            "max_binlog_size=%d" % self.max_binlog_size, "innodb_buffer_pool_size=16M",
            "innodb_log_file_size=8M", "performance_schema=OFF", "log-slave-updates",
            "relay-log=%s" % os.path.join(self.dir, "relay-bin"),
        ]
        with open(self.cnf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def install(self):
        os.makedirs(self.dir)
        self.write_config()
        cp = subprocess.run([INSTALL_DB, "--defaults-file=%s" % self.cnf, "--skip-test-db",
                             "--auth-root-authentication-method=normal"],
                            capture_output=True, text=True, timeout=120, check=False)
        if cp.returncode != 0:
            raise RuntimeError("mariadb-install-db for %s failed (rc %d): %s" % (
                self.name, cp.returncode, (cp.stdout + cp.stderr)[-2000:]))

    def start(self, timeout=60):
        if port_open(self.address, self.port, 0.3):
            raise RuntimeError("port %d is already in use" % self.port)
        wrap = ["ip", "netns", "exec", self.netns] if self.netns else []  # ip netns exec execs: same pid
        with open(os.path.join(self.dir, "stdout.log"), "ab") as log:
            p = subprocess.Popen(wrap + self.start_argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                 start_new_session=True)
        self.pids.add(p.pid)
        end = time.monotonic() + timeout
        while not port_open(self.address, self.port, 0.3):
            if p.poll() is not None:
                raise RuntimeError("mariadbd %s exited: see %s/error.log" % (self.name, self.dir))
            if time.monotonic() > end:
                raise RuntimeError("mariadbd %s did not open port %d" % (self.name, self.port))
            time.sleep(0.1)
        return time.time()

    def pid(self):
        """The pid in the pidfile (None when there is none)."""
        return read_pidfile(self.pidfile)

    def _ours(self):
        pids = set(self.pids)
        pid = self.pid()
        if pid and "--defaults-file=%s" % self.cnf in procfs.cmdline(pid):
            pids.add(pid)
        return pids

    def stop(self, sig=signal.SIGTERM, timeout=60):
        """Signal the server (SIGCONT first, a paused one must see it) and wait until it is gone."""
        pids = self._ours()
        for pid in pids:
            if proc_state(pid) not in (None, "Z"):
                try:
                    os.kill(pid, signal.SIGCONT)
                    os.kill(pid, sig)
                except OSError:
                    pass
        end = time.monotonic() + timeout
        for pid in pids:
            reap(pid)
            while proc_state(pid) not in (None, "Z") and time.monotonic() < end:
                time.sleep(0.05)
                reap(pid)
            if proc_state(pid) not in (None, "Z"):
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda p=pid: proc_state(p) in (None, "Z") or reap(p), 10, 0.05, "pid %d to die" % pid)
            reap(pid)
        self.pids.clear()
        return time.time()

    def connect(self, **kw):
        if self.netns:  # root is root@localhost: through the socket, which every namespace shares
            kw["unix_socket"] = self.socket
        return pymysql.connect(host=self.address, port=self.port, user="root", password="",
                               autocommit=True, connect_timeout=5, **kw)

    def sql(self, *statements):
        """Run the statements on one connection; the rows (tuples) of the last one."""
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                out = None
                for st in statements:
                    cur.execute(st)
                    out = cur.fetchall()
                return out
        finally:
            conn.close()

    def query(self, sql, *args):
        """One statement with %s parameters; dict rows."""
        conn = self.connect(cursorclass=pymysql.cursors.DictCursor)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args or None)
                return cur.fetchall()
        finally:
            conn.close()


class Pair(object):
    """Source (server id 1) + GTID replica (server id 2) in a fresh temp dir.

    After ``start()`` the source has ``flt.t (id, pad)`` with 5 rows, replicated.
    """

    def __init__(self, source_port, replica_port, options=(), max_binlog_size=4096, hosts=None):
        """``hosts``: ``[(address, netns) of the source, (address, netns) of the replica]``."""
        self.base = tempfile.mkdtemp(prefix="faultline-pair-")
        where = [dict(address=a, netns=n) for a, n in hosts] if hosts else [{}, {}]
        self.source = Server(self.base, "source", source_port, 1, options, max_binlog_size, **where[0])
        self.replica = Server(self.base, "replica", replica_port, 2, options, max_binlog_size, **where[1])
        self.remote = bool(hosts)

    def start(self):
        try:
            for s in (self.source, self.replica):
                if port_open(s.address, s.port, 0.3):
                    raise RuntimeError("port %d is already in use" % s.port)
            for s in (self.source, self.replica):
                s.install()
                s.start()
            repl_from = REMOTE_HOSTS if self.remote else "127.0.0.1"
            users = ["CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (REMOTE_USER, REMOTE_HOSTS, REMOTE_PASSWORD),
                     "GRANT ALL ON *.* TO '%s'@'%s'" % (REMOTE_USER, REMOTE_HOSTS)] if self.remote else []
            self.source.sql("CREATE USER '%s'@'%s' IDENTIFIED BY '%s'" % (REPL_USER, repl_from, REPL_PASSWORD),
                            "GRANT REPLICATION SLAVE ON *.* TO '%s'@'%s'" % (REPL_USER, repl_from),
                            *users,
                            "CREATE DATABASE flt",
                            "CREATE TABLE flt.t (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(255))")
            self.start_replication()
            self.insert(5)
            self.wait_synced()
        except BaseException:  # also Ctrl-C during install: nothing may be left behind
            self.stop()
            raise
        return self

    def start_replication(self):
        self.replica.sql(
            "CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='%s', MASTER_PASSWORD='%s', "
            "MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1" % (
                self.source.address, self.source.port, REPL_USER, REPL_PASSWORD),
            "START SLAVE")
        self.wait_running()

    def replica_status(self):
        rows = self.replica.query("SHOW SLAVE STATUS")
        return rows[0] if rows else {}

    def wait_running(self, timeout=30):
        """Until both replication threads run."""
        def running():
            st = self.replica_status()
            return st.get("Slave_IO_Running") == "Yes" and st.get("Slave_SQL_Running") == "Yes"
        wait_for(running, timeout, what="replica threads running: %s" % (self.replica_status(),))

    def wait_replica(self, timeout=60):
        """Until the replica has applied the source's GTID position."""
        target = self.source.sql("SELECT @@gtid_binlog_pos")[0][0]
        wait_for(lambda: self.replica.sql("SELECT @@gtid_slave_pos")[0][0] == target, timeout,
                 what="replica to catch up to %s" % target)

    def count(self, inst, table="flt.t"):
        return inst.query("SELECT COUNT(*) AS n FROM %s" % table)[0]["n"]

    def wait_synced(self, timeout=30):
        """Until the replica has as many flt.t rows as the source; that count."""
        want = self.count(self.source)
        wait_for(lambda: self.count(self.replica) == want, timeout, what="replica to catch up (%d rows)" % want)
        return want

    def insert(self, n, pad=200):
        conn = self.source.connect()
        try:
            with conn.cursor() as cur:
                for dummy in range(n):
                    cur.execute("INSERT INTO flt.t (pad) VALUES (REPEAT('x', %s))", (pad,))
        finally:
            conn.close()

    def stop(self):
        for s in (self.replica, self.source):
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - best effort, keep stopping the rest
                pass
        shutil.rmtree(self.base, ignore_errors=True)


def make_pair(source_port=3347, replica_port=3348, options=None, max_binlog_size=1 << 30):
    """A started pair for benchmarks (``SERVER_OPTS`` unless ``options``, binlogs of the default size)."""
    return Pair(source_port, replica_port, SERVER_OPTS if options is None else options, max_binlog_size).start()

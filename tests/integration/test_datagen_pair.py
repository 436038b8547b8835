"""A throwaway MariaDB source + GTID replica pair for the datagen/verify tests
and benchmarks (no test functions here; imported by test_datagen*.py,
test_verify*.py and benchmarks/).

Every process is started by this helper and stopped by pid; the data
directory is a fresh temp dir removed on stop.  Ports default to the data
engineer's dev ports (3347 source / 3348 replica).  To run the tests against
the shared lab instead, set FAULTLINE_PAIR=lab (ports 3317/3318, no start/stop).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pymysql
import pytest

SERVER_OPTS = [
    "--innodb-buffer-pool-size=256M",
    "--innodb-log-file-size=256M",
    "--innodb-flush-log-at-trx-commit=2",
    "--sync-binlog=0",
    "--max-connections=200",
    "--binlog-format=ROW",
]


def _port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.3).close()
        return True
    except OSError:
        return False


class Server(object):
    def __init__(self, base, name, port, server_id, extra=()):
        self.dir = os.path.join(base, name)
        self.name, self.port, self.server_id = name, port, server_id
        self.extra = list(extra)
        self.proc = None

    @property
    def sock(self):
        return os.path.join(self.dir, "mysqld.sock")

    def install(self):
        os.makedirs(self.dir)
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root",
                        "--datadir=%s/data" % self.dir, "--auth-root-authentication-method=normal",
                        "--skip-test-db"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)

    def start(self, timeout=60):
        if _port_open(self.port):
            raise RuntimeError("port %d is already in use" % self.port)
        argv = ["mariadbd", "--no-defaults", "--user=root", "--datadir=%s/data" % self.dir,
                "--port=%d" % self.port, "--bind-address=127.0.0.1", "--socket=%s" % self.sock,
                "--pid-file=%s/mysqld.pid" % self.dir, "--log-error=%s/error.log" % self.dir,
                "--server-id=%d" % self.server_id, "--log-bin=%s/data/binlog" % self.dir,
                "--skip-name-resolve"] + SERVER_OPTS + self.extra
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd %s exited: see %s/error.log" % (self.name, self.dir))
            if _port_open(self.port):
                return
            time.sleep(0.1)
        raise RuntimeError("mariadbd %s did not open port %d" % (self.name, self.port))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None

    def connect(self, **kw):
        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="",
                               autocommit=True, **kw)

    def sql(self, *statements):
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


class Pair(object):
    """Source + replica (MASTER_USE_GTID=slave_pos, connect retry 1 s)."""

    def __init__(self, source_port=3347, replica_port=3348):
        self.base = tempfile.mkdtemp(prefix="flt-data-pair-")
        self.source = Server(self.base, "source", source_port, 1)
        self.replica = Server(self.base, "replica", replica_port, 2,
                              extra=["--log-slave-updates", "--read-only=0"])

    def start(self):
        try:
            for s in (self.source, self.replica):
                s.install()
                s.start()
            self.replica.sql(
                "CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=%d, MASTER_USER='root', "
                "MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1"
                % self.source.port,
                "START SLAVE")
        except Exception:
            self.stop()
            raise
        return self

    def wait_replica(self, timeout=60):
        """Wait until the replica has applied the source's GTID position."""
        end = time.monotonic() + timeout
        target = self.source.sql("SELECT @@gtid_binlog_pos")[0][0]
        while time.monotonic() < end:
            if self.replica.sql("SELECT @@gtid_slave_pos")[0][0] == target:
                return
            time.sleep(0.1)
        raise RuntimeError("replica did not catch up to %s" % target)

    def stop(self):
        for s in (self.replica, self.source):
            try:
                s.stop()
            except Exception:  # noqa: BLE001 - best effort, keep stopping the rest
                pass
        shutil.rmtree(self.base, ignore_errors=True)


class LabPair(object):
    """The shared lab (3317/3318), not started or stopped here."""

    def __init__(self):
        self.source = Server("/nonexistent", "source", 3317, 1)
        self.replica = Server("/nonexistent", "replica", 3318, 2)

    wait_replica = Pair.wait_replica

    def stop(self):
        pass


def make_pair(source_port=3347, replica_port=3348):
    if os.environ.get("FAULTLINE_PAIR") == "lab":
        return LabPair()
    return Pair(source_port, replica_port).start()


@pytest.fixture(scope="module")
def mariadb_pair():
    pair = make_pair()
    try:
        yield pair
    finally:
        pair.stop()

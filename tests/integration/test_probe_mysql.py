"""faultline.chaos.probe against real MariaDB servers: mysql_query and mysql_replica.

A throwaway source (127.0.0.1:3337) and replica (127.0.0.1:3338) are created
with mariadb-install-db in a temporary directory, started as plain processes
and stopped by pid at teardown.  The "fault" is stopping and starting the
source server.
"""
import os
import shutil
import signal
import subprocess
import time

import pymysql
import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import Ledger, port_open

from test_probe import probe, run_module, state_dir  # noqa: F401 -- shared fixtures

pytestmark = pytest.mark.skipif(shutil.which("mariadbd") is None or shutil.which("mariadb-install-db") is None,
                                reason="MariaDB server not installed")

SOURCE_PORT, REPLICA_PORT = 3337, 3338
SECRET = "pr0be-s3cret"
REFUSED_PYMYSQL = "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused) (errno 2003)"
EXPECTED_IO_ERROR = ("error reconnecting to master 'repl@127.0.0.1:%d' - retry-time: 1  maximum-retries: 100000  "
                     "message: Can't connect to server on '127.0.0.1' (111 \"Connection refused\")" % SOURCE_PORT)


class MariaDB(object):
    def __init__(self, base, port):
        self.port = port
        self.dir = os.path.join(base, "m%d" % port)
        self.datadir = os.path.join(self.dir, "data")
        self.proc = None

    def install(self):
        os.makedirs(self.datadir)
        subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.datadir, "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)

    def start(self):
        argv = ["mariadbd", "--no-defaults", "--datadir=" + self.datadir, "--user=root",
                "--port=%d" % self.port, "--bind-address=127.0.0.1",
                "--socket=" + os.path.join(self.dir, "sock"), "--pid-file=" + os.path.join(self.dir, "pid"),
                "--server-id=%d" % self.port, "--log-bin=bin", "--binlog-format=ROW",
                "--skip-name-resolve", "--log-error=" + os.path.join(self.dir, "error.log")]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not port_open("127.0.0.1", self.port, 0.2):
            assert self.proc.poll() is None, "mariadbd on %d exited" % self.port
            assert time.monotonic() < deadline, "mariadbd on %d did not listen" % self.port
            time.sleep(0.1)
        return time.time()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None
        return time.time()

    def sql(self, statement):
        conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root", autocommit=True,
                               cursorclass=pymysql.cursors.DictCursor, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute(statement)
                return cur.fetchall()
        finally:
            conn.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("mariadb"))
    source, replica = MariaDB(base, SOURCE_PORT), MariaDB(base, REPLICA_PORT)
    try:
        for srv in (source, replica):
            srv.install()
            srv.start()
        source.sql("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'replpw'")
        source.sql("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'")
        source.sql("CREATE USER 'probe'@'127.0.0.1' IDENTIFIED BY '%s'" % SECRET)
        replica.sql("CHANGE MASTER TO master_host='127.0.0.1', master_port=%d, master_user='repl', "
                    "master_password='replpw', master_connect_retry=1, master_use_gtid=slave_pos" % SOURCE_PORT)
        replica.sql("START SLAVE")
        wait_replica_running(replica)
        yield source, replica
    finally:
        replica.stop()
        source.stop()


def wait_replica_running(replica, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        st = replica.sql("SHOW SLAVE STATUS")
        if st and st[0]["Slave_IO_Running"] == "Yes" and st[0]["Slave_SQL_Running"] == "Yes":
            return
        assert time.monotonic() < deadline, "replica not running: %s" % (st,)
        time.sleep(0.1)


def test_mysql_query_probe_source_stopped_and_started(run_module, state_dir, pair):  # noqa: F811
    source, _replica = pair
    login = dict(login_port=SOURCE_PORT, login_user="probe", login_password=SECRET)
    one = probe(run_module, state_dir, name="q", kind="mysql_query", query="SELECT @@port", expect="^%d$" % SOURCE_PORT,
                state="sampled", **login)
    assert one["sample"]["ok"] and one["sample"]["detail"]["value"] == str(SOURCE_PORT), one
    assert SECRET not in str(one)
    wrong = probe(run_module, state_dir, name="q", kind="mysql_query", query="SELECT 1", expect_rows=2,
                  state="sampled", **login)
    assert not wrong["sample"]["ok"] and wrong["sample"]["error"] == "1 rows returned (expected 2)"

    r = probe(run_module, state_dir, name="q", kind="mysql_query", query="SELECT 1", **login)
    assert r["changed"] and not r["failed"], r["msg"]
    with open(r["output"].replace(".jsonl", ".json")) as f:
        assert SECRET not in f.read()
    time.sleep(0.5)
    down = source.stop()
    time.sleep(1.0)
    up = source.start()
    time.sleep(1.5)
    r = probe(run_module, state_dir, name="q", state="stopped", windows=[{"down_at": down, "up_at": up}])
    assert not r["failed"], r["msg"]
    w = r["windows"][0]
    # the server was already shutting down when stop() returned: detected at the first sample after down_at
    assert w["detected_at"] is not None and w["time_to_detect_s"] < 0.5, w
    # a dead reused connection (errno 2013) can come first; then every reconnect is refused
    assert w["error_message"].endswith("(errno 2003)") or w["error_message"].endswith("(errno 2013)"), w
    assert REFUSED_PYMYSQL in [e["detail"].get("error") for e in r["events"]]
    assert w["recovered_at"] is not None and w["time_to_recover_s"] < 1.0, w
    assert w["retries"] == w["failed_samples"] >= 5


def test_mysql_replica_probe_source_stopped_and_started(run_module, state_dir, pair):  # noqa: F811
    source, replica = pair
    wait_replica_running(replica)
    r = probe(run_module, state_dir, name="repl", kind="mysql_replica", login_port=REPLICA_PORT)
    assert r["changed"] and not r["failed"], r["msg"]
    ledger = Ledger(state_dir)
    time.sleep(0.5)
    ledger.journal("source-stop", "down", {"cycle": 1})
    source.stop()
    time.sleep(3.0)
    source.start()
    ledger.journal("source-stop", "reverted", {"cycle": 1})
    wait_replica_running(replica)
    time.sleep(0.6)
    r = probe(run_module, state_dir, name="repl", state="stopped", fault_ids=["source-stop"])
    assert not r["failed"], r["msg"]
    w = r["windows"][0]
    assert w["fault_id"] == "source-stop" and w["detected_at"] is not None
    assert w["time_to_detect_s"] < 1.0, w
    assert w["error_message"] == EXPECTED_IO_ERROR
    assert w["recovered_at"] is not None and w["recovered_at"] >= w["up_at"]
    # MariaDB has no Last_IO_Error_Timestamp: attempts implied by Connect_Retry=1 over ~3 s down
    assert 2 <= w["retries"] <= 6, w
    errors = [e for e in r["events"] if e["event"] == "error"]
    assert errors and errors[0]["detail"]["sample"]["io_running"] in ("Connecting", "No", "Yes")
    assert r["events"][-1]["event"] == "ok"
    last = r["events"][-1]["detail"]["sample"]
    assert last["io_running"] == "Yes" and last["sql_running"] == "Yes"
    assert r["metrics"]["error_message"] == EXPECTED_IO_ERROR

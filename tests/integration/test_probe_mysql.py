"""faultline.chaos.probe against real MariaDB servers: mysql_query and mysql_replica.

The session's throwaway source + replica (the ``mariadb_pair`` fixture); the
"fault" is stopping and starting the source server.
"""
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import Ledger

from test_probe import probe

SECRET = "pr0be-s3cret"
REFUSED_PYMYSQL = "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused) (errno 2003)"


def expected_io_error(pair):
    return ("error reconnecting to master 'repl@127.0.0.1:%d' - retry-time: 1  maximum-retries: 100000  "
            "message: Can't connect to server on '127.0.0.1' (111 \"Connection refused\")" % pair.source.port)


@pytest.fixture(scope="module")
def pair(mariadb_pair):
    """The pair with a ``probe`` user on the source (replicated)."""
    mariadb_pair.source.sql("CREATE USER IF NOT EXISTS 'probe'@'127.0.0.1' IDENTIFIED BY '%s'" % SECRET)
    mariadb_pair.wait_running()
    try:
        yield mariadb_pair.source, mariadb_pair.replica
    finally:
        mariadb_pair.source.sql("DROP USER IF EXISTS 'probe'@'127.0.0.1'")


def test_mysql_query_probe_source_stopped_and_started(run_module, state_dir, pair, mariadb_pair):
    source, _replica = pair
    login = dict(login_port=source.port, login_user="probe", login_password=SECRET)
    one = probe(run_module, state_dir, name="q", kind="mysql_query", query="SELECT @@port", expect="^%d$" % source.port,
                state="sampled", **login)
    assert one["sample"]["ok"] and one["sample"]["detail"]["value"] == str(source.port), one
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


def test_mysql_replica_probe_source_stopped_and_started(run_module, state_dir, pair, mariadb_pair):
    source, replica = pair
    mariadb_pair.wait_running()
    r = probe(run_module, state_dir, name="repl", kind="mysql_replica", login_port=replica.port)
    assert r["changed"] and not r["failed"], r["msg"]
    ledger = Ledger(state_dir)
    time.sleep(0.5)
    ledger.journal("source-stop", "down", {"cycle": 1})
    source.stop()
    time.sleep(3.0)
    source.start()
    ledger.journal("source-stop", "reverted", {"cycle": 1})
    mariadb_pair.wait_running()
    time.sleep(0.6)
    r = probe(run_module, state_dir, name="repl", state="stopped", fault_ids=["source-stop"])
    assert not r["failed"], r["msg"]
    w = r["windows"][0]
    assert w["fault_id"] == "source-stop" and w["detected_at"] is not None
    assert w["time_to_detect_s"] < 1.0, w
    assert w["error_message"] == expected_io_error(mariadb_pair)
    assert w["recovered_at"] is not None and w["recovered_at"] >= w["up_at"]
    # MariaDB has no Last_IO_Error_Timestamp: attempts implied by Connect_Retry=1 over ~3 s down
    assert 2 <= w["retries"] <= 6, w
    errors = [e for e in r["events"] if e["event"] == "error"]
    assert errors and errors[0]["detail"]["sample"]["io_running"] in ("Connecting", "No", "Yes")
    assert r["events"][-1]["event"] == "ok"
    last = r["events"][-1]["detail"]["sample"]
    assert last["io_running"] == "Yes" and last["sql_running"] == "Yes"
    assert r["metrics"]["error_message"] == expected_io_error(mariadb_pair)

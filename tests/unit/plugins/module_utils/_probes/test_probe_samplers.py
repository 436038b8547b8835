"""Unit tests of probe parameter validation, the replica sampler's verdict and the worker loop."""
import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.background import StopFlag
from ansible_collections.faultline.chaos.plugins.module_utils._probes import runner, samplers

ERR = ("error reconnecting to master 'repl@127.0.0.1:3317' - retry-time: 1  maximum-retries: 100000  "
       "message: Can't connect to server on '127.0.0.1' (111 \"Connection refused\")")


@pytest.mark.parametrize("params,msg", [
    ({"kind": "nope"}, "unknown probe kind 'nope'"),
    ({"kind": "tcp", "host": "127.0.0.1"}, "kind=tcp needs port"),
    ({"kind": "http"}, "kind=http needs url"),
    ({"kind": "command", "command": []}, "kind=command needs command"),
    ({"kind": "mysql_query"}, "kind=mysql_query needs query"),
    ({"kind": "mysql_query", "query": "SELECT 1", "expect": "("}, "expect is not a valid regular expression"),
])
def test_validate_rejects(params, msg):
    assert msg in samplers.validate(params)


def test_validate_accepts():
    assert samplers.validate({"kind": "tcp", "host": "127.0.0.1", "port": 3317, "interval": 0.1, "timeout": 1}) is None
    assert samplers.validate({"kind": "mysql_replica", "interval": 0.1}) is None


class FakeCursor(object):
    def __init__(self, row):
        self.row = row

    def execute(self, q):
        self.q = q

    def fetchone(self):
        return self.row


def replica_row(io="Yes", sql="Yes", errno=0, err="", ts=None):
    row = {"Slave_IO_Running": io, "Slave_SQL_Running": sql, "Slave_IO_State": "x",
           "Last_IO_Errno": errno, "Last_IO_Error": err, "Connect_Retry": 1,
           "Read_Master_Log_Pos": 653, "Exec_Master_Log_Pos": 653, "Gtid_IO_Pos": "0-37-2"}
    if ts is not None:
        row["Last_IO_Error_Timestamp"] = ts
    return row


def verdict(sampler, row):
    return sampler.check(FakeCursor(row), False)


def test_replica_reconnecting_reports_last_io_error_verbatim():
    s = samplers.MysqlReplicaSampler({"kind": "mysql_replica", "timeout": 1})
    ok, err, detail = verdict(s, replica_row())
    assert ok and err is None and detail["io_running"] == "Yes" and detail["exec_source_log_pos"] == 653
    ok, err, detail = verdict(s, replica_row(io="Connecting", errno=2003, err=ERR))
    assert not ok and err == ERR and detail["last_io_errno"] == 2003 and detail["connect_retry"] == 1


def test_replica_new_io_error_while_running_is_a_failure_old_one_is_not():
    s = samplers.MysqlReplicaSampler({"kind": "mysql_replica", "timeout": 1})
    # an error already there when the probe started does not count while the threads run
    assert verdict(s, replica_row(errno=2013, err="old", ts="260101 10:00:00"))[0] is True
    ok, err = verdict(s, replica_row(errno=2013, err="new", ts="260101 10:00:05"))[:2]
    assert not ok and err == "new"


def test_replica_stopped_threads_and_not_a_replica():
    s = samplers.MysqlReplicaSampler({"kind": "mysql_replica", "timeout": 1})
    ok, err = verdict(s, replica_row(io="No", sql="No"))[:2]
    assert not ok and err == "IO thread: No, SQL thread: No"
    ok, err = s.check(FakeCursor(None), False)[:2]
    assert not ok and "not configured as a replica" in err


def test_sample_shape_and_exception_becomes_error():
    class Boom(samplers.Sampler):
        def observe(self):
            raise ValueError("bad")
    smp = Boom({"timeout": 1}).sample()
    assert set(smp) == {"ts", "ok", "latency_ms", "error", "detail"}
    assert smp["ok"] is False and smp["error"] == "ValueError: bad"


def test_tcp_refused_on_closed_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # bound then closed: nothing listens there
    smp = samplers.TcpSampler({"host": "127.0.0.1", "port": port, "timeout": 1}).sample()
    assert smp["ok"] is False and smp["error"] == "Connection refused (errno 111)"


def test_command_sampler_rc_and_missing_binary():
    ok = samplers.CommandSampler({"command": ["true"], "timeout": 5}).sample()
    assert ok["ok"] and ok["detail"]["rc"] == 0
    bad = samplers.CommandSampler({"command": ["sh", "-c", "echo nope >&2; exit 3"], "timeout": 5}).sample()
    assert not bad["ok"] and bad["error"] == "rc=3: nope"
    missing = samplers.CommandSampler({"command": ["/nonexistent/x"], "timeout": 5}).sample()
    assert not missing["ok"] and "No such file or directory" in missing["error"]
    slow = samplers.CommandSampler({"command": ["sleep", "5"], "timeout": 0.2}).sample()
    assert not slow["ok"] and slow["error"] == "timed out after 0.2s"


class ListOutput(object):
    def __init__(self):
        self.items = []

    def write(self, obj):
        self.items.append(obj)


def test_worker_samples_on_a_grid_until_stopped(monkeypatch):
    out = ListOutput()
    flag = StopFlag()
    n = {"i": 0}

    class Counting(samplers.Sampler):
        def observe(self):
            n["i"] += 1
            if n["i"] == 5:
                flag.stopped = True
            return True, None, {}

    monkeypatch.setitem(samplers.SAMPLERS, "fake", Counting)
    summary = runner.worker({"kind": "fake", "interval": 0.01, "timeout": 1}, out, flag)
    assert summary == {"samples": 5} and len(out.items) == 5
    assert all(b["ts"] > a["ts"] for a, b in zip(out.items, out.items[1:]))


def test_identity_ignores_secrets_and_lease():
    a = {"kind": "tcp", "port": 1, "login_password": "x", "lease": 5}
    b = {"kind": "tcp", "port": 1, "login_password": "y", "lease": 9}
    assert runner.identity(a) == runner.identity(b)
    assert runner.identity(a) != runner.identity(dict(a, port=2))

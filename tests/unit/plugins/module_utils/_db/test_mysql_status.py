"""binlog_status / replica_status: the newer statement first, the older spelling when the server refuses it."""
import pymysql
import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import binlog_status, replica_status


class Cursor:
    """A DictCursor stand-in: ``answers`` maps a statement to its row, or to an exception to raise."""

    def __init__(self, answers):
        self.answers = answers
        self.executed = []
        self._row = None

    def execute(self, q):
        self.executed.append(q)
        a = self.answers.get(q, pymysql.err.ProgrammingError(1064, "syntax"))
        if isinstance(a, Exception):
            raise a
        self._row = a

    def fetchone(self):
        return self._row


def test_binlog_status_falls_back_to_show_master_status():
    cur = Cursor({"SHOW MASTER STATUS": {"File": "b.000002", "Position": 42, "Executed_Gtid_Set": ""},
                  "SELECT @@GLOBAL.gtid_binlog_pos AS g": {"g": "0-1-7"}})
    assert binlog_status(cur) == {"file": "b.000002", "position": 42, "gtid": "0-1-7"}
    assert cur.executed[:2] == ["SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"]


def test_binlog_status_without_any_answer_is_empty():
    assert binlog_status(Cursor({})) == {"file": None, "position": None, "gtid": None}


def test_replica_status_uses_the_first_statement_the_server_accepts():
    cur = Cursor({"SHOW REPLICA STATUS": None, "SHOW SLAVE STATUS": {"Slave_IO_Running": "Yes"}})
    assert replica_status(cur) is None          # accepted, no row: not a replica
    assert cur.executed == ["SHOW REPLICA STATUS"]
    assert replica_status(Cursor({})) is None   # neither accepted


def test_replica_status_reads_the_old_spelling():
    row = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Seconds_Behind_Master": 0}
    out = replica_status(Cursor({"SHOW SLAVE STATUS": row}))
    assert (out["io_running"], out["sql_running"], out["seconds_behind"]) == ("Yes", "Yes", 0)


@pytest.mark.parametrize("exc", [
    pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query"),
    pymysql.err.OperationalError(2006, "MySQL server has gone away"),
    pymysql.err.InterfaceError(0, ""),
])
def test_a_lost_connection_is_raised_not_taken_for_no_replica(exc):
    """A replica killed under a probe's connection: the probe must see the error and
    reconnect (it said "not configured as a replica" for ever: test_server_crash kill -9)."""
    with pytest.raises(type(exc)):
        replica_status(Cursor({"SHOW REPLICA STATUS": exc}))
    with pytest.raises(type(exc)):
        binlog_status(Cursor({"SHOW BINARY LOG STATUS": exc}))


def test_the_replica_sampler_reconnects_after_the_server_restarts():
    from ansible_collections.faultline.chaos.plugins.module_utils._probes import samplers

    lost = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
    healthy = {"Slave_IO_Running": "Yes", "Slave_SQL_Running": "Yes", "Last_IO_Errno": 0}

    class Conn:
        def __init__(self, answers):
            self.answers = answers

        def cursor(self):
            return type("C", (Cursor,), {"close": lambda self: None})(self.answers)

        def close(self):
            pass

    conns = [Conn({"SHOW REPLICA STATUS": lost}), Conn({"SHOW SLAVE STATUS": healthy})]
    s = samplers.MysqlReplicaSampler.__new__(samplers.MysqlReplicaSampler)
    s.params, s.baseline, s.conn, s.kw, s.timeout = {}, None, conns.pop(0), {}, 1.0
    samplers.connect, orig = (lambda kw, **k: conns.pop(0)), samplers.connect
    try:
        ok, err, dummy = s.observe()
        assert (ok, "Lost connection" in err) == (False, True)
        ok, err, detail = s.observe()
        assert (ok, err, detail["io_running"]) == (True, None, "Yes")
    finally:
        samplers.connect = orig

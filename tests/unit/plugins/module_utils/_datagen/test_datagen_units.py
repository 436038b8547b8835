"""Unit tests: range compaction, schedule, input validation, ledger summary,
and the writer's outage handling against a fake connection."""
import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._datagen import ranges as rng
from ansible_collections.faultline.chaos.plugins.module_utils._datagen import generator as gen
from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import pymysql


def test_compact_and_normalize():
    assert rng.compact([5, 1, 2, 3, 3, 9, 10]) == [[1, 3], [5, 5], [9, 10]]
    assert rng.compact([]) == []
    assert rng.normalize([[5, 6], [1, 2], [3, 4], [8, 9]]) == [[1, 6], [8, 9]]
    with pytest.raises(ValueError):
        rng.normalize([[3, 1]])
    with pytest.raises(ValueError):
        rng.normalize([[1, 2, 3]])


def test_subtract_intersect_count():
    a = [[1, 10], [20, 30]]
    assert rng.subtract(a, [[3, 4], [9, 21], [30, 40]]) == [[1, 2], [5, 8], [22, 29]]
    assert rng.subtract(a, []) == a
    assert rng.subtract([], a) == []
    assert rng.intersect(a, [[5, 25]]) == [[5, 10], [20, 25]]
    assert rng.count(a) == 21
    assert list(rng.iter_seqs([[1, 2], [5, 5]])) == [1, 2, 5]


def test_schedule_burst_like_tc007():
    s = gen.Schedule(count=50, interval=30, duration=300)
    assert s.due(0) == 50
    assert s.due(29.9) == 50
    assert s.due(30) == 100
    assert s.due(299.9) == 500
    assert s.due(1000) == 500          # nothing due after the end
    assert s.planned() == 500
    assert s.wait(10, 50) == pytest.approx(20)
    assert not s.finished(299, 500) and s.finished(300, 500)


def test_schedule_rate_fast_and_total():
    r = gen.Schedule(rate=10, total=25)
    assert r.due(0) == 1 and r.due(0.95) == 10 and r.due(100) == 25
    assert r.wait(0.05, 1) == pytest.approx(0.05)
    assert r.finished(1, 25)
    f = gen.Schedule(total=1000)
    assert f.due(0) == 1000 and f.wait(0, 0) == 0 and f.planned() == 1000
    assert gen.Schedule(rate=5).planned() is None


@pytest.mark.parametrize("params,words", [
    (dict(count=5, interval=30, duration=10), "shorter than one interval"),
    (dict(run_id="a b"), "run_id"),
    (dict(table="x;drop"), "invalid identifier"),
    (dict(columns={"a": "seq"}), "'run_id' generator"),
    (dict(columns={"a": "seq", "b": "run_id", "c": "bogus"}), "unknown generator"),
])
def test_validate_rejects(params, words):
    with pytest.raises(gen.DatagenError) as e:
        gen.validate(params)
    assert words in str(e.value)


def test_validate_accepts_seed():
    gen.validate(dict(count=50, interval=30, duration=300, columns=None))
    gen.validate(dict(columns={"r": "run_id", "s": "seq", "p": "payload", "c": "checksum", "k": "const:x"}))


def test_rows_are_deterministic_and_self_checking():
    import zlib
    m = gen.RowMaker("run1", gen.DEFAULT_COLUMNS, payload_size=40)
    a, b = m.row(7, "t"), m.row(7, "t")
    assert a == b and a[0] == "run1" and a[1] == 7 and len(a[2]) == 40
    assert a[3] == zlib.crc32(a[2].encode()) & 0xffffffff
    assert m.row(8, "t")[2] != a[2]


def test_classify():
    assert gen.classify(pymysql.err.OperationalError(2013, "Lost connection")) == "indeterminate"
    assert gen.classify(pymysql.err.IntegrityError(1062, "Duplicate entry")) == "indeterminate"
    assert gen.classify(pymysql.err.OperationalError(2003, "Can't connect")) == "failed"
    assert gen.classify(pymysql.err.OperationalError(2006, "gone away")) == "failed"
    assert gen.classify(pymysql.err.OperationalError(1290, "read-only")) == "failed"


def test_summarize_last_status_wins():
    lines = [
        {"ts": 1, "seq_from": 1, "seq_to": 10, "rows": 10, "writes": 10, "status": "acked", "error": None},
        {"ts": 2, "seq_from": 11, "seq_to": 11, "rows": 1, "writes": 1, "status": "failed", "error": "refused"},
        {"ts": 3, "seq_from": 11, "seq_to": 11, "rows": 1, "writes": 1, "status": "failed", "error": "refused"},
        {"ts": 4, "seq_from": 11, "seq_to": 11, "rows": 1, "writes": 1, "status": "acked", "error": None},
        {"ts": 5, "seq_from": 12, "seq_to": 12, "rows": 1, "writes": 1, "status": "indeterminate", "error": "lost"},
        {"ts": 6, "seq_from": 12, "seq_to": 12, "rows": 1, "writes": 0, "status": "acked", "error": None},
        {"ts": 7, "seq_from": 13, "seq_to": 14, "rows": 2, "writes": 1, "status": "indeterminate", "error": "lost"},
        {"ts": 8, "source": "datagen", "id": "r", "event": "finished", "detail": {}},
    ]
    s = gen.summarize(lines)
    assert s["acked_ranges"] == [[1, 12]] and s["rows_acked"] == 12
    assert s["indeterminate_ranges"] == [[13, 14]] and s["rows_indeterminate"] == 2
    assert s["writes_failed"] == 2 and s["rows_failed"] == 1 and s["failed_ranges"] == []
    assert s["series"] == [[1, 10], [4, 11], [6, 12]]
    assert s["errors"] == ["refused", "lost"]
    assert [e["event"] for e in s["events"]] == ["finished"]


# ---- the writer against a fake server ------------------------------------

class FakeServer(object):
    """Rows by seq; a script of failures: each entry is (when, exception) with when in
    'connect', 'before' (not applied) or 'after' (applied, answer lost)."""

    def __init__(self, script):
        self.rows = {}
        self.script = list(script)
        self.inserts = 0

    def next_fault(self, when):
        if self.script and self.script[0][0] == when:
            return self.script.pop(0)[1]
        return None


class FakeConn(object):
    def __init__(self, server):
        self.server = server

    def literal(self, row):
        return repr(row)

    def cursor(self):
        return FakeCursor(self.server)

    def close(self):
        pass


class FakeCursor(object):
    def __init__(self, server):
        self.server, self.result = server, []

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def execute(self, sql, args=None):
        if isinstance(sql, bytes):  # the writer sends INSERTs as bytes
            sql = sql.decode()
        if sql.startswith("SELECT"):
            _run, a, b = args
            self.result = [(s,) for s in self.server.rows if a <= s <= b]
            return
        rows = eval("[" + sql.split(" VALUES ", 1)[1] + "]")  # our own repr() literals
        exc = self.server.next_fault("before")
        if exc:
            raise exc
        for r in rows:
            if r[1] in self.server.rows:
                raise pymysql.err.IntegrityError(1062, "Duplicate entry")
        for r in rows:
            self.server.rows[r[1]] = r
        self.server.inserts += 1
        exc = self.server.next_fault("after")
        if exc:
            raise exc

    def fetchall(self):
        return self.result


class Out(object):
    def __init__(self):
        self.lines = []

    def write(self, obj):
        self.lines.append(obj)


class Flag(object):
    def expired(self):
        return False

    def wait(self, s):
        return False


def run_writer(monkeypatch, script, **params):
    server = FakeServer(script)

    def fake_connect(kw, **_k):
        exc = server.next_fault("connect")
        if exc:
            raise exc
        return FakeConn(server)

    monkeypatch.setattr(gen, "connect", fake_connect)
    p = dict(run_id="r1", total=20, batch=5, max_backoff=0.001)
    p.update(params)
    out = Out()
    summary = gen.Writer({}, p, out, Flag()).run()
    return server, gen.summarize(out.lines), summary


def test_writer_outage_indeterminate_never_duplicates(monkeypatch):
    lost = pymysql.err.OperationalError(2013, "Lost connection to MySQL server during query")
    refused = pymysql.err.OperationalError(2003, "Can't connect to MySQL server (111)")
    script = [("after", lost), ("connect", refused), ("connect", refused),
              ("before", pymysql.err.OperationalError(2013, "Lost connection")),
              ("before", pymysql.err.OperationalError(2006, "MySQL server has gone away")),
              ("connect", refused)]
    server, s, summary = run_writer(monkeypatch, script)
    assert sorted(server.rows) == list(range(1, 21))    # every row exactly once
    assert s["acked_ranges"] == [[1, 20]] and s["rows_acked"] == 20
    assert s["writes_indeterminate"] == 2 and s["indeterminate_ranges"] == []
    assert s["writes_failed"] == 2 and s["rows_failed"] == 5
    assert summary["reason"] == "done"
    names = [e["event"] for e in s["events"]]
    assert names[0] == "started" and "write_error" in names and "recovered" in names and names[-1] == "finished"


def test_writer_server_error_is_failed_and_retried(monkeypatch):
    ro = pymysql.err.OperationalError(1290, "The MariaDB server is running with the --read-only option")
    server, s = run_writer(monkeypatch, [("before", ro)], total=6, batch=3)[:2]
    assert sorted(server.rows) == list(range(1, 7))
    assert s["writes_failed"] == 1 and s["acked_ranges"] == [[1, 6]]
    assert "read-only" in s["errors"][0]


# ---- the hot path: row templates, clock, round trips, ledger lines -----------

def _reference_payload(run_id, seq, size):
    """The payload definition (run id, seq, sha1 hex, repeated to size)."""
    import hashlib
    seed = hashlib.sha1(("%s:%d" % (run_id, seq)).encode()).hexdigest()
    text = "%s:%d:%s" % (run_id, seq, seed)
    while len(text) < size:
        text += seed
    return text[:size]


@pytest.mark.parametrize("size", [1, 20, 64, 100, 1024])
def test_values_template_matches_row(size):
    import zlib
    run = "dg-20260101T000000-abc123"
    m = gen.RowMaker(run, gen.DEFAULT_COLUMNS, payload_size=size)
    for seq in (1, 99, 123456789):
        payload = _reference_payload(run, seq, size)
        assert m.payload(seq) == payload
        now = b"2026-01-01 00:00:00.000001"
        assert m.values(seq, now) == ("('%s',%d,'%s',%d,'%s')" % (
            run, seq, payload, zlib.crc32(payload.encode()), now.decode())).encode()


def test_values_user_columns_are_bind_parameters():
    m = gen.RowMaker("r", {"s": "seq", "r": "run_id", "k": "const:it's \\", "n": "int"})
    assert m.bound and m.placeholders == "(%s,%s,%s,%s)"
    assert m.values(3, b"t") == (3, "r", "it's \\", (3 * 2654435761) % 2147483647)


class CapturingCursor(object):
    def __init__(self, log):
        self.log = log

    def execute(self, sql, args=None):
        self.log.append((sql, args))

    def fetchall(self):
        return []

    def close(self):
        pass


def test_writer_sends_const_values_as_bind_parameters_never_in_the_sql(monkeypatch):
    """Issue 10 item 11: const values were escaped with backslashes into the SQL text,
    which NO_BACKSLASH_ESCAPES reads differently (broken or injectable)."""
    log = []

    class Conn(object):
        def cursor(self):
            return CapturingCursor(log)

        def close(self):
            pass

    monkeypatch.setattr(gen, "connect", lambda kw, **k: Conn())
    evil = "x\\', 1); DROP TABLE t; -- "
    p = dict(run_id="r1", total=4, batch=2, columns={"r": "run_id", "s": "seq", "c": "const:" + evil})
    gen.Writer({}, p, Out(), Flag()).run()
    inserts = [(q, a) for q, a in log if "INSERT" in (q.decode() if isinstance(q, bytes) else q)]
    assert len(inserts) == 2
    for sql, args in inserts:
        assert evil not in sql and "DROP" not in sql and sql.endswith("VALUES (%s,%s,%s),(%s,%s,%s)")
        assert args[2] == evil and args[5] == evil
    assert [a[1] for _q, a in inserts] == [1, 3]


def test_writer_never_counts_rows_another_run_wrote_as_acknowledged(monkeypatch):
    """A reused run_id: the earlier run's rows answered 1062, were 'resolved' as present
    and counted as acknowledged writes of this run."""
    server = FakeServer([])
    server.rows = dict((s, ("r1", s)) for s in range(1, 6))  # an earlier run with run_id r1

    def fake_connect(kw, **_k):
        return FakeConn(server)

    monkeypatch.setattr(gen, "connect", fake_connect)
    out = Out()
    with pytest.raises(gen.DatagenError, match="already exist"):
        gen.Writer({}, dict(run_id="r1", total=20, batch=5, max_backoff=0.001), out, Flag()).run()
    s = gen.summarize(out.lines)
    assert s["rows_acked"] == 0 and s["acked_ranges"] == []


def test_utc_clock_format():
    import datetime
    import re
    clock = gen.UtcClock()
    a = clock.now()
    assert re.match(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$", a)
    parsed = datetime.datetime.strptime(a.decode(), "%Y-%m-%d %H:%M:%S.%f")
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert abs((now - parsed).total_seconds()) < 2
    assert clock.now() >= a


class WireConn(object):
    """A connection with PyMySQL's low-level interface: counts round trips."""

    def __init__(self, answers=()):
        self.commands, self.answers = [], list(answers)

    def _execute_command(self, command, sql):
        self.commands.append((command, sql))

    def _read_packet(self):
        ok = self.answers.pop(0) if self.answers else True

        class Pkt(object):
            def is_ok_packet(self):
                return ok
        return Pkt()

    def cursor(self):
        return None

    def close(self):
        pass


@pytest.mark.parametrize("total,batch,trips", [(50, 1, 50), (50, 10, 5), (7, 5, 2)])
def test_one_round_trip_per_insert_and_coalesced_ledger(monkeypatch, total, batch, trips):
    conn = WireConn()
    monkeypatch.setattr(gen, "connect", lambda kw, **_k: conn)
    out = Out()
    summary = gen.Writer({}, dict(run_id="r1", total=total, batch=batch), out, Flag()).run()
    assert summary["rows_acked"] == total
    assert len(conn.commands) == trips                     # no extra SELECT/COMMIT per row
    assert all(c == 0x03 and s.startswith(b"INSERT INTO ") for c, s in conn.commands)
    assert sum(s.count(b"('r1',") for _c, s in conn.commands) == total
    acked = [ln for ln in out.lines if ln.get("status") == "acked"]
    assert len(acked) == 1 and acked[0]["seq_from"] == 1 and acked[0]["seq_to"] == total  # one line, not one per row
    assert acked[0]["writes"] == trips


def test_insert_once_rejects_a_non_ok_answer():
    conn = WireConn(answers=[False])
    with pytest.raises(pymysql.err.InterfaceError):
        gen.insert_once(conn, b"INSERT INTO t VALUES (1)")
    assert len(conn.commands) == 1


# ---- drivers: PyMySQL and mysqlclient (MySQLdb) classify the same way ---------

def _driver_errors():
    """(driver name, module with OperationalError/IntegrityError/InterfaceError)."""
    out = [("pymysql", pymysql.err)]
    if gen.MySQLdb is not None:
        out.append(("mysqlclient", gen.MySQLdb))
    return out


@pytest.mark.parametrize("name,err", _driver_errors())
@pytest.mark.parametrize("exc,code,expect", [
    ("OperationalError", 2013, "indeterminate"),   # lost while reading the answer: maybe committed
    ("OperationalError", 2055, "indeterminate"),   # the same, MySQL's libmysqlclient wording
    ("IntegrityError", 1062, "indeterminate"),     # duplicate key on a retry: the first try landed
    ("OperationalError", 2006, "failed"),          # gone away: raised when the send itself failed
    ("OperationalError", 2003, "failed"),          # refused: nothing sent
    ("OperationalError", 1290, "failed"),          # read-only server: refused the statement
    ("InterfaceError", 0, "failed"),               # closed connection
])
def test_classify_both_drivers(name, err, exc, code, expect):
    e = getattr(err, exc)(code, "message")
    assert isinstance(e, gen.DB_ERRORS)
    assert gen.classify(e) == expect
    assert gen._connection_lost(e) == (code == 0 or code >= 2000)


def test_resolve_driver():
    assert gen.resolve_driver("pymysql") == "pymysql"
    assert gen.resolve_driver("mysqlclient") == "mysqlclient"
    assert gen.resolve_driver("auto") == ("mysqlclient" if gen.MySQLdb is not None else "pymysql")
    with pytest.raises(gen.DatagenError, match="one of auto, pymysql, mysqlclient"):
        gen.resolve_driver("odbc")


class CConn(object):
    """A connection with MySQLdb's interface: ``query`` sends and reads the answer."""

    def __init__(self, server):
        self.server, self.queries = server, []

    def query(self, sql):
        self.queries.append(sql)
        FakeCursor(self.server).execute(sql)

    def cursor(self):
        return FakeCursor(self.server)

    def close(self):
        pass


@pytest.mark.skipif(gen.MySQLdb is None, reason="mysqlclient not installed")
def test_writer_mysqlclient_outage_same_ledger_as_pymysql(monkeypatch):
    """The same outage script with MySQLdb's exceptions through the C driver's path
    gives the same ledger as with PyMySQL's (test_writer_outage_indeterminate_never_duplicates)."""
    E = gen.MySQLdb
    refused = E.OperationalError(2003, "Can't connect to server on '127.0.0.1' (111)")
    server = FakeServer([("after", E.OperationalError(2013, "Lost connection to server during query")),
                         ("connect", refused), ("connect", refused),
                         ("before", E.OperationalError(2013, "Lost connection")),
                         ("before", E.OperationalError(2006, "Server has gone away")),
                         ("connect", refused)])
    conns = []

    def fake_connect(kw, timeout):
        exc = server.next_fault("connect")
        if exc:
            raise exc
        conns.append(CConn(server))
        return conns[-1]

    monkeypatch.setattr(gen, "connect_mysqlclient", fake_connect)
    monkeypatch.setattr(gen, "connect", lambda *a, **k: pytest.fail("PyMySQL used with driver mysqlclient"))
    out = Out()
    summary = gen.Writer({}, dict(run_id="r1", total=20, batch=5, max_backoff=0.001, driver="mysqlclient"),
                         out, Flag()).run()
    s = gen.summarize(out.lines)
    assert sorted(server.rows) == list(range(1, 21))
    assert s["acked_ranges"] == [[1, 20]] and s["rows_acked"] == 20
    assert s["writes_indeterminate"] == 2 and s["indeterminate_ranges"] == []
    assert s["writes_failed"] == 2 and s["rows_failed"] == 5
    assert summary["reason"] == "done" and s["events"][0]["detail"]["driver"] == "mysqlclient"
    assert all(q.startswith(b"INSERT INTO ") for c in conns for q in c.queries)  # inserts go out via query()
    assert sum(len(c.queries) for c in conns) == server.inserts + 2  # + the 2 that failed before applying


@pytest.mark.skipif(gen.MySQLdb is None, reason="mysqlclient not installed")
def test_connect_mysqlclient_arguments(monkeypatch):
    seen = {}
    monkeypatch.setattr(gen.MySQLdb, "connect", lambda **kw: seen.update(kw))
    gen.connect_mysqlclient(dict(host="h", port=3317, user="u", password="p", connect_timeout=0.5,
                                 autocommit=True, charset="utf8mb4", database="faultline"), 2.5)
    assert seen == dict(host="h", port=3317, user="u", password="p", charset="utf8mb4", autocommit=True,
                        connect_timeout=1, read_timeout=3, write_timeout=3, database="faultline")


@pytest.mark.skipif(gen.MySQLdb is None, reason="mysqlclient not installed")
def test_connect_mysqlclient_really_uses_the_unix_socket(monkeypatch):
    seen = {}
    monkeypatch.setattr(gen.MySQLdb, "connect", lambda **kw: seen.update(kw))
    gen.connect_mysqlclient(dict(host="127.0.0.1", port=3317, user="u", unix_socket="/run/x.sock"), 2)
    # libmariadb ignores unix_socket unless the host is "localhost"
    assert seen["unix_socket"] == "/run/x.sock" and seen["host"] == "localhost"


# ---- overlap: the next batch is built while an INSERT is in flight -------------

class SplitConn(CConn):
    """MySQLdb's split round trip: ``send_query`` sends, ``read_query_result`` reads the answer
    (the fake server applies the statement, and its scripted faults, when the answer is read)."""

    def __init__(self, server, writer_box):
        CConn.__init__(self, server)
        self.writer_box, self.sent, self.next_seq_at_read = writer_box, None, []

    def send_query(self, sql):
        self.queries.append(sql)
        self.sent = sql

    def read_query_result(self):
        self.next_seq_at_read.append(self.writer_box[0].next_seq)
        sql, self.sent = self.sent, None
        FakeCursor(self.server).execute(sql)


def _split_writer(monkeypatch, script, flag=None, **params):
    server, box, conns = FakeServer(script), [], []

    def fake_connect(kw, timeout):
        exc = server.next_fault("connect")
        if exc:
            raise exc
        conns.append(SplitConn(server, box))
        return conns[-1]

    monkeypatch.setattr(gen, "connect_mysqlclient", fake_connect)
    p = dict(run_id="r1", max_backoff=0.001, driver="mysqlclient")
    p.update(params)
    out = Out()
    box.append(gen.Writer({}, p, out, flag or Flag()))
    return server, conns, out, box[0]


def test_the_next_row_is_built_while_the_insert_before_it_is_in_flight(monkeypatch):
    server, conns, out, writer = _split_writer(monkeypatch, [], total=5, batch=1)
    summary = writer.run()
    # when the answer to row k is read, row k+1 is built already (next_seq k+2); not after the last row
    assert conns[0].next_seq_at_read == [3, 4, 5, 6, 6]
    assert sorted(server.rows) == [1, 2, 3, 4, 5] and summary["rows_acked"] == 5 and summary["next_seq"] == 6
    assert all(q.count(b"('r1',") == 1 for q in conns[0].queries) and len(conns[0].queries) == 5


def test_a_row_built_ahead_and_never_sent_is_given_back(monkeypatch):
    class StopAfter(Flag):
        def __init__(self):
            self.calls = 0

        def expired(self):
            self.calls += 1
            return self.calls > 3  # stops after the third write; the fourth row was built during it

    server, conns, out, writer = _split_writer(monkeypatch, [], flag=StopAfter(), batch=1)
    summary = writer.run()
    assert conns[0].next_seq_at_read == [3, 4, 5]
    assert sorted(server.rows) == [1, 2, 3]
    assert summary["reason"] == "stopped" and summary["rows_acked"] == 3
    assert summary["next_seq"] == 4 and summary["pending"] is None  # row 4 was never sent: not counted anywhere
    s = gen.summarize(out.lines)
    assert s["acked_ranges"] == [[1, 3]] and s["failed_ranges"] == [] and s["indeterminate_ranges"] == []


@pytest.mark.skipif(gen.MySQLdb is None, reason="mysqlclient not installed")
def test_split_round_trip_outage_gives_the_same_ledger(monkeypatch):
    """test_writer_mysqlclient_outage_same_ledger_as_pymysql's outage through send_query/read_query_result."""
    E = gen.MySQLdb
    refused = E.OperationalError(2003, "Can't connect to server on '127.0.0.1' (111)")
    server, conns, out, writer = _split_writer(
        monkeypatch, [("after", E.OperationalError(2013, "Lost connection to server during query")),
                      ("connect", refused), ("connect", refused),
                      ("before", E.OperationalError(2013, "Lost connection")),
                      ("before", E.OperationalError(2006, "Server has gone away")),
                      ("connect", refused)], total=20, batch=5)
    summary = writer.run()
    s = gen.summarize(out.lines)
    assert sorted(server.rows) == list(range(1, 21))
    assert s["acked_ranges"] == [[1, 20]] and s["rows_acked"] == 20
    assert s["writes_indeterminate"] == 2 and s["indeterminate_ranges"] == []
    assert s["writes_failed"] == 2 and s["rows_failed"] == 5
    assert summary["reason"] == "done" and summary["next_seq"] == 21

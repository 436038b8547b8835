# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Data generator with a write ledger (module ``faultline.chaos.datagen``).

Rows identify themselves (run id + sequence number + payload checksum).  The
writer follows a schedule (``count`` rows every ``interval`` s, a ``rate`` in
rows/s, or as fast as it can), bounded by ``total`` and/or ``duration``, and
rides through outages: on a lost connection it reconnects with exponential
backoff and retries the same sequence numbers.  Every write ends up in the
ledger (JSON lines) as::

    {"ts", "seq_from", "seq_to", "rows", "writes", "status": "acked|failed|indeterminate", "error"}

``indeterminate`` means the connection was lost after the statement was sent
and before the server answered: it may or may not be committed.  Before such
rows are sent again, the writer checks whether they exist (by run id + seq),
so no row is ever written twice.  Progress events in the shared event shape
(source ``datagen``) are interleaved in the same file.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import math
import re
import time
import traceback
import uuid
import zlib

from ansible_collections.faultline.chaos.plugins.module_utils._datagen import ranges as rng
from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    connect, error_text, pymysql,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import make_event


class _NotInstalledError(Exception):
    """Stands in for the error class of a driver that is not installed (never raised)."""


try:  # optional C driver (mysqlclient): less client CPU per write than PyMySQL
    import MySQLdb
    from MySQLdb import MySQLError as _MySQLdbError
    MYSQLCLIENT_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target
    MySQLdb = None
    _MySQLdbError = _NotInstalledError
    MYSQLCLIENT_IMPORT_ERROR = traceback.format_exc()
try:
    from pymysql.err import MySQLError as _PyMySQLError
except ImportError:  # pragma: no cover - require_pymysql reports it
    _PyMySQLError = _NotInstalledError

DRIVERS = ("auto", "pymysql", "mysqlclient")
# exceptions that end a write: either driver's errors, and socket errors
DB_ERRORS = (_PyMySQLError, _MySQLdbError, OSError)

DEFAULT_DATABASE = "faultline"
DEFAULT_TABLE = "faultline_datagen"
DEFAULT_COLUMNS = {"run_id": "run_id", "seq": "seq", "payload": "payload",
                   "checksum": "checksum", "created_at": "now"}
_DEFAULT_ITEMS = list(DEFAULT_COLUMNS.items())
GENERATORS = ("run_id", "seq", "payload", "checksum", "now", "uuid", "int")
_IDENT_RE = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

# client errors after which the statement may have reached the server: the answer was
# lost (2013 CR_SERVER_LOST; 2055 CR_SERVER_LOST_EXTENDED, MySQL's libmysqlclient).
# 2006 (server gone away) is raised by both drivers only when sending failed: not sent.
_LOST_ANSWER = (2013, 2055)
_DUPLICATE_KEY = 1062


class DatagenError(Exception):
    pass


def quote_ident(name):
    if not _IDENT_RE.match(name or ""):
        raise DatagenError("invalid identifier %r (letters, digits, '_' and '$' only)" % (name,))
    return "`%s`" % name


def new_run_id():
    return "dg-%s-%s" % (time.strftime("%Y%m%dT%H%M%S", time.gmtime()), uuid.uuid4().hex[:6])


# --------------------------------------------------------------------------
# input validation and schedule
# --------------------------------------------------------------------------

def validate(p):
    """Raise DatagenError with a user-facing message for bad input."""
    # numbers are range-checked before this by _engine.validate (module BOUNDS)
    if p.get("interval") is not None and p.get("duration") is not None and p["duration"] < p["interval"]:
        raise DatagenError("duration (%s s) is shorter than one interval (%s s): nothing would be "
                           "written after the first burst" % (p["duration"], p["interval"]))
    if p.get("run_id") is not None and not _RUN_ID_RE.match(p["run_id"]):
        raise DatagenError("run_id %r: letters, digits, '.', '_' and '-' only, at most 64" % (p["run_id"],))
    cols = p.get("columns")
    if cols:
        gens = {}
        for col, gen in cols.items():
            quote_ident(col)
            if gen not in GENERATORS and not str(gen).startswith("const:"):
                raise DatagenError("column %s: unknown generator %r (one of %s, or const:<value>)"
                                   % (col, gen, ", ".join(GENERATORS)))
            gens.setdefault(gen, col)
        for need in ("run_id", "seq"):
            if need not in gens:
                raise DatagenError("columns must map one column to the %r generator, so that every "
                                   "row identifies itself and is never written twice" % need)
        if "checksum" in gens and "payload" not in gens:
            raise DatagenError("the checksum generator needs a payload column")
    quote_ident(p.get("table") or DEFAULT_TABLE)
    quote_ident(p.get("database") or DEFAULT_DATABASE)


class Schedule(object):
    """How many rows are due ``elapsed`` seconds after the start.

    burst mode: ``count`` rows at 0, interval, 2*interval ... (while < duration)
    rate mode: one row every 1/rate seconds; fast mode: everything at once.
    """

    def __init__(self, count=None, interval=None, rate=None, total=None, duration=None):
        self.count, self.interval, self.rate = count, interval, rate
        self.total, self.duration = total, duration

    def _cap(self, n):
        return n if self.total is None else min(n, self.total)

    def due(self, elapsed):
        t = elapsed
        if self.duration is not None and t >= self.duration:
            t = self.duration - 1e-9  # nothing is due at or after the end
        if self.interval:
            n = self.count * (int(t // self.interval) + 1)
        elif self.rate:
            n = int(math.floor(t * self.rate)) + 1
        else:
            n = float("inf")
        return self._cap(n)

    def finished(self, elapsed, sent):
        return (self.total is not None and sent >= self.total) or \
            (self.duration is not None and elapsed >= self.duration)

    def wait(self, elapsed, sent):
        """Seconds until more rows are due (sent >= due(elapsed))."""
        if self.interval:
            nxt = (int(elapsed // self.interval) + 1) * self.interval
        elif self.rate:
            nxt = (sent + 0.0) / self.rate
        else:
            return 0.0
        if self.duration is not None:
            nxt = min(nxt, self.duration)
        return max(0.0, nxt - elapsed)

    def planned(self):
        """Rows the schedule writes if nothing goes wrong (None: unbounded)."""
        if self.duration is None:
            return self.total
        return self.due(self.duration)


# --------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------

class RowMaker(object):
    """The rows of one run.  For the default table ``values`` renders a row as SQL
    bytes ``(v1,v2,...)`` from a template prepared once per run (every value is made
    of safe characters: validated run id, digits, hex); for a user table (``bound``)
    it returns the values, which the writer passes as bind parameters, so a
    ``const:`` value is escaped by the driver for the session's sql_mode
    (``NO_BACKSLASH_ESCAPES`` included), never by us."""

    def __init__(self, run_id, columns, payload_size=64):
        self.run_id = run_id
        self.columns = list(columns.items())
        self.payload_size = payload_size
        self._key = ("%s:%%d" % run_id).encode()          # b"<run_id>:%d"
        self._fast = None
        if self.columns == _DEFAULT_ITEMS:
            self._fast = ("('%s',%%d,'%%s',%%d,'%%s')" % run_id).encode()
        self.bound = self._fast is None
        self.placeholders = "(" + ",".join(["%s"] * len(self.columns)) + ")"

    def payload_bytes(self, seq):
        """``<run_id>:<seq>:<sha1 hex>`` repeated to ``payload_size`` (ASCII)."""
        key = self._key % seq
        seed = hashlib.sha1(key).hexdigest().encode()
        text = key + b":" + seed
        short = self.payload_size - len(text)
        if short > 0:
            text += seed * (short // len(seed) + 1)
        return text[:self.payload_size]

    def payload(self, seq):
        return self.payload_bytes(seq).decode()

    def row(self, seq, now):
        payload = self.payload(seq)
        out = []
        for _col, gen in self.columns:
            if gen == "run_id":
                out.append(self.run_id)
            elif gen == "seq":
                out.append(seq)
            elif gen == "payload":
                out.append(payload)
            elif gen == "checksum":
                out.append(zlib.crc32(payload.encode()) & 0xffffffff)
            elif gen == "now":
                out.append(now)
            elif gen == "uuid":
                out.append(str(uuid.uuid5(uuid.NAMESPACE_URL, "%s/%d" % (self.run_id, seq))))
            elif gen == "int":
                out.append((seq * 2654435761) % 2147483647)
            else:  # const:<value>
                out.append(gen[len("const:"):])
        return tuple(out)

    def values(self, seq, now):
        """The default table: the row as SQL bytes ``(v1,v2,...)`` (``now`` as bytes).
        A user table (``bound``): the tuple of values, for bind parameters."""
        if self._fast is not None:
            payload = self.payload_bytes(seq)
            return self._fast % (seq, payload, zlib.crc32(payload), now)
        return self.row(seq, now.decode())


class UtcClock(object):
    """``now()``: the UTC wall clock as ``YYYY-mm-dd HH:MM:SS.ffffff`` bytes; the
    date part is formatted once per second."""

    def __init__(self):
        self._sec, self._prefix = None, b""

    def now(self):
        t = time.time()
        sec = int(t)
        if sec != self._sec:
            self._sec = sec
            self._prefix = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec)).encode()
        return b"%s.%06d" % (self._prefix, int((t - sec) * 1e6))


def default_table_ddl(database, table):
    return ("CREATE TABLE IF NOT EXISTS %s.%s (\n"
            "  run_id VARCHAR(64) NOT NULL,\n"
            "  seq BIGINT UNSIGNED NOT NULL,\n"
            "  payload VARCHAR(1024) NOT NULL,\n"
            "  checksum INT UNSIGNED NOT NULL COMMENT 'CRC32(payload)',\n"
            "  created_at DATETIME(6) NOT NULL COMMENT 'UTC, client clock',\n"
            "  PRIMARY KEY (run_id, seq)\n"
            ") ENGINE=InnoDB" % (quote_ident(database), quote_ident(table)))


def prepare(conn_kw, p):
    """Pre-flight on the module side: connect, create the default table or check
    the user table's columns.  Returns a list of the statements run (for diff).
    Raises DatagenError with a clear message."""
    database = p.get("database") or DEFAULT_DATABASE
    table = p.get("table") or DEFAULT_TABLE
    kw = dict(conn_kw)
    kw.pop("database", None)
    where = "%s@%s" % (kw.get("user"), kw.get("unix_socket") or "%s:%s" % (kw.get("host"), kw.get("port")))
    try:
        conn = connect(kw, dict_cursor=False)
    except pymysql.err.MySQLError as e:
        raise DatagenError("cannot connect to %s: %s" % (where, error_text(e)))
    done = []
    try:
        with conn.cursor() as cur:
            if not p.get("columns"):
                if p.get("create_table", True):
                    for st in ("CREATE DATABASE IF NOT EXISTS %s" % quote_ident(database),
                               default_table_ddl(database, table)):
                        if not p.get("check_mode"):
                            cur.execute(st)
                        done.append(st)
            columns = p.get("columns") or DEFAULT_COLUMNS
            cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS "
                        "WHERE TABLE_SCHEMA=%s AND TABLE_NAME=%s", (database, table))
            have = set(r[0].lower() for r in cur.fetchall())
            if not have and not (p.get("check_mode") and done):
                raise DatagenError("table %s.%s does not exist on %s" % (database, table, where))
            missing = [c for c in columns if have and c.lower() not in have]
            if missing:
                raise DatagenError("table %s.%s has no column(s) %s" % (database, table, ", ".join(missing)))
            run_col = [c for c, g in columns.items() if g == "run_id"][0]
            if have and p.get("run_id"):
                cur.execute("SELECT COUNT(*) FROM %s.%s WHERE %s = %%s" % (
                    quote_ident(database), quote_ident(table), quote_ident(run_col)), (p["run_id"],))
                n = int(cur.fetchone()[0])
                if n:
                    raise DatagenError("run_id %s already has %d rows in %s.%s (an earlier run): they would count "
                                       "as acknowledged writes of this run; use a new run_id (or none: a fresh one "
                                       "is made)" % (p["run_id"], n, database, table))
    except pymysql.err.MySQLError as e:
        raise DatagenError("preparing %s.%s on %s failed: %s" % (database, table, where, error_text(e)))
    finally:
        conn.close()
    return done


# --------------------------------------------------------------------------
# the writer (runs in the background worker)
# --------------------------------------------------------------------------

def _code(exc):
    return exc.args[0] if getattr(exc, "args", None) and isinstance(exc.args[0], int) else None


def classify(exc):
    """'indeterminate' when the statement may have been committed, else 'failed'."""
    code = _code(exc)
    if code in _LOST_ANSWER or code == _DUPLICATE_KEY:
        return "indeterminate"
    return "failed"


def _connection_lost(exc):
    code = exc.args[0] if getattr(exc, "args", None) and isinstance(exc.args[0], int) else 0
    return isinstance(exc, OSError) or code == 0 or code >= 2000


def resolve_driver(name=None):
    """'auto' -> 'mysqlclient' when MySQLdb imports, else 'pymysql'.  Raises DatagenError
    for an unknown name; an explicit 'mysqlclient' that does not import is the caller's
    to report (``MYSQLCLIENT_IMPORT_ERROR``)."""
    name = name or "auto"
    if name not in DRIVERS:
        raise DatagenError("driver %r: one of %s" % (name, ", ".join(DRIVERS)))
    if name == "auto":
        return "mysqlclient" if MySQLdb is not None else "pymysql"
    return name


def connect_mysqlclient(kw, timeout):
    """A MySQLdb connection from pymysql-style keyword arguments (timeouts in whole seconds)."""
    args = dict(host=kw.get("host") or "127.0.0.1", port=int(kw.get("port") or 3306), user=kw.get("user") or "",
                password=kw.get("password") or "", charset=kw.get("charset") or "utf8mb4",
                autocommit=bool(kw.get("autocommit", True)),
                connect_timeout=max(1, int(math.ceil(float(kw.get("connect_timeout") or 5)))),
                read_timeout=max(1, int(math.ceil(timeout))), write_timeout=max(1, int(math.ceil(timeout))))
    for k in ("unix_socket", "database"):
        if kw.get(k):
            args[k] = kw[k]
    if args.get("unix_socket"):
        # libmariadb only takes the socket when the host is "localhost" (PyMySQL
        # takes it whatever the host): without this the writer silently used TCP
        args["host"] = "localhost"
    return MySQLdb.connect(**args)


_COM_QUERY = 0x03


def insert_once(conn, sql):
    """Send one statement and read the server's answer: exactly one round trip.

    Uses PyMySQL's own packet framing (``_execute_command``) and error mapping
    (``_read_packet`` raises the same exceptions, with the same error numbers, as
    ``cursor.execute``), but skips building a cursor result per row, which is
    most of the client's CPU time for a one-row INSERT.  An INSERT is answered by
    an OK or an error packet; anything else leaves the connection unusable."""
    conn._execute_command(_COM_QUERY, sql)
    read_ok(conn)


def read_ok(conn):
    """Read the answer to a statement sent with ``_execute_command`` (PyMySQL): OK or an error."""
    if not conn._read_packet().is_ok_packet():
        raise pymysql.err.InterfaceError(0, "unexpected answer to an INSERT (not an OK packet)")


class Writer(object):
    """Writes the schedule, keeps the ledger.  ``p`` is the JSON-safe params dict."""

    FLUSH_EVERY = 0.5

    def __init__(self, conn_kw, p, output, flag, host=None):
        self.conn_kw = dict(conn_kw)
        self.conn_kw["database"] = p.get("database") or DEFAULT_DATABASE
        self.p, self.out, self.flag, self.host = p, output, flag, host
        self.run_id = p["run_id"]
        self.driver = resolve_driver(p.get("driver") or "pymysql")
        columns = p.get("columns") or DEFAULT_COLUMNS
        self.rows = RowMaker(self.run_id, columns, p.get("payload_size") or 64)
        self.sched = Schedule(p.get("count"), p.get("interval"), p.get("rate"), p.get("total"), p.get("duration"))
        self.batch = int(p.get("batch") or 1)
        self.max_backoff = float(p.get("max_backoff") or 2.0)
        self.io_timeout = float(p.get("write_timeout") or 10.0)
        self.progress_every = float(p.get("progress_interval") or 5.0)
        table = "%s.%s" % (quote_ident(self.conn_kw["database"]), quote_ident(p.get("table") or DEFAULT_TABLE))
        cols = list(columns)
        self.insert_sql = "INSERT INTO %s (%s) VALUES " % (table, ", ".join(quote_ident(c) for c in cols))
        self.insert_bytes = self.insert_sql.encode()
        run_col = [c for c, g in columns.items() if g == "run_id"][0]
        self.seq_col = [c for c, g in columns.items() if g == "seq"][0]
        self.exists_sql = "SELECT %s FROM %s WHERE %s = %%s AND %s BETWEEN %%s AND %%s" % (
            quote_ident(self.seq_col), table, quote_ident(run_col), quote_ident(self.seq_col))
        # per connection: a cursor (resolve) and the insert path; ``finish`` (when the driver can
        # split a round trip) reads the answer to what ``send`` sent
        self.conn = self.cur = self.send = self.finish = None
        self.clock = UtcClock()
        self.next_seq = int(p.get("start_seq") or 1)
        self.pending = None      # {"seqs": [...], "rows": [...], "status": None|failed|indeterminate}
        self.ready = None        # the next batch, built while the INSERT before it was in flight
        self.acked_buf = None    # [seq_from, seq_to, writes] not yet in the ledger
        self.last_flush = time.monotonic()
        self.rows_acked = 0
        self.outage = None       # first error of the current outage
        self.backoff = 0.0

    # ledger ------------------------------------------------------------
    def event(self, name, **detail):
        self.out.write(make_event("datagen", self.run_id, name, detail, host=self.host))

    def line(self, seqs, status, error=None, writes=1):
        for a, b in rng.compact(seqs):
            self.out.write({"ts": time.time(), "seq_from": a, "seq_to": b, "rows": b - a + 1,
                            "writes": writes, "status": status, "error": error})

    def ack(self, seqs, writes=1):
        self.rows_acked += len(seqs)
        a, b = seqs[0], seqs[-1]
        if b - a + 1 != len(seqs):  # not contiguous (partial resolution): write directly
            self.flush()
            self.line(seqs, "acked", writes=writes)
            return
        if self.acked_buf and a == self.acked_buf[1] + 1:
            self.acked_buf[1] = b
            self.acked_buf[2] += writes
        else:
            self.flush()
            self.acked_buf = [a, b, writes]
        if time.monotonic() - self.last_flush >= self.FLUSH_EVERY:
            self.flush()

    def flush(self):
        if self.acked_buf:
            a, b, w = self.acked_buf
            self.out.write({"ts": time.time(), "seq_from": a, "seq_to": b, "rows": b - a + 1,
                            "writes": w, "status": "acked", "error": None})
            self.acked_buf = None
        self.last_flush = time.monotonic()

    # connection --------------------------------------------------------
    def drop(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 - a dead socket may fail to close
                pass
            self.conn = self.cur = self.send = self.finish = None

    def failure(self, exc):
        """Note an error; returns its text.  Starts an outage on the first one."""
        text = error_text(exc)
        if self.outage is None:
            self.outage = {"since": time.time(), "error": text}
            self.flush()
            self.event("write_error", error=text, seq=self.pending["seqs"][0] if self.pending else None)
        self.backoff = min(self.max_backoff, (self.backoff * 2) or 0.1)
        return text

    def recovered(self):
        if self.outage is not None:
            self.event("recovered", error=self.outage["error"],
                       outage_s=round(time.time() - self.outage["since"], 3))
            self.outage = None
        self.backoff = 0.0

    def ensure_conn(self):
        if self.conn is not None:
            return True
        try:
            if self.driver == "mysqlclient":
                # one C call per write: mysql_real_query sends the INSERT and reads its OK/error
                self.conn = connect_mysqlclient(self.conn_kw, self.io_timeout)
                self.cur = self.conn.cursor()
                if hasattr(self.conn, "send_query") and hasattr(self.conn, "read_query_result"):
                    # the same two C calls, with the next batch built in between (write())
                    self.send, self.finish = self.conn.send_query, self.conn.read_query_result
                else:
                    self.send = self.conn.query
                return True
            self.conn = connect(self.conn_kw, dict_cursor=False, read_timeout=self.io_timeout,
                                write_timeout=self.io_timeout)
            self.cur = self.conn.cursor()
            # the lean path needs PyMySQL's connection internals; any other connection
            # object (another PyMySQL version, a test double) goes through the cursor
            if hasattr(self.conn, "_execute_command") and hasattr(self.conn, "_read_packet"):
                conn = self.conn
                self.send = lambda sql: conn._execute_command(_COM_QUERY, sql)
                self.finish = lambda: read_ok(conn)
            else:
                self.send = self.cur.execute
            return True
        except Exception as e:  # noqa: BLE001 - DB_ERRORS only (a tuple built at import time)
            if not isinstance(e, DB_ERRORS):
                raise
            text = self.failure(e)
            if self.pending and self.pending["status"] != "indeterminate":
                self.line(self.pending["seqs"], "failed", text)
                self.pending["status"] = "failed"
            return False

    # writes ------------------------------------------------------------
    def resolve(self):
        """After an indeterminate write: which pending rows exist already?"""
        seqs = self.pending["seqs"]
        self.cur.execute(self.exists_sql, (self.run_id, seqs[0], seqs[-1]))
        present = set(int(r[0]) for r in self.cur.fetchall())
        done = [s for s in seqs if s in present]
        if done:
            self.ack(done, writes=0)
        keep = [i for i, s in enumerate(seqs) if s not in present]
        self.pending["seqs"] = [seqs[i] for i in keep]
        self.pending["rows"] = [self.pending["rows"][i] for i in keep]
        self.pending["status"] = None if keep else "acked"
        if not keep:
            self.pending = None

    def write(self):
        try:
            if self.pending["status"] == "indeterminate":
                self.resolve()
                if self.pending is None:
                    self.recovered()
                    return
            # one round trip: a single autocommit INSERT (multi-row VALUES for batch > 1)
            rows = self.pending["rows"]
            if self.rows.bound:  # user table: values as bind parameters (escaped by the driver)
                self.cur.execute(self.insert_sql + ",".join([self.rows.placeholders] * len(rows)),
                                 [v for r in rows for v in r])
            else:
                self.send(self.insert_bytes + b",".join(rows))
                if self.finish is not None:
                    # still one statement in flight at a time; the client's work for the next
                    # batch is done while the server works on this one, not after its answer
                    self.prefetch()
                    self.finish()
        except Exception as e:  # noqa: BLE001 - DB_ERRORS only (a tuple built at import time)
            if not isinstance(e, DB_ERRORS):
                raise
            if _code(e) == _DUPLICATE_KEY and self.pending["status"] != "indeterminate":
                # rows of this run id that this run never sent: another writer (or an
                # earlier run) uses the same run_id; counting them as ours would be a lie
                raise DatagenError("rows %d..%d of run %s already exist in the table, written by another "
                                   "run with the same run_id: stopped (use a new run_id)"
                                   % (self.pending["seqs"][0], self.pending["seqs"][-1], self.run_id))
            status = classify(e) if self.pending["status"] != "indeterminate" else "indeterminate"
            text = self.failure(e)
            if self.pending["status"] != status or status == "failed":
                self.line(self.pending["seqs"], status, text)
            self.pending["status"] = status
            if _connection_lost(e) or status == "indeterminate":
                self.drop()
            return
        self.ack(self.pending["seqs"])
        self.pending = None
        self.recovered()

    def make_batch(self, n):
        now, values = self.clock.now(), self.rows.values
        seqs = range(self.next_seq, self.next_seq + n)
        self.next_seq += n
        return {"seqs": list(seqs), "rows": [values(s, now) for s in seqs], "status": None}

    def new_batch(self, n):
        self.pending = self.make_batch(n)

    def prefetch(self):
        """Build the next batch now if the schedule has it due (first attempt of a write only)."""
        if self.ready is not None or self.pending["status"] is not None:
            return
        elapsed, sent = time.monotonic() - self.t0, self.next_seq - 1
        if self.sched.finished(elapsed, sent):
            return
        n = min(self.batch, self.sched.due(elapsed) - sent)
        if n > 0:
            self.ready = self.make_batch(int(n))

    def run(self):
        t0 = self.t0 = time.monotonic()
        last_progress = t0
        self.event("started", schedule={k: self.p.get(k) for k in
                                        ("count", "interval", "rate", "total", "duration", "batch")},
                   planned_rows=self.sched.planned(), driver=self.driver)
        reason = "done"
        try:
            while True:
                if self.flag.expired():
                    reason = "stopped"
                    break
                now = time.monotonic()
                elapsed = now - t0
                if now - last_progress >= self.progress_every:
                    self.flush()
                    self.event("progress", rows_acked=self.rows_acked, next_seq=self.next_seq)
                    last_progress = now
                sent = self.next_seq - 1
                if self.pending is None and self.ready is not None:
                    self.pending, self.ready = self.ready, None
                elif self.pending is None:
                    if self.sched.finished(elapsed, sent):
                        break
                    n = min(self.batch, self.sched.due(elapsed) - sent)
                    if n <= 0:
                        self.flush()
                        self.flag.wait(min(self.sched.wait(elapsed, sent), self.progress_every))
                        continue
                    self.new_batch(int(n))
                elif self.sched.duration is not None and elapsed >= self.sched.duration:
                    reason = "duration"
                    break
                if self.backoff and self.flag.wait(self.backoff):
                    continue
                if self.ensure_conn():
                    self.write()
        finally:
            if self.ready is not None:  # built ahead and never sent: nothing of it is in the ledger
                self.next_seq, self.ready = self.ready["seqs"][0], None
            self.flush()
            self.drop()
            summary = {"reason": reason, "rows_acked": self.rows_acked, "next_seq": self.next_seq,
                       "pending": self.pending and {"seqs": rng.compact(self.pending["seqs"]),
                                                    "status": self.pending["status"]}}
            self.event("finished", **summary)
        return summary


def worker(conn_kw):
    """The background target (conn_kw kept out of the meta file: it holds the password)."""
    def target(params, output, flag):
        return Writer(conn_kw, params, output, flag).run()
    return target


# --------------------------------------------------------------------------
# reading the ledger back
# --------------------------------------------------------------------------

def summarize(lines):
    """Final state from the ledger lines: per sequence number the last status wins
    (an acked row stays acked)."""
    state = {"acked": [], "failed": [], "indeterminate": []}
    attempts = {"acked": 0, "failed": 0, "indeterminate": 0}
    ever_failed = []
    events, series, errors = [], [], []
    cumulative = 0
    for ln in lines:
        if "seq_from" not in ln:
            if ln.get("source") == "datagen":
                events.append(ln)
            continue
        st = ln.get("status")
        if st not in state:
            continue
        r = [[int(ln["seq_from"]), int(ln["seq_to"])]]
        attempts[st] += int(ln.get("writes", 1))
        if st == "failed":
            ever_failed = rng.add(ever_failed, r)
        if st == "acked":
            new = rng.subtract(r, state["acked"])
            cumulative += rng.count(new)
            series.append([ln["ts"], cumulative])
        else:
            r = rng.subtract(r, state["acked"])
            if ln.get("error") and ln["error"] not in errors and len(errors) < 10:
                errors.append(ln["error"])
        for k in state:
            state[k] = rng.subtract(state[k], r)
        state[st] = rng.add(state[st], r)
    return {
        # writes_* (not failed/acked): a result key named "failed" is Ansible's own failure flag
        "writes_acked": attempts["acked"], "writes_failed": attempts["failed"],
        "writes_indeterminate": attempts["indeterminate"],
        "rows_acked": rng.count(state["acked"]),
        "rows_failed": rng.count(ever_failed),
        "rows_indeterminate": rng.count(state["indeterminate"]),
        "acked_ranges": state["acked"],
        "failed_ranges": state["failed"],
        "indeterminate_ranges": state["indeterminate"],
        "errors": errors,
        "events": events,
        "series": series,
    }

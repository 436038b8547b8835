# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One small class per database engine for verify.  A side answers questions
about one table on one server; the comparison logic (chunks.py, checker.py)
never writes SQL.  MySQL and MariaDB share ``MySQLSide``; a PostgreSQL side
implements the same methods (its checksum must then be computed the same way
on both sides, e.g. by fetching rows)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import decimal

from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    binlog_status, connect, error_text, pymysql, replica_status,
)
from ansible_collections.faultline.chaos.plugins.module_utils._verify.chunks import null_key_sql, range_sql


class VerifyError(Exception):
    pass


def quote(name):
    return "`%s`" % str(name).replace("`", "``")


def plain(value):
    """JSON-safe key values."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, (datetime.date, datetime.time, datetime.timedelta, decimal.Decimal)):
        return str(value)
    return value


def parse_mariadb_gtid(text):
    """'0-1-100,1-2-7' -> {0: 100, 1: 7} (domain -> sequence)."""
    out = {}
    for part in (text or "").replace("\n", "").split(","):
        part = part.strip()
        if part.count("-") == 2:
            dom, _srv, seq = part.split("-")
            out[int(dom)] = max(out.get(int(dom), 0), int(seq))
    return out


def row_crc_sql(quoted_cols):
    """CRC32 of an unambiguous encoding of a row: each column as ``<characters>:<value>``,
    or ``N`` for NULL (a length always starts with a digit), concatenated.  The old
    ``CONCAT_WS('#', ...)`` could not tell ``('a#', 'b')`` from ``('a', '#b')``."""
    return "CRC32(CONCAT(%s))" % ", ".join(
        "COALESCE(CONCAT(CHAR_LENGTH(%s), ':', %s), 'N')" % (c, c) for c in quoted_cols)


class MySQLSide(object):
    """MySQL / MariaDB."""

    def __init__(self, label, conn_kw, database, table):
        self.label = label
        self.database, self.table = database, table
        kw = dict(conn_kw)
        kw.pop("database", None)
        self.where = "%s (%s@%s)" % (label, kw.get("user"), kw.get("unix_socket") or "%s:%s" % (kw.get("host"), kw.get("port")))
        try:
            self.conn = connect(kw, dict_cursor=False, read_timeout=600)
        except pymysql.err.MySQLError as e:
            raise VerifyError("cannot connect to %s: %s" % (self.where, error_text(e)))
        self.fq = "%s.%s" % (quote(database), quote(table))
        self.key_cols, self.cols = [], []
        self.flavor = self.one("SELECT VERSION()")[0]
        self.flavor = "mariadb" if "mariadb" in self.flavor.lower() else "mysql"

    def close(self):
        try:
            self.conn.close()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail
            pass

    def all(self, sql, args=None):
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        except pymysql.err.MySQLError as e:
            raise VerifyError("%s: %s" % (self.where, error_text(e)))

    def one(self, sql, args=None):
        rows = self.all(sql, args)
        return rows[0] if rows else None

    # schema --------------------------------------------------------------
    def columns(self):
        rows = self.all("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA=%s "
                        "AND TABLE_NAME=%s ORDER BY ORDINAL_POSITION", (self.database, self.table))
        return [r[0] for r in rows]

    def unique_keys(self):
        """[[col, ...], ...]: the primary key first, then unique keys (all columns NOT NULL)."""
        rows = self.all("SELECT s.INDEX_NAME, s.COLUMN_NAME, s.NULLABLE FROM information_schema.STATISTICS s "
                        "WHERE s.TABLE_SCHEMA=%s AND s.TABLE_NAME=%s AND s.NON_UNIQUE=0 "
                        "ORDER BY s.INDEX_NAME != 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
                        (self.database, self.table))
        keys, nullable = {}, set()
        for name, col, null in rows:
            keys.setdefault(name, []).append(col)
            if null == "YES":
                nullable.add(name)
        return [cols for name, cols in keys.items() if name not in nullable]

    def use(self, key_cols, cols):
        self.key_cols = [quote(c) for c in key_cols]
        self.cols = [quote(c) for c in cols]
        self.crc = row_crc_sql(self.cols)
        self.keys_sql = ", ".join(self.key_cols)

    # data ----------------------------------------------------------------
    def count(self):
        return int(self.one("SELECT COUNT(*) FROM %s" % self.fq)[0])

    def checksum(self, lo, hi):
        where, args = range_sql(self.key_cols, lo, hi)
        r = self.one("SELECT COUNT(*), COALESCE(BIT_XOR(%s), 0), COALESCE(SUM(%s), 0) FROM %s WHERE %s"
                     % (self.crc, self.crc, self.fq, where), args)
        return (int(r[0]), int(r[1]), int(r[2]))

    def null_key_checksum(self):
        """(rows, xor, sum) of the rows with a NULL in a key column."""
        r = self.one("SELECT COUNT(*), COALESCE(BIT_XOR(%s), 0), COALESCE(SUM(%s), 0) FROM %s WHERE %s"
                     % (self.crc, self.crc, self.fq, null_key_sql(self.key_cols)))
        return (int(r[0]), int(r[1]), int(r[2]))

    def boundaries(self, chunk_rows):
        out, lo = [], None
        while True:
            where, args = range_sql(self.key_cols, lo, None)
            r = self.one("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d"
                         % (self.keys_sql, self.fq, where, self.keys_sql, int(chunk_rows)), args)
            if r is None:
                return out
            lo = tuple(r)
            out.append(lo)

    def key_at(self, lo, hi, offset):
        where, args = range_sql(self.key_cols, lo, hi)
        r = self.one("SELECT %s FROM %s WHERE %s ORDER BY %s LIMIT 1 OFFSET %d"
                     % (self.keys_sql, self.fq, where, self.keys_sql, int(offset)), args)
        return tuple(r) if r else None

    def rows(self, lo, hi, limit):
        where, args = range_sql(self.key_cols, lo, hi)
        n = len(self.key_cols)
        res = self.all("SELECT %s, %s FROM %s WHERE %s ORDER BY %s LIMIT %d"
                       % (self.keys_sql, self.crc, self.fq, where, self.keys_sql, int(limit)), args)
        return [(tuple(plain(v) for v in r[:n]), int(r[n])) for r in res]

    def duplicate_keys(self, limit):
        """[(key, copies), ...] and the number of surplus rows (one full scan)."""
        rows = self.all("SELECT %s, COUNT(*) AS c FROM %s WHERE NOT (%s) GROUP BY %s HAVING c > 1 ORDER BY %s"
                        % (self.keys_sql, self.fq, null_key_sql(self.key_cols), self.keys_sql, self.keys_sql))
        n = len(self.key_cols)
        return [(tuple(plain(v) for v in r[:n]), int(r[n])) for r in rows[:limit]], sum(int(r[n]) - 1 for r in rows)

    # datagen ledger ------------------------------------------------------
    def run_seq_stats(self, run_col, seq_col, run_id, a, b):
        r = self.one("SELECT COUNT(*), COUNT(DISTINCT %s) FROM %s WHERE %s = %%s AND %s BETWEEN %%s AND %%s"
                     % (quote(seq_col), self.fq, quote(run_col), quote(seq_col)), (run_id, a, b))
        return int(r[0]), int(r[1])

    def run_seq_counts(self, run_col, seq_col, run_id, a, b):
        rows = self.all("SELECT %s, COUNT(*) FROM %s WHERE %s = %%s AND %s BETWEEN %%s AND %%s GROUP BY %s"
                        % (quote(seq_col), self.fq, quote(run_col), quote(seq_col), quote(seq_col)),
                        (run_id, a, b))
        return dict((int(s), int(c)) for s, c in rows)

    def run_rows(self, run_col, run_id):
        return int(self.one("SELECT COUNT(*) FROM %s WHERE %s = %%s" % (self.fq, quote(run_col)), (run_id,))[0])

    # positions -----------------------------------------------------------
    def position(self):
        with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
            return binlog_status(cur)

    def replica(self):
        with self.conn.cursor(pymysql.cursors.DictCursor) as cur:
            st = replica_status(cur)
        if st is not None and self.flavor == "mariadb":
            st["gtid_slave_pos"] = self.one("SELECT @@GLOBAL.gtid_slave_pos")[0] or None
        return st

    def applied(self, source_pos, st):
        """Has this replica applied ``source_pos`` (a binlog_status dict)?  None if unknown."""
        if st is None:
            return None
        gtid = source_pos.get("gtid")
        if gtid and self.flavor == "mariadb" and st.get("gtid_slave_pos") is not None:
            have = parse_mariadb_gtid(st["gtid_slave_pos"])
            return all(have.get(d, 0) >= s for d, s in parse_mariadb_gtid(gtid).items())
        if gtid and self.flavor == "mysql":
            return bool(self.one("SELECT GTID_SUBSET(%s, @@GLOBAL.gtid_executed)", (gtid,))[0])
        if source_pos.get("file") and st.get("relay_source_log_file"):
            return (st["relay_source_log_file"], int(st.get("exec_source_log_pos") or 0)) >= \
                (source_pos["file"], int(source_pos.get("position") or 0))
        return None


def position_advanced(before, after):
    """True if ``after`` (binlog_status dict) is beyond ``before``; None if not comparable."""
    if not before or not after:
        return None
    if before.get("gtid") and after.get("gtid"):
        b, a = parse_mariadb_gtid(before["gtid"]), parse_mariadb_gtid(after["gtid"])
        if b or a:
            return any(a.get(d, 0) > b.get(d, 0) for d in a)
        return before["gtid"] != after["gtid"]
    if before.get("file") and after.get("file"):
        return (after["file"], int(after.get("position") or 0)) > (before["file"], int(before.get("position") or 0))
    return None


ENGINES = {"mysql": MySQLSide, "mariadb": MySQLSide}

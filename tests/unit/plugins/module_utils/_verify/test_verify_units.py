"""Unit tests: key-range SQL, chunk drill-down against in-memory sides, GTID logic, bad input."""
import zlib

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._verify import chunks
from ansible_collections.faultline.chaos.plugins.module_utils._verify import checker
from ansible_collections.faultline.chaos.plugins.module_utils._verify import engines
from ansible_collections.faultline.chaos.plugins.module_utils._verify.engines import (
    VerifyError, parse_mariadb_gtid, position_advanced,
)


def test_key_cmp_sql_composite():
    sql, args = chunks.key_cmp_sql(["`a`", "`b`"], ["x", 5], ">=")
    assert sql == "(`a` > %s OR (`a` = %s AND `b` >= %s))"
    assert args == ["x", "x", 5]
    sql, args = chunks.key_cmp_sql(["`a`"], [1], "<")
    assert (sql, args) == ("`a` < %s", [1])
    with pytest.raises(ValueError):
        chunks.key_cmp_sql(["`a`"], [1, 2], "<")


def test_range_sql():
    assert chunks.range_sql(["`k`"], None, None) == ("`k` IS NOT NULL", [])
    sql, args = chunks.range_sql(["`k`"], (3,), (9,))
    assert sql == "`k` IS NOT NULL AND `k` >= %s AND `k` < %s" and args == [3, 9]


def test_null_keys_are_in_no_range_but_in_their_own_chunk():
    """Issue 10 item 9: the unbounded ranges held the NULL-key rows on one side only."""
    cols = ["`a`", "`b`"]
    assert chunks.range_sql(cols, None, ("x", 1))[0].startswith("`a` IS NOT NULL AND `b` IS NOT NULL AND ")
    assert chunks.range_sql(cols, ("x", 1), None)[0].startswith("`a` IS NOT NULL AND `b` IS NOT NULL AND ")
    assert chunks.null_key_sql(cols) == "`a` IS NULL OR `b` IS NULL"
    diff = chunks.Diff()
    chunks.null_key_diff(((50000, 7, 9), (49999, 3, 4)), 2, diff)
    assert diff.counts["missing"] == 1 and diff.keys["missing"] == [[None, None]]
    diff = chunks.Diff()
    chunks.null_key_diff(((5, 7, 9), (5, 3, 4)), 1, diff)
    assert diff.counts["changed"] == 1
    diff = chunks.Diff()
    chunks.null_key_diff(((5, 7, 9), (5, 7, 9)), 1, diff)
    assert diff.empty()


def test_key_columns_are_always_in_the_checksum():
    key, cols = checker.resolve_columns(SchemaSide(["id", "v", "w"], [["id"]]), SchemaSide(["id", "v", "w"], []),
                                        columns=["v"])
    assert key == ["id"] and cols == ["id", "v"]
    key, cols = checker.resolve_columns(SchemaSide(["id", "v"], [["id"]]), SchemaSide(["id", "v"], []),
                                        columns=["v", "ID"])
    assert cols == ["v", "ID"]


def test_row_encoding_is_length_prefixed():
    sql = engines.row_crc_sql(["`a`", "`b`"])
    assert "CONCAT_WS" not in sql
    assert sql == ("CRC32(CONCAT(COALESCE(CONCAT(CHAR_LENGTH(`a`), ':', `a`), 'N'), "
                   "COALESCE(CONCAT(CHAR_LENGTH(`b`), ':', `b`), 'N')))")


def test_range_sql_shared_prefix_is_an_equality():
    cols = ["`run_id`", "`seq`"]
    sql, args = chunks.range_sql(cols, ("r1", 5), ("r1", 9))
    assert sql == "`run_id` IS NOT NULL AND `seq` IS NOT NULL AND `run_id` = %s AND `seq` >= %s AND `seq` < %s"
    assert args == ["r1", 5, 9]
    sql, args = chunks.range_sql(cols, ("r1", 5), ("r2", 1))   # no shared prefix: expanded form
    assert sql.startswith("`run_id` IS NOT NULL AND `seq` IS NOT NULL AND "
                          "(`run_id` > %s OR (`run_id` = %s AND `seq` >= %s))")
    assert args == ["r1", "r1", 5, "r2", "r2", 1]
    assert chunks.range_sql(cols, ("r1", 5), None)[1] == ["r1", "r1", 5]


def test_range_sql_selects_the_same_rows_as_the_tuple_order():
    keys = [(a, b) for a in ("a", "b", "c") for b in range(5)]
    for lo in [None] + keys:
        for hi in [None] + keys:
            sql, args = chunks.range_sql(["a", "b"], lo, hi)
            expr = sql.replace(" IS NOT NULL", " is not None").replace("%s", "{}").replace(" = ", " == ").replace("AND", "and").replace("OR", "or")
            want = [k for k in keys if (lo is None or k >= lo) and (hi is None or k < hi)]
            got = [k for k in keys if eval(expr.format(*[repr(a) for a in args]), {}, {"a": k[0], "b": k[1]})]
            assert got == want, (lo, hi, sql)


def test_rest_is_the_other_part_of_a_range():
    side = MemSide(base(100))
    whole, left = side.checksum((10,), (90,)), side.checksum((10,), (40,))
    assert chunks.rest(whole, left) == side.checksum((40,), (90,))


def test_chunk_ranges():
    assert chunks.chunk_ranges([]) == [(None, None)]
    assert chunks.chunk_ranges([(5,), (9,)]) == [(None, (5,)), ((5,), (9,)), ((9,), None)]


class MemSide(object):
    """A table in memory: list of (key tuple, row value); keys may repeat (keyless table)."""

    def __init__(self, rows):
        self.data = sorted(rows)
        self.queries = 0

    def _in(self, lo, hi):
        return [(k, v) for k, v in self.data if (lo is None or k >= tuple(lo)) and (hi is None or k < tuple(hi))]

    def checksum(self, lo, hi):
        self.queries += 1
        rows = self._in(lo, hi)
        x = 0
        for _k, v in rows:
            x ^= zlib.crc32(v.encode())
        return (len(rows), x, sum(zlib.crc32(v.encode()) for _k, v in rows))

    def key_at(self, lo, hi, offset):
        rows = self._in(lo, hi)
        return rows[offset][0] if offset < len(rows) else None

    def rows(self, lo, hi, limit):
        return [(k, zlib.crc32(v.encode())) for k, v in self._in(lo, hi)[:limit]]


def run_compare(src_rows, dst_rows, bounds, leaf=4):
    src, dst = MemSide(src_rows), MemSide(dst_rows)
    diff = chunks.Diff(max_keys=50)
    for lo, hi, s, d in chunks.compare(src, dst, bounds):
        chunks.drill(src, dst, lo, hi, (s, d), diff, leaf_rows=leaf)
    return diff, src, dst


def base(n=200):
    return [((i,), "row-%d" % i) for i in range(n)]


def test_drill_names_missing_extra_changed_duplicate():
    src = base()
    dst = [r for r in src if r[0] != (17,)]                       # missing 17
    dst = [((k[0],), "changed") if k == (120,) else (k, v) for k, v in dst]   # changed 120
    dst.append(((500,), "row-500"))                                # extra 500
    dst.append(((33,), "row-33"))                                  # duplicate 33
    diff, src_side = run_compare(src, dst, [(50,), (100,), (150,)])[:2]
    assert diff.keys["missing"] == [[17]] and diff.counts["missing"] == 1
    assert diff.keys["extra"] == [[500]] and diff.counts["extra"] == 1
    assert diff.keys["changed"] == [[120]] and diff.counts["changed"] == 1
    assert diff.keys["duplicates"] == [[33]] and diff.counts["duplicates"] == 1


def test_drill_equal_tables_touch_only_top_level():
    diff, src, dst = run_compare(base(), base(), [(50,), (100,), (150,)])
    assert diff.empty()
    assert src.queries == 4 and dst.queries == 4


def test_drill_empty_destination_counts_all_but_caps_keys():
    src = base(1000)
    diff, _s, _d = run_compare(src, [], [(500,)])
    assert diff.counts["missing"] == 1000
    assert len(diff.keys["missing"]) == 50


def test_drill_recurses_in_big_chunk():
    src = base(1000)
    dst = [r for r in src if r[0] not in ((3,), (999,))]
    diff, s, _d = run_compare(src, dst, [], leaf=8)
    assert diff.keys["missing"] == [[3], [999]]
    assert s.queries < 60   # halving, not a row-by-row scan


def test_drill_queries_one_half_per_split():
    src = base(1024)
    dst = [r for r in src if r[0] != (700,)]
    diff, s, d = run_compare(src, dst, [], leaf=8)
    assert diff.keys["missing"] == [[700]] and diff.counts["missing"] == 1
    # 1 top-level + 1 per split (the right half is derived): 1024 -> 8 rows is 7 splits
    assert s.queries == d.queries == 1 + 7


def test_compare_composite_keys():
    src = [(("a", i), "v%d" % i) for i in range(30)] + [(("b", i), "w%d" % i) for i in range(30)]
    dst = [r for r in src if r[0] != ("b", 7)]
    diff, _s, _d = run_compare(src, dst, [("a", 20), ("b", 5)])
    assert diff.keys["missing"] == [["b", 7]]


def test_gtid_helpers():
    assert parse_mariadb_gtid("0-1-100,1-2-7") == {0: 100, 1: 7}
    assert parse_mariadb_gtid("") == {}
    assert position_advanced({"gtid": "0-1-5"}, {"gtid": "0-1-9"}) is True
    assert position_advanced({"gtid": "0-1-9"}, {"gtid": "0-1-9"}) is False
    assert position_advanced({"file": "b.000001", "position": 10}, {"file": "b.000002", "position": 4}) is True
    assert position_advanced(None, {"gtid": "0-1-1"}) is None


class SchemaSide(object):
    def __init__(self, cols, keys, label="source"):
        self._cols, self._keys = cols, keys
        self.database, self.table, self.where = "db", "t", label

    def columns(self):
        return self._cols

    def unique_keys(self):
        return self._keys


def test_resolve_columns_needs_a_key():
    with pytest.raises(VerifyError) as e:
        checker.resolve_columns(SchemaSide(["a", "b"], []), SchemaSide(["a", "b"], []))
    assert "set key_columns" in str(e.value)
    key, cols = checker.resolve_columns(SchemaSide(["a", "b"], []), SchemaSide(["a", "b"], []), ["a"])
    assert key == ["a"] and cols == ["a", "b"]


def test_resolve_columns_missing_column_and_table():
    with pytest.raises(VerifyError) as e:
        checker.resolve_columns(SchemaSide(["a", "b"], [["a"]]), SchemaSide(["a"], [], "destination"))
    assert "no column(s) b" in str(e.value)
    with pytest.raises(VerifyError) as e:
        checker.resolve_columns(SchemaSide([], []), SchemaSide(["a"], []))
    assert "does not exist" in str(e.value)

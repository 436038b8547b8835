# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Source vs destination verification (module ``faultline.chaos.verify``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.faultline.chaos.plugins.module_utils._datagen import ranges as rng
from ansible_collections.faultline.chaos.plugins.module_utils._verify import chunks
from ansible_collections.faultline.chaos.plugins.module_utils._verify.engines import (
    VerifyError, position_advanced,
)

LEDGER_SLICE = 100000  # sequence numbers per ledger query


def check(name, passed, detail):
    return {"name": name, "passed": bool(passed), "detail": detail}


def fmt_keys(keys, limit=10):
    text = ", ".join("(%s)" % ", ".join(str(v) for v in k) for k in keys[:limit])
    return text + (" ..." if len(keys) > limit else "")


def resolve_columns(src, dst, key_columns=None, columns=None):
    """Key and checksum columns, checked on both sides."""
    src_cols, dst_cols = src.columns(), dst.columns()
    if not src_cols:
        raise VerifyError("table %s.%s does not exist on %s" % (src.database, src.table, src.where))
    if not dst_cols:
        raise VerifyError("table %s.%s does not exist on %s" % (dst.database, dst.table, dst.where))
    if key_columns:
        key = list(key_columns)
    else:
        keys = src.unique_keys()
        if not keys:
            raise VerifyError("table %s.%s on %s has no primary key or NOT NULL unique key: set key_columns "
                              "to the business key" % (src.database, src.table, src.where))
        key = keys[0]
    cols = list(columns) if columns else src_cols
    # the key columns are always in the checksum: without them a value moved from one
    # key to another (two rows swapped) kept every chunk's checksum
    lower_cols = set(c.lower() for c in cols)
    cols = [c for c in key if c.lower() not in lower_cols] + cols
    for side, have in ((src, src_cols), (dst, dst_cols)):
        lower = set(c.lower() for c in have)
        missing = [c for c in key + cols if c.lower() not in lower]
        if missing:
            raise VerifyError("table %s.%s on %s has no column(s) %s" % (side.database, side.table, side.where,
                                                                         ", ".join(sorted(set(missing)))))
    return key, cols


class Verifier(object):
    def __init__(self, src, dst, p):
        self.src, self.dst, self.p = src, dst, p
        self.key, self.cols = resolve_columns(src, dst, p.get("key_columns"), p.get("columns"))
        src.use(self.key, self.cols)
        dst.use(self.key, self.cols)
        lower_key = [c.lower() for c in self.key]
        self.dst_has_key = any([c.lower() for c in k] == lower_key for k in dst.unique_keys())

    def snapshot(self):
        """Counts, top-level chunk checksums and positions, taken as close together as possible."""
        bounds = self.src.boundaries(self.p.get("chunk_rows") or 50000)
        cmp = chunks.compare(self.src, self.dst, bounds)
        nulls = tuple(chunks.parallel(self.src.null_key_checksum, self.dst.null_key_checksum))
        src_pos = self.src.position()
        rep = self.dst.replica()
        return {"chunks": cmp, "null_keys": nulls,
                "source_rows": sum(c[2][0] for c in cmp) + nulls[0][0],
                "destination_rows": sum(c[3][0] for c in cmp) + nulls[1][0],
                "checksum_match": all(c[2] == c[3] for c in cmp) and nulls[0] == nulls[1],
                "source_position": src_pos, "replica": rep, "applied": self.dst.applied(src_pos, rep)}

    def converge(self):
        timeout = float(self.p.get("converge_timeout") or 0)
        poll = float(self.p.get("poll_interval") or 1.0)
        t0 = time.monotonic()
        while True:
            snap = self.snapshot()
            ok = snap["checksum_match"] and snap["applied"] is not False
            if ok or time.monotonic() - t0 >= timeout:
                snap["converged"] = ok
                snap["waited_s"] = round(time.monotonic() - t0, 3)
                return snap
            time.sleep(poll)

    def ledger(self, run_id, acked, indeterminate, diff, max_keys):
        """Every acked row exactly once, indeterminate at most once, nothing else of this run."""
        run_col, seq_col = self.p.get("run_id_column") or "run_id", self.p.get("seq_column") or "seq"
        res = {"run_id": run_id, "rows_acked": rng.count(acked), "rows_indeterminate": rng.count(indeterminate),
               "acked_missing": 0, "acked_duplicates": 0, "indeterminate_duplicates": 0,
               "indeterminate_present": 0, "lost_on_source": 0, "unexpected": 0,
               "missing_keys": [], "duplicate_keys": []}

        def slices(ranges):
            for a, b in ranges:
                for x in range(a, b + 1, LEDGER_SLICE):
                    yield x, min(b, x + LEDGER_SLICE - 1)

        for a, b in slices(acked):
            n, distinct = self.dst.run_seq_stats(run_col, seq_col, run_id, a, b)
            if n == distinct == b - a + 1:
                continue
            counts = self.dst.run_seq_counts(run_col, seq_col, run_id, a, b)
            src_counts = None
            for s in range(a, b + 1):
                c = counts.get(s, 0)
                if c == 0:
                    res["acked_missing"] += 1
                    if len(res["missing_keys"]) < max_keys:
                        res["missing_keys"].append([run_id, s])
                    if src_counts is None:
                        src_counts = self.src.run_seq_counts(run_col, seq_col, run_id, a, b)
                    if not src_counts.get(s):  # lost at the source too: compare() cannot see it
                        res["lost_on_source"] += 1
                        diff.add("missing", (run_id, s))
                elif c > 1:
                    res["acked_duplicates"] += c - 1
                    if len(res["duplicate_keys"]) < max_keys:
                        res["duplicate_keys"].append([run_id, s])
        for a, b in slices(indeterminate):
            counts = self.dst.run_seq_counts(run_col, seq_col, run_id, a, b)
            res["indeterminate_present"] += len(counts)
            for s, c in sorted(counts.items()):
                if c > 1:
                    res["indeterminate_duplicates"] += c - 1
                    if len(res["duplicate_keys"]) < max_keys:
                        res["duplicate_keys"].append([run_id, s])
        inside = res["rows_acked"] - res["acked_missing"] + res["acked_duplicates"] + \
            res["indeterminate_present"] + res["indeterminate_duplicates"]
        res["unexpected"] = self.dst.run_rows(run_col, run_id) - inside
        return res

    def run(self):
        p = self.p
        max_keys = int(p.get("max_keys") or 100)
        snap = self.converge()
        diff = chunks.Diff(max_keys)
        leaf = int(p.get("leaf_rows") or 500)
        for lo, hi, s, d in snap["chunks"]:
            chunks.drill(self.src, self.dst, lo, hi, (s, d), diff, leaf_rows=leaf)
        chunks.null_key_diff(snap["null_keys"], len(self.key), diff)
        dup_scan = None
        if not self.dst_has_key:  # keyless destination: look for duplicate business keys everywhere
            dup_keys, surplus = self.dst.duplicate_keys(max_keys)
            dup_scan = {"keys": [list(k) for k, _c in dup_keys], "rows": surplus}
            for k in dup_scan["keys"]:
                if k not in diff.keys["duplicates"] and len(diff.keys["duplicates"]) < max_keys:
                    diff.keys["duplicates"].append(k)
            diff.counts["duplicates"] = max(diff.counts["duplicates"], surplus)

        checks = []
        integrity = {"source_rows": snap["source_rows"], "destination_rows": snap["destination_rows"],
                     "expected_rows": snap["source_rows"]}
        ledger = None
        if p.get("datagen_run_id") and (p.get("acked_ranges") is not None or p.get("indeterminate_ranges")):
            acked = rng.normalize(p.get("acked_ranges") or [])
            indet = rng.subtract(rng.normalize(p.get("indeterminate_ranges") or []), acked)
            ledger = self.ledger(p["datagen_run_id"], acked, indet, diff, max_keys)
            integrity["expected_rows"] = None  # filled below
        integrity.update(null_key_rows={"source": snap["null_keys"][0][0], "destination": snap["null_keys"][1][0]})
        integrity.update(missing=diff.counts["missing"], extra=diff.counts["extra"],
                         duplicates=diff.counts["duplicates"], changed=diff.counts["changed"],
                         checksum_match=snap["checksum_match"])
        if ledger is not None:
            src_run_rows = self.src.run_rows(p.get("run_id_column") or "run_id", ledger["run_id"])
            others = snap["source_rows"] - src_run_rows
            integrity["expected_rows"] = others + ledger["rows_acked"] + ledger["indeterminate_present"]

        keys = {"missing_keys": diff.keys["missing"], "extra_keys": diff.keys["extra"],
                "duplicate_keys": diff.keys["duplicates"], "changed_keys": diff.keys["changed"]}
        if ledger is not None:
            for k in ledger["missing_keys"]:
                if k not in keys["missing_keys"] and len(keys["missing_keys"]) < max_keys:
                    keys["missing_keys"].append(k)
            for k in ledger["duplicate_keys"]:
                if k not in keys["duplicate_keys"] and len(keys["duplicate_keys"]) < max_keys:
                    keys["duplicate_keys"].append(k)

        n_src, n_dst = snap["source_rows"], snap["destination_rows"]
        checks.append(check("Row counts match between source and destination", n_src == n_dst,
                            "source %d rows, destination %d rows" % (n_src, n_dst)))
        checks.append(check("No missing rows on destination", diff.counts["missing"] == 0,
                            "%d missing%s" % (diff.counts["missing"],
                                              ": " + fmt_keys(keys["missing_keys"]) if keys["missing_keys"] else "")))
        checks.append(check("No extra rows on destination", diff.counts["extra"] == 0,
                            "%d extra%s" % (diff.counts["extra"],
                                            ": " + fmt_keys(keys["extra_keys"]) if keys["extra_keys"] else "")))
        n_dup_ledger = ledger["acked_duplicates"] + ledger["indeterminate_duplicates"] if ledger else 0
        integrity["duplicates"] = max(diff.counts["duplicates"], n_dup_ledger)
        checks.append(check("No duplicate records", integrity["duplicates"] == 0,
                            "%d duplicate rows on key (%s)%s" % (
                                integrity["duplicates"], ", ".join(self.key),
                                ": " + fmt_keys(keys["duplicate_keys"]) if keys["duplicate_keys"] else "")))
        checks.append(check("Checksums match (chunked CRC32 on the servers)",
                            snap["checksum_match"] and diff.counts["changed"] == 0,
                            "%d chunks, %d differ; %d changed rows%s" % (
                                len(snap["chunks"]), sum(1 for c in snap["chunks"] if c[2] != c[3]),
                                diff.counts["changed"],
                                ": " + fmt_keys(keys["changed_keys"]) if keys["changed_keys"] else "")))
        if ledger is not None:
            checks.append(check("Every acknowledged write present exactly once",
                                ledger["acked_missing"] == 0 and ledger["acked_duplicates"] == 0,
                                "%d acknowledged rows of run %s: %d missing (%d lost at the source), %d duplicated"
                                % (ledger["rows_acked"], ledger["run_id"], ledger["acked_missing"],
                                   ledger["lost_on_source"], ledger["acked_duplicates"])))
            checks.append(check("Indeterminate writes present at most once",
                                ledger["indeterminate_duplicates"] == 0,
                                "%d indeterminate rows: %d present, %d duplicated" % (
                                    ledger["rows_indeterminate"], ledger["indeterminate_present"],
                                    ledger["indeterminate_duplicates"])))
            checks.append(check("No rows outside the write ledger", ledger["unexpected"] == 0,
                                "%d rows of run %s neither acknowledged nor indeterminate"
                                % (ledger["unexpected"], ledger["run_id"])))
        before = p.get("positions_before")
        if isinstance(before, dict) and isinstance(before.get("source"), dict):
            before = before["source"]
        after = {"source": snap["source_position"], "destination": snap["replica"]}
        if before:
            adv = position_advanced(before, snap["source_position"])
            checks.append(check("Binlog position advanced", adv is True,
                                "before %s, after %s" % (before.get("gtid") or "%s:%s" % (before.get("file"), before.get("position")),
                                                         snap["source_position"].get("gtid") or "%s:%s" % (
                                                             snap["source_position"].get("file"),
                                                             snap["source_position"].get("position")))))
        if snap["replica"] is not None:
            rep = snap["replica"]
            checks.append(check("Replica applied the source position", snap["applied"] is True,
                                "source at %s, replica at %s (IO %s, SQL %s)%s" % (
                                    snap["source_position"].get("gtid") or snap["source_position"].get("position"),
                                    rep.get("gtid_slave_pos") or rep.get("exec_source_log_pos"),
                                    rep.get("io_running"), rep.get("sql_running"),
                                    "; last error: %s" % (rep.get("last_sql_error") or rep.get("last_io_error"))
                                    if (rep.get("last_sql_error") or rep.get("last_io_error")) else "")))
        passed = all(c["passed"] for c in checks)
        out = dict(passed=passed, checks=checks, integrity=integrity,
                   positions={"before": p.get("positions_before"), "after": after},
                   converged=snap["converged"], waited_s=snap["waited_s"], chunks=len(snap["chunks"]),
                   key_columns=self.key, datagen=ledger, duplicate_scan=dup_scan)
        out.update(keys)
        return out


def failure_message(res):
    failed = [c for c in res["checks"] if not c["passed"]]
    return "verify FAILED: " + "; ".join("%s: %s" % (c["name"], c["detail"]) for c in failed)

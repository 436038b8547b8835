# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Chunked checksum comparison with drill-down to the differing keys.

Engine-agnostic: works on two "sides" (see engines.py) that answer
``checksum(lo, hi)`` -> (rows, xor, sum), ``key_at(lo, hi, offset)`` and
``rows(lo, hi, limit)`` -> [(key, crc), ...] for the half-open key range
``[lo, hi)`` (``None`` = unbounded).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading


def key_cmp_sql(quoted_cols, values, op):
    """Lexicographic comparison ``(c1, c2, ...) <op> (v1, v2, ...)`` expanded into
    ANDs/ORs (index-friendly on every engine).  ``op`` is one of > >= < <=.
    Returns (sql, args)."""
    if op not in (">", ">=", "<", "<="):
        raise ValueError("bad operator %r" % op)
    if len(quoted_cols) != len(values) or not quoted_cols:
        raise ValueError("key has %d columns but %d values" % (len(quoted_cols), len(values)))
    strict = op[0]

    def build(i):
        c = quoted_cols[i]
        if i == len(quoted_cols) - 1:
            return "%s %s %%s" % (c, op), [values[i]]
        sub, args = build(i + 1)
        return "(%s %s %%s OR (%s = %%s AND %s))" % (c, strict, c, sub), [values[i], values[i]] + args

    return build(0)


def null_key_sql(quoted_cols):
    """WHERE clause for the rows with a NULL in any key column: no range holds them
    (a comparison with NULL is never true), so they are compared as one chunk of their own."""
    return " OR ".join("%s IS NULL" % c for c in quoted_cols)


def range_sql(quoted_cols, lo, hi):
    """WHERE clause for ``lo <= key < hi`` (either may be None), over the rows whose
    key has no NULL (those are in :func:`null_key_sql`, whatever the bounds: without
    this the unbounded ranges took them and ``key_at`` could return a NULL bound).
    Leading key columns on which ``lo`` and ``hi`` agree become plain equalities
    (``c1 = v AND ...``): the same rows, and a much cheaper test per row than the
    expanded OR form."""
    parts, args = ["%s IS NOT NULL" % c for c in quoted_cols], []
    if lo is not None and hi is not None:
        k = 0
        while k < len(quoted_cols) - 1 and lo[k] == hi[k]:
            parts.append("%s = %%s" % quoted_cols[k])
            args.append(lo[k])
            k += 1
        quoted_cols, lo, hi = quoted_cols[k:], list(lo)[k:], list(hi)[k:]
    if lo is not None:
        s, a = key_cmp_sql(quoted_cols, list(lo), ">=")
        parts.append(s)
        args += a
    if hi is not None:
        s, a = key_cmp_sql(quoted_cols, list(hi), "<")
        parts.append(s)
        args += a
    return " AND ".join(parts), args


def parallel(*funcs):
    """Run the callables in threads (one per side), return their results in order."""
    results = [None] * len(funcs)
    errors = []

    def run(i, f):
        try:
            results[i] = f()
        except Exception as e:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i, f)) for i, f in enumerate(funcs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def chunk_ranges(boundaries):
    """[b1, b2, ...] -> [(None, b1), (b1, b2), ..., (bk, None)]."""
    edges = [None] + list(boundaries) + [None]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]


class Diff(object):
    """Accumulates differing keys; lists are capped at ``max_keys``, counts are exact."""

    def __init__(self, max_keys=100):
        self.max_keys = max_keys
        self.counts = {"missing": 0, "extra": 0, "duplicates": 0, "changed": 0}
        self.keys = {"missing": [], "extra": [], "duplicates": [], "changed": []}

    def add(self, kind, key, n=1):
        self.counts[kind] += n
        if len(self.keys[kind]) < self.max_keys:
            self.keys[kind].append(list(key))

    def rows(self, src_rows, dst_rows):
        """Compare [(key, crc), ...] of one range from both sides."""
        src, dst = {}, {}
        for key, crc in src_rows:
            src.setdefault(tuple(key), []).append(crc)
        for key, crc in dst_rows:
            dst.setdefault(tuple(key), []).append(crc)
        for key in sorted(src, key=repr):
            if key not in dst:
                self.add("missing", key, len(src[key]))
        for key in sorted(dst, key=repr):
            d = dst[key]
            if key not in src:
                self.add("extra", key, len(d))
                continue
            s = src[key]
            if len(d) > len(s):
                self.add("duplicates", key, len(d) - len(s))
            if set(d) != set(s):
                self.add("changed", key)

    def empty(self):
        return not any(self.counts.values())


def rest(whole, part):
    """Checksum (rows, xor, sum) of a range minus one of its parts: rows and sums
    subtract, the XOR of the part cancels out.  Exact, so a drill-down step queries
    only the left half and derives the right half from the range's own checksum."""
    return (whole[0] - part[0], whole[1] ^ part[1], whole[2] - part[2])


def drill(src, dst, lo, hi, sums, diff, leaf_rows=500, fetch_limit=100000, depth=0):
    """Find the differing keys in ``[lo, hi)`` whose checksums ``sums`` = (src, dst) differ."""
    cs, cd = sums
    if cs == cd:
        return
    n_src, n_dst = cs[0], cd[0]
    if n_src == 0 or n_dst == 0:  # one side empty: every row of the other side differs
        side, kind, n = (dst, "extra", n_dst) if n_src == 0 else (src, "missing", n_src)
        for key, _crc in side.rows(lo, hi, diff.max_keys):
            diff.add(kind, key, 0)
        diff.counts[kind] += n
        return
    if max(n_src, n_dst) > leaf_rows and depth < 64:
        side, n = (src, n_src) if n_src >= n_dst else (dst, n_dst)
        mid = side.key_at(lo, hi, n // 2)
        if mid is not None and (lo is None or tuple(mid) != tuple(lo)):
            left = parallel(lambda: src.checksum(lo, mid), lambda: dst.checksum(lo, mid))
            right = (rest(cs, left[0]), rest(cd, left[1]))
            if min(right[0][0], right[1][0]) <= 0:  # an empty side is confirmed by the servers
                right = parallel(lambda: src.checksum(mid, hi), lambda: dst.checksum(mid, hi))
            drill(src, dst, lo, mid, left, diff, leaf_rows, fetch_limit, depth + 1)
            drill(src, dst, mid, hi, right, diff, leaf_rows, fetch_limit, depth + 1)
            return
    rows_s, rows_d = parallel(lambda: src.rows(lo, hi, fetch_limit), lambda: dst.rows(lo, hi, fetch_limit))
    diff.rows(rows_s, rows_d)


def null_key_diff(sums, n_key, diff):
    """Judge the rows with a NULL key (one chunk per side, ``sums`` = (src, dst)): they
    have no key to name them by, so a difference is counted under the key (None, ...)."""
    cs, cd = sums
    if cs == cd:
        return
    key = (None,) * n_key
    if cs[0] > cd[0]:
        diff.add("missing", key, cs[0] - cd[0])
    elif cd[0] > cs[0]:
        diff.add("extra", key, cd[0] - cs[0])
    else:
        diff.add("changed", key)


def compare(src, dst, boundaries):
    """Top-level chunk checksums on both sides, in parallel.
    Returns [(lo, hi, src_sum, dst_sum), ...]."""
    chunks = chunk_ranges(boundaries)
    s, d = parallel(lambda: [src.checksum(lo, hi) for lo, hi in chunks],
                    lambda: [dst.checksum(lo, hi) for lo, hi in chunks])
    return [(lo, hi, s[i], d[i]) for i, (lo, hi) in enumerate(chunks)]

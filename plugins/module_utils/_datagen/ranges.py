# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Compact integer ranges ``[[first, last], ...]`` (inclusive, sorted, disjoint).

The datagen ledger and verify talk about sequence numbers in this form, so a
million acknowledged rows are one pair, not a million numbers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def compact(seqs):
    """Sorted disjoint ranges covering the integers in ``seqs``."""
    out = []
    for n in sorted(set(int(s) for s in seqs)):
        if out and n == out[-1][1] + 1:
            out[-1][1] = n
        else:
            out.append([n, n])
    return out


def normalize(ranges):
    """Sort and merge overlapping or adjacent ranges; validates the shape."""
    items = []
    for r in ranges or []:
        if not isinstance(r, (list, tuple)) or len(r) != 2:
            raise ValueError("a range must be a [first, last] pair, got %r" % (r,))
        a, b = int(r[0]), int(r[1])
        if a > b:
            raise ValueError("range %r: first is greater than last" % (r,))
        items.append([a, b])
    items.sort()
    out = []
    for a, b in items:
        if out and a <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def add(ranges, other):
    return normalize(list(ranges) + list(other))


def subtract(ranges, other):
    """``ranges`` minus ``other`` (both normalized)."""
    out = []
    j = 0
    for a, b in ranges:
        cur = a
        while j < len(other) and other[j][1] < cur:
            j += 1
        k = j
        while k < len(other) and other[k][0] <= b and cur <= b:
            oa, ob = other[k]
            if oa > cur:
                out.append([cur, oa - 1])
            cur = max(cur, ob + 1)
            k += 1
        if cur <= b:
            out.append([cur, b])
    return out


def intersect(ranges, other):
    return subtract(ranges, subtract(ranges, other))


def count(ranges):
    return sum(b - a + 1 for a, b in ranges)


def iter_seqs(ranges):
    for a, b in ranges:
        yield from range(a, b + 1)

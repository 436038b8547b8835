# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Steady-state guard: a probe's ``abort_when`` condition and the abort itself.

A guard watches its probe's own samples.  When its condition holds for
``for`` consecutive samples it *trips*, once:

1. it journals ``abort`` (``source: guard``, ``id``: the run) with the reason,
   the metric's value and the time, so reports end the run as ABORTED;
2. it sends SIGTERM to the supervisor of every fault of the run in this
   ledger at once (each reverts immediately) and reverts directly the faults
   whose supervisor is gone;
3. it stops this ledger's data generators of the run.

Faults on other hosts are reverted by the play (``faultline.chaos.restore``
with ``run_id``), which watches for the ``abort`` event.

Everything here runs inside the detached probe worker, so it only uses what
is imported when the module forks (no lazy imports).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import operator
import os
import signal
import time

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    Ledger, proc_alive, revert_record,
)

METRICS = ("failed", "failing_s", "lag_s", "latency_ms", "value")
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
             "==": operator.eq, "!=": operator.ne}
MAX_FOR = 100000
MAX_THRESHOLD = 1e12
REVERT_WAIT = 5.0  # seconds the guard waits for the supervisors to report their revert


def validate(cond, run_id):
    """Return (normalized condition, None) or (None, error message)."""
    if cond is None:
        return None, None
    if not isinstance(cond, dict):
        return None, "abort_when must be a dict (metric, op, threshold, for), got %r" % (cond,)
    unknown = sorted(set(cond) - set(("metric", "op", "threshold", "for")))
    if unknown:
        return None, "abort_when: unknown keys %s (known: metric, op, threshold, for)" % ", ".join(map(str, unknown))
    metric = cond.get("metric")
    if metric not in METRICS:
        return None, "abort_when.metric must be one of %s, got %r" % (", ".join(METRICS), metric)
    op = cond.get("op", ">")
    if op not in OPERATORS:
        return None, "abort_when.op must be one of %s, got %r" % (" ".join(OPERATORS), op)
    threshold = cond.get("threshold", 0)
    if metric == "failed":
        threshold = 0
        op = ">"
    try:
        if isinstance(threshold, bool):
            raise ValueError
        threshold = float(threshold)
    except (TypeError, ValueError):
        return None, "abort_when.threshold must be a number, got %r" % (cond.get("threshold"),)
    if not math.isfinite(threshold) or abs(threshold) > MAX_THRESHOLD:
        return None, "abort_when.threshold must be finite and at most %g in size, got %r" % (
            MAX_THRESHOLD, cond.get("threshold"))
    n = cond.get("for", 1)
    if isinstance(n, bool) or not isinstance(n, int):
        try:
            if isinstance(n, bool) or float(n) != int(float(n)):
                raise ValueError
            n = int(float(n))
        except (TypeError, ValueError, OverflowError):
            return None, "abort_when.for must be a whole number of samples, got %r" % (cond.get("for"),)
    if not 1 <= n <= MAX_FOR:
        return None, "abort_when.for must be between 1 and %d samples, got %r" % (MAX_FOR, n)
    if not run_id:
        return None, "abort_when needs run_id: the run whose faults the guard reverts"
    return {"metric": metric, "op": op, "threshold": threshold, "for": n}, None


def describe(cond):
    if cond["metric"] == "failed":
        return "probe failing for %d consecutive samples" % cond["for"]
    return "%s %s %g for %d consecutive samples" % (cond["metric"], cond["op"], cond["threshold"], cond["for"])


class Guard(object):
    """Evaluates a condition over a stream of samples; ``feed`` returns a trip dict once."""

    def __init__(self, cond):
        self.cond = cond
        self.cmp = OPERATORS[cond["op"]]
        self.streak = 0
        self.tripped = None
        self.last_ok = None       # (ts, lag) of the last ok sample
        self.failing_since = None

    def value(self, sample):
        """The condition's metric for ``sample`` (None when it cannot be known)."""
        ts, ok = float(sample.get("ts") or 0), bool(sample.get("ok"))
        detail = sample.get("detail") or {}
        metric = self.cond["metric"]
        if metric == "failed":
            return 0.0 if ok else 1.0
        if metric == "failing_s":
            return 0.0 if ok else ts - self.failing_since
        if metric == "latency_ms":
            return sample.get("latency_ms")
        if metric == "value":
            try:
                v = float(detail.get("value"))
            except (TypeError, ValueError):
                return None
            return v if math.isfinite(v) else None
        # lag_s: Seconds_Behind_Master while the replica is connected; while it
        # is not (the server reports NULL then) the time since it last was,
        # plus its lag at that moment
        behind = detail.get("seconds_behind")
        if ok and isinstance(behind, (int, float)) and not isinstance(behind, bool):
            return float(behind)
        if not ok and self.last_ok is not None:
            return ts - self.last_ok[0] + self.last_ok[1]
        return None

    def feed(self, sample):
        if self.tripped is not None:
            return None
        ts, ok = float(sample.get("ts") or time.time()), bool(sample.get("ok"))
        if not ok and self.failing_since is None:
            self.failing_since = ts
        value = self.value(sample)
        if ok:
            self.failing_since = None
            behind = (sample.get("detail") or {}).get("seconds_behind")
            lag = float(behind) if isinstance(behind, (int, float)) and not isinstance(behind, bool) else 0.0
            self.last_ok = (ts, lag)
        if value is not None and self.cmp(float(value), self.cond["threshold"]):
            self.streak += 1
        else:
            self.streak = 0
        if self.streak < self.cond["for"]:
            return None
        reason = "%s (%s = %s%s)" % (describe(self.cond), self.cond["metric"], round(float(value), 3),
                                     ", last error: %s" % sample["error"] if sample.get("error") else "")
        self.tripped = {"reason": reason, "metric": self.cond["metric"], "value": float(value),
                        "threshold": self.cond["threshold"], "op": self.cond["op"],
                        "for": self.cond["for"], "sample_ts": ts}
        return self.tripped


def abort_run(state_dir, run_id, trip, guard_name, wait=REVERT_WAIT):
    """Journal the abort, revert every fault of ``run_id`` in this ledger at once, stop its datagens.

    Returns a summary dict (reverted ids, stopped workers, errors).
    """
    ledger = Ledger(state_dir)
    detail = dict(trip, guard=guard_name, run_id=run_id)
    ledger.journal(run_id, "abort", detail, source="guard")
    records = [r for r in ledger.list() if r.get("run_id") == run_id]
    # SIGTERM every supervisor first, so all of them revert at the same time
    waiting, direct = [], []
    for rec in records:
        sup = rec.get("supervisor") or {}
        if sup.get("pid") and proc_alive(sup["pid"], sup.get("starttime")):
            try:
                os.kill(sup["pid"], signal.SIGTERM)
                waiting.append((rec, sup))
                continue
            except OSError:
                pass
        direct.append(rec)
    errors = []
    for rec in direct:
        res = revert_record(ledger, rec, "abort", "guard")
        errors.extend(res.get("errors") or [])
    end = time.monotonic() + wait
    for rec, sup in waiting:
        while time.monotonic() < end and (ledger.get(rec["id"]) is not None
                                          or proc_alive(sup["pid"], sup.get("starttime"))):
            time.sleep(0.01)
        if ledger.get(rec["id"]) is not None:  # the supervisor did not make it: revert here
            res = revert_record(ledger, rec, "abort", "guard")
            errors.extend(res.get("errors") or [])
    stopped = []
    for meta in background.list_workers(state_dir, "datagen"):
        if meta.get("running") and (meta.get("id") == run_id or (meta.get("params") or {}).get("run_id") == run_id):
            background.stop(state_dir, "datagen", meta["id"], timeout=wait)
            stopped.append(meta["id"])
    summary = {"reverted": [r["id"] for r in records], "stopped": stopped, "errors": errors}
    ledger.journal(run_id, "aborted", dict(summary, guard=guard_name), source="guard")
    return summary

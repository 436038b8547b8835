# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe samples + fault windows -> detection/recovery metrics (pure functions).

A *sample* is ``{"ts": unix float, "ok": bool, "latency_ms": float,
"error": str|None, "detail": {...}}``.  A *window* is ``{"n", "down_at",
"up_at"}`` (unix floats, ``up_at`` None while the fault is still down).

Definitions (also in docs/probes.md and the module's DOCUMENTATION):

detected_at     first failing sample with ts >= down_at (and before the next
                window's down_at).
recovered_at    first sample with ts >= up_at that starts a run of
                ``recover_after`` consecutive ok samples; None if the fault is
                not up yet, the failure was never detected, or no such run.
error_message   the first error text among failing samples of the window; for
                mysql_replica the first Last_IO_Error (or Last_SQL_Error)
                reported, verbatim, when the server reported one.
retries         reconnect attempts seen in the window: for mysql_replica the
                number of distinct Last_IO_Error_Timestamp values; when the
                server has no such column (MariaDB) the attempts implied by
                Connect_Retry over the failing span
                (floor(span / connect_retry) + 1); for every other kind (a
                fresh connect per failed sample) the number of failed samples.
The *scope* of a window, where error_message and retries are looked for, runs
from down_at to recovered_at, or to the next window's down_at / the last
sample when it never recovered.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

OPEN_EVENTS = ("down",)
CLOSE_EVENTS = ("up", "reverted")


def windows_from_events(events, fault_ids=None, since=None, until=None):
    """Fault windows from journal events (``down`` opens, ``up``/``reverted`` closes).

    ``fault_ids``: only these faults (default: every fault event).  ``since``
    / ``until``: ignore events outside this time range (e.g. the probe's
    lifetime).  Windows are numbered 1.. in order of ``down_at`` and carry
    ``fault_id`` and ``cycle`` (the fault's own cycle number).
    """
    wanted = set(fault_ids) if fault_ids else None
    evs = [e for e in events
           if e.get("source", "fault") == "fault"
           and (wanted is None or e.get("id") in wanted)
           and (since is None or e.get("ts", 0) >= since)
           and (until is None or e.get("ts", 0) <= until)]
    evs.sort(key=lambda e: e.get("ts", 0))
    opened = {}
    out = []
    for e in evs:
        fid, name = e.get("id"), e.get("event")
        detail = e.get("detail") or {}
        if name in OPEN_EVENTS:
            if fid in opened:  # a second "down" without "up": keep the first
                continue
            w = {"fault_id": fid, "cycle": detail.get("cycle"), "down_at": float(e["ts"]), "up_at": None}
            opened[fid] = w
            out.append(w)
        elif name in CLOSE_EVENTS and fid in opened:
            opened.pop(fid)["up_at"] = float(e["ts"])
    out.sort(key=lambda w: w["down_at"])
    for i, w in enumerate(out, 1):
        w["n"] = i
    return out


def normalize_windows(windows):
    """Explicit windows from the user: sort, number missing ``n``, floats."""
    out = []
    for w in sorted(windows, key=lambda x: float(x["down_at"])):
        up = w.get("up_at")
        out.append({"n": w.get("n"), "down_at": float(w["down_at"]),
                    "up_at": None if up is None else float(up)})
    for i, w in enumerate(out, 1):
        if w["n"] is None:
            w["n"] = i
    return out


def transitions(samples, name, host=None):
    """Probe events for state changes only: ``ok`` <-> ``error``, plus an
    ``error`` event when the error text changes while failing."""
    out = []
    prev_ok, prev_err = None, None
    for s in samples:
        ok, err = bool(s.get("ok")), s.get("error")
        if ok != prev_ok or (not ok and err != prev_err):
            detail = {"latency_ms": s.get("latency_ms")}
            if not ok:
                detail["error"] = err
            if s.get("detail"):
                detail["sample"] = s["detail"]
            out.append(_event(s["ts"], name, "ok" if ok else "error", detail, host))
        prev_ok, prev_err = ok, err
    return out


def _event(ts, name, event, detail, host):
    # same shape as runtime.make_event, built here so this file stays pure
    return {"ts": ts, "host": host, "source": "probe", "id": name, "event": event, "detail": detail}


def series(samples):
    """Run-length reduced ``[[ts, 0|1], ...]``: one entry per change of state,
    plus the last sample (so a timeline knows where the last run ends)."""
    out = []
    for s in samples:
        v = 1 if s.get("ok") else 0
        if not out or out[-1][1] != v:
            out.append([s["ts"], v])
    if samples and out[-1][0] != samples[-1]["ts"]:
        out.append([samples[-1]["ts"], out[-1][1]])
    return out


def _number(v):
    """A sample's value as a finite number, else None (text, null, nan, inf)."""
    if isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f):
        return None
    return int(f) if f == int(f) and abs(f) < 2 ** 53 else f


def values(samples):
    """``[[ts, number], ...]`` of the successful samples whose ``detail.value``
    is a number (``mysql_query``: the first column of the first row, e.g. a row
    count): the first and the last, and both samples around every change, so a
    timeline draws steps where the value changed (a replica's rows over time)."""
    pts = [[s["ts"], _number((s.get("detail") or {}).get("value"))] for s in samples if s.get("ok")]
    pts = [p for p in pts if p[1] is not None]
    out = []
    for i, p in enumerate(pts):
        if i == 0:
            out.append(p)
        elif p[1] != pts[i - 1][1]:
            if out[-1] is not pts[i - 1]:
                out.append(pts[i - 1])
            out.append(p)
        elif i == len(pts) - 1:
            out.append(p)
    return out


def _failed_attempts(samples):
    return [a for s in samples for a in (s.get("detail") or {}).get("attempts") or [] if not a.get("ok")]


def _inflight_failure(samples, down, limit):
    """The last etcd write started before ``down`` with a failed attempt that ended
    in [down, limit), and when that attempt ended; (None, None) when there is none."""
    for s in reversed(samples):
        if s["ts"] >= down:
            continue
        ends = [a["ts"] + (a.get("latency_ms") or 0.0) / 1000.0 for a in (s.get("detail") or {}).get("attempts") or []
                if not a.get("ok")]
        ends = [e for e in ends if down <= e < limit]
        return (s, min(ends)) if ends else (None, None)
    return None, None


def _retries(kind, failing, scoped=None):
    if kind == "etcd":  # every failed attempt of the client's retry policy, also of writes acked later
        return len(_failed_attempts(scoped or failing))
    if not failing:
        return 0
    if kind == "mysql_replica":
        stamps = set((s.get("detail") or {}).get("last_io_error_ts") for s in failing)
        stamps.discard(None)
        if stamps:
            return len(stamps)
        retry = (failing[-1].get("detail") or {}).get("connect_retry")
        if retry:
            return int(math.floor((failing[-1]["ts"] - failing[0]["ts"]) / float(retry))) + 1
    return len(failing)


def _first_error(kind, failing):
    if kind == "mysql_replica":  # the server's own words, not "IO thread: Connecting"
        for s in failing:
            d = s.get("detail") or {}
            if d.get("last_io_error") or d.get("last_sql_error"):
                return d.get("last_io_error") or d.get("last_sql_error")
    return next((s.get("error") for s in failing if s.get("error")), None)


def window_metrics(samples, window, next_down_at=None, recover_after=3, kind=None):
    """Metrics of one window over time-sorted samples."""
    down, up = window["down_at"], window.get("up_at")
    limit = next_down_at if next_down_at is not None else float("inf")
    scoped = [s for s in samples if down <= s["ts"] < limit]
    detected = next((s for s in scoped if not s.get("ok") or (kind == "etcd" and _failed_attempts([s]))), None)
    det_ts = detected["ts"] if detected is not None else None
    if kind == "etcd":
        # a write sent before the fault whose attempt failed after it (a SIGSTOPped member lets
        # the connection in and never answers): the client saw the fault when that attempt ended
        inflight, first_end = _inflight_failure(samples, down, limit)
        if inflight is not None and (det_ts is None or first_end < det_ts):
            detected, det_ts, scoped = inflight, first_end, [inflight] + scoped
    recovered = None
    if detected is not None and up is not None:
        run = 0
        for s in scoped:
            if s["ts"] < up or s["ts"] < det_ts:
                continue
            if s.get("ok"):
                run += 1
                if run == 1:
                    start = s
                if run >= recover_after:
                    recovered = start
                    break
            else:
                run = 0
    end = recovered["ts"] if recovered is not None else limit
    failing = [s for s in scoped if s["ts"] < end and not s.get("ok")]
    msg = _first_error(kind, failing)
    if kind == "etcd":  # the client's own first error, also of a write acknowledged after a retry
        atts = _failed_attempts([s for s in scoped if s["ts"] < end])
        msg = atts[0].get("error") if atts else msg
    out = dict(window)
    out.update(
        detected_at=det_ts,
        recovered_at=recovered["ts"] if recovered else None,
        time_to_detect_s=_r(det_ts - down) if detected else None,
        time_to_recover_s=_r(recovered["ts"] - up) if recovered else None,
        error_message=msg,
        retries=_retries(kind, failing, [s for s in scoped if s["ts"] < end]) if detected else None,
        failed_samples=len(failing),
    )
    return out


def _r(x):
    return round(x, 3)


def _agg(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return max(vals), _r(sum(vals) / float(len(vals)))


def summarize(windows):
    """First window's observations plus max/mean over all windows."""
    first = windows[0] if windows else {}
    m = dict(
        windows=len(windows),
        detected=sum(1 for w in windows if w.get("detected_at") is not None),
        recovered=sum(1 for w in windows if w.get("recovered_at") is not None),
        time_to_detect_s=first.get("time_to_detect_s"),
        error_message=first.get("error_message"),
        retries=first.get("retries"),
        time_to_recover_s=first.get("time_to_recover_s"),
    )
    for key in ("time_to_detect_s", "time_to_recover_s", "retries"):
        m["max_" + key], m["mean_" + key] = _agg(w.get(key) for w in windows)
    return m


def compute(samples, windows, name, kind=None, recover_after=3, host=None):
    """Everything ``probe`` returns on stop/collect."""
    samples = sorted(samples, key=lambda s: s["ts"])
    windows = sorted(windows, key=lambda w: w["down_at"])
    per = []
    for i, w in enumerate(windows):
        nxt = windows[i + 1]["down_at"] if i + 1 < len(windows) else None
        per.append(window_metrics(samples, w, nxt, recover_after, kind))
    ok = sum(1 for s in samples if s.get("ok"))
    return dict(
        samples=len(samples),
        ok_ratio=_r(ok / float(len(samples))) if samples else None,
        events=transitions(samples, name, host),
        series=series(samples),
        values=values(samples),
        windows=per,
        metrics=summarize(per),
    )


def etcd_summary(samples):
    """Writes of an ``etcd`` probe by outcome (keys), and every failed attempt
    with the pause the client took before its next attempt and the measured
    interval between the two attempts."""
    keys = {"acked": [], "failed": [], "indeterminate": []}
    acked_at = {}
    attempts = []
    for s in sorted(samples, key=lambda x: x["ts"]):
        d = s.get("detail") or {}
        if d.get("outcome") in keys:
            keys[d["outcome"]].append(d.get("key"))
        if d.get("outcome") == "acked":
            acked_at[d.get("key")] = [d["attempts"][-1]["ts"], d.get("revision")]
        atts = d.get("attempts") or []
        for i, a in enumerate(atts):
            if a.get("ok"):
                continue
            row = dict(a, key=d.get("key"))
            if i + 1 < len(atts):
                row["next_after_s"] = _r(atts[i + 1]["ts"] - a["ts"])
            attempts.append(row)
    return dict(writes=dict((k, len(v)) for k, v in keys.items()), keys=keys, acked_at=acked_at,
                failed_attempts=attempts, retried_writes=sum(
                    1 for s in samples if len((s.get("detail") or {}).get("attempts") or []) > 1))


# Seconds a watch event may trail the write's acknowledgement (see watch_summary).
WATCH_IN_FLIGHT_S = 0.5


def watch_summary(lines, expected=None):
    """Events, breaks and reconnects of a ``watch`` probe.

    ``expected``: ``{key: [ack_ts, revision]}`` of the writes the watch should
    have seen (an ``etcd`` probe's ``acked_at``); those with a revision after
    the watch's first ``created`` revision and acknowledged before the watch's
    last line count, and the ones never received are ``missed``; a write
    acknowledged less than WATCH_IN_FLIGHT_S before the last line counts only
    if it arrived (``events_in_flight``: those left out).
    """
    lines = sorted(lines, key=lambda x: x["ts"])
    received = {}
    breaks, reconnects = [], []
    connected, base_rev, last_broken = 0, None, None
    for ln in lines:
        d = ln.get("detail") or {}
        ev = d.get("event")
        if ev == "created" and base_rev is None:
            base_rev = d.get("revision")
        elif ev == "events":
            for k in d.get("keys") or []:
                received[k] = received.get(k, 0) + 1
        elif ev == "broken":
            last_broken = ln
            breaks.append({"ts": ln["ts"], "endpoint": d.get("endpoint"), "error": ln.get("error"),
                           "last_revision": d.get("last_revision")})
        elif ev == "connected":
            connected += 1
            if last_broken is not None:
                reconnects.append({"ts": ln["ts"], "endpoint": d.get("endpoint"),
                                   "start_revision": d.get("start_revision"),
                                   "after_s": _r(ln["ts"] - last_broken["ts"])})
                last_broken = None
    out = dict(connections=connected, breaks=breaks, reconnects=reconnects,
               resumed=not breaks or last_broken is None,
               stopped=any((ln.get("detail") or {}).get("event") == "stopped" for ln in lines),
               events_received=sum(received.values()), keys_received=len(received),
               duplicates=sorted(k for k, c in received.items() if c > 1), base_revision=base_rev)
    if expected is not None:
        until = lines[-1]["ts"] if lines else None
        after = [(k, ts) for k, (ts, rev) in expected.items()
                 if base_rev is not None and rev and rev > base_rev and until is not None and ts <= until]
        # a write acknowledged in the last WATCH_IN_FLIGHT_S before the watch's last line may still
        # be on its way to the watcher (a follower applies it after the leader acknowledged it):
        # not expected unless it arrived
        want = sorted(k for k, ts in after if ts <= until - WATCH_IN_FLIGHT_S or k in received)
        missed = [k for k in want if k not in received]
        out.update(events_expected=len(want), events_missed=len(missed), missed_keys=missed,
                   events_in_flight=len(after) - len(want))
    return out

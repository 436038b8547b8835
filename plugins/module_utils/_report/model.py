# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The report model: input validation, time handling, report.json (DESIGN.md section 4).

Plain Python (standard library only), no Ansible imports: unit-testable, and
usable from the controller-side callback as well as from the module.

Every timestamp the report accepts may be an ISO 8601 string (naive values are
taken as UTC), a unix float/int, a numeric string, or None.  Internally times
are unix floats; report.json carries ISO 8601 UTC strings with milliseconds,
events.jsonl keeps the unix floats of the event shape.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import math
import re

# Kept equal to galaxy.yml's version (tests/unit/test_report_model.py checks it):
# the module runs from a temporary payload and cannot read galaxy.yml itself.
COLLECTION_VERSION = "0.1.0"

TEMPLATES = ("tc004", "tc007", "tc001", "ws006", "t040", "generic")
RESULTS = ("PASS", "FAIL")
ABORTED = "ABORTED"  # a steady-state guard ended the run (report["aborted"] says why and when)
OBSERVATION_KEYS = ("time_to_detect_s", "error_message", "retries", "time_to_recover_s")
INTEGRITY_KEYS = ("expected_rows", "source_rows", "destination_rows", "missing", "extra",
                  "duplicates", "checksum_match")
CYCLE_TIME_KEYS = ("down_at", "up_at", "detected_at", "recovered_at")
EVENT_KEYS = ("ts", "host", "source", "id", "event", "detail")
_SCENARIO_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_UTC = datetime.timezone.utc
_TRUE = ("true", "yes", "on", "1", "y")
_FALSE = ("false", "no", "off", "0", "n")


class ReportError(Exception):
    """Bad input, with a message meant for the user."""


# --------------------------------------------------------------------------
# time
# --------------------------------------------------------------------------

MAX_UNIX = 253402300799.999  # 9999-12-31T23:59:59.999Z, the last time ISO 8601 / datetime can show


def to_unix(value, what="timestamp"):
    """ISO 8601 string / unix number / numeric string / None -> unix float or None.

    The result is finite and between 1970 and 9999 (ReportError otherwise).
    """
    ts = _to_unix(value, what)
    if ts is not None and not (math.isfinite(ts) and 0 <= ts <= MAX_UNIX):
        raise ReportError("%s: %r is not a time between 1970 and 9999" % (what, value))
    return ts


def _to_unix(value, what):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ReportError("%s: %r is not a timestamp" % (what, value))
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime.datetime):
        dt = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            pass
        try:
            dt = datetime.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            raise ReportError("%s: cannot parse %r as ISO 8601 or unix time" % (what, value))
    else:
        raise ReportError("%s: %r is not a timestamp (ISO 8601 string or unix float)" % (what, value))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_UTC)
    try:
        return dt.timestamp()
    except (OverflowError, ValueError):
        raise ReportError("%s: %r is not a time between 1970 and 9999" % (what, value))


def to_iso(ts):
    """unix float -> '2026-02-10T12:00:03.120Z' (UTC, milliseconds), None -> None."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, _UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def clock(ts, ms=True):
    """unix float -> 'HH:MM:SS.mmm' UTC wall clock."""
    if ts is None:
        return "-"
    text = datetime.datetime.fromtimestamp(ts, _UTC).strftime("%H:%M:%S.%f")
    return text[:-3] if ms else text[:8]


def dir_stamp(ts):
    """unix float -> 'YYYYmmddTHHMMSSZ' (the run directory name)."""
    return datetime.datetime.fromtimestamp(ts, _UTC).strftime("%Y%m%dT%H%M%SZ")


def seconds(value, what):
    """A duration in seconds (float) or None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ReportError("%s: %r is not a number of seconds" % (what, value))
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ReportError("%s: %r is not a number of seconds" % (what, value))


def _int_or_none(value, what):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ReportError("%s: %r is not an integer" % (what, value))
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ReportError("%s: %r is not an integer" % (what, value))
    return int(f) if f == int(f) else f


def to_bool(value, what):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ReportError("%s must be a boolean, got %r" % (what, value))


# --------------------------------------------------------------------------
# validation / normalisation of the module's inputs
# --------------------------------------------------------------------------

def _require_dict(value, what):
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReportError("%s must be a dict, got %s" % (what, type(value).__name__))
    return value


def normalize_checks(checks, what="checks"):
    if checks is None:
        return []
    if not isinstance(checks, list):
        raise ReportError("%s must be a list of dicts with name and passed, got %s"
                          % (what, type(checks).__name__))
    out = []
    for i, c in enumerate(checks):
        where = "%s[%d]" % (what, i)
        if not isinstance(c, dict):
            raise ReportError("%s must be a dict with name and passed, got %s: %r"
                              % (where, type(c).__name__, c))
        name = c.get("name")
        if name is None or str(name).strip() == "":
            raise ReportError("%s has no name (each check needs name and passed)" % where)
        if "passed" not in c:
            raise ReportError("%s (%r) has no 'passed' (each check needs name and passed)" % (where, name))
        item = dict(c)
        item["name"] = str(name)
        item["passed"] = to_bool(c["passed"], "%s (%r): passed" % (where, name))
        detail = c.get("detail")
        if detail is None:
            item["detail"] = ""
        elif isinstance(detail, str):
            item["detail"] = detail
        else:
            item["detail"] = json.dumps(detail, sort_keys=True, default=str)
        out.append(item)
    return out


def normalize_observations(obs, what="observations"):
    obs = _require_dict(obs, what)
    if obs is None:
        return None
    out = dict(obs)
    out["time_to_detect_s"] = seconds(obs.get("time_to_detect_s"), what + ".time_to_detect_s")
    out["time_to_recover_s"] = seconds(obs.get("time_to_recover_s"), what + ".time_to_recover_s")
    msg = obs.get("error_message")
    out["error_message"] = None if msg is None else str(msg)
    out["retries"] = _int_or_none(obs.get("retries"), what + ".retries")
    return out


def normalize_cycles(cycles, what="cycles"):
    if cycles is None:
        return None
    if not isinstance(cycles, list):
        raise ReportError("%s must be a list of dicts, got %s" % (what, type(cycles).__name__))
    out = []
    for i, c in enumerate(cycles):
        where = "%s[%d]" % (what, i)
        if not isinstance(c, dict):
            raise ReportError("%s must be a dict, got %r" % (where, c))
        item = dict(c)
        item["n"] = _int_or_none(c.get("n"), where + ".n")
        if item["n"] is None:
            item["n"] = i + 1
        for key in CYCLE_TIME_KEYS:
            item[key] = to_iso(to_unix(c.get(key), "%s.%s" % (where, key)))
        notes = c.get("notes")
        item["notes"] = None if notes is None else str(notes)
        out.append(item)
    return out


def normalize_integrity(integ, what="integrity"):
    integ = _require_dict(integ, what)
    if integ is None:
        return None
    out = dict(integ)
    for key in INTEGRITY_KEYS[:-1]:
        out[key] = _int_or_none(integ.get(key), "%s.%s" % (what, key))
    cm = integ.get("checksum_match")
    out["checksum_match"] = None if cm is None else to_bool(cm, what + ".checksum_match")
    return out


def normalize_positions(pos, what="positions"):
    pos = _require_dict(pos, what)
    if pos is None:
        return None
    out = dict(pos)
    out.setdefault("before", None)
    out.setdefault("after", None)
    return out


def normalize_section(sec, i):
    where = "sections[%d]" % i
    if not isinstance(sec, dict):
        raise ReportError("%s must be a dict with a title, got %r" % (where, sec))
    title = sec.get("title")
    if title is None or str(title).strip() == "":
        raise ReportError("%s has no title" % where)
    out = dict(sec)
    out["title"] = str(title)
    out["checks"] = normalize_checks(sec.get("checks"), where + ".checks")
    out["observations"] = normalize_observations(sec.get("observations"), where + ".observations")
    out["cycles"] = normalize_cycles(sec.get("cycles"), where + ".cycles")
    out["integrity"] = normalize_integrity(sec.get("integrity"), where + ".integrity")
    out["positions"] = normalize_positions(sec.get("positions"), where + ".positions")
    steps = sec.get("steps")
    out["steps"] = None if steps is None else [str(s) for s in _as_list(steps, where + ".steps")]
    notes = sec.get("notes")
    out["notes"] = None if notes is None else (notes if isinstance(notes, str) else
                                               "\n".join(str(n) for n in _as_list(notes, where + ".notes")))
    result = sec.get("result")
    if result is None or result == "":
        out["result"] = "PASS" if all(c["passed"] for c in out["checks"]) else "FAIL"
    else:
        result = str(result).upper()
        if result not in RESULTS:
            raise ReportError("%s (%r): result must be PASS or FAIL, got %r" % (where, out["title"], sec.get("result")))
        out["result"] = result
    return out


def _as_list(value, what):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        return [value]
    raise ReportError("%s must be a list, got %s" % (what, type(value).__name__))


def normalize_series(series):
    """{name: [[ts, value], ...]} -> {name: [(unix, float), ...]} sorted by time."""
    series = _require_dict(series, "series")
    if not series:
        return {}
    out = {}
    for name, points in series.items():
        pts = []
        for j, p in enumerate(_as_list(points, "series.%s" % name)):
            if isinstance(p, dict):
                p = (p.get("ts"), p.get("value", p.get("n")))
            if not isinstance(p, (list, tuple)) or len(p) < 2:
                raise ReportError("series.%s[%d] must be a [ts, value] pair, got %r" % (name, j, p))
            ts = to_unix(p[0], "series.%s[%d] ts" % (name, j))
            if ts is None or p[1] is None:
                continue
            try:
                pts.append((ts, float(p[1])))
            except (TypeError, ValueError):
                raise ReportError("series.%s[%d]: value %r is not a number" % (name, j, p[1]))
        pts.sort(key=lambda x: x[0])
        out[str(name)] = pts
    return out


def validate_scenario(name):
    if not isinstance(name, str) or not _SCENARIO_RE.match(name):
        raise ReportError("scenario must be a directory name (letters, digits, '_', '.', '-'; "
                          "not starting with '.'), got %r" % (name,))
    return name


def overall_result(requested, checks, sections):
    """auto = PASS iff every check (top level and in sections) passed and no section failed."""
    if requested and requested != "auto":
        return requested
    ok = all(c["passed"] for c in checks) and all(s["result"] == "PASS" for s in sections)
    return "PASS" if ok else "FAIL"


def find_abort(events):
    """The first ``abort`` event of a steady-state guard in ``events`` as the report's ``aborted``."""
    for ev in events or []:
        if ev.get("source") == "guard" and ev.get("event") == "abort":
            detail = ev.get("detail") or {}
            return {"reason": detail.get("reason"), "at": ev.get("ts"), "host": ev.get("host"),
                    "guard": detail.get("guard"), "run_id": detail.get("run_id") or ev.get("id")}
    return None


def normalize_aborted(value):
    """``aborted`` (reason, at, host, guard, run_id) -> report form with an ISO time, or None."""
    if value is None:
        return None
    value = _require_dict(value, "aborted")
    reason = value.get("reason")
    if reason is None or str(reason).strip() == "":
        raise ReportError("aborted needs a reason, got %r" % (value,))
    at = to_unix(value.get("at"), "aborted.at")
    return {"reason": str(reason), "at": to_iso(at) if at is not None else None,
            "host": None if value.get("host") is None else str(value["host"]),
            "guard": None if value.get("guard") is None else str(value["guard"]),
            "run_id": None if value.get("run_id") is None else str(value["run_id"])}


def host_lanes(events, hosts=(), roles=None):
    """One lane per host that sent events, in the order of ``hosts`` (the play's),
    then by each host's first event: ``{host, role, events, sources, first, last}``
    (times ISO 8601 UTC; every host's own wall clock, on one axis)."""
    roles = roles or {}
    per = {}
    for ev in events or []:
        host = ev.get("host")
        if host is None or ev.get("ts") is None:
            continue
        lane = per.setdefault(str(host), {"n": 0, "sources": set(), "first": ev["ts"], "last": ev["ts"]})
        lane["n"] += 1
        lane["sources"].add(str(ev.get("source")))
        lane["first"], lane["last"] = min(lane["first"], ev["ts"]), max(lane["last"], ev["ts"])
    order = [str(h) for h in hosts]
    keys = sorted(per, key=lambda h: (order.index(h) if h in order else len(order), per[h]["first"], h))
    return [{"host": h, "role": roles.get(h), "events": per[h]["n"], "sources": sorted(per[h]["sources"]),
             "first": to_iso(per[h]["first"]), "last": to_iso(per[h]["last"])} for h in keys]


def normalize_roles(value):
    """``host_roles``: {host: role text, or a list of them (a host with several
    roles: joined with ", ", each once, in order)}."""
    value = _require_dict(value, "host_roles") or {}
    out = {}
    for k, v in value.items():
        parts = v if isinstance(v, list) else [v]
        if not parts or any(p is None or isinstance(p, (dict, list)) or not str(p).strip() for p in parts):
            raise ReportError("host_roles.%s must be a text such as 'source' or 'replica', or a list of them, got %r"
                              % (k, v))
        seen = []
        for p in parts:
            if str(p) not in seen:
                seen.append(str(p))
        out[str(k)] = ", ".join(seen)
    return out


def build_report(params, now, tester, event_count=0, first_event_ts=None, aborted=None, events=None):
    """Validate the module parameters and return (report dict, context dict).

    ``aborted`` (e.g. from :func:`find_abort` over the events) is used when the
    parameters do not name one; an aborted run's result is ABORTED, whatever
    its checks say.

    ``report`` is exactly what goes into report.json; ``context`` carries what
    the renderers need beyond it (unix times, series).
    """
    scenario = validate_scenario(params.get("scenario"))
    template = params.get("template") or "generic"
    if template not in TEMPLATES:
        raise ReportError("unknown template %r: choose one of %s" % (template, ", ".join(TEMPLATES)))
    requested = params.get("result") or "auto"
    if requested not in ("auto",) + RESULTS:
        raise ReportError("result must be auto, PASS or FAIL, got %r" % (requested,))
    checks = normalize_checks(params.get("checks"))
    sections = [normalize_section(s, i) for i, s in enumerate(_as_list(params.get("sections"), "sections"))]
    started = to_unix(params.get("started"), "started")
    finished = to_unix(params.get("finished"), "finished")
    if finished is None:
        finished = now
    if started is None:
        started = first_event_ts if first_event_ts is not None else finished
    if finished < started:
        raise ReportError("finished (%s) is before started (%s)" % (to_iso(finished), to_iso(started)))
    metadata = dict(_require_dict(params.get("metadata"), "metadata") or {})
    metadata.setdefault("tester", tester)
    metadata.setdefault("toolkit_version", COLLECTION_VERSION)
    result = overall_result(requested, checks, sections)
    aborted = normalize_aborted(params.get("aborted") if params.get("aborted") is not None else aborted)
    if aborted is not None:
        result = ABORTED
    hosts = [str(h) for h in _as_list(params.get("hosts"), "hosts")]
    roles = normalize_roles(params.get("host_roles"))
    configuration = _require_dict(params.get("configuration"), "configuration")
    extra = _require_dict(params.get("extra"), "extra")
    series = normalize_series(params.get("series"))
    report = {
        "scenario": scenario,
        "template": template,
        "result": result,
        "aborted": aborted,
        "started": to_iso(started),
        "finished": to_iso(finished),
        "duration_s": round(finished - started, 3),
        "hosts": hosts,
        "host_roles": roles or None,
        "lanes": host_lanes(events, hosts, roles),
        "metadata": metadata,
        "checks": checks,
        "observations": normalize_observations(params.get("observations")),
        "cycles": normalize_cycles(params.get("cycles")),
        "integrity": normalize_integrity(params.get("integrity")),
        "positions": normalize_positions(params.get("positions")),
        "sections": sections or None,
        "configuration": configuration,
        "steps": [str(s) for s in _as_list(params.get("steps"), "steps")] or None,
        "notes": [str(s) for s in _as_list(params.get("notes"), "notes")] or None,
        "series": {k: [[t, v] for t, v in pts] for k, pts in series.items()} or None,
        "extra": extra,
        "events": "events.jsonl",
        "event_count": event_count,
    }
    context = {"started": started, "finished": finished, "series": series,
               "result_requested": requested}
    return report, context


def all_checks(report):
    """[(suite title or None, check)] for the top level and every section."""
    out = [(None, c) for c in report["checks"]]
    for s in report["sections"] or []:
        out.extend((s["title"], c) for c in s["checks"])
    return out


def summary_line(report, path):
    pairs = all_checks(report)
    passed = sum(1 for _s, c in pairs if c["passed"])
    parts = ["%d/%d checks passed" % (passed, len(pairs))]
    if report["cycles"]:
        parts.append("%d cycles" % len(report["cycles"]))
    obs = report["observations"] or {}
    if obs.get("time_to_detect_s") is not None:
        parts.append("detect %.2f s" % obs["time_to_detect_s"])
    if obs.get("time_to_recover_s") is not None:
        parts.append("recover %.2f s" % obs["time_to_recover_s"])
    failed = [c["name"] for _s, c in pairs if not c["passed"]]
    text = "%s: %s (%s)" % (report["scenario"], report["result"], ", ".join(parts))
    if report.get("aborted"):
        text += "; aborted at %s: %s" % (report["aborted"]["at"], report["aborted"]["reason"])
    if failed:
        text += "; failed: " + "; ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
    return text + " -> " + path

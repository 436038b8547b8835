# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The suite report: one run of several test cases, each with its own run directory.

Reads each case's ``report.json`` and ``events.jsonl`` (written by the report
module) and renders ``suite.json``, ``suite.md`` (one table row per case:
result, key figures, link), ``junit.xml`` (one testsuite per case, one testcase
per check; a case without a report is an error) and ``suite.svg`` (a one-page
picture: the cases on the suite's wall clock, then one small timeline per case
on its own time axis).

Pure: :func:`build` only reads the case directories; the module writes the
texts with ``writer.write(path, texts, FILES)``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import xml.etree.ElementTree as ET

from ansible_collections.faultline.chaos.plugins.module_utils._report import svg
from ansible_collections.faultline.chaos.plugins.module_utils._report.events import merge
from ansible_collections.faultline.chaos.plugins.module_utils._report.junit import xml_text
from ansible_collections.faultline.chaos.plugins.module_utils._report.markdown import cell
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import (
    ReportError, all_checks, clock, dir_stamp, to_iso, to_unix, validate_scenario,
)

FILES = {"json": "suite.json", "md": "suite.md", "junit": "junit.xml", "svg": "suite.svg"}
ERROR = "ERROR"  # the case wrote no report (its play failed before the report task)
CASES_DIR = "cases"


def run_dir(report_dir, name, started):
    """<report_dir>/<name>/<UTC start YYYYmmddTHHMMSSZ> as an absolute path."""
    return os.path.join(os.path.abspath(report_dir), name, dir_stamp(started))


# --------------------------------------------------------------------------
# input
# --------------------------------------------------------------------------

def find_case_dir(cases_dir, scenario):
    """The newest run directory <cases_dir>/<scenario>/<stamp> holding a report.json, or None."""
    base = os.path.join(cases_dir, scenario)
    try:
        names = sorted(os.listdir(base), reverse=True)
    except OSError:
        return None
    for name in names:
        path = os.path.join(base, name)
        if os.path.isfile(os.path.join(path, "report.json")):
            return path
    return None


def _read_report(path):
    with open(os.path.join(path, "report.json"), "r", encoding="utf-8") as f:
        report = json.load(f)
    if not isinstance(report, dict) or "result" not in report:
        raise ValueError("not a report.json of faultline.chaos.report (no result)")
    sections = report.get("sections") or []
    if not isinstance(sections, list) or not all(isinstance(s, dict) for s in sections):
        raise ValueError("sections is not a list of dicts")
    for part in [report] + sections:
        checks = part.get("checks") or []
        if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
            raise ValueError("checks is not a list of dicts")
        for key in ("observations", "integrity", "aborted"):
            if not isinstance(part.get(key) or {}, dict):
                raise ValueError("%s is not a dict" % key)
        if not isinstance(part.get("cycles") or [], list):
            raise ValueError("cycles is not a list")
    return report


def normalize_case(case, i, cases_dir):
    """Validate one entry of ``cases``; returns a dict with name, scenario, dir, error, started, finished."""
    what = "cases[%d]" % i
    if not isinstance(case, dict):
        raise ReportError("%s must be a dict with name and scenario, got %r" % (what, case))
    name = case.get("name")
    if not name or not isinstance(name, str):
        raise ReportError("%s: name (the test case, e.g. TC-004) is required" % what)
    scenario = validate_scenario(case.get("scenario"))
    unknown = sorted(set(case) - {"name", "scenario", "report", "error", "started", "finished"})
    if unknown:
        raise ReportError("%s: unknown keys %s (known: name, scenario, report, error, started, finished)"
                          % (what, ", ".join(unknown)))
    started = to_unix(case.get("started"), "%s.started" % what)
    finished = to_unix(case.get("finished"), "%s.finished" % what)
    if started is not None and finished is not None and finished < started:
        raise ReportError("%s: finished is before started" % what)
    error = case.get("error")
    return {"name": name, "scenario": scenario, "report": case.get("report") or None,
            "error": None if error in (None, "") else str(error), "started": started, "finished": finished,
            "cases_dir": cases_dir}


def load_case(case):
    """Add report (dict or None), events, dir and a reason when no report could be read."""
    path = case["report"] or find_case_dir(case["cases_dir"], case["scenario"])
    out = dict(case, dir=None, data=None, events=[], problem=None)
    if path is None:
        out["problem"] = "no report under %s" % os.path.join(case["cases_dir"], case["scenario"])
        return out
    try:
        out["data"] = _read_report(path)
    except (IOError, OSError, ValueError) as e:
        out["problem"] = "report.json in %s not read: %s" % (path, getattr(e, "strerror", None) or e)
        return out
    out["dir"] = os.path.abspath(path)
    events, _warnings = merge([], [os.path.join(path, "events.jsonl")])
    out["events"] = events
    return out


# --------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------

def case_result(case):
    """PASS / FAIL / ABORTED from the case's report; ERROR without one; a PASS report
    of a case whose play failed afterwards (cleanup, lab) is a FAIL."""
    if case["data"] is None:
        return ERROR
    result = case["data"].get("result")
    if result == "PASS" and case["error"]:
        return "FAIL"
    return result if result in ("PASS", "FAIL", "ABORTED") else "FAIL"


def _observations(report):
    obs = [report.get("observations") or {}]
    obs += [s.get("observations") or {} for s in report.get("sections") or []]
    return [o for o in obs if o]


def _worst(values):
    vals = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return max(vals) if vals else None


def key_figures(report):
    """Short 'name value' strings: checks, cycles, worst detect / recover, integrity."""
    if report is None:
        return []
    pairs = all_checks(_checks_view(report))
    out = ["%d/%d checks" % (sum(1 for _s, c in pairs if c.get("passed")), len(pairs))]
    sections = report.get("sections") or []
    if sections:
        out.append("%d section%s" % (len(sections), "" if len(sections) == 1 else "s"))
    cycles = len(report.get("cycles") or []) + sum(len(s.get("cycles") or []) for s in sections)
    if cycles:
        out.append("%d cycle%s" % (cycles, "" if cycles == 1 else "s"))
    obs = _observations(report)
    many = len(obs) > 1
    for key, label in (("time_to_detect_s", "detect"), ("time_to_recover_s", "recover")):
        v = _worst(o.get(key) for o in obs)
        if v is not None:
            out.append("%s %s%.2f s" % (label, "≤ " if many else "", v))
    integ = [report.get("integrity") or {}] + [s.get("integrity") or {} for s in sections]
    integ = [i for i in integ if i]
    if integ:
        missing = sum(i.get("missing") or 0 for i in integ)
        dups = sum(i.get("duplicates") or 0 for i in integ)
        rows = sum(i.get("source_rows") or 0 for i in integ)
        out.append("%d rows, %d missing, %d duplicated" % (rows, missing, dups))
    if report.get("aborted"):
        out.append("aborted: %s" % report["aborted"].get("reason"))
    return out


def _checks_view(report):
    """The report with the keys all_checks needs, tolerating older report.json files."""
    return {"checks": report.get("checks") or [],
            "sections": [{"title": s.get("title"), "checks": s.get("checks") or []}
                         for s in report.get("sections") or []]}


def _case_times(case):
    """(started, finished) unix of a case: its report's, else what the playbook measured."""
    rep = case["data"] or {}
    try:
        started = to_unix(rep.get("started")) if rep.get("started") else None
        finished = to_unix(rep.get("finished")) if rep.get("finished") else None
    except ReportError:
        started = finished = None
    return (case["started"] if case["started"] is not None else started,
            case["finished"] if case["finished"] is not None else finished)


# --------------------------------------------------------------------------
# build
# --------------------------------------------------------------------------

def build(params, now):
    """Return (suite dict, {kind: text}, path). Raises ReportError on bad input."""
    name = validate_scenario(params.get("name") or "suite")
    started = to_unix(params.get("started"), "started")
    finished = to_unix(params.get("finished"), "finished")
    finished = now if finished is None else finished
    if started is None:
        raise ReportError("started is required (the suite's start, ISO 8601 or unix time)")
    if finished < started:
        raise ReportError("finished (%s) is before started (%s)" % (to_iso(finished), to_iso(started)))
    path = run_dir(params.get("report_dir") or "reports", name, started)
    cases_dir = os.path.abspath(params.get("cases_dir") or os.path.join(path, CASES_DIR))
    raw = params.get("cases") or []
    if not isinstance(raw, list):
        raise ReportError("cases must be a list")
    cases = [load_case(normalize_case(c, i, cases_dir)) for i, c in enumerate(raw)]
    seen = set()
    for c in cases:
        if c["name"] in seen:
            raise ReportError("case %s is given twice" % c["name"])
        seen.add(c["name"])
    rows = []
    for c in cases:
        result = case_result(c)
        cs, cf = _case_times(c)
        rows.append({
            "name": c["name"], "scenario": c["scenario"], "result": result,
            "started": to_iso(cs), "finished": to_iso(cf),
            "wall_s": round(cf - cs, 3) if cs is not None and cf is not None else None,
            "figures": key_figures(c["data"]),
            "failed_checks": ["%s: %s" % (s, ch.get("name")) if s else ch.get("name")
                              for s, ch in all_checks(_checks_view(c["data"] or {})) if not ch.get("passed")],
            "error": c["error"] or c["problem"],
            "report": os.path.relpath(c["dir"], path) if c["dir"] else None,
        })
    result = "PASS" if rows and all(r["result"] == "PASS" for r in rows) else "FAIL"
    suite = {"name": name, "result": result, "started": to_iso(started), "finished": to_iso(finished),
             "wall_s": round(finished - started, 3), "cases": rows,
             "counts": dict((k, sum(1 for r in rows if r["result"] == k)) for k in ("PASS", "FAIL", "ABORTED", ERROR))}
    texts = {
        "json": json.dumps(suite, indent=2) + "\n",
        "md": render_md(suite),
        "junit": render_junit(suite, cases),
        "svg": render_svg(suite, cases, started, finished),
    }
    return suite, texts, path


def title(suite):
    """'faultline.chaos suite' (the default name) or 'faultline.chaos suite <name>'."""
    return "faultline.chaos suite" + ("" if suite["name"] == "suite" else " " + suite["name"])


def summary(suite, path):
    counts = ", ".join("%d %s" % (n, k) for k, n in suite["counts"].items() if n)
    failed = [r["name"] for r in suite["cases"] if r["result"] != "PASS"]
    text = "%s: %s (%d cases: %s; %.0f s wall)" % (
        suite["name"], suite["result"], len(suite["cases"]), counts or "none", suite["wall_s"])
    if failed:
        text += "; not passed: " + ", ".join(failed)
    return text + " -> " + path


# --------------------------------------------------------------------------
# suite.md
# --------------------------------------------------------------------------

def render_md(suite):
    lines = ["# %s: %s" % (title(suite), suite["result"]), "",
             "%s → %s UTC, %.1f s wall, %d cases (%s)." % (
                 suite["started"], suite["finished"], suite["wall_s"], len(suite["cases"]),
                 ", ".join("%d %s" % (n, k) for k, n in suite["counts"].items() if n) or "none"),
             "", "Picture of all runs: [suite.svg](suite.svg) · JUnit: [junit.xml](junit.xml)", "",
             "| case | result | wall | key figures | report |", "|---|---|---|---|---|"]
    for r in suite["cases"]:
        link = "[report.md](%s/report.md) · [timeline](%s/timeline.svg)" % (r["report"], r["report"]) \
            if r["report"] else "-"
        wall = "%.1f s" % r["wall_s"] if r["wall_s"] is not None else "-"
        lines.append("| %s | **%s** | %s | %s | %s |" % (
            cell("%s (%s)" % (r["name"], r["scenario"])), r["result"], wall, cell("; ".join(r["figures"])), link))
    problems = [r for r in suite["cases"] if r["result"] != "PASS"]
    if problems:
        lines += ["", "## Not passed", ""]
        for r in problems:
            lines.append("- **%s** %s%s" % (r["name"], r["result"], ": %s" % r["error"] if r["error"] else ""))
            lines += ["  - failed check: %s" % cell(n) for n in r["failed_checks"][:10]]
            if len(r["failed_checks"]) > 10:
                lines.append("  - ... %d more" % (len(r["failed_checks"]) - 10))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# junit.xml
# --------------------------------------------------------------------------

def render_junit(suite, cases):
    root = ET.Element("testsuites", {"name": xml_text("faultline.chaos suite %s" % suite["name"]),
                                     "time": "%.3f" % suite["wall_s"]})
    totals = [0, 0, 0]
    for row, case in zip(suite["cases"], cases):
        rep = case["data"] or {}
        checks = all_checks(_checks_view(rep))
        classname = "faultline.chaos.%s" % row["scenario"]
        suite_el = ET.SubElement(root, "testsuite", {
            "name": xml_text("%s %s" % (row["name"], row["scenario"])),
            "time": "%.3f" % (row["wall_s"] or 0.0),
            "timestamp": xml_text((row["started"] or "").rstrip("Z")),
            "skipped": "0"})
        props = ET.SubElement(suite_el, "properties")
        for key in ("result", "started", "finished", "report"):
            ET.SubElement(props, "property", {"name": key, "value": xml_text(row[key])})
        tests = failures = errors = 0
        for section, c in checks:
            name = "%s: %s" % (section, c.get("name")) if section else c.get("name")
            el = ET.SubElement(suite_el, "testcase", {"classname": xml_text(classname), "name": xml_text(name),
                                                      "time": "0"})
            tests += 1
            if not c.get("passed"):
                failures += 1
                msg = xml_text(c.get("detail") or "check failed")
                ET.SubElement(el, "failure", {"message": msg, "type": "CheckFailed"}).text = msg
        # what no check explains still shows in CI: no report, an aborted run, a failed play
        explained = failures and not row["error"]
        if row["result"] != "PASS" and not explained:
            el = ET.SubElement(suite_el, "testcase", {"classname": xml_text(classname), "name": "case completed",
                                                      "time": "0"})
            tests += 1
            errors += 1
            msg = xml_text("%s: %s" % (row["result"], row["error"] or (rep.get("aborted") or {}).get("reason")
                                       or "result %s with no failed check" % row["result"]))
            ET.SubElement(el, "error", {"message": msg, "type": row["result"]}).text = msg
        suite_el.set("tests", str(tests))
        suite_el.set("failures", str(failures))
        suite_el.set("errors", str(errors))
        totals = [totals[0] + tests, totals[1] + failures, totals[2] + errors]
    root.set("tests", str(totals[0]))
    root.set("failures", str(totals[1]))
    root.set("errors", str(totals[2]))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# --------------------------------------------------------------------------
# suite.svg
# --------------------------------------------------------------------------

GANTT_ROW = 22
PANEL_LANES = ("faults", "probes", "events")
RESULT_COLORS = dict(svg.COLORS, ERROR="#8b0000")


def _t(text):
    return svg._t(text)  # pylint: disable=protected-access


def _panel_lanes(events):
    """[(label, kind, payload)]: all fault windows on one lane, all probes on one, other events on one."""
    timed = [e for e in events if e["ts"] is not None]
    faults = svg.fault_windows(timed)
    windows = sorted(w for lane in faults.values() for w in lane["windows"])
    if len(faults) > 1:  # several faults on one lane: number the windows in time order, not by their own cycles
        windows = [(s, e, None) for s, e, _c in windows]
    merged = {"windows": windows,
              "marks": sorted(m for lane in faults.values() for m in lane["marks"])}
    probes = [e for e in timed if e["source"] == "probe"]
    others = [e for e in timed if e["source"] not in ("fault", "probe")]
    return [("faults (%d)" % len(faults), "fault", merged),
            ("probes (%d)" % len(svg.group(timed, "probe")), "probe", probes),
            ("datagen, verify, other", "markers", others)]


def _draw_markers(evs, axis, y, end):
    """Every non-fault, non-probe event on one lane, each source in its own colour and shape."""
    out = []
    for src in sorted({e["source"] or "" for e in evs}):
        out += svg._draw_marker((src, [e for e in evs if (e["source"] or "") == src]), axis, y, end)  # pylint: disable=protected-access
    return out


def render_svg(suite, cases, started, finished):
    width = svg.WIDTH
    left, plot = svg.LEFT, svg.PLOT
    lane_step = svg.LANE_H + 4
    panel_h = 44 + len(PANEL_LANES) * lane_step + 26
    gantt_top = 104
    gantt_bottom = gantt_top + max(1, len(cases)) * GANTT_ROW
    panels_top = gantt_bottom + 80
    height = panels_top + max(1, len(cases)) * panel_h + 20
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="12">'
           % (width, height, width, height, svg.FONT),
           '<title>%s</title>' % _t("%s: %s" % (title(suite), suite["result"])),
           '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height),
           '<text x="16" y="28" font-size="18" font-weight="bold">%s <tspan fill="%s">%s</tspan></text>'
           % (_t("%s —" % title(suite)), RESULT_COLORS.get(suite["result"], "#000"), _t(suite["result"])),
           '<text x="16" y="48" fill="#555">%s</text>' % _t("%s → %s UTC · %.0f s wall · %d cases" % (
               suite["started"], suite["finished"], suite["wall_s"], len(cases))),
           '<text x="16" y="%d" font-weight="bold">%s</text>' % (gantt_top - 26, _t(
               "The cases on the suite's wall clock (bar: from start to end of the case, colour: its result)"))]
    # the gantt: every case on the suite's own axis
    axis = svg.Axis(started, finished, started)
    ticks, _step = axis.ticks()
    for t in ticks:
        x = axis.x(t)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>'
                   % (x, gantt_top - 4, x, gantt_bottom, svg.COLORS["grid"]))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="%s">%s</text>'
                   % (x, gantt_bottom + 14, svg.COLORS["axis"], _t(svg._fmt_rel(t - started))))  # pylint: disable=protected-access
        out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="10" fill="#888">%s</text>'
                   % (x, gantt_bottom + 26, _t(clock(t, ms=False))))
    for i, (row, case) in enumerate(zip(suite["cases"], cases)):
        y = gantt_top + i * GANTT_ROW
        color = RESULT_COLORS.get(row["result"], "#000")
        out.append('<text x="%d" y="%d" text-anchor="end">%s</text>' % (left - 10, y + 15, _t(row["name"])))
        cs, cf = _case_times(case)
        if cs is not None and cf is not None:
            x0, x1 = axis.x(cs), axis.x(cf)
            out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.8"><title>%s</title></rect>'
                       % (x0, y + 3, max(2.0, x1 - x0), GANTT_ROW - 6, color,
                          _t("%s %s %s → %s" % (row["name"], row["result"], clock(cs), clock(cf)))))
            label = "%s %.0f s" % (row["result"], cf - cs)
            # right of the bar, else left of it, else (a bar across the whole axis) inside it
            room = 7 * len(label) + 6
            if x1 + room <= left + plot:
                x, anchor, fill = x1 + 6, "start", color
            elif x0 - room >= left:
                x, anchor, fill = x0 - 6, "end", color
            else:
                x, anchor, fill = x1 - 6, "end", "#ffffff"
            out.append('<text x="%.1f" y="%d" font-size="11" fill="%s" text-anchor="%s">%s</text>'
                       % (x, y + 15, fill, anchor, _t(label)))
    # one panel per case, each on its own axis
    for i, (row, case) in enumerate(zip(suite["cases"], cases)):
        out += _panel(row, case, panels_top + i * panel_h, lane_step)
    for k, line in enumerate((
            "Below, one timeline per case, each on its own axis (seconds from the case's start).",
            "Red boxes: fault windows (dashed: no end recorded) · green/red: probe ok/error · blue dots: datagen · "
            "purple diamonds: verify · grey: other events (red when they failed)")):
        out.append('<text x="16" y="%d" font-size="11" fill="#555">%s</text>' % (panels_top - 32 + 14 * k, _t(line)))
    out.append('</svg>')
    return "\n".join(out) + "\n"


def _panel(row, case, top, lane_step):
    color = RESULT_COLORS.get(row["result"], "#000")
    out = ['<line x1="16" y1="%d" x2="%d" y2="%d" stroke="#bbb"/>' % (top, svg.WIDTH - 16, top),
           '<text x="16" y="%d" font-size="14" font-weight="bold">%s <tspan fill="%s">%s</tspan></text>'
           % (top + 20, _t("%s (%s) —" % (row["name"], row["scenario"])), color, _t(row["result"])),
           '<text x="16" y="%d" font-size="11" fill="#555">%s</text>'
           % (top + 36, _t(" · ".join(row["figures"] + ([row["error"]] if row["error"] else []))[:220]))]
    cs, cf = _case_times(case)
    lanes_top = top + 44
    if case["data"] is None or cs is None or cf is None:
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (
            svg.LEFT, lanes_top + 16, color, _t("no timeline: %s" % (row["error"] or "no report"))))
        return out
    timed = [e["ts"] for e in case["events"] if e["ts"] is not None]
    axis = svg.Axis(min([cs] + timed[:1]), max([cf] + timed[-1:]), cs)
    end = axis.t1
    bottom = lanes_top + len(PANEL_LANES) * lane_step - 4
    ticks, _step = axis.ticks()
    for t in ticks:
        x = axis.x(t)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>'
                   % (x, lanes_top - 2, x, bottom + 2, svg.COLORS["grid"]))
        out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="10" fill="%s">%s</text>'
                   % (x, bottom + 14, svg.COLORS["axis"], _t(svg._fmt_rel(t - cs))))  # pylint: disable=protected-access
    for j, (label, kind, payload) in enumerate(_panel_lanes(case["events"])):
        y = lanes_top + j * lane_step
        out.append('<text x="%d" y="%d" text-anchor="end" font-size="11">%s</text>'
                   % (svg.LEFT - 10, y + svg.LANE_H // 2 + 4, _t(label)))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#f7f7f7" stroke="#e0e0e0"/>'
                   % (svg.LEFT, y, svg.PLOT, svg.LANE_H))
        draw = _draw_markers if kind == "markers" else svg._DRAW[kind]  # pylint: disable=protected-access
        out += draw(payload, axis, y, end)
    return out

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""timeline.svg: fault windows, probe states, datagen/verify events and row series
on one time axis (seconds from start, with UTC wall-clock labels).

Pure Python, no third-party libraries.  Output size is bounded by the plot
width, not by the number of events: probe states and markers are reduced to
one entry per pixel column (an error always wins its column, so a single
failed sample stays visible), series to their min/max per column.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
from xml.sax.saxutils import escape, quoteattr

from ansible_collections.faultline.chaos.plugins.module_utils._report.junit import xml_text
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import clock, to_unix

WIDTH = 1280
LEFT = 250          # lane labels
LABEL_FIT = 32      # characters of a lane label that fit in LEFT at 12 px
LABEL_MAX = 40      # ... at 10 px
RIGHT = 30
PLOT = WIDTH - LEFT - RIGHT
LANE_H = 24
LANE_GAP = 8
CHART_H = 190
FONT = 'font-family="DejaVu Sans, Arial, Helvetica, sans-serif"'

COLORS = {"fault": "#d62728", "fault_fill": "#f4a6a6", "ok": "#2ca02c", "error": "#d62728",
          "unknown": "#c7c7c7", "datagen": "#1f77b4", "verify": "#9467bd", "other": "#7f7f7f",
          "detected": "#ff7f0e", "recovered": "#2ca02c", "axis": "#444444", "grid": "#e3e3e3",
          "PASS": "#2ca02c", "FAIL": "#d62728", "ABORTED": "#8b0000"}
SERIES_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
OK_EVENTS = ("ok", "up", "recovered", "connected", "running", "healthy")
BAD_EVENTS = ("error", "down", "failed", "fail", "timeout", "disconnected", "unhealthy")
FAULT_OPEN = ("down",)
FAULT_CLOSE = ("up", "reverted")
_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 21600, 43200, 86400)


def _t(text):
    return escape(xml_text(text))


def _a(text):
    return quoteattr(xml_text(text))


def _fmt_rel(s):
    if abs(s) >= 3600:
        return "%+.1f h" % (s / 3600.0)
    if abs(s) >= 600:
        return "%+.0f min" % (s / 60.0) if s % 60 == 0 else "%+.1f min" % (s / 60.0)
    return ("%+.1f s" % s) if s != int(s) else ("%+d s" % int(s))


class Axis(object):
    def __init__(self, t0, t1, origin):
        if t1 - t0 < 1.0:
            t1 = t0 + 1.0
        self.t0, self.t1, self.origin = t0, t1, origin

    def x(self, t):
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * PLOT

    def col(self, t):
        return min(PLOT - 1, max(0, int((t - self.t0) / (self.t1 - self.t0) * PLOT)))

    def ticks(self):
        span = self.t1 - self.t0
        step = next((s for s in _STEPS if span / s <= 12), _STEPS[-1])
        k = math.ceil((self.t0 - self.origin) / step)
        out = []
        while self.origin + k * step <= self.t1 + 1e-9:
            out.append(self.origin + k * step)
            k += 1
        return out, step


# --------------------------------------------------------------------------
# lanes from events
# --------------------------------------------------------------------------

def _cycle_of(ev):
    d = ev.get("detail")
    if isinstance(d, dict) and d.get("cycle") is not None:
        return d.get("cycle")
    return None


def fault_windows(events):
    """{(host, id): {"windows": [(start, end|None, cycle)], "marks": [(ts, event)]}}"""
    lanes = {}
    for ev in events:
        if ev["source"] != "fault" or ev["ts"] is None:
            continue
        lane = lanes.setdefault((ev["host"], ev["id"]), {"windows": [], "marks": [], "open": None})
        name = (ev["event"] or "").lower()
        if name in FAULT_OPEN:
            if lane["open"] is None:
                lane["open"] = (ev["ts"], _cycle_of(ev))
        elif name in FAULT_CLOSE:
            if lane["open"] is not None:
                start, cyc = lane["open"]
                lane["windows"].append((start, ev["ts"], cyc if cyc is not None else _cycle_of(ev)))
                lane["open"] = None
            if name == "reverted":
                lane["marks"].append((ev["ts"], name))
        else:
            lane["marks"].append((ev["ts"], name))
    for lane in lanes.values():
        if lane["open"] is not None:
            lane["windows"].append((lane["open"][0], None, lane["open"][1]))
        del lane["open"]
    return lanes


def _state(ev):
    if "ok" in ev and (ev["event"] is None or ev["event"] in ("sample",)):
        return "ok" if ev.get("ok") else "error"
    name = (ev["event"] or "").lower()
    if name in OK_EVENTS:
        return "ok"
    if name in BAD_EVENTS or "error" in name or "fail" in name:
        return "error"
    return None


def _is_bad_marker(ev):
    name = (ev["event"] or "").lower()
    detail = ev.get("detail") if isinstance(ev.get("detail"), dict) else {}
    return any(w in name for w in ("error", "fail", "indeterminate", "mismatch")) or \
        detail.get("passed") is False or detail.get("status") in ("failed", "indeterminate")


def group(events, source):
    lanes = {}
    for ev in events:
        if ev["source"] == source and ev["ts"] is not None:
            lanes.setdefault((ev["host"], ev["id"]), []).append(ev)
    return lanes


def probe_columns(evs, axis, end):
    """Per-pixel-column state (error > ok > unknown) for one probe lane."""
    prio = {"error": 3, "ok": 2, "unknown": 1}
    cols = [None] * PLOT
    current = "unknown"
    changes = []
    for ev in evs:
        st = _state(ev)
        if st is None or st == current:
            continue
        changes.append((ev["ts"], st))
        current = st
    for i, (ts, st) in enumerate(changes):
        stop = changes[i + 1][0] if i + 1 < len(changes) else end
        c0, c1 = axis.col(ts), axis.col(stop)
        for c in range(c0, max(c0 + 1, c1)):
            if cols[c] is None or prio[st] > prio[cols[c]]:
                cols[c] = st
    return cols, changes


def _runs(cols):
    out, start = [], 0
    for i in range(1, len(cols) + 1):
        if i == len(cols) or cols[i] != cols[start]:
            if cols[start] is not None:
                out.append((start, i, cols[start]))
            start = i
    return out


def bucket_markers(evs, axis):
    """[(x, count, bad, first_event)] one per pixel column."""
    cols = {}
    for ev in evs:
        c = axis.col(ev["ts"])
        slot = cols.get(c)
        bad = _is_bad_marker(ev)
        if slot is None:
            cols[c] = [1, bad, ev]
        else:
            slot[0] += 1
            if bad and not slot[1]:
                slot[1], slot[2] = True, ev
    return [(LEFT + c + 0.5, n, bad, ev) for c, (n, bad, ev) in sorted(cols.items())]


def reduce_series(points, axis):
    """Min/max per pixel column, in time order."""
    if len(points) <= 2 * PLOT:
        return points
    cols = {}
    for ts, v in points:
        c = axis.col(ts)
        slot = cols.get(c)
        if slot is None:
            cols[c] = [(ts, v), (ts, v), (ts, v)]
        else:
            if v < slot[0][1]:
                slot[0] = (ts, v)
            if v > slot[1][1]:
                slot[1] = (ts, v)
            slot[2] = (ts, v)
    out = []
    for c in sorted(cols):
        lo, hi, last = cols[c]
        out.extend(sorted({lo, hi, last}))
    return out


# --------------------------------------------------------------------------
# drawing
# --------------------------------------------------------------------------

def _label(host, ident, source):
    ident = ident or "-"
    text = "%s %s" % (source, ident)
    if host:
        text += " @ %s" % host
    # too long even in the small font: cut the middle (of a long id), keep the
    # source and the host, which tell the lanes apart
    return text if len(text) <= LABEL_MAX else text[:LABEL_MAX - 13] + "…" + text[-12:]


def render(report, context, events):
    cycles = list(report["cycles"] or [])
    for s in report["sections"] or []:
        cycles += [dict(c, section=s["title"]) for c in (s["cycles"] or [])]
    cyc_times = [(to_unix(c.get("down_at")), to_unix(c.get("up_at")),
                  to_unix(c.get("detected_at")), to_unix(c.get("recovered_at")), c) for c in cycles]
    series = context["series"]
    started, finished = context["started"], context["finished"]
    times = [started, finished]
    timed = [e for e in events if e["ts"] is not None]
    if timed:
        times += [timed[0]["ts"], timed[-1]["ts"]]
    for pts in series.values():
        if pts:
            times += [pts[0][0], pts[-1][0]]
    for ct in cyc_times:
        times += [t for t in ct[:4] if t is not None]
    if report.get("aborted") and to_unix(report["aborted"].get("at")) is not None:
        times.append(to_unix(report["aborted"]["at"]))
    axis = Axis(min(times), max(times), started)
    end = axis.t1

    faults = fault_windows(timed)
    probes = group(timed, "probe")
    markers = [(src, group(timed, src)) for src in ("datagen", "verify")]
    others = sorted({e["source"] for e in timed} - {"fault", "probe", "datagen", "verify", "guard"}, key=str)
    markers += [(src, group(timed, src)) for src in others]

    entries = []  # (host, source, id, kind, payload)
    for key in sorted(faults, key=lambda k: (str(k[0]), str(k[1]))):
        entries.append((key[0], "fault", key[1], "fault", faults[key]))
    for key in sorted(probes, key=lambda k: (str(k[0]), str(k[1]))):
        entries.append((key[0], "probe", key[1], "probe", probes[key]))
    for src, groups in markers:
        for key in sorted(groups, key=lambda k: (str(k[0]), str(k[1]))):
            entries.append((key[0], src or "event", key[1], "marker", (src, groups[key])))
    lanes = _arrange(entries, cyc_times, report.get("lanes") or [], report.get("host_roles") or {})

    top = 112
    lanes_bottom = top + max(1, len(lanes)) * (LANE_H + LANE_GAP)
    chart_top = lanes_bottom + 34
    has_chart = any(series.values())
    bottom = (chart_top + CHART_H) if has_chart else lanes_bottom
    height = bottom + 60

    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" %s font-size="12">'
           % (WIDTH, height, WIDTH, height, FONT),
           '<title>%s</title>' % _t("%s timeline" % report["scenario"]),
           '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (WIDTH, height)]
    result = report["result"]
    out.append('<text x="16" y="28" font-size="18" font-weight="bold">%s <tspan fill="%s">%s</tspan></text>'
               % (_t("%s —" % report["scenario"]), COLORS.get(result, "#000"), _t(result)))
    out.append('<text x="16" y="48" fill="#555">%s</text>' % _t(
        "%s → %s UTC · %.1f s · %d events · template %s" % (
            report["started"], report["finished"], report["duration_s"], len(events), report["template"])))
    out += _legend(has_chart)

    # time grid + axis labels (top and bottom)
    ticks, _step = axis.ticks()
    for t in ticks:
        x = axis.x(t)
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s"/>' % (x, top - 6, x, bottom, COLORS["grid"]))
        for y, text, fill in ((top - 22, _fmt_rel(t - started), COLORS["axis"]), (top - 10, clock(t, ms=False), "#888"),
                              (bottom + 16, _fmt_rel(t - started), COLORS["axis"]), (bottom + 28, clock(t, ms=False), "#888")):
            out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="11" fill="%s">%s</text>' % (x, y, fill, _t(text)))
    out.append('<text x="%d" y="%d" font-size="11" fill="#555">%s</text>'
               % (LEFT, bottom + 46, _t("seconds from start (%s UTC); wall clock UTC below" % clock(started))))

    # fault windows as light bands across everything, so cause and effect line up
    bands = [(s, e) for lane in faults.values() for s, e, _c in lane["windows"]]
    if not bands:
        bands = [(ct[0], ct[1]) for ct in cyc_times if ct[0] is not None]
    for s, e in bands:
        x0, x1 = axis.x(s), axis.x(e if e is not None else end)
        out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" fill-opacity="0.18"/>'
                   % (x0, top - 4, max(1.0, x1 - x0), bottom - top + 4, COLORS["fault_fill"]))

    for i, (label, kind, payload) in enumerate(lanes):
        y = top + i * (LANE_H + LANE_GAP)
        if kind == "host":
            out += _draw_host(label, y)
            continue
        small = ' font-size="10"' if len(label) > LABEL_FIT else ""
        out.append('<text x="%d" y="%d" text-anchor="end"%s>%s</text>'
                   % (LEFT - 10, y + LANE_H // 2 + 4, small, _t(label)))
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="#f7f7f7" stroke="#e0e0e0"/>'
                   % (LEFT, y, PLOT, LANE_H))
        out += _DRAW[kind](payload, axis, y, end)
    if not lanes:
        out.append('<text x="%d" y="%d" fill="#888">no events</text>' % (LEFT + 8, top + 16))

    if has_chart:
        out += _chart(series, axis, chart_top)
    out += _abort_marker(report.get("aborted"), axis, top, bottom)
    out.append('</svg>')
    return "\n".join(out) + "\n"


def _arrange(entries, cyc_times, host_lanes, roles):
    """[(label, kind, payload)]: by kind (faults, cycles, probes, markers) with the
    host in each label; with events from two or more hosts, one group per host
    (a heading naming the host and its role, then its lanes), in the report's
    host order, so each host's lane is named once and cause and effect line up."""
    cycles = [("cycles (measured)", "cycles", cyc_times)] if cyc_times else []
    if len(host_lanes) < 2:
        faults = [e for e in entries if e[3] == "fault"]
        rest = [e for e in entries if e[3] != "fault"]
        return [(_label(h, i, s), k, p) for h, s, i, k, p in faults] + cycles + \
            [(_label(h, i, s), k, p) for h, s, i, k, p in rest]
    lanes = list(cycles)
    for host in [lane["host"] for lane in host_lanes] + [None]:
        mine = [e for e in entries if (None if e[0] is None else str(e[0])) == host]
        if not mine:
            continue
        if host is None:
            head = "no host"
        else:
            head = "host %s" % host + (" — %s" % roles[host] if roles.get(host) else "")
        lanes.append((head, "host", host))
        lanes += [(_label(None, i, s), k, p) for _h, s, i, k, p in mine]
    return lanes


def _draw_host(label, y):
    """A host's heading row: its name (and role) and a rule across the plot."""
    return ['<rect x="8" y="%d" width="%d" height="%d" fill="#e3ebf7" fill-opacity="0.7"/>' % (y, WIDTH - 8 - RIGHT, LANE_H),
            '<text x="16" y="%d" font-size="13" font-weight="bold" fill="#1f3b73">%s</text>'
            % (y + LANE_H // 2 + 5, _t(label))]


def _abort_marker(aborted, axis, top, bottom):
    """A vertical line across every lane at the moment a steady-state guard aborted the run."""
    at = to_unix(aborted.get("at")) if aborted else None
    if at is None:
        return []
    x = axis.x(at)
    tip = "ABORTED %s: %s" % (clock(at), aborted["reason"])
    return ['<g class="abort"><title>%s</title>' % _t(tip),
            '<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="6,3"/>'
            % (x, top - 8, x, bottom, COLORS["ABORTED"]),
            '<text x="%.1f" y="%d" font-size="11" font-weight="bold" fill="%s">%s</text>'
            % (x + 4, top - 30, COLORS["ABORTED"], _t("ABORTED " + clock(at))),
            '</g>']


def _legend(has_chart):
    items = [("rect", COLORS["fault_fill"], "fault window (#cycle)"), ("rect", COLORS["ok"], "probe ok"),
             ("rect", COLORS["error"], "probe error"), ("down", COLORS["detected"], "detected"),
             ("up", COLORS["recovered"], "recovered"), ("dot", COLORS["datagen"], "datagen"),
             ("diamond", COLORS["verify"], "verify"), ("dot", COLORS["error"], "failed event")]
    out, x = [], 16
    for shape, color, text in items:
        out.append(_shape(shape, x + 6, 70, color, 5))
        out.append('<text x="%d" y="74" font-size="11">%s</text>' % (x + 16, _t(text)))
        x += 24 + 7 * len(text)
    return out


def _shape(shape, x, y, color, r, title=None):
    tip = '<title>%s</title>' % _t(title) if title else ""
    if shape == "rect":
        return '<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="%s">%s</rect>' % (x - r, y - r, 2 * r, 2 * r, color, tip)
    if shape == "diamond":
        pts = "%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" % (x, y - r, x + r, y, x, y + r, x - r, y)
        return '<polygon points="%s" fill="%s">%s</polygon>' % (pts, color, tip)
    if shape in ("down", "up"):
        d = 1 if shape == "down" else -1
        pts = "%.1f,%.1f %.1f,%.1f %.1f,%.1f" % (x - r, y - d * r, x + r, y - d * r, x, y + d * r)
        return '<polygon points="%s" fill="%s">%s</polygon>' % (pts, color, tip)
    return '<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s">%s</circle>' % (x, y, r, color, tip)


def _window(out, axis, y, start, stop, end, label, tip):
    x0 = axis.x(start)
    x1 = axis.x(stop if stop is not None else end)
    w = max(2.0, x1 - x0)
    dash = ' stroke-dasharray="4,3"' if stop is None else ""
    out.append('<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s" stroke="%s"%s><title>%s</title></rect>'
               % (x0, y + 2, w, LANE_H - 4, COLORS["fault_fill"], COLORS["fault"], dash, _t(tip)))
    if label and w >= 14:
        out.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="11" font-weight="bold" fill="#7a0000">%s</text>'
                   % (x0 + w / 2, y + LANE_H // 2 + 4, _t(label)))


def _draw_fault(lane, axis, y, end):
    out = []
    for n, (s, e, cyc) in enumerate(lane["windows"], 1):
        label = "#%s" % (cyc if cyc is not None else n)
        tip = "cycle %s: down %s, up %s" % (cyc if cyc is not None else n, clock(s), clock(e) if e else "still down")
        _window(out, axis, y, s, e, end, label, tip)
    for ts, name in lane["marks"]:
        x = axis.x(ts)
        color = COLORS["fault"] if "fail" in name else "#555"
        out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.5"><title>%s</title></line>'
                   % (x, y, x, y + LANE_H, color, _t("%s %s" % (clock(ts), name))))
    return out


def _draw_cycles(cyc_times, axis, y, end):
    out = []
    for down, up, det, rec, c in cyc_times:
        if down is not None:
            _window(out, axis, y, down, up, end, "#%s" % c.get("n"),
                    "cycle %s: down %s, up %s" % (c.get("n"), clock(down), clock(up)))
        if det is not None:
            out.append(_shape("down", axis.x(det), y + 6, COLORS["detected"], 5,
                              "cycle %s detected %s" % (c.get("n"), clock(det))))
        if rec is not None:
            out.append(_shape("up", axis.x(rec), y + LANE_H - 6, COLORS["recovered"], 5,
                              "cycle %s recovered %s" % (c.get("n"), clock(rec))))
    return out


def _draw_probe(evs, axis, y, end):
    cols, changes = probe_columns(evs, axis, end)
    out = []
    for c0, c1, st in _runs(cols):
        out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="%s"/>'
                   % (LEFT + c0, y + 6, c1 - c0, LANE_H - 12, COLORS[st]))
    shown = 0
    for ts, st in changes:
        if st == "error" and shown < 400:
            out.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2"/>'
                       % (axis.x(ts), y + 1, axis.x(ts), y + LANE_H - 1, COLORS["error"]))
            shown += 1
    first_err = next((e for e in evs if _state(e) == "error"), None)
    if first_err is not None:
        msg = (first_err.get("detail") or {}).get("error") if isinstance(first_err.get("detail"), dict) else None
        msg = msg or first_err.get("error") or ""
        out.append('<title>%s</title>' % _t("first error %s %s" % (clock(first_err["ts"]), msg)))
    return out


def _draw_marker(payload, axis, y, end):
    src, evs = payload
    shape = "diamond" if src == "verify" else "dot"
    base = COLORS.get(src, COLORS["other"])
    out = []
    for x, n, bad, ev in bucket_markers(evs, axis):
        tip = "%s %s%s" % (clock(ev["ts"]), ev["event"], " (+%d more)" % (n - 1) if n > 1 else "")
        out.append(_shape(shape, x, y + LANE_H / 2.0, COLORS["error"] if bad else base, 4, tip))
    return out


_DRAW = {"fault": _draw_fault, "cycles": _draw_cycles, "probe": _draw_probe, "marker": _draw_marker}


def _nice_max(v):
    if v <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * mag:
            return m * mag
    return 10 * mag


def _steps(points):
    """A value holds until the next point (counters, 0/1 states): draw steps,
    not slopes that suggest rows arrived while none did.  Only for series that
    were not reduced (a reduced one has a point per pixel column already)."""
    out = []
    for i, (t, v) in enumerate(points):
        if i:
            out.append((t, points[i - 1][1]))
        out.append((t, v))
    return out


def _chart(series, axis, top):
    out = []
    vmax = _nice_max(max((v for pts in series.values() for _t0, v in pts), default=1.0))
    bottom = top + CHART_H

    def y(v):
        return bottom - (v / vmax) * CHART_H

    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#bbb"/>' % (LEFT, top, PLOT, CHART_H))
    out.append('<text x="%d" y="%d" text-anchor="end" font-weight="bold">rows</text>' % (LEFT - 56, top + 12))
    for frac in (0, 0.25, 0.5, 0.75, 1.0):
        v = vmax * frac
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (LEFT, y(v), LEFT + PLOT, y(v), COLORS["grid"]))
        out.append('<text x="%d" y="%.1f" text-anchor="end" font-size="11">%s</text>'
                   % (LEFT - 6, y(v) + 4, _t(("%.0f" % v) if vmax >= 4 else ("%.2f" % v))))
    for i, (name, pts) in enumerate(sorted(series.items())):
        color = SERIES_COLORS[i % len(SERIES_COLORS)]
        reduced = reduce_series(pts, axis)
        pts = _steps(pts) if reduced is pts else reduced
        if pts:
            coords = " ".join("%.1f,%.1f" % (axis.x(t), y(v)) for t, v in pts)
            out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>' % (coords, color))
        ly = top + 16 + i * 16
        last = ("%g" % pts[-1][1]) if pts else "-"
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>'
                   % (LEFT + 10, ly - 4, LEFT + 30, ly - 4, color))
        out.append('<text x="%d" y="%d" font-size="11">%s</text>'
                   % (LEFT + 36, ly, _t("%s (last %s)" % (name, last))))
    return out

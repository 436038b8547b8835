# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.md: the seed test case's "Test Execution Log" section, filled in.

One renderer, one ordered list of blocks per template, so every template reads
like its seed (see /work/shared/seeds/): tc004 observations (time to detect,
error message, retry behaviour), tc007 flapping configuration + cycle table +
data integrity, tc001 steps + one section per failure mode, ws006 success
criteria with measured figures, t040 scenario sections, generic = everything
that was given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.faultline.chaos.plugins.module_utils._report.model import (
    clock, to_unix,
)

TITLES = {
    "tc004": "TC-004: Connection Refused Handling",
    "tc007": "TC-007: Flapping Connection",
    "tc001": "TC-001: Pipeline Restart via Fix Now",
    "ws006": "WS-RESILIENCE-006: Rapid Reconnection (Flapping)",
    "t040": "T040.S4: Service Reconnection Test Scenarios",
    "generic": None,
}

# blocks in the order each seed has them
LAYOUT = {
    "tc004": ("configuration", "steps", "observations", "cycles", "integrity", "positions",
              "checklist", "sections", "logs", "notes"),
    "tc007": ("configuration", "steps", "observations", "cycles", "integrity", "positions",
              "checklist", "sections", "logs", "notes"),
    "tc001": ("configuration", "steps", "observations", "cycles", "sections", "integrity",
              "positions", "checklist", "logs", "notes"),
    "ws006": ("configuration", "steps", "criteria", "measured", "observations", "cycles",
              "integrity", "sections", "logs", "notes"),
    "t040": ("configuration", "steps", "measured", "sections", "observations", "cycles", "integrity",
             "positions", "checklist", "logs", "notes"),
    "generic": ("configuration", "steps", "observations", "cycles", "integrity", "positions",
                "checklist", "sections", "measured", "logs", "notes"),
}
# metadata rows the seed tables have, in order (others follow alphabetically)
ETL_TEMPLATES = ("tc004", "tc007", "tc001")
SECTION_PREFIX = {"tc001": "Failure mode: "}


# --------------------------------------------------------------------------
# small formatting helpers
# --------------------------------------------------------------------------

def cell(value):
    """Text safe inside a markdown table cell."""
    if value is None:
        return "-"
    if not isinstance(value, str):
        value = json.dumps(value, sort_keys=True, default=str) if isinstance(value, (dict, list)) else str(value)
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>") or "-"


def code(text):
    """Inline code that survives backticks in the text."""
    text = str(text).replace("\n", " ")
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return "%s%s%s%s%s" % (fence, pad, text, pad, fence)


def secs(value, unit="seconds"):
    if value is None:
        return "not observed"
    return "%.2f %s" % (value, unit)


def human_key(key):
    return str(key).replace("_", " ").strip().capitalize()


def plain(value):
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return ("%.3f" % value).rstrip("0").rstrip(".")
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


# --------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------

def metadata_table(report, template):
    meta = dict(report["metadata"] or {})
    rows = [("Tester", meta.pop("tester", None))]
    etl = meta.pop("etl_tool", None)
    if template in ETL_TEMPLATES or etl is not None:
        rows.append(("ETL Tool", etl if etl is not None else "n/a"))
    rows.append(("Toolkit Version", meta.pop("toolkit_version", None)))
    rows.append(("Result", report["result"]))
    for key in ("title", "run"):
        meta.pop(key, None)
    rows += [("Scenario", report["scenario"]), ("Started", report["started"]),
             ("Finished", report["finished"]), ("Duration", "%.1f s" % report["duration_s"]),
             ("Hosts", ", ".join(report["hosts"]) if report["hosts"] else None)]
    rows += [(human_key(k), plain(meta[k])) for k in sorted(meta)]
    lines = ["| Field | Value |", "|-------|-------|"]
    lines += ["| %s | %s |" % (cell(k), cell(v)) for k, v in rows]
    return lines


def lanes_block(lanes):
    """Where the events came from, when more than one host sent any."""
    if len(lanes or []) < 2:
        return []
    lines = ["**Hosts:** events of every host merged on one time axis (each host's own UTC wall clock; "
             "the timeline has one group of lanes per host)", "",
             "| Host | Role | Events | Sources | First event | Last event |",
             "|------|------|--------|---------|-------------|------------|"]
    for lane in lanes:
        lines.append("| %s | %s | %d | %s | %s | %s |" % (
            cell(lane["host"]), cell(lane.get("role") or "-"), lane["events"], cell(", ".join(lane["sources"])),
            cell(lane["first"]), cell(lane["last"])))
    return lines


def configuration_block(conf, template):
    if not conf:
        return []
    title = "Flapping Configuration" if template == "tc007" else "Configuration"
    lines = ["**%s:**" % title]
    for key, value in conf.items():
        text = plain(value)
        if key in ("interval", "duration", "down_for", "up_for", "hold", "gap") and \
                isinstance(value, (int, float)) and not isinstance(value, bool):
            text = "%s seconds" % plain(value)
            if value >= 60 and key == "duration":
                text += " (%s minutes)" % plain(round(value / 60.0, 1))
        lines.append("- %s: %s" % (human_key(key), text))
    return lines


def steps_block(steps):
    if not steps:
        return []
    return ["**Steps Performed:**"] + ["%d. %s" % (i + 1, s) for i, s in enumerate(steps)]


def observation_lines(obs):
    if obs is None:
        return []
    lines = ["- Time to detect error: %s" % secs(obs.get("time_to_detect_s"))]
    msg = obs.get("error_message")
    lines.append("- Error message: %s" % (code(msg) if msg else "none seen"))
    retries = obs.get("retries")
    behaviour = obs.get("retry_behavior") or obs.get("retry_behaviour")
    text = "not observed" if retries is None else "%d retries seen" % retries
    if behaviour:
        text += " (%s)" % behaviour
    lines.append("- Retry behavior: %s" % text)
    lines.append("- Time to recover: %s" % secs(obs.get("time_to_recover_s")))
    skip = ("time_to_detect_s", "error_message", "retries", "time_to_recover_s",
            "retry_behavior", "retry_behaviour")
    for k, v in obs.items():
        if k not in skip:
            lines += observation_item(k, v)
    return lines


def observation_item(key, value, depth=0):
    """One observation as a bullet: ``*_s``/``*_ms`` keys get their unit, a
    missing value reads "not observed", a mapping gets one sub-bullet per key
    (two levels; deeper values are JSON)."""
    pad = "  " * depth
    key = str(key)
    if isinstance(value, dict) and value and depth < 2:
        out = ["%s- %s:" % (pad, human_key(key))]
        for k in sorted(value):
            out += observation_item(k, value[k], depth + 1)
        return out
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    for unit in ("ms", "s"):
        if key.endswith("_" + unit) and (number or value is None):
            text = "not observed" if value is None else "%s %s" % (plain(float(value)), unit)
            return ["%s- %s: %s" % (pad, human_key(key[:-len(unit) - 1]), text)]
    return ["%s- %s: %s" % (pad, human_key(key), "not observed" if value is None else plain(value))]


def observations_block(obs):
    lines = observation_lines(obs)
    return ["**Observations:**"] + lines if lines else []


def _cycle_notes(c):
    if c.get("notes"):
        return c["notes"]
    down, up = to_unix(c.get("down_at")), to_unix(c.get("up_at"))
    det, rec = to_unix(c.get("detected_at")), to_unix(c.get("recovered_at"))
    parts = []
    if up is not None:
        parts.append("restored %s" % clock(up))
    ttd = c.get("time_to_detect_s")
    if ttd is None and det is not None and down is not None:
        ttd = det - down
    parts.append("detected after %.2f s" % ttd if ttd is not None else "not detected")
    if c.get("retries") is not None:
        parts.append("%s retries" % plain(c["retries"]))
    if c.get("error_message"):
        msg = str(c["error_message"])
        parts.append("error: " + code(msg if len(msg) <= 120 else msg[:117] + "..."))
    if rec is None and up is not None:
        parts.append("NOT recovered")
    return "; ".join(parts)


def cycles_block(cycles, heading=True):
    if not cycles:
        return []
    lines = ["**Observations:**", ""] if heading else []
    lines += ["Times are UTC; recovery time is when the pipeline was healthy again.", "",
              "| Cycle | Down Time | Recovery Time | Notes |",
              "|-------|-----------|---------------|-------|"]
    for c in cycles:
        up, rec = to_unix(c.get("up_at")), to_unix(c.get("recovered_at"))
        recovery = clock(rec)
        ttr = c.get("time_to_recover_s")
        if ttr is None and rec is not None and up is not None:
            ttr = rec - up
        if ttr is not None and rec is not None:
            recovery += " (+%.2f s)" % ttr
        lines.append("| %s | %s | %s | %s |" % (c.get("n"), clock(to_unix(c.get("down_at"))),
                                                recovery if rec is not None else "not recovered",
                                                cell(_cycle_notes(c))))
    return lines


def integrity_block(integ):
    if integ is None:
        return []
    dup = integ.get("duplicates")
    lines = ["**Data Integrity:**",
             "- Expected records: %s" % plain(integ.get("expected_rows") if integ.get("expected_rows") is not None else "-"),
             "- Actual records: %s (source %s, destination %s)" % (
                 plain(integ.get("destination_rows") if integ.get("destination_rows") is not None else "-"),
                 plain(integ.get("source_rows") if integ.get("source_rows") is not None else "-"),
                 plain(integ.get("destination_rows") if integ.get("destination_rows") is not None else "-")),
             "- Duplicates found: %s" % ("-" if dup is None else ("Y (%d)" % dup if dup else "N")),
             "- Missing rows: %s" % plain(integ.get("missing") if integ.get("missing") is not None else "-"),
             "- Extra rows: %s" % plain(integ.get("extra") if integ.get("extra") is not None else "-"),
             "- Checksums match: %s" % ("-" if integ.get("checksum_match") is None else plain(integ["checksum_match"]))]
    for key in ("missing_keys", "extra_keys", "duplicate_keys", "changed_keys"):
        keys = integ.get(key)
        if keys:
            shown = ", ".join(plain(k) for k in keys[:20])
            lines.append("- %s: %s%s" % (human_key(key), shown, " ..." if len(keys) > 20 else ""))
    return lines


def positions_block(pos):
    if not pos:
        return []
    before, after = pos.get("before") or {}, pos.get("after") or {}
    if not isinstance(before, dict) or not isinstance(after, dict):
        return ["**Replication Position:**", "- Before: %s" % plain(before), "- After: %s" % plain(after)]
    keys = list(before) + [k for k in after if k not in before]
    lines = ["**Replication Position:**", "", "| Field | Before | After |", "|-------|--------|-------|"]
    lines += ["| %s | %s | %s |" % (cell(k), cell(before.get(k)), cell(after.get(k))) for k in keys]
    return lines


def _detail(c):
    return " — %s" % c["detail"].replace("\n", " ") if c.get("detail") else ""


def checklist_block(checks, title="Verification Checklist"):
    if not checks:
        return []
    return ["**%s:**" % title] + ["- [%s] %s%s" % ("x" if c["passed"] else " ", c["name"], _detail(c))
                                  for c in checks]


def criteria_block(checks):
    if not checks:
        return []
    return ["**Success Criteria:**"] + ["- %s %s%s" % ("✅" if c["passed"] else "❌", c["name"], _detail(c))
                                        for c in checks]


def measured_block(extra):
    if not extra:
        return []
    lines = ["**Measured Figures:**"]
    for key, value in extra.items():
        if isinstance(value, list) and value and all(isinstance(r, dict) for r in value) and \
                all(list(r) == list(value[0]) for r in value):  # rows of one shape: a table
            cols = list(value[0])
            lines += ["", "%s:" % human_key(key), "", "| %s |" % " | ".join(cell(c) for c in cols),
                      "|%s|" % "|".join("---" for _c in cols)]
            lines += ["| %s |" % " | ".join(cell(r[c]) for c in cols) for r in value]
            lines.append("")
        elif isinstance(value, dict) and value and all(not isinstance(v, (dict, list)) for v in value.values()):
            lines.append("- %s: %s" % (human_key(key), ", ".join("%s %s" % (k, plain(v)) for k, v in value.items())))
        elif isinstance(value, list) and len(value) > 10:
            lines.append("- %s: %d entries (see report.json)" % (human_key(key), len(value)))
        else:
            lines.append("- %s: %s" % (human_key(key), plain(value)))
    return lines


def sections_block(sections, template):
    if not sections:
        return []
    label = "Scenario" if template == "t040" else "Section"
    lines = ["**%s Results:**" % ("Failure Modes" if template == "tc001" else label), "",
             "| %s | Result | Checks passed |" % label, "|----------|--------|---------------|"]
    for s in sections:
        ok = sum(1 for c in s["checks"] if c["passed"])
        lines.append("| %s | %s | %d/%d |" % (cell(s["title"]), s["result"], ok, len(s["checks"])))
    prefix = SECTION_PREFIX.get(template, "")
    for s in sections:
        lines += ["", "#### %s%s — %s" % (prefix, s["title"], s["result"])]
        for block in (steps_block(s.get("steps")), observations_block(s.get("observations")),
                      cycles_block(s.get("cycles"), heading=False), integrity_block(s.get("integrity")),
                      positions_block(s.get("positions")),
                      criteria_block(s["checks"]) if template == "ws006" else checklist_block(s["checks"])):
            if block:
                lines += [""] + block
        if s.get("notes"):
            lines += ["", "**Notes:** " + s["notes"]]
    return lines


def logs_block(files, event_count):
    return ["**Screenshots/Logs:**",
            "- Timeline: [%s](%s)" % (files["svg"], files["svg"]),
            "- Events: [%s](%s) (%d events, all hosts, sorted by time)" % (files["events"], files["events"], event_count),
            "- Machine-readable report: [%s](%s)" % (files["json"], files["json"]),
            "- JUnit for CI: [%s](%s)" % (files["junit"], files["junit"]),
            "", "![timeline](%s)" % files["svg"]]


def aborted_block(aborted):
    if not aborted:
        return []
    who = " by guard `%s`" % aborted["guard"] if aborted.get("guard") else ""
    where = " on %s" % aborted["host"] if aborted.get("host") else ""
    return ["> **ABORTED** at %s%s%s: %s. Every fault of the run was reverted and its data generators "
            "were stopped." % (aborted.get("at") or "an unknown time", who, where, cell(aborted["reason"]))]


def notes_block(notes):
    if not notes:
        return []
    return ["**Notes:**"] + ["- %s" % n for n in notes]


def render(report, files, extra_notes=()):
    """The complete report.md text. ``files``: names of the sibling artefacts."""
    template = report["template"]
    meta = report["metadata"] or {}
    title = meta.get("title") or TITLES.get(template) or report["scenario"]
    run = meta.get("run", 1)
    lines = ["# %s" % title, "",
             "Scenario `%s`, written by faultline.chaos %s." % (report["scenario"], meta.get("toolkit_version") or ""),
             "", "---", "", "## Test Execution Log", "",
             "### Run %s - %s" % (run, (report["started"] or "")[:10]), ""]
    lines += metadata_table(report, template)
    if len(report.get("lanes") or []) > 1:
        lines += [""] + lanes_block(report["lanes"])
    if report.get("aborted"):
        lines += [""] + aborted_block(report["aborted"])
    blocks = {
        "configuration": lambda: configuration_block(report["configuration"], template),
        "steps": lambda: steps_block(report["steps"]),
        "observations": lambda: observations_block(report["observations"]),
        "cycles": lambda: cycles_block(report["cycles"], heading=report["observations"] is None),
        "integrity": lambda: integrity_block(report["integrity"]),
        "positions": lambda: positions_block(report["positions"]),
        "checklist": lambda: checklist_block(report["checks"]),
        "criteria": lambda: criteria_block(report["checks"]),
        "measured": lambda: measured_block(report["extra"]),
        "sections": lambda: sections_block(report["sections"], template),
        "logs": lambda: logs_block(files, report["event_count"]),
        "notes": lambda: notes_block(list(report["notes"] or []) + list(extra_notes)),
    }
    for name in LAYOUT[template]:
        block = blocks[name]()
        if block:
            lines += [""] + block
    return "\n".join(lines) + "\n"

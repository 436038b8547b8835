# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build every artefact of a report in memory, then write the run directory.

``build()`` is pure (no files written; it only reads ``event_files``), so check
mode returns exactly what a real run would write.  ``write()`` replaces each
file atomically and only when its content changed, so re-running the same
report task is idempotent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

from ansible_collections.faultline.chaos.plugins.module_utils._report import junit, markdown, svg
from ansible_collections.faultline.chaos.plugins.module_utils._report.events import first_ts, merge, to_jsonl
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import (
    all_checks, build_report, dir_stamp, find_abort, summary_line, to_unix,
)

FILES = {"json": "report.json", "md": "report.md", "junit": "junit.xml", "svg": "timeline.svg",
         "events": "events.jsonl"}


def build(params, now, tester):
    """Return (report, {kind: text}, warnings). Raises ReportError on bad input."""
    events, warnings = merge([params.get("events") or []], params.get("event_files") or [])
    report, context = build_report(params, now, tester, event_count=len(events), first_event_ts=first_ts(events),
                                   aborted=find_abort(events), events=events)
    notes = list(warnings)
    failed = [c for _s, c in all_checks(report) if not c["passed"]]
    if context["result_requested"] == "PASS" and failed:
        notes.append("Result set to PASS by the playbook although %d checks failed." % len(failed))
        warnings.append(notes[-1])
    texts = {
        "events": to_jsonl(events),
        "json": json.dumps(report, indent=2, default=str) + "\n",
        "md": markdown.render(report, FILES, extra_notes=notes),
        "junit": junit.render(report),
        "svg": svg.render(report, context, events),
    }
    return report, texts, warnings


def run_dir(report_dir, report):
    """<report_dir>/<scenario>/<UTC start YYYYmmddTHHMMSSZ> as an absolute path."""
    return os.path.join(os.path.abspath(report_dir), report["scenario"], dir_stamp(to_unix(report["started"])))


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except (IOError, OSError):
        return None


def pending(path, texts, files=None):
    """Kinds whose file is missing or differs from what would be written
    (``files``: kind -> file name, default the report's FILES)."""
    files = files or FILES
    return [k for k, text in texts.items() if _read(os.path.join(path, files[k])) != text.encode("utf-8")]


def write(path, texts, files=None):
    """Write the changed files atomically; returns the kinds written."""
    files = files or FILES
    todo = pending(path, texts, files)
    if todo:
        os.makedirs(path, 0o755, exist_ok=True)
    for kind in todo:
        dest = os.path.join(path, files[kind])
        tmp = "%s.tmp.%d" % (dest, os.getpid())
        with open(tmp, "wb") as f:
            f.write(texts[kind].encode("utf-8"))
        os.rename(tmp, dest)
    return todo


def summary(report, path):
    return summary_line(report, path)

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""junit.xml: one testcase per verification checklist item, one testsuite per section."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import xml.etree.ElementTree as ET

# characters XML 1.0 does not allow (error messages may carry anything)
_BAD_XML = re.compile(u"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value):
    return _BAD_XML.sub(u"\ufffd", "" if value is None else str(value))


def _suite(parent, name, checks, report, result, explained_elsewhere=False):
    failures = [c for c in checks if not c["passed"]]
    cases = list(checks)
    # a FAIL that no failing check explains (set by the playbook) must still show in CI
    synthetic = result == "FAIL" and not failures and not explained_elsewhere
    suite = ET.SubElement(parent, "testsuite", {
        "name": xml_text(name),
        "tests": str(len(cases) + (1 if synthetic else 0)),
        "failures": str(len(failures) + (1 if synthetic else 0)),
        "errors": "0", "skipped": "0",
        "time": "%.3f" % report["duration_s"],
        "timestamp": xml_text((report["started"] or "").rstrip("Z")),
    })
    props = ET.SubElement(suite, "properties")
    for key, value in (("scenario", report["scenario"]), ("template", report["template"]),
                       ("result", result), ("started", report["started"]), ("finished", report["finished"]),
                       ("hosts", ",".join(report["hosts"]))):
        ET.SubElement(props, "property", {"name": key, "value": xml_text(value)})
    classname = "faultline.chaos.%s" % report["scenario"]
    for c in cases:
        case = ET.SubElement(suite, "testcase", {"classname": xml_text(classname), "name": xml_text(c["name"]),
                                                 "time": "0"})
        if not c["passed"]:
            fail = ET.SubElement(case, "failure", {"message": xml_text(c["detail"] or "check failed"),
                                                   "type": "CheckFailed"})
            fail.text = xml_text(c["detail"] or "check failed")
        elif c["detail"]:
            ET.SubElement(case, "system-out").text = xml_text(c["detail"])
    if synthetic:
        case = ET.SubElement(suite, "testcase", {"classname": xml_text(classname), "name": "result", "time": "0"})
        text = "result FAIL set by the playbook" if checks else "result FAIL with no checks"
        ET.SubElement(case, "failure", {"message": text, "type": "ResultFailed"}).text = text
    return len(cases) + (1 if synthetic else 0), len(failures) + (1 if synthetic else 0)


def _aborted_suite(parent, report):
    """An aborted run is an error in CI: one testcase with the guard's reason."""
    ab = report["aborted"]
    suite = ET.SubElement(parent, "testsuite", {
        "name": xml_text("%s / steady-state guard" % report["scenario"]), "tests": "1", "failures": "0",
        "errors": "1", "skipped": "0", "time": "%.3f" % report["duration_s"],
        "timestamp": xml_text((report["started"] or "").rstrip("Z"))})
    case = ET.SubElement(suite, "testcase", {"classname": xml_text("faultline.chaos.%s" % report["scenario"]),
                                             "name": "steady state held", "time": "0"})
    text = "ABORTED at %s%s: %s" % (ab.get("at"), " by guard %s" % ab["guard"] if ab.get("guard") else "",
                                    ab["reason"])
    ET.SubElement(case, "error", {"message": xml_text(text), "type": "Aborted"}).text = xml_text(text)


def render(report):
    root = ET.Element("testsuites", {"name": xml_text("faultline.chaos %s" % report["scenario"])})
    tests = failures = errors = 0
    if report.get("aborted"):
        _aborted_suite(root, report)
        tests, errors = 1, 1
    sections = report["sections"] or []
    if report["checks"] or not sections:
        section_failed = any(s["result"] == "FAIL" for s in sections)
        t, f = _suite(root, report["scenario"], report["checks"], report, report["result"], section_failed)
        tests, failures = tests + t, failures + f
    for s in sections:
        t, f = _suite(root, "%s / %s" % (report["scenario"], s["title"]), s["checks"], report, s["result"])
        tests, failures = tests + t, failures + f
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", "%.3f" % report["duration_s"])
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: suite_report
short_description: Write one report for a suite run of several test cases
version_added: 0.1.0
description:
  - Writes the suite run directory C(<report_dir>/<name>/<UTC start YYYYmmddTHHMMSSZ>/) from the
    run directories the test cases wrote with M(faultline.chaos.report).
  - C(suite.md) is a table with one row per case (result, wall time, key figures, link to the
    case's C(report.md) and C(timeline.svg)) and the failed checks of every case that did not pass;
    C(junit.xml) has one testsuite per case and one testcase per check of that case, a case that
    wrote no report (or whose play failed) gets an error testcase; C(suite.svg) is a one-page
    picture, the cases on the suite's wall clock and one small timeline (fault windows, probes,
    datagen/verify events) per case on its own time axis; C(suite.json) holds the same data.
  - "The cases' reports are expected under O(cases_dir) (default C(<run directory>/cases)):
    pass it as the report directory of every case (C(faultline_report_dir)). For each case the
    newest C(<cases_dir>/<scenario>/<stamp>/) holding a C(report.json) is taken, or O(cases[].report)."
  - The suite result is V(PASS) if and only if every case's report says V(PASS) and its play did not
    fail (O(cases[].error)); a case without a report is V(ERROR).
  - "Runs on the controller: use C(delegate_to: localhost) and C(run_once: true). In check mode
    (or with no cases yet) it returns RV(path) and RV(cases_dir) without writing: the first task of
    a suite can ask where its cases write."
  - The module does not fail when the suite FAILs; the playbook decides what to do with RV(result).
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
attributes:
  check_mode:
    support: full
    details: Reads the cases' reports and returns everything (path, result, summary) without writing.
  diff_mode:
    support: full
    details: Shows the previous and the new C(suite.md).
options:
  name:
    description: Name of the suite, used as directory name (letters, digits, C(_), C(.), C(-)).
    type: str
    default: suite
  report_dir:
    description: Base directory on the controller (relative to the current directory of C(ansible-playbook)).
    type: path
    default: reports
  cases_dir:
    description: Where the cases wrote their run directories. Default C(<run directory>/cases).
    type: path
  started:
    description: Start of the suite (ISO 8601 or unix float, 0 to 4102444800); names the run directory.
    type: raw
    required: true
  finished:
    description: End of the suite (ISO 8601 or unix float, 0 to 4102444800). Default now.
    type: raw
  cases:
    description: The test cases in the order they ran.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The test case as people call it, e.g. C(TC-004).
        type: str
        required: true
      scenario:
        description: The scenario name its report was written under, e.g. C(tc004_connection_refused).
        type: str
        required: true
      report:
        description: Its run directory, when it is not the newest under O(cases_dir).
        type: path
      error:
        description: Why its play failed (e.g. C(ansible_failed_result.msg) in a C(rescue)); empty when it did not.
        type: str
      started:
        description: When the suite started the case (ISO 8601 or unix float); default the report's.
        type: raw
      finished:
        description: When the case ended, its clean-up included; default the report's.
        type: raw
seealso:
  - module: faultline.chaos.report
'''

EXAMPLES = r'''
- name: Where this suite run writes (nothing is written)
  faultline.chaos.suite_report:
    started: "{{ suite_started }}"
    report_dir: reports
  check_mode: true
  delegate_to: localhost
  run_once: true
  register: suite_plan

# ... every case runs with faultline_report_dir: "{{ suite_plan.cases_dir }}" ...

- name: Write the suite report
  faultline.chaos.suite_report:
    started: "{{ suite_started }}"
    report_dir: reports
    cases:
      - name: TC-004
        scenario: tc004_connection_refused
        error: "{{ tc004_error | default('') }}"
      - name: WS-006
        scenario: ws006_websocket_flapping
  delegate_to: localhost
  run_once: true
  register: suite

- name: Fail the play when a case failed (after the report is written)
  ansible.builtin.assert:
    that: suite.result == 'PASS'
    fail_msg: "{{ suite.summary }}"
  run_once: true
'''

RETURN = r'''
path:
  description: The suite run directory (absolute).
  returned: always
  type: str
  sample: /work/main/reports/suite/20261202T020000Z
cases_dir:
  description: Where the cases' run directories are read from (absolute).
  returned: always
  type: str
  sample: /work/main/reports/suite/20261202T020000Z/cases
result:
  description: V(PASS) when every case passed, else V(FAIL).
  returned: always
  type: str
  sample: FAIL
cases:
  description: One entry per case, C(name), C(scenario), C(result) (V(PASS), V(FAIL), V(ABORTED), V(ERROR)),
    C(wall_s), C(figures), C(failed_checks), C(error), C(report) (relative to RV(path)).
  returned: always
  type: list
  elements: dict
files:
  description: Absolute paths of the artefacts, keys C(json), C(md), C(junit), C(svg).
  returned: always
  type: dict
summary:
  description: One line for the play output.
  returned: always
  type: str
  sample: "suite: FAIL (5 cases: 4 PASS, 1 FAIL; 412 s wall); not passed: T040 -> /work/main/reports/suite/..."
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import TIMESTAMP, checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._report import suite as suite_mod
from ansible_collections.faultline.chaos.plugins.module_utils._report import writer
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import ReportError

BOUNDS = dict(started=TIMESTAMP, finished=TIMESTAMP)


def main():
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=dict(
            name=dict(type="str", default="suite"),
            report_dir=dict(type="path", default="reports"),
            cases_dir=dict(type="path"),
            started=dict(type="raw", required=True),
            finished=dict(type="raw"),
            cases=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                scenario=dict(type="str", required=True),
                report=dict(type="path"),
                error=dict(type="str"),
                started=dict(type="raw"),
                finished=dict(type="raw"),
            )),
        ),
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    try:
        suite, texts, path = suite_mod.build(module.params, time.time())
    except ReportError as e:
        module.fail_json(msg=str(e))
    files = dict((k, os.path.join(path, name)) for k, name in suite_mod.FILES.items())
    cases_dir = os.path.abspath(module.params["cases_dir"] or os.path.join(path, suite_mod.CASES_DIR))
    write = bool(module.params["cases"]) and not module.check_mode
    todo = writer.pending(path, texts, suite_mod.FILES) if module.params["cases"] else []
    result = dict(changed=bool(todo), path=path, cases_dir=cases_dir, result=suite["result"],
                  cases=suite["cases"], files=files, summary=suite_mod.summary(suite, path))
    if module._diff:
        before = ""
        if os.path.exists(files["md"]):
            with open(files["md"], "r") as f:
                before = f.read()
        result["diff"] = dict(before=before, after=texts["md"], before_header=files["md"], after_header=files["md"])
    if todo and write:
        try:
            writer.write(path, texts, suite_mod.FILES)
        except (IOError, OSError) as e:
            module.fail_json(msg="cannot write the suite report to %s: %s" % (path, e), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

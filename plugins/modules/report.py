#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: report
short_description: Write a test case's execution log, JUnit, timeline and events
version_added: 0.1.0
description:
  - Writes the run directory C(<report_dir>/<scenario>/<UTC start YYYYmmddTHHMMSSZ>/) that every
    scenario playbook ends with. It holds C(report.json) (the contract of the collection's
    design, keys that do not apply present with null), C(report.md) (the seed test case's
    "Test Execution Log" filled in, per O(template)), C(junit.xml) (one testcase per
    verification checklist item, one testsuite per section), C(timeline.svg) (fault windows,
    probe successes and failures, datagen/verify events and row series on one time axis)
    and C(events.jsonl) (every event of every host, sorted by time).
  - "Runs on the controller: use C(delegate_to: localhost) and C(run_once: true)."
  - Timestamps may be ISO 8601 strings (naive ones are taken as UTC) or unix floats.
    Events given in O(events) and read from O(event_files) are merged, de-duplicated and
    sorted; 100,000 events are fine.
  - The directory name comes from O(started), so re-running the task for the same run
    rewrites the same directory and reports RV(ignore:changed=false) when nothing differs.
  - The module does not fail when the test FAILs; the playbook decides what to do with RV(result).
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
attributes:
  check_mode:
    support: full
    details: Computes the whole report and returns it (path, result, summary) without writing.
  diff_mode:
    support: full
    details: Shows the previous and the new C(report.md) of the run directory.
options:
  scenario:
    description: Name of the scenario, used as directory name (letters, digits, C(_), C(.), C(-)).
    type: str
    required: true
  template:
    description:
      - Which seed's "Test Execution Log" C(report.md) follows.
      - V(tc004) observations (time to detect, error message, retry behaviour);
        V(tc007) flapping configuration, cycle table and data integrity;
        V(tc001) steps performed and one section per failure mode;
        V(ws006) success criteria ticked with measured figures;
        V(t040) scenario sections; V(generic) every block that was given.
    type: str
    choices: [tc004, tc007, tc001, ws006, t040, generic]
    default: generic
  report_dir:
    description:
      - Base directory on the controller. Relative paths are resolved against the
        current directory of the C(ansible-playbook) process (the user's project);
        the collection's test-case roles pass C(faultline_report_dir), default V(reports).
    type: path
    default: reports
  result:
    description:
      - V(auto) is V(PASS) if and only if every check passed (top level and in every section)
        and no section has result V(FAIL). V(PASS) or V(FAIL) overrides it (noted in the report).
    type: str
    choices: [auto, PASS, FAIL]
    default: auto
  started:
    description:
      - Start of the run (ISO 8601 or unix float). Default the first event's time, else O(finished).
      - A unix time must be between 0 and 4102444800 (2100-01-01).
    type: raw
  finished:
    description: End of the run (ISO 8601 or unix float, 0 to 4102444800). Default now.
    type: raw
  hosts:
    description: Hosts the scenario ran against.
    type: list
    elements: str
    default: []
  host_roles:
    description:
      - "What each host is in the pipeline, e.g. C({node1: source, node2: replica}); a list of texts for a host
        with several roles (C({node1: [source, datagen]}) reads C(source, datagen)). When events come
        from two or more hosts, report.md lists the hosts (role, events, sources, first and last
        event), report.json has them under C(lanes), and the timeline groups the lanes per host
        under a heading naming the host and this role."
    type: dict
  metadata:
    description:
      - The seed's metadata table. C(tester) defaults to the user running the module,
        C(toolkit_version) to the collection version. C(etl_tool), C(title), C(run)
        and any other keys are shown too.
    type: dict
    default: {}
  checks:
    description:
      - The verification checklist. Each item needs C(name) (the checklist text) and
        C(passed) (boolean); C(detail) is shown next to it and as the JUnit failure message.
    type: list
    elements: dict
    default: []
  observations:
    description:
      - C(time_to_detect_s), C(error_message), C(retries), C(time_to_recover_s) (each may be null);
        other keys (e.g. C(retry_behavior)) are shown as they are.
    type: dict
  cycles:
    description:
      - One entry per fault window or flap cycle, C(n), C(down_at), C(up_at), C(detected_at),
        C(recovered_at) (times), C(notes); the per-window metrics of M(faultline.chaos.probe)
        (C(time_to_detect_s), C(error_message), C(retries) ...) may be passed along.
    type: list
    elements: dict
  integrity:
    description:
      - C(expected_rows), C(source_rows), C(destination_rows), C(missing), C(extra),
        C(duplicates), C(checksum_match), as returned by M(faultline.chaos.verify).
    type: dict
  positions:
    description: Replication positions, C(before) and C(after) (dicts).
    type: dict
  sections:
    description:
      - One section per failure mode or scenario, each with C(title) and optionally
        C(result) (V(PASS)/V(FAIL), default from its checks), C(checks), C(observations),
        C(cycles), C(integrity), C(positions), C(steps), C(notes).
    type: list
    elements: dict
    default: []
  configuration:
    description: "Fault configuration shown in the report, e.g. C({interval: 30, duration: 300, type: reject})."
    type: dict
  steps:
    description: Steps performed.
    type: list
    elements: str
    default: []
  notes:
    description: Notes.
    type: list
    elements: str
    default: []
  series:
    description: "Numeric series for the timeline, C({name: [[ts, value], ...]}), e.g. rows over time."
    type: dict
  events:
    description: Events in the collection's event shape (C(ts), C(host), C(source), C(id), C(event), C(detail)).
    type: list
    elements: dict
    default: []
  event_files:
    description:
      - JSONL files of events on the controller (e.g. fetched journals), merged with O(events).
        A missing file is a warning, not an error.
    type: list
    elements: path
    default: []
  extra:
    description: Free-form data stored under C(extra) in C(report.json) (e.g. measured figures).
    type: dict
  aborted:
    description:
      - The run was aborted by a steady-state guard; C(reason) (required), C(at) (ISO 8601 or unix
        time), C(host), C(guard), C(run_id). The result is then V(ABORTED) whatever the checks say;
        report.md says why and when, junit.xml has an error, the timeline a marker.
      - Default the first C(abort) event (C(source=guard), journaled by a
        M(faultline.chaos.probe) with O(faultline.chaos.probe#module:abort_when)) in O(events) or O(event_files).
    type: dict
seealso:
  - module: faultline.chaos.probe
  - module: faultline.chaos.verify
notes:
  - The callback plugin C(faultline.chaos.timeline) prints the same events live while tasks run.
'''

EXAMPLES = r'''
- name: Write the report
  faultline.chaos.report:
    scenario: tc004_connection_refused
    template: tc004
    report_dir: "{{ playbook_dir }}/../{{ faultline_report_dir | default('reports') }}"
    started: "{{ run_started }}"
    hosts: "{{ ansible_play_hosts }}"
    metadata:
      etl_tool: MariaDB replication
    checks:
      - name: Error detected immediately (< 30 seconds)
        passed: "{{ probe_result.metrics.time_to_detect_s is not none and probe_result.metrics.time_to_detect_s < 30 }}"
        detail: "{{ probe_result.metrics.time_to_detect_s }} s"
      - name: No data gaps or duplicates
        passed: "{{ verify_result.integrity.missing == 0 and verify_result.integrity.duplicates == 0 }}"
    observations: "{{ probe_result.metrics }}"
    cycles: "{{ probe_result.windows }}"
    integrity: "{{ verify_result.integrity }}"
    positions: "{{ verify_result.positions }}"
    host_roles: {db1: source, db2: replica}
    series:
      rows written (source db1): "{{ datagen_result.series }}"
      rows present (replica db2): "{{ replica_rows_probe['values'] }}"
    events: "{{ fault_result.events | default([]) + probe_result.events }}"
    event_files:
      - "{{ fetched_journal }}"
  delegate_to: localhost
  run_once: true
  register: report

- name: Fail the play when the test failed (after the report is written)
  ansible.builtin.assert:
    that: report.result == 'PASS'
    fail_msg: "{{ report.summary }}"
  run_once: true
'''

RETURN = r'''
path:
  description: The run directory (absolute).
  returned: always
  type: str
  sample: /work/main/reports/tc004_connection_refused/20260210T120000Z
result:
  description: V(PASS), V(FAIL), or V(ABORTED) when a steady-state guard aborted the run.
  returned: always
  type: str
  sample: PASS
files:
  description: Absolute paths of the artefacts, keys C(json), C(md), C(junit), C(svg), C(events).
  returned: always
  type: dict
  sample:
    json: /work/main/reports/tc004_connection_refused/20260210T120000Z/report.json
    md: /work/main/reports/tc004_connection_refused/20260210T120000Z/report.md
summary:
  description: One line for the play output.
  returned: always
  type: str
  sample: "tc004_connection_refused: PASS (5/5 checks passed, detect 2.31 s, recover 1.20 s) -> /work/main/reports/..."
failed_checks:
  description: Names of the checks that did not pass (section checks prefixed with the section title).
  returned: always
  type: list
  elements: str
  sample: []
event_count:
  description: Number of events written to C(events.jsonl).
  returned: always
  type: int
  sample: 42
'''

import getpass
import os
import time

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import TIMESTAMP, checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._report import writer
from ansible_collections.faultline.chaos.plugins.module_utils._report.model import (
    TEMPLATES, ReportError, all_checks,
)


def _tester():
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry for the uid
        return str(os.getuid())


# started/finished as unix numbers (ISO 8601 strings are parsed by the model)
BOUNDS = dict(started=TIMESTAMP, finished=TIMESTAMP)


def main():
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=dict(
            scenario=dict(type="str", required=True),
            template=dict(type="str", default="generic", choices=list(TEMPLATES)),
            report_dir=dict(type="path", default="reports"),
            result=dict(type="str", default="auto", choices=["auto", "PASS", "FAIL"]),
            started=dict(type="raw"),
            finished=dict(type="raw"),
            hosts=dict(type="list", elements="str", default=[]),
            host_roles=dict(type="dict"),
            metadata=dict(type="dict", default={}),
            checks=dict(type="list", elements="dict", default=[]),
            observations=dict(type="dict"),
            cycles=dict(type="list", elements="dict"),
            integrity=dict(type="dict"),
            positions=dict(type="dict"),
            sections=dict(type="list", elements="dict", default=[]),
            configuration=dict(type="dict"),
            steps=dict(type="list", elements="str", default=[]),
            notes=dict(type="list", elements="str", default=[]),
            series=dict(type="dict"),
            events=dict(type="list", elements="dict", default=[]),
            event_files=dict(type="list", elements="path", default=[]),
            extra=dict(type="dict"),
            aborted=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    try:
        report, texts, warnings = writer.build(module.params, time.time(), _tester())
    except ReportError as e:
        module.fail_json(msg=str(e))
    path = writer.run_dir(module.params["report_dir"], report)
    files = dict((k, os.path.join(path, name)) for k, name in writer.FILES.items())
    todo = writer.pending(path, texts)
    for w in warnings:
        module.warn(w)
    result = dict(changed=bool(todo), path=path, result=report["result"], files=files,
                  summary=writer.summary(report, path), event_count=report["event_count"],
                  failed_checks=["%s: %s" % (s, c["name"]) if s else c["name"]
                                 for s, c in all_checks(report) if not c["passed"]])
    if module._diff:
        before = ""
        if os.path.exists(files["md"]):
            with open(files["md"], "r") as f:
                before = f.read()
        result["diff"] = dict(before=before, after=texts["md"],
                              before_header=files["md"], after_header=files["md"])
    if todo and not module.check_mode:
        try:
            writer.write(path, texts)
        except (IOError, OSError) as e:
            module.fail_json(msg="cannot write the report to %s: %s" % (path, e), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

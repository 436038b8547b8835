# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: fault_windows
short_description: Fault windows from a host's fault journal, for a probe on another host
version_added: 0.1.0
author:
  - faultline.chaos contributors (@faultline)
description:
  - Turns the journal events of faults (as M(faultline.chaos.fault_info) returns them with
    O(faultline.chaos.fault_info#module:journal_since)) into the fault windows that
    M(faultline.chaos.probe) takes as O(faultline.chaos.probe#module:windows) - the same
    windows the probe derives itself from O(faultline.chaos.probe#module:fault_ids) when
    the fault and the probe share a host.
  - A C(down) event opens a window, C(up) or C(reverted) closes it; each C(down) of a flap
    is one window. Windows are numbered from 1 in order of C(down_at).
  - Used when the fault runs on one host (the source) and the probe on another (where the
    pipeline connects from). Times are the fault host's wall clock.
options:
  _input:
    description: Journal events (dicts with C(ts), C(source), C(id), C(event)).
    type: list
    elements: dict
    required: true
  fault_ids:
    description: Only the windows of these faults (default every fault of the journal).
    type: list
    elements: str
'''

EXAMPLES = r'''
- name: Stop the probe on the replica host with the windows of the fault on the source host
  faultline.chaos.probe:
    state: stopped
    name: tc004
    windows: "{{ source_journal.journal | faultline.chaos.fault_windows([fault.fault_id]) }}"
  delegate_to: "{{ groups['replica'][0] }}"
'''

RETURN = r'''
_value:
  description: One dict per window, in order.
  type: list
  elements: dict
  contains:
    n:
      description: The window's number (1 ...).
      type: int
    down_at:
      description: When the fault went down (unix time).
      type: float
    up_at:
      description: When it came up again (unix time), null while it is still down.
      type: float
'''

from ansible.errors import AnsibleFilterError
from ansible.module_utils.six import string_types

from ansible_collections.faultline.chaos.plugins.module_utils._probes.metrics import windows_from_events


def fault_windows(events, fault_ids=None):
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise AnsibleFilterError("fault_windows: the input must be a list of journal events (dicts)")
    if isinstance(fault_ids, string_types):
        fault_ids = [fault_ids]
    return [dict(n=w["n"], down_at=w["down_at"], up_at=w["up_at"])
            for w in windows_from_events(events, fault_ids=fault_ids or None)]


class FilterModule(object):
    def filters(self):
        return {"fault_windows": fault_windows}

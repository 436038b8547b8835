# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  state_dir:
    description:
      - Directory on the target where the collection keeps one JSON file per
        active fault (what to undo, and when) and a log of every event
        (C(journal.jsonl)). The modules and M(faultline.chaos.restore) find the
        faults there. On tmpfs by default, so a reboot heals.
    type: path
    default: /run/faultline
  lease:
    description:
      - Seconds after which the supervisor reverts the fault whatever happens
        (dead-man switch). Re-running the same task renews the lease.
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
    default: 3600
  fault_id:
    description:
      - Name of the fault (its file in O(state_dir)). Defaults to a stable id derived from
        the fault's parameters, so re-running the same task finds the same fault.
    type: str
  run_id:
    description:
      - Tags the fault with the run (scenario execution) it belongs to, so that
        M(faultline.chaos.restore) with O(faultline.chaos.restore#module:run_id) and a probe's
        steady-state guard (O(faultline.chaos.probe#module:abort_when)) revert every fault of
        the run and nothing else. Not part of the fault's identity; a renewal keeps the first tag.
    type: str
notes:
  - Every fault is handed to a detached supervisor on the target which reverts
    it at its deadline (O(duration) or O(lease)) even if the controller, its SSH
    connection or the play dies. SIGTERM to the supervisor reverts at once.
'''

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
  start_at:
    description:
      - A wall-clock instant at which the supervisor on the target applies the
        fault, as ISO 8601 (V(2026-12-01T21:30:00.250Z); without an offset the
        time is UTC) or unix seconds (V(1796160600.25)). The module returns at
        once (dispatch first, fire later), so one task on several hosts starts
        the fault together on all of them.
      - The O(duration) and O(lease) count from the actual apply. Each host
        journals its apply (event C(applied) with the intended instant, actual wall and
        monotonic time, lag, and the clock error bound from C(chronyc tracking)
        when chrony runs); RV(apply_journal) points at it.
      - Refused when more than 2 seconds in the past or more than a day ahead.
        Only for putting a fault in place, not for reverting one.
    type: str
notes:
  - Every fault is handed to a detached supervisor on the target which reverts
    it at its deadline (O(duration) or O(lease)) even if the controller, its SSH
    connection or the play dies. SIGTERM to the supervisor reverts at once.
    One supervisor runs per fault (it holds a lock for its whole life); where
    systemd runs it is a transient unit with C(Restart=on-failure).
  - A revert that fails keeps the fault in the ledger as C(revert_failed) with
    its errors; the supervisor retries it with backoff (1 s doubling to 60 s),
    M(faultline.chaos.restore) retries it at once, M(faultline.chaos.fault_info) shows it.
  - Every module of the collection first reaps the host's ledger - an overdue
    fault whose supervisor is gone (SIGKILL, OOM) is reverted, the supervisor
    of a fault not yet due is started again.
  - Process faults never target the collection's own supervisors and workers.
'''

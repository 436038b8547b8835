#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: restore
short_description: Revert every fault on a host (toolkit restore --all)
version_added: 0.1.0
description:
  - Reverts every fault recorded in O(state_dir) on the host, whatever its kind
    (network rules removed, stopped services started, paused processes
    resumed, damaged binlogs put back byte-identical), through each fault's
    supervisor when it is alive and directly otherwise.
  - A fault whose revert failed earlier (C(revert_failed)) is tried again at
    once; while it still fails the fault stays in the ledger, its supervisor
    keeps retrying, and this module fails with the errors.
  - Then sweeps orphans, that is chains in the collection's own nftables
    table C(inet faultline) or iptables chains C(FLT_*) that no recorded fault
    owns (left by a crashed run or a wiped state directory), in the host's
    network namespace and in every namespace named in O(netns) or in a record.
    Chains tagged as belonging to another O(state_dir) on the same host
    ( the comment of an nftables chain, the comment of the jump
    rule to an iptables chain) are left alone. The sweep holds the ledger's
    lock, so a fault being applied in this ledger meanwhile is never taken
    for an orphan.
  - Optionally stops the collection's background workers (probes, data generators).
  - Idempotent; says what it reverted.
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.ledger
attributes:
  check_mode:
    support: full
    details: Lists what would be reverted and removed.
  diff_mode:
    support: full
    details: Before lists the active faults and orphans, after is empty.
options:
  state_dir:
    description: Directory on the target where the faults are recorded.
    type: path
    default: /run/faultline
  kinds:
    description:
      - Only revert faults of these kinds (default every kind).
      - V(network) is the firewall faults of M(faultline.chaos.network)
        (reject, timeout, loss), V(service) its O(faultline.chaos.network#module:type=service)
        stops, V(process) and V(binlog) the faults of those modules.
    type: list
    elements: str
    choices: [network, service, process, binlog]
  sweep:
    description: Remove orphaned chains of the collection (not owned by any record).
    type: bool
    default: true
  netns:
    description: Extra network namespaces (name, path or pid) to sweep.
    type: list
    elements: str
    default: []
  stop_workers:
    description: Also stop the collection's background probes and data generators.
    type: bool
    default: true
  run_id:
    description:
      - Only the faults of this run (applied with this O(faultline.chaos.network#module:run_id))
        and, with O(stop_workers), only its data generators (C(run_id)); probes keep running so
        that they observe the recovery. No orphan sweep is made (orphans belong to no run).
      - What a play runs on every host when a steady-state guard aborted the run.
    type: str
notes:
  - Never flushes a table or chain it did not create.
seealso:
  - module: faultline.chaos.network
  - module: faultline.chaos.fault_info
'''

EXAMPLES = r'''
- name: Restore everything (cleanup of every scenario)
  faultline.chaos.restore:

- name: Abort one run on every host (what a tripped steady-state guard asks for)
  faultline.chaos.restore:
    run_id: tc007-20260101T120000

- name: Only network faults, no orphan sweep
  faultline.chaos.restore:
    kinds: [network]
    sweep: false
'''

RETURN = r'''
reverted:
  description: Faults reverted, with how (supervisor or module), any errors, and the record's kind, type, summary and params.
  returned: always
  type: list
  elements: dict
  sample: [{id: network_3f2a9c1d, kind: network, summary: "network reject ...", reverted: true, by: supervisor}]
orphans:
  description: Orphaned chains removed by the sweep.
  returned: always
  type: list
  elements: str
workers:
  description: Background workers stopped.
  returned: always
  type: list
  elements: str
errors:
  description: Steps that failed (the module fails when this is not empty).
  returned: always
  type: list
  elements: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import (
    KINDS, FaultEngine, kind_of, reap_orphans,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    DEFAULT_STATE_DIR, EngineError, execute_all,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._faults.network import (
    list_owned, netns_prefix, sweep_actions,
)


def _of_run(meta, run_id):
    """A data generator of ``run_id`` (probes go on: they observe the recovery)."""
    params = meta.get("params") or {}
    return meta.get("kind") == "datagen" and run_id in (meta.get("id"), params.get("run_id"))


def main():
    module = checked_module(
        AnsibleModule, {},
        argument_spec=dict(
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
            kinds=dict(type="list", elements="str", choices=list(KINDS)),
            sweep=dict(type="bool", default=True),
            netns=dict(type="list", elements="str", default=[]),
            stop_workers=dict(type="bool", default=True),
            run_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    if os.geteuid() != 0:
        module.fail_json(msg="faultline.chaos.restore needs root on the target; use become: true")
    engine = FaultEngine(module, state_dir=p["state_dir"])
    run_id = p["run_id"]
    errors, reverted, orphans, workers = [], [], [], []
    try:
        # the engine reverts what matches (kinds, run_id); check mode reverts nothing
        for res in engine.revert_all(p["kinds"], reason="restore", by="restore", run_id=run_id):
            res["kind"] = kind_of(res)  # service stops are network records of type service
            reverted.append(res)
            errors.extend("%s: %s" % (res["id"], e) for e in res.get("errors") or [])
        namespaces = [None] + list(p["netns"])
        for res in reverted:
            ns = (res.get("params") or {}).get("netns")
            if ns and ns not in namespaces:
                namespaces.append(ns)
        if p["sweep"] and not run_id and (not p["kinds"] or "network" in p["kinds"]):
            if module.check_mode:
                orphans = _sweep(module, engine, namespaces, errors)
            else:
                # under the ledger lock: a fault applied meanwhile in this ledger
                # (its chains exist, its record not yet) is not an orphan
                with engine.ledger:
                    orphans = _sweep(module, engine, namespaces, errors)
        if p["stop_workers"]:
            for meta in background.list_workers(p["state_dir"]):
                if meta.get("running") and (not run_id or _of_run(meta, run_id)):
                    workers.append("%s-%s" % (meta["kind"], meta["id"]))
                    if not module.check_mode:
                        background.stop(p["state_dir"], meta["kind"], meta["id"])
    except EngineError as e:
        module.fail_json(msg=str(e), reverted=reverted, orphans=orphans, errors=errors)
    changed = bool(any(r.get("reverted") for r in reverted) or orphans or workers)
    diff = dict(before="".join("%s\n" % (r.get("summary") or r["id"]) for r in reverted)
                + "".join("orphan %s\n" % o for o in orphans)
                + "".join("worker %s\n" % w for w in workers), after="")
    result = dict(changed=changed, reverted=reverted, orphans=orphans, workers=workers, errors=errors, diff=diff)
    if errors:
        module.fail_json(msg="restore finished with errors: %s" % "; ".join(errors), **result)
    module.exit_json(**result)


def _sweep(module, engine, namespaces, errors):
    """Remove the chains of this ledger (or untagged) that no record keeps."""
    orphans = []
    keep = set()
    for r in engine.faults():
        keep.update((r.get("params") or {}).get("chains") or [])
    for ns in namespaces:
        try:
            prefix = netns_prefix(ns)
        except EngineError as e:
            if ns in module.params["netns"]:  # a record's namespace may be gone with its process (and its rules)
                errors.append(str(e))
            continue
        owned = list_owned(engine.runner, prefix)
        actions, found = sweep_actions(owned, keep, prefix, owner=engine.state_dir)
        orphans.extend(("%s:%s" % (ns, c)) if ns else c for c in found)
        if not module.check_mode:
            errors.extend(execute_all(actions, engine.runner))
    return orphans


if __name__ == "__main__":
    main()

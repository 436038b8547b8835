#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: fault_info
short_description: Active faults, network status and database status of a host
version_added: 0.1.0
description:
  - Reads the faults recorded in O(state_dir) on the target and returns every active fault with
    its timeline (requested, down, up, renewed ... events), its deadline and
    whether its supervisor is alive (the seed's C(toolkit network --status)).
  - Each fault has a C(state) - V(scheduled) (its O(faultline.chaos.network#module:start_at)
    is not reached, nothing applied yet), V(active), or V(revert_failed) (a revert
    failed; the record is kept with its errors and retried) - and C(orphan) (no
    supervisor runs for it).
  - Like every module of the collection it first reaps the host's ledger
    (RV(reaped)) - overdue faults whose supervisor is gone are reverted, the
    others get a new supervisor - so an orphan is only ever seen for an instant.
  - Reads the collection's own nftables table / iptables chains (network clear
    or not) in the host and in the given namespaces.
  - For each database in O(mysql), returns binlog file/position and GTID, and
    for a replica the IO/SQL thread state and the last errors (the seed's
    C(toolkit status)).
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.ledger
attributes:
  check_mode:
    support: full
    details: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    details: Nothing changes, nothing to diff.
options:
  state_dir:
    description: Directory on the target where the faults are recorded.
    type: path
    default: /run/faultline
  fault_id:
    description: Only this fault.
    type: str
  events_since:
    description:
      - Only journal events at or after this unix time (default all events of active faults).
      - 0 to 4102444800 (2100-01-01).
    type: float
  journal_since:
    description:
      - Also return every journal event (of active and ended faults) at or after
        this unix time in RV(journal), e.g. to build a report after the faults are gone.
      - 0 to 4102444800 (2100-01-01).
    type: float
  netns:
    description: Network namespaces (name, path or pid) whose collection rules to list too.
    type: list
    elements: str
    default: []
  mysql:
    description: Databases whose replication status to read.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Label in the result.
        type: str
        required: true
      login_host:
        description: Host.
        type: str
        default: 127.0.0.1
      login_port:
        description: Port (1-65535).
        type: int
        default: 3306
      login_user:
        description: User.
        type: str
        default: root
      login_password:
        description: Password (never logged).
        type: str
        default: ''
      login_unix_socket:
        description: Unix socket.
        type: path
      connect_timeout:
        description: Seconds to wait for a connection (greater than 0, at most 604800).
        type: float
        default: 3
requirements:
  - PyMySQL, when O(mysql) is used
'''

EXAMPLES = r'''
- name: Network status (toolkit network --status)
  faultline.chaos.fault_info:
  register: info

- name: Fail when anything is still applied
  ansible.builtin.assert:
    that: info.network.is_clear

- name: Pipeline status (toolkit status)
  faultline.chaos.fault_info:
    mysql:
      - {name: source, login_port: 3317}
      - {name: replica, login_port: 3318}
  register: status
'''

RETURN = r'''
faults:
  description:
    - Faults in the ledger with their timelines. C(state) is V(scheduled), V(active) or
      V(revert_failed) (with C(revert_errors), C(revert_attempts), C(next_retry));
      C(orphan) is true when no supervisor runs for the fault; C(overdue) when its
      deadline has passed; scheduled faults have C(start_at), C(start_at_iso) and C(starts_in_s).
  returned: always
  type: list
  elements: dict
  sample: [{id: network_3f2a9c1d, kind: network, type: reject, summary: "...", remaining_s: 12.3, state: active,
            supervisor_alive: true, orphan: false, overdue: false, events: [{event: down, ts: 1795312042.1}]}]
reaped:
  description: What the reaper did at the start of this call (reverted or supervisor_restarted, per fault).
  returned: always
  type: list
  elements: dict
  sample: [{id: process_1a2b3c4d, action: reverted, reverted: true, errors: []}]
orphans:
  description: Ids of faults for which no supervisor runs (after the reaper ran).
  returned: always
  type: list
  elements: str
revert_failed:
  description: Ids of faults whose revert failed and is being retried (see C(revert_errors) in RV(faults)).
  returned: always
  type: list
  elements: str
scheduled:
  description: Faults waiting for their O(faultline.chaos.network#module:start_at) (id, start_at, start_at_iso, starts_in_s, summary).
  returned: always
  type: list
  elements: dict
unreadable:
  description: Ids of ledger records that cannot be parsed (their supervisor still reverts them from memory).
  returned: always
  type: list
  elements: str
network:
  description: The collection's rules on the host (C(is_clear) is true when none exist).
  returned: always
  type: dict
  sample: {is_clear: false, chains: [flt_ab12cd34_in], iptables: [], ruleset: "table inet faultline {...}"}
journal:
  description: Journal events since O(journal_since) (shared event shape), oldest first.
  returned: when O(journal_since) is set
  type: list
  elements: dict
workers:
  description: Background workers (probes, data generators) and whether they run.
  returned: always
  type: list
  elements: dict
databases:
  description: Per database in O(mysql) its binlog status and, for replicas, replication status.
  returned: always
  type: dict
  sample: {replica: {reachable: true, binlog: {file: mysql-bin.000003, position: 1234, gtid: 0-1-42},
           replica: {io_running: "Yes", sql_running: "Yes", last_io_error: null}}}
'''

import os
import shutil

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._db import mysql as db
from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import FaultEngine, reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import DEFAULT_STATE_DIR, EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import TIMESTAMP, checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._faults.network import (
    TABLE_FAMILY, TABLE_NAME, list_owned, netns_prefix,
)


def database_status(entry):
    kw = db.connect_params(entry)
    out = dict(reachable=False, error=None, binlog=None, replica=None)
    try:
        conn = db.connect(kw)
    except Exception as e:  # noqa: BLE001 -- an unreachable server is a status, not a failure
        out["error"] = db.error_text(e)
        return out
    try:
        with conn.cursor() as cur:
            out["reachable"] = True
            out["flavor"], out["version"] = db.server_flavor(cur)
            out["binlog"] = db.binlog_status(cur)
            out["replica"] = db.replica_status(cur)
    except Exception as e:  # noqa: BLE001
        out["error"] = db.error_text(e)
    finally:
        conn.close()
    return out


BOUNDS = dict(events_since=TIMESTAMP, journal_since=TIMESTAMP, mysql=db.MYSQL_BOUNDS)


def main():
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=dict(
            state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
            fault_id=dict(type="str"),
            events_since=dict(type="float"),
            journal_since=dict(type="float"),
            netns=dict(type="list", elements="str", default=[]),
            mysql=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                login_host=dict(type="str", default="127.0.0.1"),
                login_port=dict(type="int", default=3306),
                login_user=dict(type="str", default="root"),
                login_password=dict(type="str", default="", no_log=True),
                login_unix_socket=dict(type="path"),
                connect_timeout=dict(type="float", default=3.0),
            )),
        ),
        supports_check_mode=True,
    )
    reaped = reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    engine = FaultEngine(module, state_dir=p["state_dir"])
    faults = []
    for rec in engine.faults(match=(lambda r: r["id"] == p["fault_id"]) if p["fault_id"] else None):
        view = engine.describe(rec)
        if p["events_since"] is not None:
            view["events"] = [e for e in view["events"] if e["ts"] >= p["events_since"]]
        faults.append(view)
    network = dict(chains=[], iptables=[], namespaces={}, ruleset=None, backend_available=[])
    network["backend_available"] = [b for b in ("nft", "iptables") if shutil.which(b)]
    can_read = os.geteuid() == 0
    try:
        if can_read:
            for ns in [None] + list(p["netns"]):
                prefix = netns_prefix(ns)
                owned = list_owned(engine.runner, prefix)
                if ns is None:
                    network["chains"], network["iptables"] = owned["nft"], owned["iptables"]
                    if owned["nft_table"]:
                        rc, text, _e = engine.runner(["nft", "list", "table", TABLE_FAMILY, TABLE_NAME], None)
                        network["ruleset"] = text if rc == 0 else None
                else:
                    network["namespaces"][ns] = dict(chains=owned["nft"], iptables=owned["iptables"])
    except EngineError as e:
        module.fail_json(msg=str(e))
    network["readable"] = can_read
    network["is_clear"] = not (network["chains"] or network["iptables"] or any(
        v["chains"] or v["iptables"] for v in network["namespaces"].values())) and not any(
        f["kind"] == "network" for f in faults)
    databases = {}
    if p["mysql"]:
        db.require_pymysql(module)
        for entry in p["mysql"]:
            databases[entry["name"]] = database_status(entry)
    try:
        metas = background.list_workers(p["state_dir"])
    except EngineError as e:  # a workers directory another user could write
        module.fail_json(msg=str(e))
    workers = [dict((k, m.get(k)) for k in ("kind", "id", "pid", "running", "started", "deadline",
                                            "finished", "error"))
               for m in metas]
    result = dict(changed=False, faults=faults, network=network, databases=databases, workers=workers,
                  reaped=reaped, unreadable=engine.ledger.unreadable(),
                  orphans=[f["id"] for f in faults if f["orphan"]],
                  revert_failed=[f["id"] for f in faults if f["state"] == "revert_failed"],
                  scheduled=[dict(id=f["id"], start_at=f["start_at"], start_at_iso=f["start_at_iso"],
                                  starts_in_s=f["starts_in_s"], summary=f["summary"])
                             for f in faults if f["state"] == "scheduled"])
    if p["journal_since"] is not None:
        result["journal"] = engine.ledger.events(since=p["journal_since"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()

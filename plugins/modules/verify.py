#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: verify
short_description: Verify that a destination holds exactly the source's rows (and every acknowledged write)
version_added: 0.1.0
description:
  - Compares a table on a source and a destination MySQL/MariaDB server (e.g. a replica or the
    target of an ETL pipeline). Read-only.
  - Waits up to O(converge_timeout) for the destination to converge (chunk checksums equal and, if the
    destination is a replica, the source's GTID/binlog position applied), then judges.
  - Row counts; chunked checksums computed on the servers (C(BIT_XOR) and C(SUM) of C(CRC32) over
    the concatenated columns, as pt-table-checksum does), with drill-down into differing chunks down
    to the missing, extra, duplicated and changed keys.
  - With the write log of a M(faultline.chaos.datagen) run, checks that every acknowledged write is present exactly
    once on the destination and every indeterminate write at most once.
  - With O(positions_before), checks that the source's binlog/GTID position advanced.
  - Returns C(checks) and C(integrity) in the shape of the report contract. Fails when a check fails,
    naming the keys, unless O(fail_on_mismatch=false).
requirements:
  - PyMySQL (Python library, on the host that runs the module; it connects to the source and the destination)
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.ledger
  - faultline.chaos.mysql.source
  - faultline.chaos.mysql.destination
options:
  destination_engine:
    description: Kind of destination server (one small class per engine; more can follow).
    type: str
    choices: [mysql, mariadb]
    default: mariadb
  connect_timeout:
    description: Seconds to wait for each connection (greater than 0, at most 604800).
    type: float
    default: 5.0
  database:
    description: Database of the table on the source.
    type: str
    default: faultline
  table:
    description: Table to compare.
    type: str
    default: faultline_datagen
  destination_database:
    description: Database on the destination. Defaults to O(database).
    type: str
  destination_table:
    description: Table on the destination. Defaults to O(table).
    type: str
  key_columns:
    description:
      - Business key. Defaults to the source table's primary key (or first NOT NULL unique key).
      - Needed when the source table has no such key. The destination may lack a key (duplicates
        are then searched with a C(GROUP BY) over the whole table).
    type: list
    elements: str
  columns:
    description: Columns to checksum. Defaults to all columns of the source table.
    type: list
    elements: str
  datagen_run_id:
    description:
      - Run id of a M(faultline.chaos.datagen) run whose writes must all be on the destination.
      - Without O(acked_ranges) the run's write log is read from O(state_dir) on this host.
    type: str
  state_dir:
    description: State directory holding the datagen write log.
    type: path
    default: /run/faultline
  acked_ranges:
    description: Acknowledged sequence numbers (C(acked_ranges) returned by datagen), as C([[first, last], ...]).
    type: list
    elements: raw
  indeterminate_ranges:
    description: Indeterminate sequence numbers (C(indeterminate_ranges) returned by datagen).
    type: list
    elements: raw
  run_id_column:
    description: Column holding the datagen run id.
    type: str
    default: run_id
  seq_column:
    description: Column holding the datagen sequence number.
    type: str
    default: seq
  positions_before:
    description:
      - The source's binlog position before the test (C(file), C(position), C(gtid)), e.g.
        C(positions.after.source) of an earlier verify run. Enables the "Binlog position advanced" check.
    type: dict
  converge_timeout:
    description: Seconds to wait for the destination to converge before judging (0 to 604800).
    type: float
    default: 60
  poll_interval:
    description: Seconds between convergence polls (greater than 0, at most 604800).
    type: float
    default: 1
  chunk_rows:
    description: Rows per top-level checksum chunk (1 to 10^7).
    type: int
    default: 50000
  leaf_rows:
    description:
      - Drill-down stops splitting a differing chunk at this size and compares its rows' checksums.
      - 1 to 1000000.
    type: int
    default: 500
  max_keys:
    description: Longest list of keys returned per kind (counts are always exact), 1 to 1000000.
    type: int
    default: 100
  fail_on_mismatch:
    description: Fail the task when a check fails (the message names the keys).
    type: bool
    default: true
attributes:
  check_mode:
    support: full
    details: Read-only; runs the same in check mode.
  diff_mode:
    support: none
    details: Nothing changes, nothing to diff.
seealso:
  - module: faultline.chaos.datagen
'''

EXAMPLES = r'''
- name: Source position before the test
  faultline.chaos.verify:
    source_port: 3317
    destination_port: 3318
    converge_timeout: 0
    fail_on_mismatch: false
  register: before

- name: After the fault - every acknowledged row on the replica exactly once
  faultline.chaos.verify:
    source_port: 3317
    destination_port: 3318
    datagen_run_id: "{{ gen.run_id }}"
    acked_ranges: "{{ gen.acked_ranges }}"
    indeterminate_ranges: "{{ gen.indeterminate_ranges }}"
    positions_before: "{{ before.positions.after.source }}"
    converge_timeout: 120
  register: integrity

- name: Keyless destination table, business key given
  faultline.chaos.verify:
    source_port: 3317
    destination_port: 3318
    database: shop
    table: orders
    destination_table: orders_copy
    key_columns: [order_ref]
'''

RETURN = r'''
passed:
  description: Whether every check passed.
  returned: always
  type: bool
checks:
  description: Verification checklist items (report contract shape).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "No duplicate records", "passed": true, "detail": "0 duplicate rows on key (run_id, seq)"}]
integrity:
  description: expected_rows, source_rows, destination_rows, missing, extra, duplicates, changed, checksum_match.
  returned: always
  type: dict
missing_keys:
  description: Keys on the source (or acknowledged by datagen) missing on the destination (capped at O(max_keys)).
  returned: always
  type: list
extra_keys:
  description: Keys on the destination that are not on the source.
  returned: always
  type: list
duplicate_keys:
  description: Keys present more than once on the destination.
  returned: always
  type: list
changed_keys:
  description: Keys on both sides whose rows differ.
  returned: always
  type: list
positions:
  description: "C({before: positions_before, after: {source: binlog position, destination: replica status}})."
  returned: always
  type: dict
converged:
  description: Whether the destination converged within O(converge_timeout).
  returned: always
  type: bool
waited_s:
  description: Seconds spent waiting for convergence.
  returned: always
  type: float
chunks:
  description: Number of top-level checksum chunks.
  returned: always
  type: int
key_columns:
  description: The key used.
  returned: always
  type: list
datagen:
  description: Ledger check details (null without a datagen run).
  returned: always
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._datagen.generator import summarize
from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    connect_params, login_spec, mysql_common_argument_spec, require_pymysql,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import DEFAULT_STATE_DIR, EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import (
    PORT, SECONDS, SECONDS_OR_ZERO, count, checked_module,
)
from ansible_collections.faultline.chaos.plugins.module_utils._datagen import ranges as rng
from ansible_collections.faultline.chaos.plugins.module_utils._verify.checker import Verifier, failure_message
from ansible_collections.faultline.chaos.plugins.module_utils._verify.engines import ENGINES, VerifyError


def argument_spec():
    spec = dict(connect_timeout=mysql_common_argument_spec()["connect_timeout"])
    spec.update(login_spec("source_"))
    spec.update(login_spec("destination_"))
    spec.update(
        destination_engine=dict(type="str", choices=["mysql", "mariadb"], default="mariadb"),
        database=dict(type="str", default="faultline"),
        table=dict(type="str", default="faultline_datagen"),
        destination_database=dict(type="str"),
        destination_table=dict(type="str"),
        key_columns=dict(type="list", elements="str", no_log=False),
        columns=dict(type="list", elements="str"),
        datagen_run_id=dict(type="str"),
        state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        acked_ranges=dict(type="list", elements="raw"),
        indeterminate_ranges=dict(type="list", elements="raw"),
        run_id_column=dict(type="str", default="run_id"),
        seq_column=dict(type="str", default="seq"),
        positions_before=dict(type="dict"),
        converge_timeout=dict(type="float", default=60.0),
        poll_interval=dict(type="float", default=1.0),
        chunk_rows=dict(type="int", default=50000),
        leaf_rows=dict(type="int", default=500),
        max_keys=dict(type="int", default=100, no_log=False),  # a count, not a secret
        fail_on_mismatch=dict(type="bool", default=True),
    )
    return spec


BOUNDS = dict(source_port=PORT, destination_port=PORT, connect_timeout=SECONDS, converge_timeout=SECONDS_OR_ZERO,
              poll_interval=SECONDS, chunk_rows=count(1, 10 ** 7, "rows"), leaf_rows=count(1, 10 ** 6, "rows"),
              max_keys=count(1, 10 ** 6))


def main():
    module = checked_module(AnsibleModule, BOUNDS, argument_spec=argument_spec(), supports_check_mode=True,
                            required_by={"acked_ranges": "datagen_run_id", "indeterminate_ranges": "datagen_run_id"})
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = dict(module.params)
    try:
        for name in ("acked_ranges", "indeterminate_ranges"):
            if p[name] is not None:
                p[name] = rng.normalize(p[name])
    except (ValueError, TypeError) as e:
        module.fail_json(msg="%s: %s" % (name, e))
    if p["datagen_run_id"] and p["acked_ranges"] is None:
        try:
            lines = background.read_output(p["state_dir"], "datagen", p["datagen_run_id"])
        except EngineError as e:
            module.fail_json(msg=str(e))
        if not lines:
            module.fail_json(msg="no datagen ledger for run %s in %s: pass acked_ranges and indeterminate_ranges "
                                 "returned by datagen" % (p["datagen_run_id"], p["state_dir"]))
        s = summarize(lines)
        p["acked_ranges"], p["indeterminate_ranges"] = s["acked_ranges"], s["indeterminate_ranges"]

    require_pymysql(module)
    src = dst = None
    try:
        src = ENGINES["mysql"]("source", connect_params(p, "source_"), p["database"], p["table"])
        dst = ENGINES[p["destination_engine"]]("destination", connect_params(p, "destination_"),
                                               p["destination_database"] or p["database"],
                                               p["destination_table"] or p["table"])
        res = Verifier(src, dst, p).run()
    except VerifyError as e:
        module.fail_json(msg=str(e))
    finally:
        for side in (src, dst):
            if side is not None:
                side.close()
    if not res["passed"] and p["fail_on_mismatch"]:
        module.fail_json(msg=failure_message(res), **res)
    module.exit_json(changed=False, msg="verify %s" % ("PASSED" if res["passed"] else "FAILED"), **res)


if __name__ == "__main__":
    main()

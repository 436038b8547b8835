#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: datagen
short_description: Write self-identifying rows to MySQL/MariaDB and keep a ledger of every write
version_added: 0.1.0
description:
  - Writes rows on a schedule (O(count) rows every O(interval) seconds, a O(rate) in rows per
    second, or as fast as possible), bounded by O(total) and/or O(duration), in the foreground
    (O(state=present)) or as a detached background worker (O(state=started) / O(state=stopped)).
  - Every row carries its own identity (run id, sequence number, payload and its CRC32), so
    M(faultline.chaos.verify) knows exactly which rows must exist downstream.
  - Rides through outages. On a lost connection the writer reconnects with exponential backoff
    and retries the same sequence numbers. A write whose answer was lost (connection dropped after
    the statement was sent) is C(indeterminate); before it is sent again the writer checks which of
    its rows exist, so no row is ever written twice.
  - The ledger (JSON lines under O(state_dir)) records per write C(acked), C(failed) or
    C(indeterminate), plus progress events in the shared event shape (source C(datagen)).
  - The background worker stops on its own at O(duration), O(total) or O(lease), also when the
    controller dies.
requirements:
  - PyMySQL (Python library, on the host that runs the module; it connects to the server)
  - mysqlclient (C(MySQLdb), Python library on the same host) only with O(driver=mysqlclient);
    V(auto) uses it when it is importable and PyMySQL otherwise
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.leased_mysql
  - faultline.chaos.mysql
options:
  state:
    description:
      - V(present) runs in the foreground until the schedule is done (needs O(total) or O(duration)).
      - V(started) starts a background worker and returns at once; re-running it with the same
        O(run_id) changes nothing and returns the current counts.
      - V(stopped) stops the background worker O(run_id) and returns the final counts.
    type: str
    choices: [present, started, stopped]
    default: present
  run_id:
    description:
      - Identity of this run, stored in every row. Required for O(state=stopped).
      - Defaults to a new unique id (C(dg-<UTC time>-<random>)).
    type: str
  database:
    description: Database of the table. Created for the default table.
    type: str
    default: faultline
  table:
    description:
      - Table to write to. Without O(columns) it is created if missing with columns
        C(run_id, seq, payload, checksum, created_at) and primary key C((run_id, seq)).
    type: str
    default: faultline_datagen
  columns:
    description:
      - Write to an existing user table instead. Maps column name to generator, one of
        V(run_id), V(seq), V(payload), V(checksum) (CRC32 of the payload), V(now) (UTC time),
        V(uuid) (derived from run id and seq), V(int) (derived from seq) or C(const:<value>).
      - Must contain a V(run_id) and a V(seq) column, so that rows identify themselves.
    type: dict
  count:
    description: Rows written every O(interval) seconds (burst mode), 1 to 1000000.
    type: int
  interval:
    description:
      - Seconds between bursts of O(count) rows; the first burst is written at once.
      - Greater than 0 and at most 604800 (7 days).
    type: float
  rate:
    description:
      - Rows per second, evenly spread. Without O(interval) and O(rate), rows are written as fast as possible.
      - Greater than 0 and at most 1000000.
    type: float
  total:
    description: Stop after this many rows (1 to 10^12).
    type: int
  duration:
    description:
      - Stop after this many seconds. Must not be shorter than one O(interval).
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
  batch:
    description:
      - Rows per write (one multi-row INSERT, atomic). V(1) is one row per transaction. At most 10000.
    type: int
    default: 1
  driver:
    description:
      - Client library for the writes. V(mysqlclient) (the C driver C(MySQLdb), Python package
        C(mysqlclient)) costs less client CPU per write than V(pymysql); V(auto) uses it when it is
        installed on the target, else PyMySQL. Writes are classified the same way with both
        (acknowledged, failed, indeterminate). PyMySQL is needed in every case (table checks).
    type: str
    choices: [auto, pymysql, mysqlclient]
    default: auto
  payload_size:
    description: Length of the payload column in characters (1-65535; the default table holds 1024).
    type: int
    default: 64
  write_timeout:
    description: Seconds to wait for the server's answer before the write counts as indeterminate (greater than 0, at most 604800).
    type: float
    default: 10
  max_backoff:
    description:
      - Longest wait between reconnect attempts during an outage (backoff starts at 0.1 s and doubles).
      - Greater than 0 and at most 604800 (7 days).
    type: float
    default: 2
  progress_interval:
    description: Seconds between progress events in the ledger (greater than 0, at most 604800).
    type: float
    default: 5
  create_table:
    description: Create the database and the default table if missing.
    type: bool
    default: true
  state_dir:
    description: Directory on the target holding the worker's meta data and ledger (C(workers/datagen-<run_id>.jsonl)).
    type: path
    default: /run/faultline
  lease:
    description:
      - Hard limit in seconds for the worker, whatever the schedule says (dead-man switch).
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
    default: 3600
  stop_timeout:
    description: Seconds to wait for the worker to finish its current write on O(state=stopped) (greater than 0, at most 604800).
    type: float
    default: 30
attributes:
  check_mode:
    support: full
    details: Validates the input and connects, but creates nothing and writes no rows.
  diff_mode:
    support: full
    details: Shows whether the worker runs before and after, with the planned rows and the statements it uses.
notes:
  - Check mode validates the input and connects, but creates nothing and writes no rows.
seealso:
  - module: faultline.chaos.verify
'''

EXAMPLES = r'''
- name: TC-007 traffic, 50 rows every 30 s for 5 minutes, in the background
  faultline.chaos.datagen:
    login_port: 3317
    count: 50
    interval: 30
    duration: 300
    state: started
  register: gen

- name: Stop it (e.g. in an always section) and read the ledger
  faultline.chaos.datagen:
    run_id: "{{ gen.run_id }}"
    state: stopped
  register: gen_result

- name: 200,000 rows as fast as possible in bulk
  faultline.chaos.datagen:
    login_port: 3317
    total: 200000
    batch: 1000

- name: 20 rows/s into a user table for one minute
  faultline.chaos.datagen:
    login_port: 3317
    database: shop
    table: orders
    columns:
      order_ref: uuid
      source_run: run_id
      line_no: seq
      note: payload
      amount: int
      created: now
    rate: 20
    duration: 60
'''

RETURN = r'''
run_id:
  description: Identity of the run, stored in every row.
  returned: always
  type: str
running:
  description: Whether the background worker is still running.
  returned: always
  type: bool
driver:
  description: The client library the worker writes with (V(auto) resolved); null when no worker was started.
  returned: always
  type: str
  sample: mysqlclient
writes_acked:
  description: Writes the server acknowledged.
  returned: always
  type: int
writes_failed:
  description: Write attempts that certainly did not commit (refused, no connection); they are retried.
  returned: always
  type: int
writes_indeterminate:
  description: Writes whose answer was lost (may or may not have committed).
  returned: always
  type: int
rows_acked:
  description: Rows acknowledged by the server (each exactly once).
  returned: always
  type: int
rows_failed:
  description: Distinct rows that saw at least one failed attempt (most are acked later by a retry).
  returned: always
  type: int
rows_indeterminate:
  description: Rows whose final state is unknown (indeterminate and never resolved).
  returned: always
  type: int
acked_ranges:
  description: Acknowledged sequence numbers as compact inclusive ranges.
  returned: always
  type: list
  sample: [[1, 450], [452, 500]]
indeterminate_ranges:
  description: Sequence numbers that may exist at most once.
  returned: always
  type: list
  sample: [[451, 451]]
failed_ranges:
  description: Sequence numbers never written (the worker stopped while they were failing).
  returned: always
  type: list
errors:
  description: Distinct error messages seen (at most 10).
  returned: always
  type: list
  sample: ["Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused) (errno 2003)"]
events:
  description: Events in the shared shape (source C(datagen)) - started, write_error, recovered, progress, finished.
  returned: always
  type: list
series:
  description: "C([[unix time, cumulative acked rows], ...]) for the timeline."
  returned: always
  type: list
ledger:
  description: Path of the ledger file on the target.
  returned: always
  type: str
planned_rows:
  description: Rows the schedule writes if nothing goes wrong (null when unbounded).
  returned: always
  type: int
'''

import time

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._datagen import generator as gen
from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    MYSQL_BOUNDS, connect_params, mysql_common_argument_spec, require_pymysql,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import DEFAULT_STATE_DIR, EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import LEASE, SECONDS, Bound, count, checked_module

KIND = "datagen"
WORKER_KEYS = ("run_id", "database", "table", "columns", "count", "interval", "rate", "total", "duration",
               "batch", "driver", "payload_size", "write_timeout", "max_backoff", "progress_interval")


def result(state_dir, run_id, planned=None):
    meta = background.read_meta(state_dir, KIND, run_id) or {}
    out = gen.summarize(background.read_output(state_dir, KIND, run_id))
    out.update(run_id=run_id, running=bool(meta.get("running")), ledger=meta.get("output"),
               planned_rows=planned, worker_error=meta.get("error"), stopped_by=meta.get("stopped_by"),
               driver=(meta.get("params") or {}).get("driver"))
    return out


BOUNDS = dict(MYSQL_BOUNDS, count=count(1, 10 ** 6, "rows"), interval=SECONDS,
              rate=Bound(0, 10 ** 6, "rows per second", low_open=True), total=count(1, 10 ** 12, "rows"),
              duration=SECONDS, batch=count(1, 10000, "rows"), payload_size=count(1, 65535, "characters"),
              write_timeout=SECONDS, max_backoff=SECONDS, progress_interval=SECONDS, lease=LEASE,
              stop_timeout=SECONDS)


def main():
    spec = mysql_common_argument_spec()
    spec.update(
        state=dict(type="str", choices=["present", "started", "stopped"], default="present"),
        run_id=dict(type="str"),
        database=dict(type="str", default=gen.DEFAULT_DATABASE),
        table=dict(type="str", default=gen.DEFAULT_TABLE),
        columns=dict(type="dict"),
        count=dict(type="int"),
        interval=dict(type="float"),
        rate=dict(type="float"),
        total=dict(type="int"),
        duration=dict(type="float"),
        batch=dict(type="int", default=1),
        driver=dict(type="str", choices=list(gen.DRIVERS), default="auto"),
        payload_size=dict(type="int", default=64),
        write_timeout=dict(type="float", default=10.0),
        max_backoff=dict(type="float", default=2.0),
        progress_interval=dict(type="float", default=5.0),
        create_table=dict(type="bool", default=True),
        state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        lease=dict(type="float", default=3600.0),
        stop_timeout=dict(type="float", default=30.0),
    )
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=spec,
        supports_check_mode=True,
        required_together=[("count", "interval")],
        mutually_exclusive=[("rate", "interval")],
        required_if=[("state", "stopped", ["run_id"])],
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    state, state_dir = p["state"], p["state_dir"]
    try:
        gen.validate(p)
    except gen.DatagenError as e:
        module.fail_json(msg=str(e))
    if state == "present" and p["total"] is None and p["duration"] is None:
        module.fail_json(msg="state=present runs in the foreground until done: set total and/or duration")
    run_id = p["run_id"] or gen.new_run_id()
    try:
        meta = background.read_meta(state_dir, KIND, run_id)
    except EngineError as e:
        module.fail_json(msg=str(e))

    if state == "stopped":
        if meta is None:
            module.exit_json(changed=False, msg="no datagen run %s in %s" % (run_id, state_dir),
                             **result(state_dir, run_id))
        changed = bool(meta["running"])
        if changed and not module.check_mode:
            background.stop(state_dir, KIND, run_id, timeout=p["stop_timeout"])
        module.exit_json(changed=changed, diff=dict(before={"running": meta["running"]}, after={"running": False}),
                         **result(state_dir, run_id))

    planned = gen.Schedule(p["count"], p["interval"], p["rate"], p["total"], p["duration"]).planned()
    if meta is not None:  # this run exists already: report it, start nothing
        if state == "present" and meta["running"] and not module.check_mode:
            background.wait(state_dir, KIND, run_id, timeout=p["lease"])
        module.exit_json(changed=False, **result(state_dir, run_id, planned))

    require_pymysql(module)
    driver = gen.resolve_driver(p["driver"])
    if driver == "mysqlclient" and gen.MySQLdb is None:
        module.fail_json(msg=missing_required_lib("mysqlclient"), exception=gen.MYSQLCLIENT_IMPORT_ERROR)
    conn_kw = connect_params(p)
    try:
        statements = gen.prepare(conn_kw, dict(p, check_mode=module.check_mode, run_id=run_id))
    except gen.DatagenError as e:
        module.fail_json(msg=str(e))
    diff = dict(before={"running": False},
                after={"running": state == "started", "run_id": run_id, "planned_rows": planned,
                       "statements": statements})
    if module.check_mode:
        module.exit_json(changed=True, diff=diff, run_id=run_id, running=False, planned_rows=planned,
                         msg="would write %s rows" % (planned if planned is not None else "unbounded"))

    params = dict((k, p[k]) for k in WORKER_KEYS)
    params.update(run_id=run_id, driver=driver)
    try:
        background.start(state_dir, KIND, run_id, gen.worker(conn_kw), params, lease=p["lease"])
    except (EngineError, OSError) as e:
        module.fail_json(msg="cannot start the datagen worker: %s" % e)
    if state == "present":
        background.wait(state_dir, KIND, run_id, timeout=p["lease"] + 30)
    else:
        time.sleep(0.2)  # let the first write land so the result shows the worker alive
    out = result(state_dir, run_id, planned)
    if out["worker_error"]:
        module.fail_json(msg="datagen worker failed: %s" % out["worker_error"], **out)
    module.exit_json(changed=True, diff=diff, **out)


if __name__ == "__main__":
    main()

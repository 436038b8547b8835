#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: probe
short_description: Watch a system under test in the background and measure how it reacts to faults
version_added: 0.1.0
description:
  - Starts a probe that samples the system under test from the outside at a
    fixed resolution (100 ms by default) in a detached background process on
    the target, stops it and collects its samples later, and computes from
    the samples and the faults' events the time to detect, the exact first
    error message, the retries seen and the time to recover, per fault
    window and per flap cycle.
  - "Kinds: V(mysql_replica) (C(SHOW REPLICA STATUS): ok = IO and SQL
    threads running and no new IO error), V(mysql_query) (a query, optionally
    checked with O(expect)/O(expect_rows)), V(tcp) (a TCP connect), V(http)
    (a request, ok = status in O(expect_status)), V(command) (an argv list,
    ok = exit code 0), V(etcd) (a write of a fresh key through etcd's v3 JSON
    gateway with a client retry policy, then a read of it; ok = acknowledged
    and read back), V(watch) (a watch stream on a key prefix through the
    gateway)."
  - "V(etcd): each sample writes C(<key_prefix><n>) and tries up to
    1 + O(retries) times, pausing O(backoff_initial) * O(backoff_multiplier)^i
    (at most O(backoff_max)) seconds after failed attempt i; every attempt
    is kept in the sample (C(detail.attempts): time, endpoint, error, pause).
    With several O(endpoints) a failed attempt moves the client to the next
    endpoint. C(detail.outcome) is V(acked), V(failed) (cannot have been
    applied: not sent, or refused with C(etcdserver: no leader) or a 4xx) or
    V(indeterminate) (sent, no answer: it may still commit). Retries in the
    metrics count failed attempts, also those of writes acknowledged later."
  - "V(watch): one stream, its own loop (O(interval) is how often it wakes
    up to record C(alive) lines and check for a stop). A single endpoint does
    not resume after the stream breaks (the documented gap of watch clients
    without a reconnect loop); several endpoints reconnect to the next one
    with C(start_revision) = last revision seen + 1. A stream that stays open
    but silent (a member partitioned, or paused) is not seen as broken."
  - The MySQL kinds keep one connection open and re-open it after a failure,
    with O(timeout) as connect, read and write timeout. V(tcp), V(http) and
    V(command) make a fresh attempt per sample.
  - "Definitions of the metrics: C(detected_at) is the first failing sample
    at or after the window's C(down_at); C(error_message) the first error text
    seen in the window (for V(mysql_replica) C(Last_IO_Error) exactly as the
    server reports it); C(retries) the reconnect attempts seen (V(mysql_replica):
    the number of distinct C(Last_IO_Error_Timestamp) values, or where the
    server has no such column (MariaDB) the attempts implied by
    C(Connect_Retry) over the failing span, that is floor(span / Connect_Retry) + 1;
    every other kind: the number of failed samples); C(recovered_at) the
    first sample after C(up_at) that starts a run of O(recover_after) ok
    samples. A value that was not observed is null (C(recovered_at) is also
    null when the failure was never detected). Error message and retries are
    taken from down_at up to recovered_at (or up to the next window / the last
    sample when it never recovered)."
  - A sample's C(ts) is the wall-clock time its attempt started.
requirements:
  - PyMySQL (Python library, on the host that runs the module) for O(kind=mysql_replica) and
    O(kind=mysql_query); the other kinds need only the Python standard library
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.leased_mysql
  - faultline.chaos.mysql
attributes:
  check_mode:
    support: full
    details:
      - V(started) reports whether it would start the probe, V(stopped)
        whether it would stop it (and returns the metrics so far) without
        stopping it. V(sampled) takes its read-only sample also in check mode,
        except for V(command) and V(etcd) probes (an V(etcd) sample writes a key), which are not run.
  diff_mode:
    support: none
    details: Starts, samples or stops a probe; the target's state is not changed, nothing to diff.
options:
  name:
    description: Name of the probe (its worker id); letters, digits, C(.), C(_) and C(-).
    type: str
    required: true
  kind:
    description: What the probe observes. Required with O(state=started) and O(state=sampled).
    type: str
    choices: [mysql_replica, mysql_query, tcp, http, command, etcd, watch]
  state:
    description:
      - V(started) starts the probe in the background. If a probe of this name
        is already running with the same parameters nothing changes (its lease
        is not renewed); with other parameters the task fails, stop it first.
      - V(stopped) stops the probe and returns its samples' metrics. Stopping
        a probe that is not running changes nothing (the metrics of a probe
        that ended on its own are still returned).
      - V(sampled) takes one sample now, in the foreground, and returns it.
      - V(collected) returns the metrics so far and leaves the probe running.
    type: str
    choices: [started, stopped, sampled, collected]
    default: started
  interval:
    description:
      - Seconds between samples (on a fixed grid; a slow sample skips the slots it overran).
      - Greater than 0 and at most 604800 (7 days).
    type: float
    default: 0.1
  timeout:
    description: Seconds one sample may take (connect, read, command run time); greater than 0, at most 604800.
    type: float
    default: 1.0
  lease:
    description:
      - Seconds after which the probe stops by itself, whatever happens to the play.
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
    default: 3600
  state_dir:
    description: State directory on the target (probe output under C(workers/), the fault journal C(journal.jsonl)).
    type: path
    default: /run/faultline
  query:
    description: With O(kind=mysql_query), the SQL statement to run.
    type: str
  expect:
    description: With O(kind=mysql_query), a regular expression the first column of the first row must match.
    type: str
  expect_rows:
    description: With O(kind=mysql_query), the exact number of rows the query must return (0 to 10^9).
    type: int
  host:
    description: With O(kind=tcp), the address to connect to.
    type: str
    default: 127.0.0.1
  port:
    description: With O(kind=tcp), the port to connect to (1-65535).
    type: int
  url:
    description: With O(kind=http), the URL to request.
    type: str
  method:
    description: With O(kind=http), the HTTP method.
    type: str
    default: GET
  expect_status:
    description: With O(kind=http), the status codes that count as ok (100-599).
    type: list
    elements: int
    default: [200]
  headers:
    description:
      - With O(kind=http), extra request headers.
      - Treated as a secret (they often carry C(Authorization) or cookies) and never logged or returned.
    type: dict
  validate_certs:
    description: With O(kind=http), verify the server's TLS certificate.
    type: bool
    default: true
  url_username:
    description: With O(kind=http), user for HTTP basic authentication.
    type: str
  url_password:
    description: With O(kind=http), password for HTTP basic authentication. Never logged, never written to disk.
    type: str
  command:
    description: With O(kind=command), the argv list to run (no shell); ok means exit code 0.
    type: list
    elements: str
  endpoints:
    description:
      - With O(kind=etcd) or O(kind=watch), the members' client URLs (C(http://HOST:PORT)),
        tried in this order. One endpoint is a single-endpoint client.
    type: list
    elements: str
  key_prefix:
    description:
      - With O(kind=etcd), the prefix of the keys written; with O(kind=watch), the prefix watched.
        Default C(faultline/probe/<name>/). Give a V(watch) probe the prefix of the V(etcd) probe it observes.
    type: str
  retries:
    description: With O(kind=etcd), retries after a failed attempt (0-20; the seed's client policy is 3).
    type: int
    default: 3
  backoff_initial:
    description: With O(kind=etcd), seconds to wait after the first failed attempt.
    type: float
    default: 0.5
  backoff_multiplier:
    description: With O(kind=etcd), factor by which each further wait grows (1-100).
    type: float
    default: 2.0
  backoff_max:
    description: With O(kind=etcd), the longest wait between two attempts, seconds.
    type: float
    default: 30.0
  read_back:
    description: With O(kind=etcd), read every acknowledged key back from the endpoint that acknowledged it.
    type: bool
    default: true
  compare_probe:
    description:
      - With a V(watch) probe and O(state=stopped) or O(state=collected), the
        name of the V(etcd) probe writing under the watched prefix (same
        O(state_dir)); its acknowledged writes after the watch started are the
        events expected, and C(watch.events_missed) counts those never received.
    type: str
  fault_ids:
    description:
      - With O(state=stopped) or O(state=collected), the faults whose journal
        events define the windows (C(down) opens a window, C(up) or
        C(reverted) closes it; each C(down) of a flap is one cycle).
      - Default is every fault event in the journal between the probe's
        start and its stop.
    type: list
    elements: str
  windows:
    description:
      - Explicit fault windows instead of the journal's, for faults applied
        elsewhere. Each item has C(down_at) and C(up_at) (unix time, C(up_at)
        may be null, both between 0 and 4102444800) and optionally C(n).
    type: list
    elements: dict
  recover_after:
    description: Consecutive ok samples after C(up_at) that count as recovered (1 to 1000000).
    type: int
    default: 3
  abort_when:
    description:
      - Steady-state guard (with O(state=started)). When this condition over
        the probe's own samples holds for C(for) consecutive
        samples, the probe aborts the run O(run_id) once, at once, from the
        target. It journals C(abort) (C(source=guard), C(id=<run_id>), with the
        reason, the value and the time), sends SIGTERM to the supervisor of
        every fault of that run in this ledger (each reverts immediately;
        faults whose supervisor is gone are reverted directly) and stops the
        run's data generators in this ledger. The probe keeps sampling.
      - Faults of the run on other hosts are reverted by the play, with
        M(faultline.chaos.restore) and O(faultline.chaos.restore#module:run_id)
        (the role C(faultline.chaos.flapping_connection) does this).
      - Faults belong to a run when they were applied with the same O(run_id)
        (option of M(faultline.chaos.network), M(faultline.chaos.process) and
        M(faultline.chaos.binlog)); data generators when their C(run_id) is the run.
      - "Keys: C(metric) (required): V(failed) a failing sample (C(op) and C(threshold) are
        ignored); V(failing_s) seconds since the current run of failing samples began (0 while
        ok); V(lag_s) replication lag of a V(mysql_replica) probe (C(Seconds_Behind_Master)
        while connected; while the replica is not connected, when the server reports NULL, the
        seconds since the last ok sample plus the lag then); V(latency_ms) the sample's
        latency; V(value) the first column of a V(mysql_query) probe. C(op): one of
        C(>) (default), C(>=), C(<), C(<=), C(==), C(!=). C(threshold): a finite number
        (default 0). C(for): consecutive samples the condition must hold, 1-100000 (default 1)."
      - A sample whose metric cannot be known (no number) breaks the streak.
    type: dict
  run_id:
    description: The run the guard O(abort_when) aborts (required with it).
    type: str
notes:
  - The probe runs as a detached process on the target and stops by itself at
    its O(lease). Its samples are in C(<state_dir>/workers/probe-<name>.jsonl).
  - On V(stopped) the probe's transition events are appended to the journal
    (C(source=probe)), so reports merging the journal see them.
  - The MySQL login options of this module form the action group C(faultline.chaos.mysql).
seealso:
  - module: faultline.chaos.network
'''

EXAMPLES = r'''
- name: Watch the replica while the source port is refused
  faultline.chaos.probe:
    name: replica
    kind: mysql_replica
    login_port: 3318

- name: Watch a TCP port every 50 ms
  faultline.chaos.probe:
    name: source-port
    kind: tcp
    port: 3317
    interval: 0.05

- name: Watch an HTTP health check
  faultline.chaos.probe:
    name: health
    kind: http
    url: http://127.0.0.1:8080/health
    expect_status: [200, 204]

- name: Watch a query that must return a row
  faultline.chaos.probe:
    name: orders
    kind: mysql_query
    login_port: 3317
    query: SELECT COUNT(*) FROM shop.orders
    expect: '^[0-9]+$'

- name: Steady-state guard, abort the run when the replica lags more than 5 s for 3 samples
  faultline.chaos.probe:
    name: replica-guard
    kind: mysql_replica
    login_port: 3318
    run_id: tc007-20260101
    abort_when:
      metric: lag_s
      op: '>'
      threshold: 5
      for: 3

- name: Write to a 3-member etcd cluster with the seed's retry policy, failing over between members
  faultline.chaos.probe:
    name: kv
    kind: etcd
    endpoints: [http://127.0.0.11:2379, http://127.0.0.12:2379, http://127.0.0.13:2379]
    key_prefix: t040/kv/
    interval: 0.2
    retries: 3
    backoff_initial: 0.5
    backoff_multiplier: 2.0
    backoff_max: 30

- name: Watch the same keys through one member only (does not resume after a break)
  faultline.chaos.probe:
    name: watch-single
    kind: watch
    endpoints: [http://127.0.0.11:2379]
    key_prefix: t040/kv/

- name: Events the watch missed of the writes acknowledged to the kv probe
  faultline.chaos.probe:
    name: watch-single
    state: stopped
    compare_probe: kv
  register: watch_result

- name: Stop the probe and get the metrics of the fault's windows
  faultline.chaos.probe:
    name: replica
    state: stopped
    fault_ids: [tc004]
  register: replica_probe

- name: Show time to detect and the first error
  ansible.builtin.debug:
    msg: "{{ replica_probe.metrics.time_to_detect_s }} s: {{ replica_probe.metrics.error_message }}"

- name: Metrics for a fault applied by some other tool
  faultline.chaos.probe:
    name: health
    state: collected
    windows:
      - down_at: 1767225600.0
        up_at: 1767225660.0
'''

RETURN = r'''
name:
  description: The probe's name.
  returned: always
  type: str
kind:
  description: The probe's kind.
  returned: when known
  type: str
running:
  description: Whether the probe runs after this task.
  returned: always
  type: bool
pid:
  description: Pid of the background probe.
  returned: state=started and not check mode
  type: int
output:
  description: JSONL file the probe writes its samples to.
  returned: when the probe exists
  type: str
sample:
  description: The one sample taken with O(state=sampled).
  returned: state=sampled
  type: dict
  sample: {"ts": 1767225600.1, "ok": false, "latency_ms": 0.4, "error": "Connection refused (errno 111)", "detail": {}}
samples:
  description: Number of samples collected.
  returned: state=stopped or state=collected
  type: int
ok_ratio:
  description: Share of ok samples (null without samples).
  returned: state=stopped or state=collected
  type: float
events:
  description:
    - Transitions only (ok to error, error to ok, and a change of error text),
      in the collection's event shape, with the error text on error events.
  returned: state=stopped or state=collected
  type: list
  elements: dict
  sample:
    - {"ts": 1767225601.2, "host": "db1", "source": "probe", "id": "replica", "event": "error",
       "detail": {"error": "error reconnecting to master ...", "latency_ms": 1.2, "sample": {}}}
series:
  description:
    - Run-length reduced C([[ts, 1|0], ...]) (1 = ok); one entry per change
      of state plus the last sample, for timelines.
  returned: state=stopped or state=collected
  type: list
  elements: list
values:
  description:
    - "C([[ts, number], ...]) of the successful samples whose value is a number (O(kind=mysql_query):
      the first column of the first row, e.g. C(SELECT COUNT(*) ...) on a replica): the first and
      the last sample and both samples around every change. Hand it to M(faultline.chaos.report)'s
      O(faultline.chaos.report#module:series) to draw the rows present on a replica beside the
      rows written on the source. Empty for kinds without numeric values."
  returned: state=stopped or state=collected
  type: list
  elements: list
  sample: [[1767225600.0, 120], [1767225604.9, 120], [1767225605.0, 180], [1767225612.0, 400]]
windows:
  description:
    - One entry per fault window or flap cycle with C(n), C(down_at), C(up_at),
      C(detected_at), C(recovered_at), C(time_to_detect_s), C(time_to_recover_s),
      C(error_message), C(retries), C(failed_samples) (and C(fault_id),
      C(cycle) for windows from the journal). Times are unix floats; unobserved values are null.
  returned: state=stopped or state=collected
  type: list
  elements: dict
metrics:
  description:
    - The first window's C(time_to_detect_s), C(error_message), C(retries),
      C(time_to_recover_s); C(max_*) and C(mean_*) of the times and retries over
      all windows; counts C(windows), C(detected), C(recovered).
  returned: state=stopped or state=collected
  type: dict
  sample: {"time_to_detect_s": 0.21, "error_message": "Connection refused (errno 111)", "retries": 12,
           "time_to_recover_s": 1.1, "max_time_to_detect_s": 0.3, "mean_time_to_detect_s": 0.25,
           "max_time_to_recover_s": 1.2, "mean_time_to_recover_s": 1.15, "max_retries": 14,
           "mean_retries": 13.0, "windows": 2, "detected": 2, "recovered": 2}
etcd:
  description:
    - For an V(etcd) probe, C(writes) (counts by outcome), C(keys) (the keys
      per outcome C(acked), C(failed), C(indeterminate)), C(acked_at) (key to
      C([ack time, revision])), C(failed_attempts) (every failed attempt with
      C(ts), C(endpoint), C(error), C(backoff_s) and C(next_after_s), the
      measured time to the next attempt) and C(retried_writes).
  returned: state=stopped or state=collected, kind etcd
  type: dict
watch:
  description:
    - For a V(watch) probe, C(connections), C(breaks) (C(ts), C(endpoint),
      C(error), C(last_revision)), C(reconnects) (C(ts), C(endpoint),
      C(start_revision), C(after_s) since the break), C(resumed), C(stopped)
      (the single-endpoint client gave up), C(events_received),
      C(keys_received), C(duplicates), C(base_revision); with O(compare_probe)
      also C(events_expected), C(events_missed) and C(missed_keys).
  returned: state=stopped or state=collected, kind watch
  type: dict
worker_error:
  description: The error that ended the background probe, if it crashed.
  returned: state=stopped or state=collected
  type: str
aborted:
  description:
    - The abort of the probe's guard (O(abort_when)) when it tripped, else null; C(reason),
      C(metric), C(value), C(threshold), C(at) (unix time), C(host), C(run_id), C(guard).
  returned: state=stopped or state=collected
  type: dict
  sample: {"reason": "lag_s > 2 for 1 consecutive samples (lag_s = 2.1)", "at": 1767225601.2, "run_id": "tc007-x"}
'''

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    MYSQL_BOUNDS, mysql_common_argument_spec, require_pymysql,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import DEFAULT_STATE_DIR, EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import (
    LEASE, PORT, SECONDS, TIMESTAMP, Bound, count, checked_module,
)
from ansible_collections.faultline.chaos.plugins.module_utils._probes import guard, runner
from ansible_collections.faultline.chaos.plugins.module_utils._probes.samplers import KINDS, validate


def argument_spec():
    spec = mysql_common_argument_spec()
    spec.update(
        name=dict(type="str", required=True),
        kind=dict(type="str", choices=list(KINDS)),
        state=dict(type="str", default="started", choices=["started", "stopped", "sampled", "collected"]),
        interval=dict(type="float", default=0.1),
        timeout=dict(type="float", default=1.0),
        lease=dict(type="float", default=3600.0),
        state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        query=dict(type="str"),
        expect=dict(type="str"),
        expect_rows=dict(type="int"),
        host=dict(type="str", default="127.0.0.1"),
        port=dict(type="int"),
        url=dict(type="str"),
        method=dict(type="str", default="GET"),
        expect_status=dict(type="list", elements="int", default=[200]),
        headers=dict(type="dict", no_log=True),  # Authorization, cookies, API keys
        validate_certs=dict(type="bool", default=True),
        url_username=dict(type="str"),
        url_password=dict(type="str", no_log=True),
        command=dict(type="list", elements="str"),
        endpoints=dict(type="list", elements="str"),
        key_prefix=dict(type="str", no_log=False),
        retries=dict(type="int", default=3),
        backoff_initial=dict(type="float", default=0.5),
        backoff_multiplier=dict(type="float", default=2.0),
        backoff_max=dict(type="float", default=30.0),
        read_back=dict(type="bool", default=True),
        compare_probe=dict(type="str"),
        fault_ids=dict(type="list", elements="str"),
        windows=dict(type="list", elements="dict"),
        recover_after=dict(type="int", default=3),
        # keys checked by guard.validate (ansible-core's suboptions crash on a
        # non-dict value: found by tests/unit/plugins/modules/test_fuzz_module_args.py)
        abort_when=dict(type="dict"),
        run_id=dict(type="str"),
    )
    return spec


BOUNDS = dict(MYSQL_BOUNDS, interval=SECONDS, timeout=SECONDS, lease=LEASE, expect_rows=count(0, 10 ** 9),
              port=PORT, expect_status=count(100, 599), recover_after=count(1, 10 ** 6),
              windows=dict(down_at=TIMESTAMP, up_at=TIMESTAMP), retries=count(0, 20), backoff_initial=SECONDS,
              backoff_multiplier=Bound(1.0, 100.0, text="a finite factor from 1 to 100"), backoff_max=SECONDS)


def main():
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=argument_spec(),
        required_if=[("state", "started", ["kind"]), ("state", "sampled", ["kind"]),
                     ("kind", "tcp", ["port"]), ("kind", "http", ["url"]),
                     ("kind", "command", ["command"]), ("kind", "mysql_query", ["query"]),
                     ("kind", "etcd", ["endpoints"]), ("kind", "watch", ["endpoints"])],
        mutually_exclusive=[("fault_ids", "windows")],
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    state, name, sd = p["state"], p["name"], p["state_dir"]
    result = dict(changed=False, name=name, kind=p["kind"], state=state)
    for w in p["windows"] or []:
        if "down_at" not in w:
            module.fail_json(msg="every item of windows needs down_at (and up_at): %r" % (w,), **result)
    if state in ("started", "sampled"):
        if (p["kind"] or "").startswith("mysql"):
            require_pymysql(module)  # missing_required_lib, naming the host and its Python
        err = validate(p)
        if err:
            module.fail_json(msg=err, **result)
    if p["abort_when"] is not None:
        if state != "started":
            module.fail_json(msg="abort_when is only valid with state=started", **result)
        p["abort_when"], err = guard.validate(p["abort_when"], p["run_id"])
        if err:
            module.fail_json(msg=err, **result)
    try:
        if state == "started":
            result.update(_start(module))
        elif state == "sampled":
            if module.check_mode and p["kind"] in ("command", "etcd"):
                result.update(skipped_sample=True, msg="check mode: the %s is not run" % (
                    "command" if p["kind"] == "command" else "write"))
            else:
                result["sample"] = runner.sample_once(p)
        else:
            result.update(_stop_or_collect(module))
    except EngineError as e:
        module.fail_json(msg=str(e), **result)
    module.exit_json(**result)


def _start(module):
    p = module.params
    meta = runner.status(p["state_dir"], p["name"])
    if module.check_mode:
        running = bool(meta and meta["running"])
        if running and runner.identity(meta.get("params") or {}) != runner.identity(p):
            module.fail_json(msg="probe %s is already running (pid %s) with other parameters; stop it first "
                                 "(state: stopped)" % (p["name"], meta["pid"]), name=p["name"], changed=False)
        return dict(changed=not running, running=running,
                    msg="already running" if running else "would start the probe")
    changed, meta = runner.start(p["state_dir"], p, p["lease"])
    return dict(changed=changed, running=meta["running"], pid=meta["pid"], output=meta["output"],
                started=meta.get("started"), deadline=meta.get("deadline"),
                msg="started" if changed else "already running")


def _stop_or_collect(module):
    p = module.params
    sd, name = p["state_dir"], p["name"]
    meta = runner.status(sd, name)
    if meta is None:
        return dict(running=False, samples=0, msg="no probe named %s" % name)
    out = {}
    if p["state"] == "stopped" and meta["running"]:
        out["changed"] = True
        if not module.check_mode:
            runner.stop(sd, name)
    res = runner.collect(sd, name, fault_ids=p["fault_ids"], windows=p["windows"],
                         recover_after=p["recover_after"], compare_probe=p["compare_probe"])
    if p["state"] == "stopped" and out.get("changed") and not module.check_mode:
        runner.journal_events(sd, res["events"])
    if res.get("worker_error"):
        module.warn("probe %s ended with an error: %s" % (name, res["worker_error"]))
    res.update(out)
    return res


if __name__ == "__main__":
    main()

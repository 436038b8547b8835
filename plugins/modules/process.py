#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: process
short_description: Kill, terminate, pause, stop or restart a process, with a dead-man switch
version_added: 0.1.0
description:
  - Sends a fault to a process found by O(pid), O(pidfile), listening O(port)
    or command-line regular expression O(match).
  - Processes are identified by (pid, start time) everywhere, so a recycled
    pid is never signalled.
  - Refuses PID 1, the module's own ancestry and the sshd processes serving
    the controller's SSH session (E(SSH_CONNECTION)).
  - Every held fault (pause, stop, and kill/term with a way to start the
    process again) is recorded in O(state_dir) and handed to a supervisor that
    reverts it at O(duration) or at the O(lease) end, even if the play dies.
    M(faultline.chaos.restore) reverts it as well.
requirements:
  - Linux C(/proc) on the target; no Python library beyond the standard library
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.leased
  - faultline.chaos.fault
options:
  state:
    description:
      - V(killed) sends SIGKILL and waits for the process to go.
      - V(terminated) sends SIGTERM and waits up to O(timeout) for it to exit.
      - V(paused) sends SIGSTOP; the supervisor sends SIGCONT at O(duration) or at the lease end.
      - V(resumed) ends the pauses recorded for the process (SIGCONT), and resumes
        any stopped target that was not paused by this collection.
      - V(stopped) terminates the process (SIGTERM, then SIGKILL after O(timeout)) and
        the supervisor starts it again (O(start_argv) or O(unit)) at O(duration) or at the lease end.
      - V(restarted) ends a recorded kill/term/stop of the same target (which starts it),
        or stops the running process and starts it again; then waits until O(port) listens.
    type: str
    required: true
    choices: [killed, terminated, paused, resumed, stopped, restarted]
  pid:
    description: Process id of the target (2-4194304; PID 1, init, is refused).
    type: int
  pidfile:
    description: File holding the pid of the target.
    type: path
  port:
    description:
      - TCP port the target listens on (found through C(/proc/net/tcp) and the socket
        inodes in C(/proc/*/fd)). Used to find the target when O(pid), O(pidfile) and
        O(match) are not given.
      - With O(state=restarted), O(state=stopped) or a start command, the port waited
        for after the start.
      - 1-65535.
    type: int
  host:
    description:
      - Address the target listens on (narrows a O(port) lookup) and the address
        waited on after a start.
    type: str
  match:
    description:
      - Regular expression searched in each command line (arguments joined by
        spaces). The module's own ancestry never matches.
      - A match that hits more than one process fails unless O(allow_multiple=true).
    type: str
  allow_multiple:
    description: Target every process found instead of failing when more than one is found.
    type: bool
    default: false
  unit:
    description:
      - systemd unit of the service, used to stop/start/restart it when the host runs
        systemd (C(/run/systemd/system) exists). Elsewhere O(start_argv) is used.
    type: str
  start_argv:
    description:
      - Command (argv list, never a shell string) that starts the service again.
        It is started detached (own session, stdio to O(start_log)).
      - Without it (or O(unit)) a kill or term is recorded in the journal but there
        is nothing to revert.
    type: list
    elements: str
  start_log:
    description: File receiving the output of O(start_argv).
    type: path
  timeout:
    description: Seconds to wait for the process to exit after SIGTERM or SIGKILL (greater than 0, at most 604800).
    type: float
    default: 30
  start_timeout:
    description: Seconds to wait for O(port) to listen after a start (greater than 0, at most 604800).
    type: float
    default: 60
  duration:
    description:
      - Seconds until the supervisor reverts the fault (resumes the paused process,
        starts the stopped one). Without it the fault holds until
        O(state=resumed)/O(state=restarted), M(faultline.chaos.restore) or the O(lease) end.
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
attributes:
  check_mode:
    support: full
    details: Finds the target processes and plans the signals and changes nothing.
  diff_mode:
    support: full
    details: Shows the signals sent to each target (pid, start time, command line) or the state change.
notes:
  - A kill or term of a process this collection cannot start again (no O(start_argv)
    or O(unit)) is journaled; its revert has nothing to do.
  - Re-running a held fault with the same parameters renews its lease (changed false).
'''

EXAMPLES = r'''
- name: Freeze the replica for 10 seconds (resumed by the supervisor even if the play dies)
  faultline.chaos.process:
    pidfile: /var/lib/faultline-lab/mysql/replica/mariadbd.pid
    state: paused
    duration: 10

- name: Kill -9 the source
  faultline.chaos.process:
    port: 3317
    state: killed
    start_argv: [/usr/sbin/mariadbd, --defaults-file=/var/lib/faultline-lab/mysql/source/my.cnf]

- name: Start it again and wait for the port
  faultline.chaos.process:
    port: 3317
    state: restarted
    start_argv: [/usr/sbin/mariadbd, --defaults-file=/var/lib/faultline-lab/mysql/source/my.cnf]

- name: Stop a service for 30 s; the supervisor starts it again
  faultline.chaos.process:
    pidfile: /run/myapp.pid
    state: stopped
    start_argv: [/usr/local/bin/myapp, --config, /etc/myapp.conf]
    port: 8080
    duration: 30

- name: SIGTERM every worker
  faultline.chaos.process:
    match: 'celery .*worker'
    allow_multiple: true
    state: terminated
'''

RETURN = r'''
start_at:
  description: The instant (unix seconds) at which the supervisor applies the fault (O(start_at)).
  returned: when O(start_at) is set
  type: float
  sample: 1796160600.25
start_at_iso:
  description: RV(start_at) in ISO 8601, UTC.
  returned: when O(start_at) is set
  type: str
  sample: "2026-12-01T21:30:00.250000Z"
apply_journal:
  description:
    - Where the host journals its actual apply of a scheduled fault - the journal file, the fault
      id and the event name (C(applied), with intended, wall, mono, lag_s and clock).
      M(faultline.chaos.fault_info) with O(faultline.chaos.fault_info#module:journal_since) returns those events.
  returned: when O(start_at) is set
  type: dict
  sample: {path: /run/faultline/journal.jsonl, fault_id: network_3f2a9c1d, event: applied}
fault_id:
  description: Id of the fault (held states).
  returned: when a fault is recorded
  type: str
  sample: process_1a2b3c4d
targets:
  description: The processes found, each with pid, starttime (clock ticks since boot), state and cmdline.
  returned: when targets were resolved
  type: list
  elements: dict
  sample: [{"pid": 4242, "starttime": 123456, "state": "S", "cmdline": ["/usr/sbin/mariadbd"]}]
summary:
  description: One line saying what was done.
  returned: always
  type: str
deadline:
  description: Unix time at which the supervisor reverts the fault.
  returned: when a fault is recorded
  type: float
supervisor:
  description: pid and starttime of the fault's supervisor.
  returned: when a fault is recorded
  type: dict
renewed:
  description: True when the same fault was already in place and only its lease was renewed.
  returned: when a fault is recorded
  type: bool
reverted:
  description: Faults ended by O(state=resumed) or O(state=restarted).
  returned: for resumed and restarted
  type: list
  elements: dict
planned:
  description: The runtime actions that would run (check mode).
  returned: check mode
  type: dict
'''

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import (
    ENGINE_BOUNDS, FaultEngine, engine_argument_spec, reap_orphans,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import PID, PORT, SECONDS, checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    EngineError, run_action, signal_action, wait_port_action,
)
from ansible_collections.faultline.chaos.plugins.module_utils._faults import process as proc


def same_scope(types, spec, targets=None):
    """Match for engine.revert_where: this module's faults of ``types`` for the
    same target spec or the same processes."""
    pids = set((t["pid"], t.get("starttime")) for t in targets or [])

    def match(rec):
        params = rec.get("params") or {}
        same_spec = all(params.get(k) == spec.get(k) for k in proc.TARGET_KEYS)
        same_proc = any((t.get("pid"), t.get("starttime")) in pids for t in params.get("targets", []))
        return rec.get("type") in types and (same_spec or same_proc)
    return match


def run_held(module, engine, params):
    fault = proc.ProcessFault(params, fault_id=params.get("fault_id"))
    fault.resolve(engine)
    plan = fault.plan()
    duration = params.get("duration")
    if not plan["revert"]:
        duration = 0.0  # nothing to revert: journal it, the supervisor closes the record at once
    res = engine.apply(fault, duration=duration, lease=params["lease"])
    res["targets"] = params["targets"]
    res.pop("record", None)
    return res


def run_resumed(module, engine, params):
    targets = proc.find_targets(params)
    reverted = engine.revert_where("process", same_scope(("paused",), params, targets), reason="resumed")
    paused_ids = set((t["pid"], t.get("starttime")) for r in reverted for t in r["params"].get("targets", []))
    stray = [t for t in targets if t["state"] == "T" and (t["pid"], t["starttime"]) not in paused_ids]
    if stray:  # stopped, but not by a fault of ours: nothing to revert later
        engine.run_now("process_resume", "resumed", [signal_action(t, "SIGCONT") for t in stray],
                       lambda _results: {"pids": [t["pid"] for t in stray]})
    changed = bool(reverted or stray)
    return dict(changed=changed, targets=targets, reverted=reverted,
                summary="resumed %d process(es)" % (len(reverted) + len(stray)) if changed else "nothing paused",
                diff=dict(before="paused\n" if changed else "running\n", after="running\n"))


def run_restarted(module, engine, params):
    reverted = engine.revert_where("process", same_scope(("killed", "terminated", "stopped"), params),
                                   reason="restarted")
    if reverted:
        return dict(changed=True, reverted=reverted, targets=[],
                    summary="started again (ended %s)" % ", ".join(r["id"] for r in reverted),
                    diff=dict(before="stopped\n", after="running\n"))
    try:
        targets = proc.find_targets(params)
    except proc.NotFound:
        if params.get("pid") is not None:
            raise
        targets = []  # not running: just start it
    if params.get("unit") and proc.has_systemd():
        actions = [run_action(["systemctl", "restart", params["unit"]])]
        if params.get("port"):
            actions.append(wait_port_action(params["port"], params.get("host") or "127.0.0.1",
                                            params["start_timeout"]))
    else:
        actions = proc.stop_actions(targets, "SIGTERM", params["timeout"], kill_after=True)
        actions += proc.start_actions(start_argv=params["start_argv"], port=params.get("port"),
                                      host=params.get("host"), timeout=params["start_timeout"],
                                      not_while=targets, log=params.get("start_log"))
    summary = "restarted %s" % (", ".join(str(t["pid"]) for t in targets) or "(was not running)")
    res = dict(changed=True, targets=targets, reverted=[], summary=summary,
               diff=dict(before="running\n" if targets else "stopped\n", after="restarted\n"))
    if module.check_mode:
        res["planned"] = dict(apply=actions, revert=[])
        return res
    engine.run_now("process_restart", "restarted", actions,
                   lambda results: {"targets": proc.idents(targets),
                                    "spawned": [r.get("pid") for r in results if r.get("op") == "spawn"]})
    return res


BOUNDS = dict(ENGINE_BOUNDS, pid=PID, port=PORT, timeout=SECONDS, start_timeout=SECONDS, duration=SECONDS)


def main():
    argument_spec = engine_argument_spec()
    argument_spec.update(
        state=dict(type="str", required=True,
                   choices=["killed", "terminated", "paused", "resumed", "stopped", "restarted"]),
        pid=dict(type="int"),
        pidfile=dict(type="path"),
        port=dict(type="int"),
        host=dict(type="str"),
        match=dict(type="str"),
        allow_multiple=dict(type="bool", default=False),
        unit=dict(type="str"),
        start_argv=dict(type="list", elements="str"),
        start_log=dict(type="path"),
        timeout=dict(type="float", default=30.0),
        start_timeout=dict(type="float", default=60.0),
        duration=dict(type="float"),
    )
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=argument_spec,
        mutually_exclusive=[("pid", "pidfile", "match")],
        required_one_of=[("pid", "pidfile", "port", "match", "unit")],
        required_if=[("state", "stopped", ("start_argv", "unit"), True),
                     ("state", "restarted", ("start_argv", "unit"), True)],
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    params = dict(module.params)
    if params["start_at"] and params["state"] in ("resumed", "restarted"):
        module.fail_json(msg="start_at schedules a fault (killed, terminated, paused, stopped), not state=%s"
                         % params["state"])
    if params.get("start_argv") is not None and not params["start_argv"]:
        module.fail_json(msg="start_argv must be a non-empty argv list")
    if params.get("unit") and not proc.has_systemd() and not params.get("start_argv") \
            and params["state"] in ("stopped", "restarted"):
        module.fail_json(msg="unit %s given but this host does not run systemd; give start_argv" % params["unit"])
    engine = FaultEngine(module, state_dir=params["state_dir"])
    try:
        if params["state"] == "resumed":
            res = run_resumed(module, engine, params)
        elif params["state"] == "restarted":
            res = run_restarted(module, engine, params)
        else:
            res = run_held(module, engine, params)
    except EngineError as e:
        module.fail_json(msg=str(e))
    if engine.revert_failure(res.get("reverted")):
        module.fail_json(msg=engine.revert_failure(res.get("reverted")), **res)
    module.exit_json(**res)


if __name__ == "__main__":
    main()

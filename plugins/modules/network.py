#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: network
short_description: Take a network path down, bring it up, or make it flap
version_added: 0.1.0
description:
  - Injects network faults on the target host, the Ansible way of the seed
    test cases' C(toolkit network --down|--up|--flap).
  - V(reject) answers with a TCP reset, so clients see "Connection refused"
    at once. V(timeout) drops packets silently, so connects and reads time
    out. V(loss) drops a random share of packets (nftables C(numgen random);
    this kernel family has no netem). V(service) stops the service behind
    the port instead (its systemd unit, or a pidfile plus a start command)
    and starts it again on revert.
  - Rules live only in the collection's own nftables table C(inet faultline)
    (one base chain per fault), or where nftables is unusable in its own
    iptables chains C(FLT_*). Nothing else is touched, nothing is flushed.
  - Every fault is recorded in O(state_dir) on the target and handed to a
    detached supervisor that reverts it at O(duration) or at the O(lease)
    deadline, even if the controller dies. Re-running the same task renews
    the lease (idempotent, RV(ignore:changed=false)).
  - A listed port is a service port. V(reject) answers every packet sent to
    it with a TCP reset (new connections are refused, an established one is
    reset as soon as the client sends or acknowledges anything). V(timeout)
    and V(loss) drop both directions of the conversation, so a silent drop
    really is silent.
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.leased
  - faultline.chaos.fault
attributes:
  check_mode:
    support: full
    details: Computes the rules or signals it would apply and changes nothing.
  diff_mode:
    support: full
    details: Shows the nftables/iptables rules (or service action) added or removed.
options:
  state:
    description:
      - V(down) applies the fault (and renews it when already applied).
      - V(up) reverts network faults (including V(service) stops) - with
        O(fault_id) that fault; with the same scope options as the V(down)
        task (ports, peers, type, or the service options) the fault that task
        applied; with no scope or O(all=true) every network fault of the host
        (the seed's C(toolkit network --up)).
      - V(flap) alternates down and up on a fixed schedule run by the
        supervisor (O(down_for)/O(up_for) or O(interval)) for O(duration)
        seconds, then leaves the network up.
    type: str
    choices: [down, up, flap]
    default: down
  type:
    description: What kind of outage.
    type: str
    choices: [reject, timeout, loss, service]
    default: reject
  port:
    description: One service port (shorthand for O(ports)), 1-65535.
    type: int
  ports:
    description:
      - Service ports whose traffic is cut (1-65535). Left out, every port (of
        the O(peers)) is cut.
      - An empty list is refused (an empty variable must never widen a fault
        to every port); leave the option out instead.
    type: list
    elements: int
  peers:
    description:
      - Remote addresses or networks (IPv4/IPv6, CIDR allowed). With O(direction=in)
        traffic from them, with V(out) traffic to them. Left out, every peer.
      - Peers without ports isolate the host from those peers (a partition).
      - On the iptables backend IPv4 peers go to C(iptables) and IPv6 peers
        to C(ip6tables); a family with no peer listed gets no rule.
      - An empty list is refused, as for O(ports).
    type: list
    elements: str
  all_traffic:
    description:
      - Confirm a fault with neither O(ports) nor O(peers), which cuts every
        port to and from every peer of the host (or of O(netns)). Without it
        such a fault is refused.
      - The lockout guard (O(allow_lockout)) still applies.
    type: bool
    default: false
  protocol:
    description: Transport protocol matched by the rules.
    type: str
    choices: [tcp, udp, all]
    default: tcp
  direction:
    description:
      - V(in) filters packets arriving at this host (input hook), V(out) packets
        leaving it (output hook), V(both) both. On loopback V(in) is enough.
    type: str
    choices: [in, out, both]
    default: in
  netns:
    description:
      - Apply the fault inside this network namespace, given as a name
        (C(ip netns)), a path (C(/proc/PID/ns/net), C(/run/netns/NAME)) or a pid.
      - Namespaces are compared by inode, so a value that names the
        namespace of the controller's SSH session (C(1), C(/proc/self/ns/net),
        the pid of a host-network process) gets the lockout guard as well.
    type: str
  loss_percent:
    description: Share of packets dropped with O(type=loss), in percent (1-100).
    type: int
  duration:
    description:
      - Seconds until the supervisor reverts the fault (a timed outage). For
        O(state=flap) the length of the whole flapping period.
      - Without it a V(down) fault lasts until O(state=up), M(faultline.chaos.restore) or its lease.
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
  interval:
    description:
      - With O(state=flap), seconds down and then seconds up (the seed's C(--interval)).
      - Greater than 0 and at most 604800 (7 days).
    type: float
  down_for:
    description: With O(state=flap), seconds down per cycle (overrides O(interval)), greater than 0 and at most 604800.
    type: float
  up_for:
    description: With O(state=flap), seconds up per cycle (overrides O(interval)), greater than 0 and at most 604800.
    type: float
  wait:
    description: With O(duration) or O(state=flap), block until the supervisor has reverted the fault.
    type: bool
    default: false
  all:
    description: With O(state=up), revert every network fault of the host.
    type: bool
    default: false
  backend:
    description: Firewall backend; V(auto) prefers nftables and falls back to iptables.
    type: str
    choices: [auto, nft, iptables]
    default: auto
  allow_lockout:
    description:
      - Allow a fault that would cut the controller's own SSH session. Refused
        by default.
      - The session is found from the process ancestry of the module (the
        sshd process that owns it, its TCP socket looked up in that sshd's
        network namespace), which C(become)/sudo does not hide, and from
        C(SSH_CONNECTION) in the environment of the module and its ancestors.
      - A fault is refused when, in the namespace it goes into, it matches the
        session's peer address (or has no O(peers)) and one of its ports
        (or has no O(ports)), whatever its type or direction.
      - Not seen - an C(async) task (detached from its sshd) under C(become),
        and sessions of other users or other controllers.
    type: bool
    default: false
  service_unit:
    description: With O(type=service), the systemd unit to stop (hosts booted with systemd).
    type: str
  service_pidfile:
    description: With O(type=service) and no unit, the pidfile of the service process.
    type: path
  service_start:
    description: With O(type=service) and no unit, the command (argv list) that starts the service again.
    type: list
    elements: str
  service_host:
    description: Address where the restarted service must listen before revert is done.
    type: str
    default: 127.0.0.1
  service_stop_timeout:
    description: Seconds to wait for the service to exit after SIGTERM before SIGKILL (greater than 0, at most 604800).
    type: float
    default: 60
notes:
  - Needs root (CAP_NET_ADMIN) on the target and C(nft) or C(iptables).
  - Use M(faultline.chaos.fault_info) for C(toolkit network --status) and
    M(faultline.chaos.restore) for C(toolkit restore --all).
seealso:
  - module: faultline.chaos.restore
  - module: faultline.chaos.fault_info
'''

EXAMPLES = r'''
- name: Connection refused on the MySQL source port (TC-004)
  faultline.chaos.network:
    state: down
    type: reject
    port: 3306

- name: Timed outage, reverted by the supervisor after 60 s even if the play dies
  faultline.chaos.network:
    state: down
    type: timeout
    ports: [3306]
    duration: 60

- name: Flap every 30 s for 5 minutes (TC-007), return at once
  faultline.chaos.network:
    state: flap
    type: reject
    port: 3306
    interval: 30
    duration: 300
  register: flap

- name: Partition a lab host from two peers inside its namespace
  faultline.chaos.network:
    state: down
    type: timeout
    peers: [198.18.0.12, 198.18.0.13]
    direction: both
    netns: node1

- name: Stop the database service behind the port, start it again after 30 s
  faultline.chaos.network:
    state: down
    type: service
    service_pidfile: /var/lib/mysql/mysqld.pid
    service_start: [/usr/sbin/mariadbd, --defaults-file=/etc/mysql/my.cnf]
    port: 3306
    duration: 30

- name: Network up again (toolkit network --up)
  faultline.chaos.network:
    state: up
    all: true
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
  description: Id of the fault (use it with O(state=up) or M(faultline.chaos.fault_info)).
  returned: when a single fault is addressed
  type: str
  sample: network_3f2a9c1d
summary:
  description: One line saying what the fault does.
  returned: when a single fault is addressed
  type: str
  sample: network reject (TCP RST) on tcp port 3317, direction in
backend:
  description: Firewall backend used.
  returned: when rules are involved
  type: str
  sample: nft
deadline:
  description: Unix time at which the supervisor reverts the fault.
  returned: state is down or flap
  type: float
renewed:
  description: The fault was already in place and its lease was renewed.
  returned: state is down or flap
  type: bool
supervisor:
  description: Pid and start time of the supervisor process.
  returned: state is down or flap, not in check mode
  type: dict
reverted:
  description: Faults reverted with O(state=up) (id, reverted, by, errors, and the record's kind, type, summary and params).
  returned: state is up
  type: list
  elements: dict
events:
  description: Events of this fault so far (shared event shape), for reports and timelines.
  returned: always
  type: list
  elements: dict
rules:
  description: The rules (nft script or iptables commands) the fault adds.
  returned: when rules are involved
  type: str
'''

import os
import time

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import (
    ENGINE_BOUNDS, FaultEngine, engine_argument_spec, reap_orphans,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import PERCENT, PORT, SECONDS, checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._faults.network import (
    NetworkFault, netns_prefix,
)


def _build_fault(module, scope, ports):
    """The fault this task describes: the same object for down, flap and up."""
    p = module.params
    if p["type"] == "service":
        # only here: the process planner (and the worker registry it reads) costs every
        # other network task milliseconds of import
        from ansible_collections.faultline.chaos.plugins.module_utils._faults.process import ServiceStopFault
        return ServiceStopFault(dict(
            service_unit=p["service_unit"], service_pidfile=p["service_pidfile"],
            service_start=p["service_start"], service_port=ports[0] if ports else None,
            service_host=p["service_host"], service_timeout=p["service_stop_timeout"]),
            fault_id=p["fault_id"])
    # resolve() (called by FaultEngine.apply) checks the scope and the lockout
    # guard and finds the backend
    return NetworkFault(scope, fault_id=p["fault_id"], owner=p["state_dir"], wanted_backend=p["backend"],
                        allow_lockout=p["allow_lockout"], all_traffic=p["all_traffic"])


BOUNDS = dict(ENGINE_BOUNDS, port=PORT, ports=PORT, loss_percent=PERCENT, duration=SECONDS, interval=SECONDS,
              down_for=SECONDS, up_for=SECONDS, service_stop_timeout=SECONDS)


def main():
    argument_spec = engine_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="down", choices=["down", "up", "flap"]),
        type=dict(type="str", default="reject", choices=["reject", "timeout", "loss", "service"]),
        port=dict(type="int"),
        ports=dict(type="list", elements="int"),
        peers=dict(type="list", elements="str"),
        protocol=dict(type="str", default="tcp", choices=["tcp", "udp", "all"]),
        direction=dict(type="str", default="in", choices=["in", "out", "both"]),
        netns=dict(type="str"),
        loss_percent=dict(type="int"),
        duration=dict(type="float"),
        interval=dict(type="float"),
        down_for=dict(type="float"),
        up_for=dict(type="float"),
        wait=dict(type="bool", default=False),
        all=dict(type="bool", default=False),
        backend=dict(type="str", default="auto", choices=["auto", "nft", "iptables"]),
        allow_lockout=dict(type="bool", default=False),
        all_traffic=dict(type="bool", default=False),
        service_unit=dict(type="str"),
        service_pidfile=dict(type="path"),
        service_start=dict(type="list", elements="str"),
        service_host=dict(type="str", default="127.0.0.1"),
        service_stop_timeout=dict(type="float", default=60.0),
    )
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("port", "ports"), ("service_unit", "service_pidfile")],
        required_if=[("type", "loss", ("loss_percent",))],
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    ports = list(p["ports"] or [])
    if p["port"] is not None:
        ports = [p["port"]]
    if p["start_at"] and p["state"] == "up":
        module.fail_json(msg="start_at schedules a fault (state down or flap); it cannot schedule state=up")
    if p["type"] == "service" and p["state"] == "flap":
        module.fail_json(msg="state=flap supports type reject, timeout or loss, not service")
    if p["state"] == "flap":
        if p["duration"] is None:
            module.fail_json(msg="state=flap needs duration (the length of the flapping period)")
        down_for = p["down_for"] or p["interval"]
        up_for = p["up_for"] or p["interval"]
        if not down_for or not up_for:
            module.fail_json(msg="state=flap needs interval (or both down_for and up_for)")
        if p["duration"] < down_for:
            module.fail_json(msg="duration (%ss) is shorter than one down interval (%ss)" % (p["duration"], down_for))
    if os.geteuid() != 0:
        module.fail_json(msg="faultline.chaos.network needs root (CAP_NET_ADMIN) on the target; use become: true")

    engine = FaultEngine(module, state_dir=p["state_dir"])
    # ports/peers None when not given: an empty list is refused, not widened to everything
    scope = dict(type=p["type"], ports=[p["port"]] if p["port"] is not None else p["ports"], peers=p["peers"],
                 protocol=p["protocol"], direction=p["direction"], netns=p["netns"], loss_percent=p["loss_percent"])

    try:
        netns_prefix(p["netns"])  # validates the namespace before anything else
        if p["state"] == "up":
            return _up(module, engine, scope, ports)
        if p["type"] == "service" and not (p["service_unit"] or (p["service_pidfile"] and p["service_start"])):
            module.fail_json(msg="type=service needs service_unit, or service_pidfile and service_start")
        fault = _build_fault(module, scope, ports)
        schedule = None
        if p["state"] == "flap":
            schedule = {"mode": "flap", "down_for": p["down_for"] or p["interval"],
                        "up_for": p["up_for"] or p["interval"]}
        res = engine.apply(fault, duration=p["duration"], lease=p["lease"], schedule=schedule)
        if (p["wait"] and (p["duration"] or schedule)) and not module.check_mode:
            span = res.get("deadline", 0) - time.time()
            if not engine.wait_for_end(res["fault_id"], timeout=max(span, 0) + 30):
                module.fail_json(msg="fault %s was not reverted by its supervisor in time" % res["fault_id"], **res)
            res["waited"] = True
        res.pop("record", None)
        res["backend"] = getattr(fault, "backend", None)
        res["rules"] = res["diff"]["after"]
        res["events"] = engine.ledger.events(res["fault_id"])
        module.exit_json(**res)
    except EngineError as e:
        module.fail_json(msg=str(e))


def _up(module, engine, scope, ports):
    p = module.params
    scoped = bool(ports or p["peers"] or p["service_unit"] or p["service_pidfile"])
    if p["fault_id"]:
        wanted = p["fault_id"]
    elif p["all"] or not scoped:
        wanted = None  # `toolkit network --up` with no scope: every network fault
    else:
        # the fault the same task would have put down (ids derive from the scope)
        wanted = _build_fault(module, scope, ports).fault_id
    reverted = engine.revert_where("network", (lambda rec: rec["id"] == wanted) if wanted else None,
                                   reason="up", by="module")
    changed = any(r.get("reverted") for r in reverted)
    diff = dict(before="".join("%s\n" % r["summary"] for r in reverted), after="")
    events = []
    for r in reverted:
        events.extend(engine.ledger.events(r["id"]))
    if engine.revert_failure(reverted):
        module.fail_json(msg=engine.revert_failure(reverted), changed=changed, reverted=reverted, events=events)
    module.exit_json(changed=changed, reverted=reverted, diff=diff, events=events)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: cluster_info
short_description: Members, leader, raft term, revision, health and KV hashes of an etcd cluster
version_added: 0.1.0
description:
  - Asks every given client endpoint of an etcd (v3) cluster for its status through etcd's
    JSON gateway (C(/v3/maintenance/status), C(/v3/cluster/member/list), C(/v3/kv/range)),
    with plain HTTP requests (no etcd client library), and returns the members, the current
    leader, the raft term, the revision and each member's health.
  - A member is healthy when its status answers without errors, it knows a leader and a
    linearizable read through it succeeds (which needs a quorum).
  - The leader is the member that the members with the highest raft term name as leader.
    Its name, host, address and pid are returned; the pid (of any member) comes from the
    lab description's pidfile when that process runs C(etcd), else from the process
    listening on the member's client address and port in this host's network namespace
    (C(/proc)), else it is V(null).
  - With O(hashes=true), like C(etcdctl endpoint hashkv), the KV hash of every member at
    one revision (C(/v3/maintenance/hash) with a revision, HashKV), so a scenario can assert
    that all members hold the same data after a heal.
  - Fails naming the member (and endpoint) that did not answer or is unhealthy, unless
    O(require_healthy=false), which returns the same facts with C(healthy=false) instead
    (for use during a fault).
author:
  - faultline.chaos contributors (@faultline)
attributes:
  check_mode:
    support: full
    description: Reads only; runs the same in check mode.
  diff_mode:
    support: none
    description: Nothing changes, nothing to diff.
options:
  endpoints:
    description:
      - Client URLs to query (C(http://127.0.0.11:2379)); default the C(endpoints) of O(lab).
      - At most 64.
    type: list
    elements: str
  lab:
    description:
      - The C(lab_etcd) fact of R(the lab_etcd role,ansible_collections.faultline.chaos.lab_etcd_role)
        (or any dict with C(endpoints) and C(members) with C(name), C(host), C(address),
        C(client_url), C(pidfile)), to name unreachable members, give hosts and find pids.
    type: dict
  lab_file:
    description: Read O(lab) from this JSON file on the target (C(/var/lib/faultline-lab/etcd/lab_etcd.json)).
    type: path
  timeout:
    description: Seconds to wait for each HTTP request (0.1 to 60).
    type: float
    default: 3
  hashes:
    description: Also return every member's KV hash at one revision (RV(hashes)).
    type: bool
    default: false
  hash_revision:
    description: The revision to hash at (default the lowest current revision of the members).
    type: int
  require_healthy:
    description:
      - Fail when a member does not answer or is unhealthy, or there is no single leader,
        naming the member. V(false) returns the facts anyway.
      - With O(hashes=true), also fail when the hashes differ.
    type: bool
    default: true
  health_key:
    description: Key read (linearizably) through each member to prove it reaches a quorum.
    type: str
    default: faultline/health
notes:
  - The grpc-proxy of the lab speaks gRPC only; query the members' client URLs.
seealso:
  - name: etcd v3 gRPC gateway
    description: The JSON gateway this module calls.
    link: https://etcd.io/docs/v3.4/dev-guide/api_grpc_gateway/
'''

EXAMPLES = r'''
- name: Who leads the lab cluster (fails naming an unreachable member)
  faultline.chaos.cluster_info:
    lab: "{{ lab_etcd }}"
  register: cluster

- name: Kill the leader by its pid
  faultline.chaos.process:
    pid: "{{ cluster.leader.pid }}"
    state: killed

- name: During a partition, read without failing
  faultline.chaos.cluster_info:
    endpoints: [http://127.0.0.11:2379, http://127.0.0.12:2379, http://127.0.0.13:2379]
    require_healthy: false
    timeout: 1
  register: during

- name: After the heal, all members hold the same data
  faultline.chaos.cluster_info:
    lab_file: /var/lib/faultline-lab/etcd/lab_etcd.json
    hashes: true
  register: healed
'''

RETURN = r'''
healthy:
  description: Every member answered and is healthy, and there is one leader.
  returned: always
  type: bool
leader:
  description: The current leader (V(null) when none is agreed).
  returned: always
  type: dict
  sample: {name: etcd2, id: 894685148310a2f5, host: localhost, address: 127.0.0.12,
           endpoint: "http://127.0.0.12:2379", client_urls: ["http://127.0.0.12:2379"], pid: 41234}
raft_term:
  description: The highest raft term reported.
  returned: always
  type: int
revision:
  description: The leader's current revision (else the highest reported).
  returned: always
  type: int
cluster_id:
  description: The cluster id (hex); several ids comma-separated would mean the endpoints are different clusters.
  returned: always
  type: str
members:
  description:
    - One entry per member (from the member list, plus endpoints that did not answer), with
      C(name), C(id), C(host), C(address), C(endpoint), C(client_urls), C(peer_urls), C(pid),
      C(pidfile), C(log), C(reachable), C(healthy), C(error), C(is_leader), C(is_learner)
      and, when reachable, C(leader_id), C(raft_term), C(raft_index), C(raft_applied_index),
      C(revision), C(version), C(db_size), C(errors).
  returned: always
  type: list
  elements: dict
leader_views:
  description: Who each reachable member names as leader (name, or id when unknown).
  returned: always
  type: dict
  sample: {etcd1: etcd2, etcd2: etcd2, etcd3: etcd2}
unreachable_endpoints:
  description: Endpoints that did not answer, with the member name when known and the error.
  returned: always
  type: list
  elements: dict
  sample: [{endpoint: "http://127.0.0.13:2379", name: etcd3, error: "[Errno 111] Connection refused"}]
hashes:
  description: KV hash of every reachable member at one revision, and whether they are all equal.
  returned: when O(hashes=true)
  type: dict
  sample: {revision: 42, equal: true, members: {etcd1: 3792831123, etcd2: 3792831123, etcd3: 3792831123},
           compact_revisions: {etcd1: 0, etcd2: 0, etcd3: 0}, errors: {}}
'''

import json
import math
import re

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._cluster import etcd

MAX_ENDPOINTS = 64
URL_RE = re.compile(r"^https?://[^/\s]+/?$")


def load_lab(module, p):
    if p["lab"] is not None:
        return p["lab"]
    if p["lab_file"]:
        try:
            with open(p["lab_file"]) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            module.fail_json(msg="cannot read lab_file %s: %s" % (p["lab_file"], e))
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type="list", elements="str"),
            lab=dict(type="dict"),
            lab_file=dict(type="path"),
            timeout=dict(type="float", default=3.0),
            hashes=dict(type="bool", default=False),
            hash_revision=dict(type="int"),
            require_healthy=dict(type="bool", default=True),
            health_key=dict(type="str", default="faultline/health", no_log=False),
        ),
        mutually_exclusive=[("lab", "lab_file")],
        required_one_of=[("endpoints", "lab", "lab_file")],
        supports_check_mode=True,
    )
    p = module.params
    if not (math.isfinite(p["timeout"]) and 0.1 <= p["timeout"] <= 60):
        module.fail_json(msg="timeout must be between 0.1 and 60 seconds (got %s)" % p["timeout"])
    if p["hash_revision"] is not None and not 1 <= p["hash_revision"] < 2 ** 63:
        module.fail_json(msg="hash_revision must be a revision >= 1 (got %s)" % p["hash_revision"])
    if not p["health_key"]:
        module.fail_json(msg="health_key must not be empty")
    lab = load_lab(module, p)
    if lab is not None and not isinstance(lab.get("members", []), list):
        module.fail_json(msg="lab: members must be a list of member descriptions")
    endpoints = p["endpoints"] if p["endpoints"] else (lab or {}).get("endpoints") or []
    if not endpoints:
        module.fail_json(msg="no endpoints: give endpoints, or a lab with endpoints")
    if len(endpoints) > MAX_ENDPOINTS:
        module.fail_json(msg="at most %d endpoints (got %d)" % (MAX_ENDPOINTS, len(endpoints)))
    bad = [e for e in endpoints if not URL_RE.match(e or "")]
    if bad:
        module.fail_json(msg="endpoints must be client URLs such as http://127.0.0.11:2379 (got %s)" % ", ".join(map(str, bad)))

    gw = etcd.Gateway(p["timeout"])
    view = etcd.cluster_view(gw, endpoints, lab_members=(lab or {}).get("members") or [], health_key=p["health_key"])
    result = dict(changed=False, **view)
    if p["hashes"]:
        result["hashes"] = etcd.compare_hashes(gw, view["members"], p["hash_revision"])

    if p["require_healthy"]:
        problems = []
        for m in view["members"]:
            if not m["healthy"]:
                label = m["name"] or m["id"] or m.get("endpoint")
                where = " (%s)" % m["endpoint"] if m.get("endpoint") else ""
                problems.append("member %s%s %s: %s" % (label, where, "unhealthy" if m["reachable"] else "unreachable",
                                                        m.get("error") or "no answer"))
        if not view["members"]:
            problems.append("no endpoint answered")
        elif view["leader"] is None:
            problems.append("no single leader (views: %s)" % view["leader_views"])
        if p["hashes"] and not result["hashes"]["equal"]:
            problems.append("KV hashes differ at revision %s: %s%s" % (
                result["hashes"]["revision"], result["hashes"]["members"],
                (" errors: %s" % result["hashes"]["errors"]) if result["hashes"]["errors"] else ""))
        if problems:
            module.fail_json(msg="etcd cluster not healthy: " + "; ".join(problems), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

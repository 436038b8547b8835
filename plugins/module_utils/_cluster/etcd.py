# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""etcd cluster facts through etcd's v3 JSON gateway (grpc-gateway on the client port).

No etcd client library: every call is one HTTP POST of a JSON body to
``<client URL>/v3/...`` made by a ``request(url, body, timeout) -> dict``
function (``gateway_request`` by default, ``open_url``; unit tests pass a
fake). The gateway writes 64-bit integers as JSON strings and member ids as
unsigned decimals; ids are returned here as 16-digit hex, as etcdctl prints them.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import os
import socket

from ansible.module_utils.urls import open_url
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_stat_fields

STATUS = "/v3/maintenance/status"
MEMBER_LIST = "/v3/cluster/member/list"
RANGE = "/v3/kv/range"
# HashKV (body {"revision": r}); etcd 3.4 maps Hash and HashKV to this one path,
# the answer carries compact_revision when HashKV served it.
HASHKV = "/v3/maintenance/hash"


class EtcdError(Exception):
    """A gateway call failed: ``endpoint`` and ``path`` say which."""

    def __init__(self, endpoint, path, message):
        super(EtcdError, self).__init__("%s%s: %s" % (endpoint, path, message))
        self.endpoint = endpoint
        self.path = path
        self.message = message


def b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def unb64(text):
    return base64.b64decode(text or "").decode("utf-8", "replace")


def as_int(value, default=0):
    """A gateway integer (a JSON string or number, absent when 0)."""
    if value is None or value == "":
        return default
    return int(value)


def member_id(value):
    """An id as etcdctl prints it: 16 hex digits ('' for 0 / absent)."""
    n = as_int(value)
    return "%016x" % n if n else ""


def field(doc, *names):
    """The first present of ``names`` (the gateway's JSON uses snake or camel case by field)."""
    for name in names:
        if name in doc:
            return doc[name]
    return None


def gateway_request(url, body, timeout):
    """POST ``body`` as JSON to ``url``; the decoded answer. EtcdError-free: raises OSError/ValueError."""
    resp = open_url(url, data=json.dumps(body), method="POST", timeout=timeout,
                    headers={"Content-Type": "application/json"}, follow_redirects="none")
    return json.loads(resp.read().decode("utf-8") or "{}")


class Gateway(object):
    def __init__(self, timeout, request=None):
        self.timeout = timeout
        self.request = request or gateway_request

    def call(self, endpoint, path, body):
        url = endpoint.rstrip("/") + path
        try:
            doc = self.request(url, body, self.timeout)
        except HTTPError as e:
            detail = ""
            try:
                detail = json.loads(e.read().decode("utf-8")).get("error", "")
            except Exception:  # noqa: BLE001 -- the status line is enough
                pass
            raise EtcdError(endpoint, path, "HTTP %s %s" % (e.code, detail or e.reason))
        except URLError as e:
            raise EtcdError(endpoint, path, str(e.reason))
        except socket.timeout:
            raise EtcdError(endpoint, path, "no answer within %ss" % self.timeout)
        except (OSError, ValueError) as e:
            raise EtcdError(endpoint, path, str(e) or e.__class__.__name__)
        if not isinstance(doc, dict):
            raise EtcdError(endpoint, path, "not a JSON object: %r" % (doc,))
        if doc.get("error"):
            raise EtcdError(endpoint, path, doc["error"])
        return doc

    def status(self, endpoint):
        return parse_status(self.call(endpoint, STATUS, {}))

    def members(self, endpoint):
        return parse_member_list(self.call(endpoint, MEMBER_LIST, {}))

    def read(self, endpoint, key, serializable=False):
        """A range read of ``key`` (linearizable unless ``serializable``): (revision, value or None)."""
        doc = self.call(endpoint, RANGE, {"key": b64(key), "serializable": bool(serializable)})
        return parse_range(doc)

    def hashkv(self, endpoint, revision):
        return parse_hashkv(self.call(endpoint, HASHKV, {"revision": int(revision)}))


def parse_header(doc):
    header = doc.get("header") or {}
    return dict(cluster_id=member_id(header.get("cluster_id")), member_id=member_id(header.get("member_id")),
                revision=as_int(header.get("revision")), raft_term=as_int(header.get("raft_term")))


def parse_status(doc):
    """/v3/maintenance/status -> member_id, leader, raft_term, raft_index, revision, version, db_size, errors."""
    header = parse_header(doc)
    return dict(
        member_id=header["member_id"], cluster_id=header["cluster_id"], revision=header["revision"],
        leader=member_id(field(doc, "leader")),
        raft_term=as_int(field(doc, "raftTerm", "raft_term")) or header["raft_term"],
        raft_index=as_int(field(doc, "raftIndex", "raft_index")),
        raft_applied_index=as_int(field(doc, "raftAppliedIndex", "raft_applied_index")),
        version=field(doc, "version") or "",
        db_size=as_int(field(doc, "dbSize", "db_size")),
        is_learner=bool(field(doc, "isLearner", "is_learner")),
        errors=list(field(doc, "errors") or []),
    )


def parse_member_list(doc):
    """/v3/cluster/member/list -> [{id, name, peer_urls, client_urls, is_learner}] (ids in hex)."""
    out = []
    for m in doc.get("members") or []:
        out.append(dict(
            id=member_id(m.get("ID", m.get("id"))), name=m.get("name") or "",
            peer_urls=list(field(m, "peerURLs", "peer_urls") or []),
            client_urls=list(field(m, "clientURLs", "client_urls") or []),
            is_learner=bool(field(m, "isLearner", "is_learner"))))
    return out


def parse_range(doc):
    kvs = doc.get("kvs") or []
    value = unb64(kvs[0].get("value")) if kvs else None
    return parse_header(doc)["revision"], value


def parse_hashkv(doc):
    return dict(hash=as_int(doc.get("hash")), revision=parse_header(doc)["revision"],
                compact_revision=as_int(field(doc, "compact_revision", "compactRevision")))


# --------------------------------------------------------------------------
# pids
# --------------------------------------------------------------------------

def pid_from_pidfile(path, exe_name="etcd", proc=procfs.PROC):
    """The pid in ``path`` when that process is alive and runs ``exe_name``, else None."""
    try:
        pid = procfs.read_pidfile(path)
    except procfs.ProcfsError:
        return None
    return pid if pid > 0 and _runs(pid, exe_name, proc) else None


def _runs(pid, exe_name, proc):
    fields = proc_stat_fields(pid, proc)
    argv = procfs.cmdline(pid, proc)
    return bool(fields) and fields[0] != "Z" and bool(argv) and os.path.basename(argv[0]) == exe_name


def pid_by_listen(address, port, exe_name="etcd", proc=procfs.PROC):
    """The pid of the ``exe_name`` process listening on ``address``:``port`` (or a wildcard), else None."""
    for pid in procfs.listening_pids(port, address, proc):
        return pid if _runs(pid, exe_name, proc) else None
    return None


# --------------------------------------------------------------------------
# the cluster view
# --------------------------------------------------------------------------

def split_url(url):
    """(host, port) of an http(s) client URL; port 2379 when absent."""
    rest = url.split("://", 1)[-1].split("/", 1)[0]
    host, _sep, port = rest.rpartition(":")
    if not _sep or not port.isdigit():
        return rest, 2379
    return host.strip("[]"), int(port)


def cluster_view(gw, endpoints, lab_members=None, health_key="faultline/health", pids=True):
    """Query every endpoint; -> dict(members, leader, raft_term, revision, cluster_id, unreachable, healthy).

    ``lab_members``: the lab description's members (name, host, address,
    client_url, port_client_url, pidfile ...), to name an endpoint that does
    not answer and to find pids. A member is healthy when its status answers
    without errors, it knows a leader, and a linearizable read through it
    succeeds (which needs a quorum)."""
    lab_members = lab_members or []
    by_url = {}
    for m in lab_members:
        for key in ("client_url", "port_client_url"):
            if m.get(key):
                by_url[m[key].rstrip("/")] = m
    statuses, unreachable = {}, []
    listing = None
    for ep in endpoints:
        try:
            st = gw.status(ep)
        except EtcdError as e:
            lab = by_url.get(ep.rstrip("/"))
            unreachable.append(dict(endpoint=ep, name=lab["name"] if lab else None, error=e.message))
            continue
        st["endpoint"] = ep
        try:
            gw.read(ep, health_key)
            st["read_error"] = None
        except EtcdError as e:
            st["read_error"] = e.message
        statuses.setdefault(st["member_id"], st)
        if listing is None:
            try:
                listing = gw.members(ep)
            except EtcdError:
                listing = None
    listing = listing or []
    # The leader as seen by the members with the highest term.
    top_term = max([s["raft_term"] for s in statuses.values()] or [0])
    leader_votes = set(s["leader"] for s in statuses.values() if s["raft_term"] == top_term and s["leader"])
    leader_id = leader_votes.pop() if len(leader_votes) == 1 else ""
    members = []
    known = set()
    for m in listing:
        known.add(m["id"])
        members.append(_member(m, statuses.get(m["id"]), lab_members, by_url, leader_id, pids))
    for mid, st in statuses.items():
        if mid not in known:  # answered but absent from the list (listing failed)
            members.append(_member(dict(id=mid, name="", peer_urls=[], client_urls=[st["endpoint"]], is_learner=False),
                                   st, lab_members, by_url, leader_id, pids))
    for u in unreachable:
        if not any(u["name"] and u["name"] == m["name"] for m in members):
            lab = by_url.get(u["endpoint"].rstrip("/")) or {}
            members.append(dict(id="", name=u["name"] or "", endpoint=u["endpoint"], client_urls=[u["endpoint"]],
                                peer_urls=[], reachable=False, healthy=False, error=u["error"], is_leader=False,
                                host=lab.get("host"), address=lab.get("address"), pid=_pid(lab, u["endpoint"], pids)))
    for m in members:
        if not m["reachable"] and not m.get("error"):
            hit = [u for u in unreachable if u["name"] and u["name"] == m["name"]]
            m["error"] = hit[0]["error"] if hit else "no endpoint of this member was queried or answered"
    leader = next((m for m in members if m["id"] and m["id"] == leader_id), None)
    revision = (statuses.get(leader_id) or {}).get("revision") or max([s["revision"] for s in statuses.values()] or [0])
    cluster_ids = sorted(set(s["cluster_id"] for s in statuses.values()))
    return dict(
        members=members,
        leader=dict((k, leader.get(k)) for k in ("name", "id", "host", "address", "endpoint", "client_urls", "pid"))
        if leader else None,
        raft_term=top_term,
        revision=revision,
        cluster_id=cluster_ids[0] if len(cluster_ids) == 1 else ",".join(cluster_ids),
        unreachable_endpoints=unreachable,
        leader_views=dict((m["name"] or m["id"], _name_of(members, m.get("leader_id"))) for m in members if m["reachable"]),
        healthy=bool(members) and all(m["healthy"] for m in members) and leader is not None,
    )


def _name_of(members, mid):
    for m in members:
        if mid and m["id"] == mid:
            return m["name"] or m["id"]
    return mid or None


def _lab_member(m, lab_members, by_url):
    for lab in lab_members:
        if m.get("name") and lab.get("name") == m["name"]:
            return lab
    for url in m.get("client_urls") or []:
        if url.rstrip("/") in by_url:
            return by_url[url.rstrip("/")]
    return {}


def _pid(lab, url, pids):
    if not pids:
        return None
    pid = pid_from_pidfile(lab["pidfile"]) if lab.get("pidfile") else None
    if pid is None and url:
        host, port = split_url(url)
        try:
            socket.inet_aton(host)
        except (OSError, ValueError):
            return None
        pid = pid_by_listen(host, port)
    return pid


def _member(m, st, lab_members, by_url, leader_id, pids):
    lab = _lab_member(m, lab_members, by_url)
    url = (st or {}).get("endpoint") or (m["client_urls"][0] if m["client_urls"] else lab.get("client_url"))
    out = dict(id=m["id"], name=m["name"] or lab.get("name", ""), peer_urls=m["peer_urls"], client_urls=m["client_urls"],
               is_learner=m["is_learner"], host=lab.get("host"), address=lab.get("address") or (split_url(url)[0] if url else None),
               pidfile=lab.get("pidfile"), log=lab.get("log"), endpoint=(st or {}).get("endpoint"),
               reachable=st is not None, is_leader=bool(st) and m["id"] == leader_id)
    if st:
        errors = list(st["errors"])
        if st["read_error"]:
            errors.append("read: " + st["read_error"])
        if not st["leader"]:
            errors.append("no leader")
        out.update(leader_id=st["leader"], raft_term=st["raft_term"], raft_index=st["raft_index"],
                   raft_applied_index=st["raft_applied_index"], revision=st["revision"], version=st["version"],
                   db_size=st["db_size"], errors=errors, healthy=not errors, error="; ".join(errors) or None)
    else:
        out.update(healthy=False, errors=[], error=None)
    out["pid"] = _pid(lab, url, pids)
    return out


def compare_hashes(gw, members, revision=None):
    """HashKV of every reachable member at one revision (default: the lowest current revision).

    -> dict(revision, equal, members={name: hash}, errors={name: error})."""
    reachable = [m for m in members if m.get("reachable") and m.get("endpoint")]
    if revision is None:
        revision = min([m["revision"] for m in reachable] or [0])
    out = dict(revision=revision, members={}, compact_revisions={}, errors={})
    for m in reachable:
        name = m["name"] or m["id"]
        try:
            h = gw.hashkv(m["endpoint"], revision)
        except EtcdError as e:
            out["errors"][name] = e.message
            continue
        out["members"][name] = h["hash"]
        out["compact_revisions"][name] = h["compact_revision"]
    values = set(out["members"].values())
    out["equal"] = bool(out["members"]) and not out["errors"] and len(values) == 1 and len(out["members"]) == len(members)
    return out

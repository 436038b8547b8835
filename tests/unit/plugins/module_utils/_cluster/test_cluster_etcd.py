"""Unit tests of the etcd gateway parsing and the cluster view (module_utils/_cluster/etcd.py).

The fake gateway answers with the JSON etcd 3.4's grpc-gateway writes (64-bit
integers as strings, member ids as unsigned decimals, base64 keys/values)."""
import os
import socket

import pytest

from ansible.module_utils.six.moves.urllib.error import URLError
from ansible_collections.faultline.chaos.plugins.module_utils._cluster import etcd

IDS = {"etcd1": int("38c819fc24483207", 16), "etcd2": int("894685148310a2f5", 16), "etcd3": int("4a109fd51c8a619e", 16)}
URLS = {"etcd1": "http://127.0.0.11:2379", "etcd2": "http://127.0.0.12:2379", "etcd3": "http://127.0.0.13:2379"}
CLUSTER = "14841639068965178418"


def status_doc(name, leader, term=2, rev=7, errors=None):
    doc = {"header": {"cluster_id": CLUSTER, "member_id": str(IDS[name]), "revision": str(rev), "raft_term": str(term)},
           "version": "3.4.23", "dbSize": "20480", "leader": str(IDS[leader]) if leader else "0",
           "raftIndex": "194", "raftTerm": str(term), "raftAppliedIndex": "194", "dbSizeInUse": "16384"}
    if errors:
        doc["errors"] = errors
    return doc


def list_doc():
    return {"header": {"cluster_id": CLUSTER, "member_id": str(IDS["etcd1"]), "raft_term": "2"},
            "members": [{"ID": str(IDS[n]), "name": n, "peerURLs": [URLS[n].replace("2379", "2380")],
                         "clientURLs": [URLS[n]]} for n in ("etcd1", "etcd2", "etcd3")]}


class FakeGateway(object):
    """request(url, body, timeout) over a table {(endpoint, path): doc or exception}."""

    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, url, body, timeout):
        self.calls.append((url, body, timeout))
        for (ep, path), answer in self.table.items():
            if url == ep + path:
                if isinstance(answer, Exception):
                    raise answer
                return answer(body) if callable(answer) else answer
        raise URLError(ConnectionRefusedError(111, "Connection refused"))


def healthy_table(leader="etcd2", term=2, revs=(7, 7, 7)):
    table = {}
    for name, rev in zip(("etcd1", "etcd2", "etcd3"), revs):
        table[(URLS[name], etcd.STATUS)] = status_doc(name, leader, term, rev)
        table[(URLS[name], etcd.MEMBER_LIST)] = list_doc()
        table[(URLS[name], etcd.RANGE)] = {"header": {"revision": str(rev)}}
    return table


def test_parse_status_reads_strings_and_hex_ids():
    st = etcd.parse_status(status_doc("etcd1", "etcd2", term=5, rev=42))
    assert st["member_id"] == "38c819fc24483207"
    assert st["leader"] == "%016x" % IDS["etcd2"]
    assert (st["raft_term"], st["revision"], st["raft_index"], st["db_size"]) == (5, 42, 194, 20480)
    assert st["version"] == "3.4.23" and st["errors"] == []


def test_parse_member_list_and_range_and_hashkv():
    members = etcd.parse_member_list(list_doc())
    assert [m["name"] for m in members] == ["etcd1", "etcd2", "etcd3"]
    assert members[2]["client_urls"] == [URLS["etcd3"]] and members[2]["id"] == "%016x" % IDS["etcd3"]
    doc = {"header": {"revision": "9"}, "kvs": [{"key": etcd.b64("k"), "value": etcd.b64("v\u00e9"), "mod_revision": "9"}],
           "count": "1"}
    assert etcd.parse_range(doc) == (9, "v\u00e9")
    assert etcd.parse_range({"header": {"revision": "9"}}) == (9, None)
    h = etcd.parse_hashkv({"header": {"revision": "12"}, "hash": 3792831123, "compact_revision": "3"})
    assert h == {"hash": 3792831123, "revision": 12, "compact_revision": 3}


def test_view_of_a_healthy_cluster_names_the_leader():
    gw = etcd.Gateway(2.0, request=FakeGateway(healthy_table()))
    lab = [{"name": n, "host": "localhost", "address": URLS[n][7:-5], "client_url": URLS[n], "pidfile": "/nonexistent"}
           for n in URLS]
    view = etcd.cluster_view(gw, list(URLS.values()), lab_members=lab, pids=False)
    assert view["healthy"] is True
    assert view["leader"]["name"] == "etcd2" and view["leader"]["address"] == "127.0.0.12"
    assert view["raft_term"] == 2 and view["revision"] == 7 and view["unreachable_endpoints"] == []
    assert [m["is_leader"] for m in view["members"]] == [False, True, False]
    assert view["leader_views"] == {"etcd1": "etcd2", "etcd2": "etcd2", "etcd3": "etcd2"}
    # linearizable reads: serializable false, the key base64
    reads = [c for c in gw.request.calls if c[0].endswith(etcd.RANGE)]
    assert len(reads) == 3 and reads[0][1] == {"key": etcd.b64("faultline/health"), "serializable": False}
    assert all(c[2] == 2.0 for c in gw.request.calls)


def test_unreachable_member_is_named_and_unhealthy():
    table = healthy_table()
    del table[(URLS["etcd3"], etcd.STATUS)]
    gw = etcd.Gateway(1.0, request=FakeGateway(table))
    lab = [{"name": n, "client_url": URLS[n]} for n in URLS]
    view = etcd.cluster_view(gw, list(URLS.values()), lab_members=lab, pids=False)
    assert view["healthy"] is False
    assert view["unreachable_endpoints"][0]["name"] == "etcd3" and "refused" in view["unreachable_endpoints"][0]["error"]
    m3 = [m for m in view["members"] if m["name"] == "etcd3"][0]
    assert m3["reachable"] is False and "refused" in m3["error"]
    assert view["leader"]["name"] == "etcd2"


def test_a_member_without_quorum_is_unhealthy():
    table = healthy_table()
    table[(URLS["etcd1"], etcd.RANGE)] = {"error": "etcdserver: request timed out", "code": 14}
    view = etcd.cluster_view(etcd.Gateway(1.0, request=FakeGateway(table)), list(URLS.values()), pids=False)
    m1 = [m for m in view["members"] if m["name"] == "etcd1"][0]
    assert m1["healthy"] is False and "request timed out" in m1["error"]
    assert view["healthy"] is False


def test_the_leader_is_the_one_named_at_the_highest_term():
    table = healthy_table()
    # etcd1 was cut off: it still believes in the old leader at term 2; the others elected etcd3 at term 3
    table[(URLS["etcd1"], etcd.STATUS)] = status_doc("etcd1", "etcd1", term=2)
    table[(URLS["etcd2"], etcd.STATUS)] = status_doc("etcd2", "etcd3", term=3)
    table[(URLS["etcd3"], etcd.STATUS)] = status_doc("etcd3", "etcd3", term=3)
    view = etcd.cluster_view(etcd.Gateway(1.0, request=FakeGateway(table)), list(URLS.values()), pids=False)
    assert view["leader"]["name"] == "etcd3" and view["raft_term"] == 3
    assert view["leader_views"]["etcd1"] == "etcd1"


def test_no_leader_when_none_is_known():
    table = healthy_table()
    for n in URLS:
        table[(URLS[n], etcd.STATUS)] = status_doc(n, None, term=4)
    view = etcd.cluster_view(etcd.Gateway(1.0, request=FakeGateway(table)), list(URLS.values()), pids=False)
    assert view["leader"] is None and view["healthy"] is False
    assert all("no leader" in m["error"] for m in view["members"])


def test_timeouts_and_http_errors_become_etcd_errors():
    table = {(URLS["etcd1"], etcd.STATUS): socket.timeout("timed out")}
    gw = etcd.Gateway(0.5, request=FakeGateway(table))
    with pytest.raises(etcd.EtcdError) as e:
        gw.status(URLS["etcd1"])
    assert "no answer within 0.5s" in str(e.value) and e.value.endpoint == URLS["etcd1"]
    table = {(URLS["etcd1"], etcd.STATUS): "not a dict"}
    with pytest.raises(etcd.EtcdError, match="not a JSON object"):
        etcd.Gateway(0.5, request=FakeGateway(table)).status(URLS["etcd1"])


def test_hashes_equal_and_different():
    table = healthy_table(revs=(9, 8, 9))
    for n in URLS:
        table[(URLS[n], etcd.HASHKV)] = (lambda body, n=n: {"header": {"revision": "9"}, "hash": 111, "compact_revision": "0"})
    gw = etcd.Gateway(1.0, request=FakeGateway(table))
    view = etcd.cluster_view(gw, list(URLS.values()), pids=False)
    hashes = etcd.compare_hashes(gw, view["members"])
    assert hashes["revision"] == 8 and hashes["equal"] is True
    assert hashes["members"] == {"etcd1": 111, "etcd2": 111, "etcd3": 111}
    assert [c[1] for c in gw.request.calls if c[0].endswith(etcd.HASHKV)] == [{"revision": 8}] * 3
    table[(URLS["etcd3"], etcd.HASHKV)] = {"header": {"revision": "9"}, "hash": 222, "compact_revision": "0"}
    assert etcd.compare_hashes(gw, view["members"], revision=5)["equal"] is False


def test_hashes_not_equal_when_a_member_is_missing():
    table = healthy_table()
    del table[(URLS["etcd2"], etcd.STATUS)]
    for n in URLS:
        table[(URLS[n], etcd.HASHKV)] = {"header": {"revision": "7"}, "hash": 5}
    gw = etcd.Gateway(1.0, request=FakeGateway(table))
    view = etcd.cluster_view(gw, list(URLS.values()), pids=False)
    assert etcd.compare_hashes(gw, view["members"])["equal"] is False


def test_pid_by_listen_on_a_fake_proc(tmp_path):
    proc = tmp_path
    (proc / "net").mkdir()
    local = "0C00007F:094B"  # 127.0.0.12:2379 as /proc/net/tcp writes it
    (proc / "net" / "tcp").write_text(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: %s 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 55501 1\n"
        "   1: %s 0100007F:9999 01 00000000:00000000 00:00000000 00000000     0        0 55502 1\n" % (local, local))
    for pid, target, argv0 in ((4242, "socket:[55501]", b"/usr/bin/etcd"), (4343, "socket:[55502]", b"/usr/bin/etcdctl")):
        d = proc / str(pid)
        (d / "fd").mkdir(parents=True)
        os.symlink(target, str(d / "fd" / "7"))
        (d / "stat").write_text("%d (etcd) S 1 1 1" % pid)
        (d / "cmdline").write_bytes(argv0 + b"\0--name=etcd2\0")
    assert etcd.pid_by_listen("127.0.0.12", 2379, proc=str(proc)) == 4242
    assert etcd.pid_by_listen("127.0.0.13", 2379, proc=str(proc)) is None
    (proc / "pidfile").write_text("4242\n")
    assert etcd.pid_from_pidfile(str(proc / "pidfile"), proc=str(proc)) == 4242
    (proc / "4242" / "stat").write_text("4242 (etcd) Z 1 1 1")
    assert etcd.pid_from_pidfile(str(proc / "pidfile"), proc=str(proc)) is None


def test_split_url():
    assert etcd.split_url("http://127.0.0.11:2379") == ("127.0.0.11", 2379)
    assert etcd.split_url("https://[::1]:2381/") == ("::1", 2381)
    assert etcd.split_url("http://etcd1") == ("etcd1", 2379)

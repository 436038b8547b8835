"""The etcd and watch probe kinds against a real 3-member etcd cluster (through Ansible).

The cluster is this module's own (support/etcd.py): members m1..m3 on
127.0.0.41-43, client port 2379, peer port 2380, stopped at teardown.
"""
import signal
import time

import pytest

from support.ansible import run_module
from support.etcd import EtcdCluster, wait_leader_change

pytestmark = [pytest.mark.lab, pytest.mark.slow]

POLICY = {"interval": 0.1, "timeout": 1.0, "retries": 3, "backoff_initial": 0.5, "backoff_multiplier": 2.0,
          "backoff_max": 30.0}


@pytest.fixture
def cluster(tmp_path):
    c = EtcdCluster(str(tmp_path / "etcd")).start()
    yield c
    c.stop()


def probe(state_dir, **args):
    res = run_module("probe", dict(args, state_dir=state_dir))
    assert not res["failed"], res["msg"]
    return res


def test_leader_kill_multi_endpoint_writes_resume_single_endpoint_retries_then_fails(cluster, state_dir):
    lead = cluster.leader()
    others = [m for m in cluster.members if m is not lead]
    # the multi-endpoint client starts on the leader, so its writes must fail over
    probe(state_dir, name="kv", kind="etcd", key_prefix="t/kv/",
          endpoints=[lead.client_url] + [m.client_url for m in others], **POLICY)
    probe(state_dir, name="one", kind="etcd", key_prefix="t/one/", endpoints=[lead.client_url], **POLICY)
    time.sleep(1.0)
    killed_at = time.time()
    cluster.kill(lead)
    _new, election_s = wait_leader_change(cluster, lead)
    time.sleep(5.0)  # the single-endpoint client's retries: 0.5 + 1 + 2 s, and the attempts
    kv = probe(state_dir, name="kv", state="stopped")
    one = probe(state_dir, name="one", state="stopped")
    assert election_s < 5
    w = kv["etcd"]["writes"]
    assert w["acked"] > 20 and w["failed"] == 0
    # writes resumed on another member after the kill
    assert any(ts > killed_at + election_s for ts, _rev in kv["etcd"]["acked_at"].values())
    # every acknowledged write is on the surviving members
    for m in others:
        keys = set(_keys(m, "t/kv/"))
        assert set(kv["etcd"]["keys"]["acked"]) <= keys
    # the single-endpoint client: refused attempts with the policy's pauses, then a clear failure
    # (an attempt is stamped when it starts: one in flight at the kill started
    # before it, so attempts are taken by when they ended, and the policy's
    # pauses are read on the first write the kill hit, all of its attempts)
    fails = [a for a in one["etcd"]["failed_attempts"] if a["ts"] + a["latency_ms"] / 1000.0 >= killed_at]
    assert fails and all(a["endpoint"] == lead.client_url for a in fails)
    spaced = [a for a in fails if a["key"] == fails[0]["key"] and a.get("next_after_s") is not None]
    assert [a["backoff_s"] for a in spaced[:3]] == [0.5, 1.0, 2.0]
    for a in spaced[:3]:
        assert a["backoff_s"] <= a["next_after_s"] < a["backoff_s"] + 1.2
    assert one["etcd"]["writes"]["failed"] >= 1
    assert "Connection refused (errno 111) (after 4 attempts)" in [
        e["detail"].get("error") for e in one["events"] if e["event"] == "error"]
    assert one["metrics"]["windows"] == 0 or one["metrics"]["retries"] is not None


def _keys(member, prefix):
    from ansible_collections.faultline.chaos.plugins.module_utils._probes import etcdgw
    c = etcdgw.Client(2.0)
    try:
        return c.keys(member.client_url, prefix)
    finally:
        c.close()


def _a_follower(cluster):
    """A member that is not the leader: killing or pausing it starts no election, so the
    other members go on acknowledging writes at once (an election under load can outlast
    a test's wait; members[0] is most often the leader)."""
    lead = cluster.leader()
    assert lead is not None, "the cluster has no leader"
    return next(m for m in cluster.members if m is not lead)


def test_watch_single_endpoint_does_not_resume_multi_endpoint_fails_over(cluster, state_dir):
    target = _a_follower(cluster)
    rest = [m.client_url for m in cluster.members if m is not target]
    probe(state_dir, name="kv", kind="etcd", key_prefix="t/w/", endpoints=rest, **POLICY)
    probe(state_dir, name="single", kind="watch", key_prefix="t/w/", endpoints=[target.client_url], interval=0.1)
    probe(state_dir, name="multi", kind="watch", key_prefix="t/w/", endpoints=[target.client_url] + rest,
          interval=0.1)
    time.sleep(1.5)
    killed_at = time.time()
    cluster.kill(target)
    time.sleep(3.0)
    single = probe(state_dir, name="single", state="stopped", compare_probe="kv")["watch"]
    multi = probe(state_dir, name="multi", state="stopped", compare_probe="kv")["watch"]
    probe(state_dir, name="kv", state="stopped")
    # the documented gap: the stream breaks right away and is never resumed
    assert len(single["breaks"]) == 1 and killed_at - 0.05 <= single["breaks"][0]["ts"] < killed_at + 1
    assert single["stopped"] and not single["resumed"] and single["reconnects"] == []
    assert single["events_missed"] > 0
    # the multi-endpoint watch reconnects to another member from the next revision: nothing lost or doubled
    assert multi["resumed"] and len(multi["reconnects"]) == 1
    rc = multi["reconnects"][0]
    assert rc["endpoint"] in rest and rc["start_revision"] == multi["breaks"][0]["last_revision"] + 1
    assert rc["after_s"] < 1.0
    assert multi["events_expected"] > 10 and multi["events_missed"] == 0 and multi["duplicates"] == [], multi


def test_paused_member_single_endpoint_client_retries_and_recovers_after_cont(cluster, state_dir):
    target = _a_follower(cluster)
    policy = dict(POLICY)
    policy["timeout"] = 0.5
    probe(state_dir, name="one", kind="etcd", key_prefix="t/p/", endpoints=[target.client_url], **policy)
    time.sleep(0.5)
    cluster.signal(target, signal.SIGSTOP)
    stopped_at = time.time()
    time.sleep(2.0)
    cluster.signal(target, signal.SIGCONT)
    cont_at = time.time()
    time.sleep(3.0)
    one = probe(state_dir, name="one", state="collected",
                windows=[{"down_at": stopped_at, "up_at": cont_at}], recover_after=3)
    probe(state_dir, name="one", state="stopped")
    win = one["windows"][0]
    assert win["detected_at"] is not None and win["retries"] >= 1
    assert win["error_message"] == "timed out"
    assert win["recovered_at"] is not None and win["time_to_recover_s"] < 3.0

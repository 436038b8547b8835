"""Planning of network faults: rules, ids, lockout guard, sweep (no I/O)."""
import os

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._faults import network as net


def fault(**kw):
    params = dict(type="reject", ports=[3317], peers=[], protocol="tcp", direction="in", netns=None,
                  loss_percent=None)
    params.update(kw)
    return net.NetworkFault(params, backend=kw.pop("backend", "nft"))


def test_reject_resets_requests_to_the_service_port():
    # only requests: matching answers from the port would swallow our own RST on loopback
    assert fault().nft_rules("in") == ["tcp dport 3317 counter reject with tcp reset"]


def test_timeout_drops_silently_and_loss_uses_numgen():
    assert fault(type="timeout").nft_rules("in") == ["tcp dport 3317 counter drop", "tcp sport 3317 counter drop"]
    rules = fault(type="loss", loss_percent=30, ports=[]).nft_rules("out")
    assert rules == ["meta l4proto tcp counter numgen random mod 100 < 30 drop"]


def test_peers_split_by_family_and_direction_picks_saddr_or_daddr():
    f = fault(ports=[], peers=["198.18.0.12", "198.18.0.0/30", "fd00::1"], protocol="all", type="timeout")
    assert f.nft_rules("in") == ["ip saddr { 198.18.0.12, 198.18.0.0/30 } counter drop", "ip6 saddr fd00::1 counter drop"]
    assert f.nft_rules("out")[0].startswith("ip daddr {")


def test_bad_peer_is_a_clear_error():
    with pytest.raises(EngineError, match="not an IP address"):
        fault(peers=["not-an-ip"]).nft_rules("in")


def test_same_scope_gives_same_id_and_different_scope_another():
    assert fault().fault_id == fault().fault_id
    assert fault(ports=[3318]).fault_id != fault().fault_id
    assert fault(type="timeout").fault_id != fault().fault_id
    assert net.NetworkFault(dict(type="reject", ports=[1]), fault_id="mine").fault_id == "mine"


def test_plan_is_one_atomic_nft_batch_and_revert_is_idempotent():
    plan = fault(direction="both").plan()
    assert [a["op"] for a in plan["apply"]] == ["run"]
    script = plan["apply"][0]["stdin"]
    assert "hook input" in script and "hook output" in script
    assert plan["apply"][0]["argv"] == ["nft", "-f", "-"]
    undo = plan["revert"][0]["stdin"]
    # re-declare + flush + delete: succeeds whether or not the chain still exists
    for c in plan["params"]["chains"]:
        assert "add chain inet faultline %s" % c in undo
        assert "delete chain inet faultline %s" % c in undo
    assert plan["revert"][-1]["op"] == "nft_gc"
    # never touches anything but the collection's own table
    for line in (script + undo).splitlines():
        assert " inet faultline" in line


def test_iptables_plan_uses_own_chains_and_one_jump_per_hook():
    plan = fault(backend="iptables").plan()
    argvs = [a["argv"] for a in plan["apply"]]
    chains = plan["params"]["chains"]
    assert all(c.startswith("FLT_") and len(c) <= 28 for c in chains)
    jumps = [a for a in argvs if "-I" in a]
    assert all(a[a.index("-I") + 1] in ("INPUT", "OUTPUT") and a[-1] in chains for a in jumps)
    assert not any("-F" in a and a[a.index("-F") + 1] in ("INPUT", "OUTPUT") for a in
                   [r["argv"] for r in plan["revert"]])


def test_netns_prefix_validates(tmp_path):
    with pytest.raises(EngineError, match="unknown network namespace"):
        net.netns_prefix("surely-not-a-namespace")
    with pytest.raises(EngineError, match="does not exist"):
        net.netns_prefix(str(tmp_path / "nope"))
    with pytest.raises(EngineError, match="no process"):
        net.netns_prefix("999999999")
    me = str(os.getpid())
    assert net.netns_prefix(me) == ["nsenter", "--net=/proc/%s/ns/net" % me]
    assert net.netns_prefix("/proc/%s/ns/net" % me) == ["nsenter", "--net=/proc/%s/ns/net" % me]
    assert net.netns_prefix(None) == []


@pytest.mark.parametrize("params,env,locked", [
    (dict(ports=[22]), "10.0.0.5 51000 10.0.0.1 22", True),
    (dict(ports=[3306]), "10.0.0.5 51000 10.0.0.1 22", False),
    (dict(ports=[]), "10.0.0.5 51000 10.0.0.1 22", True),
    (dict(ports=[], peers=["10.0.0.0/24"]), "10.0.0.5 51000 10.0.0.1 22", True),
    (dict(ports=[], peers=["198.18.0.3"]), "10.0.0.5 51000 10.0.0.1 22", False),
    (dict(ports=[22], netns="node1"), "10.0.0.5 51000 10.0.0.1 22", False),
    (dict(ports=[22]), None, False),
])
def test_lockout_guard(params, env, locked):
    environ = {"SSH_CONNECTION": env} if env else {}
    reason = net.lockout_reason(params, environ)
    assert bool(reason) is locked
    if locked:
        assert "allow_lockout" in reason


def test_sweep_keeps_owned_chains_and_removes_orphans():
    owned = {"nft": ["flt_aaaa_in", "flt_bbbb_in"], "iptables": ["iptables:FLT_CCCC_IN"], "nft_table": True}
    actions, orphans = net.sweep_actions(owned, {"flt_aaaa_in"})
    assert orphans == ["flt_bbbb_in", "iptables:FLT_CCCC_IN"]
    text = " ".join(a.get("stdin", "") + " ".join(a.get("argv", [])) for a in actions)
    assert "flt_aaaa_in" not in text and "flt_bbbb_in" in text and "FLT_CCCC_IN" in text


def test_chains_carry_their_ledger_and_sweeps_spare_other_ledgers():
    f = net.NetworkFault(dict(type="reject", ports=[1]), backend="nft", owner="/run/faultline")
    assert 'comment "faultline:/run/faultline"' in f.plan()["apply"][0]["stdin"]
    listing = ('table inet faultline {\n\tchain flt_a_in {\n\t\tcomment "faultline:/run/faultline"\n'
               '\t\ttype filter hook input priority filter - 10; policy accept;\n\t}\n'
               '\tchain flt_b_in {\n\t\tcomment "faultline:/tmp/other"\n\t\ttype filter hook input priority filter - 10;\n\t}\n'
               '\tchain flt_c_in {\n\t\ttype filter hook input priority filter - 10; policy accept;\n\t}\n}\n')
    owned = net.list_owned(lambda argv, data: (0, listing, "") if "nft" in argv else (1, "", ""))
    assert owned["nft"] == ["flt_a_in", "flt_b_in", "flt_c_in"]
    assert owned["owners"] == {"flt_a_in": "/run/faultline", "flt_b_in": "/tmp/other"}
    _actions, orphans = net.sweep_actions(owned, set(), owner="/run/faultline")
    assert orphans == ["flt_a_in", "flt_c_in"]  # untagged chains are ours to sweep too

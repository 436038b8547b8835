"""Planning of network faults: rules, ids, lockout guard, sweep (no I/O)."""
import json
import os

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime
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


CONN = dict(local=("10.0.0.1", 22), peer=("10.0.0.5", 51000), netns=("dev", 7), source="sshd pid 200")


@pytest.mark.parametrize("params,locked", [
    (dict(ports=[22]), True),
    (dict(ports=[3306]), False),
    (dict(ports=[]), True),
    (dict(ports=[], peers=["10.0.0.0/24"]), True),
    (dict(ports=[], peers=["198.18.0.3"]), False),
    (dict(ports=[22], peers=["fd00::5"]), False),
    (dict(ports=[22], protocol="udp"), False),
    (dict(ports=[51000], type="timeout"), True),  # the controller's side of the session
])
def test_lockout_guard_matches_port_and_peer_of_the_session(params, locked):
    reason = net.lockout_reason(params, connections=[CONN], target_netns=("dev", 7))
    assert bool(reason) is locked
    if locked:
        assert "allow_lockout" in reason and "10.0.0.5:51000 -> 10.0.0.1:22" in reason


def test_lockout_guard_compares_namespaces_by_inode():
    # another namespace: the session is not there
    assert net.lockout_reason(dict(ports=[22], netns="node1"), [CONN], target_netns=("dev", 8)) is None
    # whatever the netns value says, the namespace of the sshd is guarded
    assert net.lockout_reason(dict(ports=[22], netns="1"), [CONN], target_netns=("dev", 7))
    # a session known only from SSH_CONNECTION (namespace unknown) is guarded everywhere
    loose = dict(CONN, netns=None)
    assert net.lockout_reason(dict(ports=[22], netns="node1"), [loose], target_netns=("dev", 8))


def test_netns_identity_is_the_namespace_inode_whatever_its_spelling():
    me = net.netns_identity(None)
    assert me is not None
    assert net.netns_identity(str(os.getpid())) == me
    assert net.netns_identity("/proc/self/ns/net") == me
    assert net.netns_identity("/proc/%d/ns/net" % os.getpid()) == me
    assert net.netns_identity("surely-not-a-namespace") is None


def _fake_proc(root, procs):
    """A /proc tree: {pid: dict(ppid, comm, environ, sockets, tcp, tcp6)}."""
    for pid, p in procs.items():
        d = root / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "ns").mkdir()
        (d / "net").mkdir()
        (d / "ns" / "net").write_text("ns of %d" % p.get("ns", pid))
        (d / "comm").write_text(p["comm"] + "\n")
        (d / "stat").write_text("%d (%s) S %d 1 1 0 -1\n" % (pid, p["comm"], p["ppid"]))
        (d / "environ").write_bytes(b"\0".join(b"%s=%s" % (k.encode(), v.encode())
                                               for k, v in p.get("environ", {}).items()))
        for n, inode in enumerate(p.get("sockets", [])):
            os.symlink("socket:[%s]" % inode, str(d / "fd" / str(n + 3)))
        os.symlink("/dev/null", str(d / "fd" / "0"))
        head = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        for name in ("tcp", "tcp6"):
            (d / "net" / name).write_text(head + "".join(
                "   0: %s %s %s 00000000:00000000 00:00000000 00000000     0        0 %s 1\n" % row
                for row in p.get(name, [])))


def test_the_session_is_found_from_the_ancestry_when_sudo_removed_ssh_connection(tmp_path):
    # module (python) <- sh <- sudo <- sh <- sshd session (the socket) <- sshd listener
    _fake_proc(tmp_path, {
        500: dict(ppid=400, comm="python3", environ={"PATH": "/usr/bin"}),
        400: dict(ppid=300, comm="sudo"),
        300: dict(ppid=200, comm="sh"),
        200: dict(ppid=100, comm="sshd", sockets=["777", "778"], tcp=[
            ("0B0012C6:0016", "010012C6:9C40", "01", "777"),   # 198.18.0.11:22 <- 198.18.0.1:40000
            ("0B0012C6:0016", "0C0012C6:9C41", "01", "999"),   # another session: not ours
            ("00000000:0016", "00000000:0000", "0A", "778"),   # a listener
        ]),
        100: dict(ppid=1, comm="sshd", sockets=["778"]),
    })
    conns = net.controller_connections(proc=str(tmp_path), pid=500, environ={})
    assert [(c["local"], c["peer"], c["source"]) for c in conns] == [
        (("198.18.0.11", 22), ("198.18.0.1", 40000), "sshd pid 200")]
    ns = net.netns_identity("200", proc=str(tmp_path))
    assert conns[0]["netns"] == ns
    why = net.lockout_reason(dict(type="reject", ports=[22]), conns, target_netns=ns)
    assert why and "198.18.0.1:40000 -> 198.18.0.11:22" in why and "sshd pid 200" in why
    assert net.lockout_reason(dict(type="reject", ports=[22]), conns, target_netns=("x", 1)) is None


def test_ssh_connection_of_an_ancestor_and_ipv6_sockets(tmp_path):
    _fake_proc(tmp_path, {
        500: dict(ppid=300, comm="python3"),
        # sudo's parent still has SSH_CONNECTION (env_reset acts below sudo)
        300: dict(ppid=1, comm="sh", environ={"SSH_CONNECTION": "2001:db8::9 40001 2001:db8::1 2222"}),
        600: dict(ppid=1, comm="sshd-session", sockets=["5"], tcp6=[
            # [2001:db8::1]:22 <- [::ffff:198.18.0.1]:40000 (a v4 client of a v6 listener)
            ("B80D0120000000000000000001000000:0016", "0000000000000000FFFF0000010012C6:9C40", "01", "5")]),
    })
    conns = net.controller_connections(proc=str(tmp_path), pid=500, environ={})
    assert [(c["local"], c["peer"], c["netns"]) for c in conns] == [(("2001:db8::1", 2222), ("2001:db8::9", 40001), None)]
    assert "environment of pid 300" in conns[0]["source"]
    conns = net.controller_connections(proc=str(tmp_path), pid=600, environ={})
    assert [(c["local"], c["peer"]) for c in conns] == [(("2001:db8::1", 22), ("198.18.0.1", 40000))]


def test_the_real_ancestry_of_this_process_is_readable():
    # no sshd above a test run here, but the walk must run through real /proc
    conns = net.controller_connections(environ={"SSH_CONNECTION": "10.9.9.9 40000 10.9.9.1 22"})
    assert ((("10.9.9.1", 22), ("10.9.9.9", 40000))) in [(c["local"], c["peer"]) for c in conns]


@pytest.mark.parametrize("ports,peers,all_traffic,error", [
    ([], None, False, "ports is an empty list"),
    (None, [], False, "peers is an empty list"),
    ([], [], True, "ports is an empty list"),
    (None, None, False, "all_traffic: true"),
    (None, None, True, None),
    ([22], None, False, None),
    (None, ["198.18.0.12"], False, None),
])
def test_empty_scope_is_refused_unless_asked_for(ports, peers, all_traffic, error):
    got = net.scope_error(ports, peers, all_traffic)
    assert (got is None) if error is None else (error in got)


def _ipt_rules_by_tool(plan):
    out = {}
    for a in plan["apply"]:
        argv = a["argv"]
        if "-A" in argv:
            out.setdefault(argv[0], []).append(argv)
    return out


@pytest.mark.parametrize("peers,want", [
    (["2001:db8::1"], {"ip6tables": ["2001:db8::1"]}),
    (["198.18.0.5", "2001:db8::1", "2001:db8::/64"],
     {"iptables": ["198.18.0.5"], "ip6tables": ["2001:db8::1", "2001:db8::/64"]}),
    (["198.18.0.5"], {"iptables": ["198.18.0.5"]}),
])
def test_iptables_peers_are_split_by_family_and_never_widen(peers, want, monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    plan = fault(type="timeout", ports=[22], peers=peers, backend="iptables").plan()
    by_tool = _ipt_rules_by_tool(plan)
    assert sorted(by_tool) == sorted(want)  # a family with no peer gets no chain and no rule
    for tool, rules in by_tool.items():
        sources = [r[r.index("-s") + 1] for r in rules]
        assert len(sources) == len(rules), rules  # every rule carries a source
        assert sorted(set(sources)) == sorted(want[tool])
    assert not any(a["argv"][0] not in want for a in plan["apply"])


def test_iptables_without_peers_covers_both_families(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    by_tool = _ipt_rules_by_tool(fault(type="timeout", ports=[22], backend="iptables").plan())
    assert sorted(by_tool) == ["ip6tables", "iptables"]
    assert not any("-s" in r for rules in by_tool.values() for r in rules)
    monkeypatch.setattr(net.shutil, "which", lambda name: None if name == "ip6tables" else "/usr/sbin/" + name)
    with pytest.raises(EngineError, match="ip6tables is not installed"):
        fault(peers=["2001:db8::1"], backend="iptables").plan()


def test_two_ledgers_never_share_a_fault_id_or_a_chain():
    params = dict(type="reject", ports=[3317], peers=[], protocol="tcp", direction="in", netns=None, loss_percent=None)
    a = net.NetworkFault(dict(params), backend="nft", owner="/run/faultline")
    b = net.NetworkFault(dict(params), backend="nft", owner="/tmp/other")
    assert a.fault_id != b.fault_id
    assert set(a.plan()["params"]["chains"]).isdisjoint(b.plan()["params"]["chains"])
    # a fault id the user chose is kept, the chains still differ per ledger
    a = net.NetworkFault(dict(params), fault_id="run1", backend="iptables", owner="/run/faultline")
    b = net.NetworkFault(dict(params), fault_id="run1", backend="iptables", owner="/tmp/other")
    assert a.fault_id == b.fault_id == "run1"
    assert set(a.plan()["params"]["chains"]).isdisjoint(b.plan()["params"]["chains"])
    # the same ledger spelled differently is the same ledger
    c = net.NetworkFault(dict(params), backend="nft", owner="/run/faultline/")
    assert c.fault_id == net.NetworkFault(dict(params), backend="nft", owner="/run/faultline").fault_id


def test_a_state_dir_cannot_inject_into_the_nft_script():
    evil = '/tmp/x"; }\nflush ruleset\nadd table ip t { comment "'
    f = net.NetworkFault(dict(type="reject", ports=[1]), backend="nft", owner=evil)
    script = f.plan()["apply"][0]["stdin"]
    assert "flush ruleset" not in script and script.count('"') == 2
    tag = net.owner_tag(evil)
    assert tag.startswith("sha256:") and 'comment "faultline:%s"' % tag in script
    assert net.owner_tag("/run/faultline") == "/run/faultline"
    assert net.owner_tag("/tmp/with space").startswith("sha256:")


def test_iptables_jumps_carry_their_ledger_and_sweeps_spare_other_ledgers(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name if name != "nft" else None)
    f = net.NetworkFault(dict(type="reject", ports=[1]), backend="iptables", owner="/run/faultline")
    jumps = [a["argv"] for a in f.plan()["apply"] if "-I" in a["argv"]]
    assert jumps and all(j[j.index("--comment") + 1] == "faultline:/run/faultline" for j in jumps)
    undo = [a["argv"] for a in f.plan()["revert"] if "-D" in a["argv"]]
    assert all(u[u.index("--comment") + 1] == "faultline:/run/faultline" for u in undo)  # -D matches the rule
    listing = ("-P INPUT ACCEPT\n-N FLT_MINE_IN\n-N FLT_OTHER_IN\n-N FLT_LOST_IN\n"
               '-A INPUT -m comment --comment "faultline:/run/faultline" -j FLT_MINE_IN\n'
               '-A INPUT -m comment --comment "faultline:/tmp/other" -j FLT_OTHER_IN\n'
               "-A FLT_MINE_IN -p tcp -j REJECT --reject-with tcp-reset\n")
    owned = net.list_owned(lambda argv, data: (0, listing, "") if argv[0] == "iptables" else (1, "", ""))
    assert owned["iptables"] == ["iptables:FLT_MINE_IN", "iptables:FLT_OTHER_IN", "iptables:FLT_LOST_IN"]
    actions, orphans = net.sweep_actions(owned, set(), owner="/run/faultline")
    assert orphans == ["iptables:FLT_MINE_IN", "iptables:FLT_LOST_IN"]
    assert not any("FLT_OTHER_IN" in a["argv"] for a in actions)
    mine_delete = [a["argv"] for a in actions if "-D" in a["argv"] and "FLT_MINE_IN" in a["argv"]]
    assert mine_delete and "faultline:/run/faultline" in mine_delete[0]


IPT_TABLE_OURS = {"nftables": [
    {"metainfo": {}}, {"table": {"family": "ip6", "name": "filter"}},
    {"chain": {"name": "FLT_T_IN"}},
    {"chain": {"name": "INPUT", "hook": "input", "policy": "accept"}},
    {"rule": {"chain": "FLT_T_IN", "expr": [{"drop": None}]}},
    {"rule": {"chain": "INPUT", "expr": [{"xt": {"name": "comment"}}, {"jump": {"target": "FLT_T_IN"}}]}}]}


@pytest.mark.parametrize("listing,claimed", [
    (None, True),  # the table does not exist yet: our ip6tables use will create it
    (IPT_TABLE_OURS, True),  # only the collection's chains and jumps (another fault of ours made it)
    ({"nftables": IPT_TABLE_OURS["nftables"] + [
        {"rule": {"chain": "INPUT", "expr": [{"accept": None}]}}]}, False),  # someone else's rule
    ({"nftables": [{"table": {}}, {"chain": {"name": "INPUT", "policy": "drop"}}]}, False),
    ({"nftables": [{"table": {}}, {"chain": {"name": "DOCKER"}}]}, False),
])
def test_iptables_tables_claimed_only_when_created_by_the_collection(listing, claimed, monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)

    def runner(argv, data):
        assert argv[:4] == ["nft", "-j", "list", "table"]
        return (1, "", "No such file or directory") if listing is None else (0, json.dumps(listing), "")

    assert net.ipt_tables_to_gc(runner, ["ip6tables"]) == ([("ip6", "filter")] if claimed else [])
    f = net.NetworkFault(dict(type="reject", ports=[1]), backend="iptables", gc_tables=[("ip6", "filter")])
    gc = [a for a in f.plan()["revert"] if a["op"] == "nft_gc"]
    assert gc == [{"op": "nft_gc", "prefix": [], "family": "ip6", "table": "filter", "empty_chains_ok": True}]


def test_no_nft_means_no_table_is_claimed(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: None)
    assert net.ipt_tables_to_gc(lambda argv, data: (1, "", ""), ["iptables", "ip6tables"]) == []


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


@pytest.mark.parametrize("items,deleted", [
    ([{"table": {}}, {"chain": {"name": "INPUT", "policy": "accept"}}], True),
    ([{"table": {}}], True),
    ([{"table": {}}, {"chain": {"name": "INPUT", "policy": "accept"}}, {"rule": {"chain": "INPUT"}}], False),
    ([{"table": {}}, {"chain": {"name": "INPUT", "policy": "drop"}}], False),
    ([{"table": {}}, {"set": {"name": "s"}}], False),
])
def test_nft_gc_of_an_iptables_table_deletes_only_an_empty_one(items, deleted):
    calls = []

    def runner(argv, data):
        calls.append(argv)
        return 0, json.dumps({"nftables": [{"metainfo": {}}] + items}), ""

    runtime.execute([{"op": "nft_gc", "prefix": ["nsenter", "--net=/x"], "family": "ip6", "table": "filter",
                      "empty_chains_ok": True}], runner)
    assert (["nsenter", "--net=/x", "nft", "delete", "table", "ip6", "filter"] in calls) is deleted
    # without the flag (the collection's own inet table) any chain keeps the table
    calls[:] = []
    runtime.execute([{"op": "nft_gc", "family": "inet", "table": "faultline"}], runner)
    assert (["nft", "delete", "table", "inet", "faultline"] in calls) is (len(items) == 1)


# --------------------------------------------------------------------------
# resolve(): discovery and refusals, before the plan (FaultEngine.apply calls it)
# --------------------------------------------------------------------------

class _Engine(object):
    """What resolve needs of a FaultEngine: its command runner."""

    def __init__(self, answers=None):
        self.calls = []
        self.answers = answers or {}

    def runner(self, argv, data=None):
        self.calls.append(list(argv))
        for prefix, answer in self.answers.items():
            if tuple(argv[:len(prefix)]) == prefix:
                return answer
        return 0, "", ""


def scope(**kw):
    out = dict(type="reject", ports=[3317], peers=None, protocol="tcp", direction="in", netns=None, loss_percent=None)
    out.update(kw)
    return out


@pytest.mark.parametrize("kw,message", [
    (dict(ports=[]), "ports is an empty list"),
    (dict(peers=[]), "peers is an empty list"),
    (dict(ports=None, type="timeout"), "set all_traffic: true"),
    (dict(netns="faultline-no-such-ns"), "unknown network namespace"),
])
def test_resolve_refuses_a_bad_scope_before_any_command(kw, message, monkeypatch):
    monkeypatch.setattr(net, "controller_connections", lambda: [])
    engine = _Engine()
    f = net.NetworkFault(scope(**kw), owner="/run/faultline")
    with pytest.raises(EngineError, match=message):
        f.resolve(engine)
    assert engine.calls == [] and f.backend is None


def test_resolve_needs_all_traffic_for_an_unscoped_fault_and_then_finds_the_backend(monkeypatch):
    monkeypatch.setattr(net, "controller_connections", lambda: [])
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    engine = _Engine()
    f = net.NetworkFault(scope(ports=None, type="timeout"), all_traffic=True)
    assert f.resolve(engine) == "nft" and engine.calls == [["nft", "list", "tables"]]
    assert f.resolve(engine) == "nft" and len(engine.calls) == 1  # once: apply asks again after the module


def test_resolve_runs_the_lockout_guard_unless_allowed(monkeypatch):
    conn = dict(local=("198.18.0.11", 22), peer=("198.18.0.1", 40000), netns=None, source="sshd pid 200")
    monkeypatch.setattr(net, "controller_connections", lambda: [conn])
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    with pytest.raises(EngineError, match="SSH session 198.18.0.1:40000 -> 198.18.0.11:22"):
        net.NetworkFault(scope(ports=[22])).resolve(_Engine())
    assert net.NetworkFault(scope(ports=[22]), allow_lockout=True).resolve(_Engine()) == "nft"
    assert net.NetworkFault(scope(ports=[3317])).resolve(_Engine()) == "nft"  # another port: not the session


def test_resolve_on_the_iptables_path_claims_the_tables_its_use_creates(monkeypatch):
    monkeypatch.setattr(net, "controller_connections", lambda: [])
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    # nft does not work here; ip6 filter does not exist yet, ip filter holds someone else's chain
    engine = _Engine({("nft", "list", "tables"): (1, "", "Operation not permitted"),
                      ("nft", "-j", "list", "table", "ip6"): (1, "", "No such file or directory"),
                      ("nft", "-j", "list", "table", "ip"): (0, json.dumps(
                          {"nftables": [{"table": {}}, {"chain": {"name": "DOCKER"}}]}), "")})
    f = net.NetworkFault(scope(), wanted_backend="auto")
    assert f.resolve(engine) == "iptables" and f.gc_tables == [("ip6", "filter")]
    gc = [a for a in f.plan()["revert"] if a["op"] == "nft_gc"]
    assert gc == [{"op": "nft_gc", "prefix": [], "family": "ip6", "table": "filter", "empty_chains_ok": True}]
    with pytest.raises(EngineError, match="nft unusable: Operation not permitted"):
        net.NetworkFault(scope(), wanted_backend="nft").resolve(engine)


def test_a_planned_backend_is_kept_but_the_scope_is_still_checked(monkeypatch):
    monkeypatch.setattr(net, "controller_connections", lambda: [])
    engine = _Engine()
    assert net.NetworkFault(scope(), backend="iptables").resolve(engine) == "iptables" and engine.calls == []
    with pytest.raises(EngineError, match="ports is an empty list"):
        net.NetworkFault(scope(ports=[]), backend="nft").resolve(engine)

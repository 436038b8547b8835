"""The etcd lab (roles/lab_etcd) and faultline.chaos.cluster_info on real etcd, both layouts.

A module-scoped fixture per layout brings the cluster up with playbooks/lab.yml
(loopback: three members on 127.0.0.11-13 of this host; hosts: one member per
lab host, started over SSH) and always takes it down, then checks that no etcd
process of the lab and no lab directory is left. The tests ask cluster_info
(through Ansible) for the leader, kill -9 it by its pid (a pid of the lab's
pidfiles only), measure the time to a new leader and a successful write, bring
the member back with an idempotent `up`, and compare the KV hashes.
"""
import json
import os
import signal
import time

import pytest

from support.ansible import LAB_PLAYBOOK, ROOT
from support import util

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_alive, proc_cmdline
from ansible_collections.faultline.chaos.plugins.module_utils._cluster import etcd

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

STATE_FILE = "/var/lib/faultline-lab/etcd/lab_etcd.json"
LAB_DIR = "/var/lib/faultline-lab/etcd"
LAYOUTS = {
    "loopback": dict(inventory=os.path.join(ROOT, "inventories", "local"), components=["etcd"]),
    "hosts": dict(inventory=os.path.join(ROOT, "inventories", "netns"), components=["hosts", "etcd"]),
}


def lab_processes():
    """Pids of etcd processes whose command line points into this lab instance's lab directory."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            argv = proc_cmdline(int(entry))
            if argv and os.path.basename(argv[0]) == "etcd" and any(LAB_DIR + "/" in a for a in argv) \
                    and proc_alive(int(entry)) and util.sees_my_lab(int(entry)):
                found.append(int(entry))
    return found


def lab(run_playbook, layout, state, **extra):
    spec = LAYOUTS[layout]
    return run_playbook(LAB_PLAYBOOK, dict({"lab_components": spec["components"], "lab_state": state}, **extra),
                        inventory=spec["inventory"])


def lab_cluster(layout, run_playbook):
    """The lab cluster of ``layout``, up for a module's tests, then down and checked gone."""
    if os.path.exists(STATE_FILE) or lab_processes():
        pytest.skip("an etcd lab is already up")
    try:
        cp = lab(run_playbook, layout, "up")
        assert cp.returncode == 0, cp.stdout[-4000:]
        with open(STATE_FILE) as f:
            desc = json.load(f)
        desc["_layout"] = layout
        yield desc
    finally:
        down = lab(run_playbook, layout, "down")
        assert down.returncode == 0, down.stdout[-4000:]
        assert lab_processes() == [], "etcd processes left behind"
        assert not os.path.exists(LAB_DIR), "left behind: %s" % LAB_DIR


# The hosts layout here; the loopback layout runs the same tests from
# test_lab_etcd_loopback.py, a file of its own so that a worker of make test
# (--dist loadfile) runs it beside this one: each layout's T040 full form takes
# 4-9 minutes.
@pytest.fixture(scope="module", params=["hosts"])
def cluster(request, run_playbook):
    yield from lab_cluster(request.param, run_playbook)


def info(run_module, cluster, **args):
    return run_module("cluster_info", dict({"lab_file": STATE_FILE, "timeout": 2}, **args))


def put(endpoint, key, value, timeout=2.0):
    return etcd.Gateway(timeout).call(endpoint, "/v3/kv/put", {"key": etcd.b64(key), "value": etcd.b64(value)})


def test_cluster_comes_up_healthy_with_one_leader(cluster, run_module):
    layout = cluster["_layout"]
    assert cluster["layout"] == layout and len(cluster["members"]) == 3
    addresses = [m["address"] for m in cluster["members"]]
    assert addresses == (["127.0.0.11", "127.0.0.12", "127.0.0.13"] if layout == "loopback"
                         else ["198.18.0.11", "198.18.0.12", "198.18.0.13"])
    put(cluster["endpoints"][0], "faultline/test", "v1")
    r = info(run_module, cluster, hashes=True)
    assert not r["failed"], r["msg"]
    assert r["healthy"] and r["raft_term"] >= 1 and r["revision"] >= 2
    leaders = [m for m in r["members"] if m["is_leader"]]
    assert len(leaders) == 1 and r["leader"]["name"] == leaders[0]["name"]
    lab_member = [m for m in cluster["members"] if m["name"] == r["leader"]["name"]][0]
    assert r["leader"]["pid"] == util.read_pidfile(lab_member["pidfile"])
    assert r["leader"]["address"] == lab_member["address"]
    assert sorted(r["hashes"]["members"]) == sorted(m["name"] for m in cluster["members"])
    print("\n[%s] leader %s (pid %s), term %d, revision %d, hashes %s" % (
        layout, r["leader"]["name"], r["leader"]["pid"], r["raft_term"], r["revision"], r["hashes"]))
    assert r["hashes"]["equal"] is True
    # debug-level logs, one per member
    for m in cluster["members"]:
        with open(m["log"]) as f:
            assert '"level":"debug"' in f.read()
    if layout == "loopback":  # the seed's port layout answers too
        assert etcd.Gateway(2).status(cluster["members"][1]["port_client_url"])["member_id"] == \
            [m for m in r["members"] if m["name"] == "etcd2"][0]["id"]


def test_cluster_info_names_an_unreachable_member(cluster, run_module):
    bogus = "http://127.0.0.14:2379" if cluster["_layout"] == "loopback" else "http://198.18.0.14:2379"
    r = run_module("cluster_info", {"endpoints": cluster["endpoints"] + [bogus], "timeout": 1})
    assert r["failed"] and "member %s" % bogus in r["msg"] and "unreachable" in r["msg"], r["msg"]
    assert [u["endpoint"] for u in r["unreachable_endpoints"]] == [bogus]
    assert r["leader"]["name"] in [m["name"] for m in cluster["members"]]


def test_kill_leader_gives_a_new_leader(cluster, run_module, run_playbook):
    r = info(run_module, cluster)
    assert not r["failed"], r["msg"]
    old = r["leader"]
    lab_pids = {util.read_pidfile(m["pidfile"]): m for m in cluster["members"]}
    assert old["pid"] in lab_pids, "the leader's pid is not one of the lab's pidfiles"
    survivors = [m["client_url"] for m in cluster["members"] if m["name"] != old["name"]]
    gw = etcd.Gateway(0.5)
    t0 = time.monotonic()
    os.kill(old["pid"], signal.SIGKILL)
    new_leader = written = None
    while time.monotonic() - t0 < 30:
        view = etcd.cluster_view(gw, survivors, pids=False)
        if view["leader"] and view["leader"]["id"] != old["id"] and new_leader is None:
            new_leader = (view["leader"]["name"], time.monotonic() - t0)
        if new_leader:
            try:
                put(survivors[0], "faultline/after-kill", "ok", timeout=1.0)
                written = time.monotonic() - t0
                break
            except etcd.EtcdError:
                pass
        time.sleep(0.05)
    print("\n[%s] kill -9 of leader %s (pid %d): new leader %s after %.2f s, first write after %s s" % (
        cluster["_layout"], old["name"], old["pid"], new_leader and new_leader[0],
        new_leader[1] if new_leader else -1, "%.2f" % written if written else "never"))
    assert new_leader and new_leader[0] != old["name"], "no new leader within 30 s"
    assert written is not None, "no write succeeded after the new leader was elected"
    during = info(run_module, cluster, require_healthy=False)
    dead = [m for m in during["members"] if m["name"] == old["name"]][0]
    assert dead["reachable"] is False and during["healthy"] is False, during
    failing = info(run_module, cluster)
    assert failing["failed"] and "member %s" % old["name"] in failing["msg"], failing["msg"]
    # an idempotent up starts the killed member again with its data
    cp = lab(run_playbook, cluster["_layout"], "up")
    assert cp.returncode == 0, cp.stdout[-4000:]

    def healthy():
        got = info(run_module, cluster, hashes=True)
        return None if got["failed"] else got

    try:
        healed = util.wait_for(healthy, timeout=60, step=1, what="a healthy cluster with equal hashes")
    except AssertionError:
        last = info(run_module, cluster, hashes=True)
        raise AssertionError("not healed after 60 s: %s (hashes %s)" % (last["msg"], last.get("hashes")))
    print("[%s] after restarting %s: leader %s, hashes at revision %d equal: %s" % (
        cluster["_layout"], old["name"], healed["leader"]["name"], healed["hashes"]["revision"], healed["hashes"]["members"]))
    assert healed["hashes"]["equal"]


def test_up_is_idempotent(cluster, run_playbook):
    cp = lab(run_playbook, cluster["_layout"], "up")
    assert cp.returncode == 0, cp.stdout[-4000:]
    hosts = set(m["host"] for m in cluster["members"])
    recap = [line for line in cp.stdout.splitlines() if "changed=" in line and line.split()[0] in hosts]
    assert len(recap) == len(hosts) and all("changed=0" in line for line in recap), "\n".join(recap)


def test_port_only_block_does_not_isolate_a_member(cluster, run_module, state_dir):
    """The seed's port blocking (INPUT drop on one member's client port): the
    member's 127.0.0.1 client port goes silent, but it keeps its peer traffic
    and its own address: the cluster still counts it as a healthy member."""
    if cluster["_layout"] != "loopback":
        pytest.skip("the port layout exists in the loopback layout")
    m2 = [m for m in cluster["members"] if m["name"] == "etcd2"][0]
    fault = run_module("network", {"state": "down", "type": "timeout", "port": m2["port_client_port"],
                                   "duration": 60, "state_dir": state_dir})
    assert not fault["failed"], fault["msg"]
    try:
        with pytest.raises(etcd.EtcdError, match="no answer|timed out"):
            etcd.Gateway(1.0).status(m2["port_client_url"])
        time.sleep(3)  # several election timeouts: a cut-off member would have lost its place by now
        r = info(run_module, cluster)
        assert not r["failed"], r["msg"]
        seen = [m for m in r["members"] if m["name"] == "etcd2"][0]
        assert seen["healthy"] and r["leader_views"]["etcd2"] == r["leader"]["name"]
        put(m2["client_url"], "faultline/port-block", "still-a-member")
        print("\n[loopback] INPUT drop on tcp dport %d (etcd2's port-layout client URL): that URL silent, "
              "etcd2 healthy at %s, term %d, leader %s"
              % (m2["port_client_port"], m2["client_url"], r["raft_term"], r["leader"]["name"]))
    finally:
        up = run_module("network", {"state": "up", "fault_id": fault["fault_id"], "state_dir": state_dir})
        assert not up["failed"], up["msg"]
    assert etcd.Gateway(2.0).status(m2["port_client_url"])["member_id"] == seen["id"]


T040 = os.path.join(ROOT, "playbooks", "t040_service_reconnection.yml")


def _report(tmp_path):
    import glob
    found = sorted(glob.glob(str(tmp_path / "reports" / "t040_service_reconnection" / "*" / "report.json")))
    if not found:
        return None
    with open(found[-1]) as f:
        return json.load(f)


# The role's order of the scenarios, and the test matrix column of each.
ORDER = ["s1", "s2", "s3", "s4", "s5", "pause"]
COLUMN = {"s2": "FlareDB (grpc-proxy)"}  # S3: "covered by ChainFire column"


def assert_sections(rep, scenarios):
    """Each scenario's sections as the seed's log wants them filled: every section PASS, the
    KV hashes equal, acknowledged writes; a new leader timed (0-10 s, from the members' logs)
    where the leader was cut off, killed or stopped (S1, S2, pause) and no figure carried over
    from an earlier scenario where none is elected (S3, S4, S5: the role resets the facts per
    scenario); S1 once per block type; S3's errors without quorum; the matrix cell of each
    scenario filled and the scenarios not run marked so."""
    order = [s["scenario"] for s in rep["sections"]]
    assert order == sorted(order, key=ORDER.index), order
    matrix = rep["extra"]["test_matrix"]
    for scenario in ORDER:
        row = [r for r in matrix if r["Scenario"].lower().startswith(scenario)
               or (scenario == "pause" and r["Scenario"].startswith("Pause"))][0]
        cell = row[COLUMN.get(scenario, "ChainFire (etcd)")]
        secs = [s for s in rep["sections"] if s["scenario"] == scenario]
        if scenario not in scenarios:
            assert not secs and cell == "not run", (scenario, row)
            continue
        assert secs and all(s["result"] == "PASS" for s in secs), scenario
        assert cell.startswith("DOC-GAP measured, checks PASS" if scenario == "s5" else "PASS"), row
        for s in secs:
            o = s["observations"]
            assert o["hashes_equal"] in (True, "True"), (scenario, o)
            assert int(o["writes"]["acked"]) > 0, (scenario, o)
            if scenario in ("s1", "s2", "pause"):
                assert 0 < float(o["time_to_new_leader_s"]) < 10, (scenario, o)
            else:
                assert o["time_to_new_leader_s"] in (None, "None", ""), (scenario, o)
        if scenario == "s1":
            assert [s["title"].split("(")[1].split(":")[0] for s in secs] == ["timeout", "reject"]
        if scenario == "s3":
            assert secs[0]["observations"]["measured"]["errors_without_quorum"], secs[0]["observations"]


@pytest.mark.parametrize("scenarios", ["s1,s2,s3,s4,s5,pause"])
def test_t040_playbook_passes_on_the_lab(cluster, run_playbook, run_module, tmp_path, scenarios):
    """playbooks/t040_service_reconnection.yml against the lab cluster and its grpc-proxy, with the
    layout's own inventory (hosts: every fault over SSH on the member's lab host, each host's own
    ledger /run/faultline); then no fault, rule, stopped member or running probe is left.
    Every scenario in one run, as a user runs the full form: each one starts with its own health
    check and leader lookup, so a scenario's leftovers would fail the next; three runs per layout
    paid the run's fixed cost (probes, report, the hosts layout's start_at skew step) three times.
    This is the one full-form run per layout (test_t040_service_reconnection.py ran S2+S3 and
    S1+S4+S5+pause once more on a cluster of its own, asserting the sections as here: 229 s of
    the suite's time for no behaviour these runs do not show)."""
    layout = cluster["_layout"]
    inventory = LAYOUTS[layout]["inventory"]
    ev = {"t040_scenarios": scenarios, "faultline_report_dir": str(tmp_path / "reports")}
    if layout == "loopback":  # this host's ledger: private to the test
        ev["faultline_state_dir"] = str(tmp_path / "state")
    else:
        # a lead shorter than the dispatch to three hosts takes: the first try
        # misses its instant and the role measures again with a longer lead (two
        # concurrent make test runs, load 9: the 10 s default was missed by 0.24 s,
        # the late host fired on arrival and the check failed on a 238 ms skew)
        ev["service_reconnection_skew_lead_s"] = 0.5
    # a hang guard: the full form takes 4-9 min at load 2-7, and more than 15 with two
    # wide make test runs at once (load 15-20)
    cp = run_playbook(T040, ev, inventory=inventory, timeout=1800)
    rep = _report(tmp_path)
    assert rep is not None, cp.stdout[-5000:]
    failed = [(s["title"], c["name"], c["detail"]) for s in rep["sections"] for c in s["checks"] if not c["passed"]]
    failed += [(c["name"], c["detail"]) for c in rep["checks"] if not c["passed"]]
    for s in rep["sections"]:
        o = s["observations"]
        print("\n[%s] %s: %s | detect %s s, new leader %s s, recover %s s, writes %s, hashes equal %s, measured %s"
              % (layout, s["title"], s["result"], o["time_to_detect_s"], o["time_to_new_leader_s"],
                 o["time_to_recover_s"], o["writes"], o["hashes_equal"], json.dumps(o["measured"])[:600]))
    for c in rep["checks"]:
        print("[%s] %s: %s" % (layout, c["name"], c["detail"]))
    assert cp.returncode == 0 and rep["result"] == "PASS", (failed, cp.stdout[-3000:])
    assert sorted(set(s["scenario"] for s in rep["sections"])) == sorted(scenarios.split(","))
    skew = [c for c in rep["checks"] if "start_at" in c["name"]]
    assert len(skew) == (1 if layout == "hosts" else 0)
    if layout == "hosts":
        assert skew[0]["passed"] and "measured again with a lead of" in skew[0]["detail"], skew
    assert_sections(rep, scenarios.split(","))
    if "s2" in scenarios:  # through the grpc-proxy: serving again within the seed's 10-20 s
        s2 = [s for s in rep["sections"] if s["scenario"] == "s2"][0]
        assert [c for c in s2["checks"] if c["name"].startswith("The proxy serves again")][0]["passed"]
    # nothing left: every member running and healthy, no fault in any host's ledger
    for m in cluster["members"]:
        pid = util.read_pidfile(m["pidfile"])
        assert pid and proc_alive(pid)
    assert not info(run_module, cluster)["failed"]
    sd = ev.get("faultline_state_dir", "/run/faultline")
    if layout == "hosts":
        got = run_module("fault_info", {"state_dir": sd}, inventory=inventory, hosts="lab_hosts")
    else:
        got = {"localhost": run_module("fault_info", {"state_dir": sd})}
    for host, r in got.items():
        assert not r["failed"] and r["faults"] == [] and r["scheduled"] == [], (host, r)
    ctl = run_module("fault_info", {"state_dir": sd})
    assert [w for w in ctl["workers"] if w.get("running")] == [], ctl["workers"]

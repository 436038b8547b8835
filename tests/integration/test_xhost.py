"""The MySQL test cases across hosts: source on lab host node1, replica on node2.

A module-scoped fixture brings the lab hosts (roles/lab_hosts: network
namespaces with sshd on 198.18.0.0/24) and the MySQL lab in layout ``hosts``
(roles/lab_mysql: the source bound to 198.18.0.11 inside node1, the replica
bound to 198.18.0.12 inside node2, replicating over the lab bridge) up with
``playbooks/lab.yml -i inventories/netns``, and always takes both down again,
then checks nothing is left. The scenario playbooks run exactly as a user runs
them (``-i inventories/netns``): the play on the controller, each step
delegated over SSH to the host of its inventory group.

Each node has its own /run (lab_hosts mounts a private tmpfs for its sshd), so
each node's ledger /run/faultline is its own, read here over SSH with
``fault_info``; nftables is per network namespace, read with ``ip netns exec``.
Keep runs short (the lab lock): pick tests with -k.
"""
import json
import glob
import os
import subprocess
import time

import pymysql
import pytest

from support.ansible import LAB_PLAYBOOK, ROOT, ansible_env, tool
from support.util import kill_run, read_lab, wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs

pytestmark = [pytest.mark.lab, pytest.mark.skipif(os.geteuid() != 0, reason="the lab hosts need root")]

INVENTORY = os.path.join(ROOT, "inventories", "netns")
LAB_FILE = "/var/lib/faultline-lab/mysql/lab_mysql.json"
HOSTS_FILE = "/var/lib/faultline-lab/hosts/lab_hosts.json"
COMPONENTS = ["hosts", "mysql"]
NETNS = {"node1": "flt-node1", "node2": "flt-node2"}


def _lab(run_playbook, state):
    return run_playbook(LAB_PLAYBOOK, {"lab_components": COMPONENTS, "lab_state": state},
                        inventory=INVENTORY, timeout=900)


def _leftovers():
    left = []
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    left += ["namespace " + n for n in NETNS.values() if n in netns.split()]
    if os.path.exists("/var/lib/faultline-lab/mysql"):
        left.append("/var/lib/faultline-lab/mysql")
    for inst in ("source", "replica"):
        pidfile = "/var/lib/faultline-lab/mysql/%s/run/mysqld.pid" % inst
        if os.path.exists(pidfile):
            left.append(pidfile)
    return left


@pytest.fixture(scope="module")
def xlab(run_playbook):
    if os.path.exists(HOSTS_FILE) or os.path.exists(LAB_FILE):
        pytest.skip("a lab (hosts or mysql) is already up: these tests bring up their own")
    try:
        cp = _lab(run_playbook, "up")
        assert cp.returncode == 0, "lab up failed:\n%s\n%s" % (cp.stdout[-4000:], cp.stderr[-2000:])
        desc = read_lab(LAB_FILE)
        assert desc is not None, "lab_mysql.json missing or a server down after up"
        yield desc
    finally:
        down = _lab(run_playbook, "down")
        assert down.returncode == 0, "lab down failed:\n%s" % down.stdout[-4000:]
        assert _leftovers() == []


def query(inst, sql, args=None):
    conn = pymysql.connect(host=inst["host"], port=int(inst["port"]), user=inst["user"], password=inst["password"],
                           autocommit=True, connect_timeout=5)
    try:
        with conn.cursor(pymysql.cursors.DictCursor) as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())
    finally:
        conn.close()


def nft_tables(node):
    cp = subprocess.run(["ip", "netns", "exec", NETNS[node], "nft", "list", "tables"],
                        capture_output=True, text=True, check=True)
    return cp.stdout


def ledgers(run_module, hosts="source:replica"):
    """{host: fault_info result} read on each lab host over SSH (its own /run/faultline)."""
    return run_module("fault_info", {}, inventory=INVENTORY, hosts=hosts)


def assert_nothing_applied(run_module):
    for host, info in ledgers(run_module).items():
        assert not info["failed"], (host, info["msg"])
        assert info["faults"] == [], (host, info["faults"])
        assert [w for w in info.get("workers", []) if w.get("running")] == [], (host, info.get("workers"))
    for node in NETNS:
        assert "faultline" not in nft_tables(node), node


def only_report(report_dir, scenario):
    found = glob.glob(os.path.join(report_dir, scenario, "*", "report.json"))
    assert len(found) == 1, found
    with open(found[0]) as f:
        report = json.load(f)
    report["_path"] = found[0]
    return report


# --------------------------------------------------------------------------
# the layout
# --------------------------------------------------------------------------

def test_each_server_runs_on_its_own_host_and_replicates_across(xlab):
    assert xlab["layout"] == "hosts"
    src, rep = xlab["source"], xlab["replica"]
    assert (src["inventory_host"], src["host"]) == ("node1", "198.18.0.11")
    assert (rep["inventory_host"], rep["host"]) == ("node2", "198.18.0.12")
    for inst, node in ((src, "node1"), (rep, "node2")):
        with open(inst["pidfile"]) as f:
            pid = f.read().strip()
        ns = subprocess.run(["ip", "netns", "identify", pid], capture_output=True, text=True, check=True).stdout
        assert ns.strip() == NETNS[node], (inst["name"], ns)
    status = query(rep, "SHOW SLAVE STATUS")[0]
    assert (status["Master_Host"], int(status["Master_Port"])) == ("198.18.0.11", src["port"])
    query(src, "CREATE TABLE IF NOT EXISTS faultline.xhost_t (id INT PRIMARY KEY)")
    query(src, "INSERT INTO faultline.xhost_t VALUES (1)")
    wait_for(lambda: query(rep, "SELECT COUNT(*) AS n FROM faultline.xhost_t")[0]["n"] == 1, timeout=30,
             what="the row replicated to node2")
    query(src, "DROP TABLE faultline.xhost_t")


# --------------------------------------------------------------------------
# the test cases across hosts
# --------------------------------------------------------------------------

def test_tc004_across_hosts_passes_with_the_fault_on_the_source_host(xlab, run_playbook, run_module, tmp_path):
    report_dir = str(tmp_path / "reports")
    cp = run_playbook("playbooks/tc004_connection_refused.yml", {"fault_duration": 8, "faultline_report_dir": report_dir},
                      inventory=INVENTORY)
    assert cp.returncode == 0, cp.stdout[-5000:]
    report = only_report(report_dir, "tc004_connection_refused")
    assert report["result"] == "PASS", [c for c in report["checks"] if not c["passed"]]
    obs = report["observations"]
    print("TC-004 across hosts: detect %.2f s, recover %.2f s, error %r"
          % (obs["time_to_detect_s"], obs["time_to_recover_s"], obs["error_message"]))
    assert obs["time_to_detect_s"] < 30 and obs["time_to_recover_s"] is not None
    # the refusal was seen by the replica on node2 connecting to node1
    assert "198.18.0.11" in obs["error_message"] or "111" in obs["error_message"], obs["error_message"]
    # the timeline has the rows written on the source beside the rows present on the replica,
    # and the replica's line ends where the source's does (caught up after the fault)
    written = report["series"]["rows written (source, acked)"]
    present = report["series"]["rows present (destination)"]
    assert written and len(present) >= 3 and present[-1][1] == written[-1][1] > 0, (written[-3:], present[-3:])
    svg = open(os.path.join(os.path.dirname(report["_path"]), "timeline.svg")).read()
    assert "rows present (destination)" in svg and "rows written (source, acked)" in svg
    assert_nothing_applied(run_module)


def test_tc007_short_form_across_hosts_passes(xlab, run_playbook, run_module, tmp_path):
    report_dir = str(tmp_path / "reports")
    cp = run_playbook("playbooks/tc007_flapping_connection.yml",
                      {"flap_interval": 2, "flap_duration": 12, "datagen_count": 5, "datagen_interval": 1,
                       "faultline_report_dir": report_dir}, inventory=INVENTORY)
    assert cp.returncode == 0, cp.stdout[-5000:]
    report = only_report(report_dir, "tc007_flapping_connection")
    assert report["result"] == "PASS", [c for c in report["checks"] if not c["passed"]]
    cycles = report["cycles"]
    assert len(cycles) == 3, cycles
    print("TC-007 across hosts: " + "; ".join(
        "cycle %s detect %s s recover %s s" % (c.get("n"), c.get("time_to_detect_s"), c.get("time_to_recover_s"))
        for c in cycles))
    assert_nothing_applied(run_module)


def test_tc001_across_hosts_service_and_binlog_modes_pass_on_the_source_host(xlab, run_playbook, run_module, tmp_path):
    """TC-001's two modes that act on the source host itself (reject and timeout across hosts are
    TC-004's and TC-007's tests above): the service stopped and started again on node1, the binlog
    damaged and restored on node1; the Fix Now on the replica host node2."""
    report_dir = str(tmp_path / "reports")
    cp = run_playbook("playbooks/tc001_pipeline_restart.yml",
                      {"failure_modes": ["service", "binlog_truncate"], "faultline_report_dir": report_dir},
                      inventory=INVENTORY)
    assert cp.returncode == 0, cp.stdout[-5000:]
    report = only_report(report_dir, "tc001_pipeline_restart")
    failed = [(s["title"], c["name"], c["detail"]) for s in report["sections"] for c in s["checks"] if not c["passed"]]
    assert report["result"] == "PASS", failed
    assert [s["result"] for s in report["sections"]] == ["PASS", "PASS"], report["sections"]
    roles = {lane["host"]: lane["role"] for lane in report["lanes"]}
    assert roles["node1"].startswith("source (fault)") and roles["node2"].startswith("replica (Fix Now)"), roles
    assert_nothing_applied(run_module)


@pytest.mark.parametrize("target,action,host", [("replica", "kill", "node2"), ("source", "pause", "node1")])
def test_server_crash_across_hosts_brings_the_server_back_on_its_own_host(
        xlab, run_playbook, run_module, tmp_path, target, action, host):
    """The process fault runs on the host of the server it hits: its supervisor starts the server
    again (kill) or resumes it (pause) there, in that host's network, where it listens on the
    host's own address (before: the play ran on the controller and restarted the replica in the
    controller's network, where 198.18.0.12 is not a local address: revert_failed for ever)."""
    inst = xlab[target]
    with open(inst["pidfile"]) as f:
        pid_before = int(f.read().strip())
    report_dir = str(tmp_path / "reports")
    cp = run_playbook("playbooks/server_crash.yml",
                      {"crash_target": target, "crash_action": action, "crash_duration": 6,
                       "faultline_report_dir": report_dir}, inventory=INVENTORY)
    assert cp.returncode == 0, cp.stdout[-5000:]
    report = only_report(report_dir, "server_crash")
    assert report["result"] == "PASS", [c for c in report["checks"] if not c["passed"]]
    roles = {lane["host"]: lane["role"] for lane in report["lanes"]}
    assert "%s (fault)" % action in roles[host], roles
    with open(inst["pidfile"]) as f:
        pid_after = int(f.read().strip())
    # kill: a new server; pause: the same one, running again
    assert (pid_after != pid_before) if action == "kill" else (pid_after == pid_before), (pid_before, pid_after)
    # it listens in its host's network namespace, on the host's address
    ss = subprocess.run(["ip", "netns", "exec", NETNS[host], "ss", "-Hltn", "sport", "= :%d" % int(inst["port"])],
                        capture_output=True, text=True, check=True).stdout
    assert "%s:%d" % (inst["host"], int(inst["port"])) in ss, ss
    assert query(xlab["replica"], "SELECT 1 AS one")[0]["one"] == 1
    assert_nothing_applied(run_module)


def test_a_row_deleted_on_the_replica_host_fails_verify_naming_the_key(xlab, run_module):
    src, rep = xlab["source"], xlab["replica"]
    query(src, "CREATE TABLE IF NOT EXISTS faultline.xhost_planted (id INT PRIMARY KEY, v VARCHAR(20))")
    try:
        query(src, "INSERT INTO faultline.xhost_planted VALUES (1, 'a'), (2, 'b'), (3, 'c')")
        wait_for(lambda: query(rep, "SELECT COUNT(*) AS n FROM faultline.xhost_planted")[0]["n"] == 3, timeout=30)
        # on the replica host only, kept out of its binlog
        conn = pymysql.connect(host=rep["host"], port=int(rep["port"]), user=rep["user"], password=rep["password"],
                               autocommit=True)
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_log_bin = 0")
            cur.execute("DELETE FROM faultline.xhost_planted WHERE id = 2")
        conn.close()
        res = run_module("verify", {
            "source_host": src["host"], "source_port": src["port"], "source_user": src["user"],
            "destination_host": rep["host"], "destination_port": rep["port"], "destination_user": rep["user"],
            "database": "faultline", "table": "xhost_planted", "key_columns": ["id"], "converge_timeout": 3},
            inventory=INVENTORY, hosts="controller")["localhost"]
        assert res["failed"], res
        assert res["missing_keys"] == [[2]], res["missing_keys"]
        assert "(2)" in res["msg"] or "2" in res["msg"].split("missing", 1)[-1], res["msg"]
    finally:
        query(src, "DROP TABLE IF EXISTS faultline.xhost_planted")


FLAP_PLAY = [{
    "name": "flap both lab hosts, then wait (the controller is killed meanwhile)",
    "hosts": "source:replica",
    "gather_facts": False,
    "tasks": [
        {"name": "flap the MySQL port of this host", "faultline.chaos.network": {
            "state": "flap", "type": "reject", "port": "{{ lab_port }}", "interval": 1, "duration": 10,
            "fault_id": "xhost-kill"}},
        {"name": "wait (killed here)", "ansible.builtin.pause": {"seconds": 120}},
    ],
}]


def test_controller_sigkill_during_a_cross_host_flap_heals_both_hosts_by_the_deadline(xlab, run_module, tmp_path):
    book = tmp_path / "flap.yml"
    book.write_text(json.dumps(FLAP_PLAY))
    ev = {"lab_port": "{{ 3317 if inventory_hostname == 'node1' else 3318 }}"}
    proc = subprocess.Popen([tool("ansible-playbook"), str(book), "-i", INVENTORY, "-e", json.dumps(ev)],
                            cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        wait_for(lambda: all("faultline" in nft_tables(n) for n in NETNS), timeout=120, step=0.2,
                 what="the flap's table on both hosts")
        started = time.time()
    finally:
        # ansible-playbook's task workers are process groups of their own (ansible-core
        # 2.19): SIGKILL of the controller's group left the worker of the pause task
        # sleeping its 120 s (lab-ns.sh stopped it when the instance ended)
        workers = kill_run(proc.pid)
        proc.communicate()
    wait_for(lambda: not [p for p, st in procfs.proc_table().items() if p in workers and st["state"] != "Z"],
             timeout=10, what="the workers gone")
    info = ledgers(run_module)
    deadlines = [f["deadline"] for i in info.values() for f in i["faults"] if f["id"] == "xhost-kill"]
    assert len(deadlines) == 2, info
    deadline = max(deadlines)
    assert deadline - started <= 11, (deadline, started)
    # healed by the deadline (+1 s for the supervisor's revert), on both hosts, with no controller:
    # timed by each host's journal (the supervisor's "reverted" event), not by how soon this
    # process, polling over SSH, sees it (two concurrent make test runs, load 15-20: the poll
    # itself was later than the bound)
    wait_for(lambda: not any("faultline" in nft_tables(n) for n in NETNS), timeout=max(deadline - time.time(), 0) + 30,
             step=0.1, what="both hosts healed")
    info = run_module("fault_info", {"journal_since": deadline - 20}, inventory=INVENTORY, hosts="source:replica")
    for host, res in info.items():
        reverted = [e for e in res["journal"] if e["id"] == "xhost-kill" and e["event"] == "reverted"]
        assert reverted and reverted[-1]["detail"]["by"] == "supervisor", (host, res["journal"])
        print("%s healed %.2f s after the deadline" % (host, reverted[-1]["ts"] - deadline))
        assert reverted[-1]["ts"] <= deadline + 1.0, (host, reverted[-1], deadline)
    assert_nothing_applied(run_module)


# --------------------------------------------------------------------------
# bad input: a clear message naming the host, nothing applied anywhere
# --------------------------------------------------------------------------

def _inventory(tmp_path, source="node1", replica="node2", extra_hosts=None, host_vars=None):
    node_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": "/var/lib/faultline-lab/hosts/id_ed25519",
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=5",
        "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python"),
    }
    nodes = {"node1": {"ansible_host": "198.18.0.11"}, "node2": {"ansible_host": "198.18.0.12"}}
    nodes.update(extra_hosts or {})
    for h, v in (host_vars or {}).items():
        nodes[h].update(v)
    children = {
        "controller": {"hosts": {"localhost": {"ansible_connection": "local",
                                               "ansible_python_interpreter": os.path.join(ROOT, ".venv", "bin", "python")}}},
        "lab_hosts": {"hosts": nodes, "vars": node_vars},
        "source": {"hosts": {source: None}} if source else None,
        "replica": {"hosts": {replica: None}} if replica else None,
    }
    inv = {"all": {"children": {k: v for k, v in children.items() if v is not None},
                   "vars": {"faultline_pipeline_layout": "hosts"}}}
    path = tmp_path / "hosts.yml"
    path.write_text(json.dumps(inv))
    return str(path)


@pytest.mark.parametrize("case,inv_kw,expect", [
    ("group missing", {"replica": None}, ["group `replica`"]),
    ("same host", {"replica": "node1"}, ["both resolve to host node1"]),
    ("unreachable host", {"replica": "node9", "extra_hosts": {"node9": {"ansible_host": "198.18.0.99"}}},
     ["node9", "did not answer"]),
    ("library missing", {"host_vars": {"node2": {"ansible_python_interpreter": "/usr/bin/python3"}}},
     ["node2", "PyMySQL"]),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input_fails_naming_the_host_and_applies_nothing(
        xlab, run_playbook, run_module, tmp_path, case, inv_kw, expect):
    if case == "library missing":
        probe = subprocess.run(["/usr/bin/python3", "-c", "import pymysql"], capture_output=True, check=False)
        if probe.returncode == 0:
            pytest.skip("/usr/bin/python3 has PyMySQL: no target without it here")
    inv = _inventory(tmp_path, **inv_kw)
    report_dir = str(tmp_path / "reports")
    cp = run_playbook("playbooks/tc004_connection_refused.yml", {"fault_duration": 5, "faultline_report_dir": report_dir},
                      inventory=inv, timeout=300)
    assert cp.returncode != 0, cp.stdout[-3000:]
    out = cp.stdout + cp.stderr
    for word in expect:
        assert word in out, (case, word, out[-3000:])
    assert "nothing was started or applied" in out or case == "group missing", out[-3000:]
    assert not os.path.exists(report_dir), "a report was written"
    assert_nothing_applied(run_module)

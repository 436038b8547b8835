"""Verify TC-007 across hosts on each lab host (testinfra over SSH): no fault
left in its nftables or ledger, replication running, the report PASS."""
import glob
import json
import os

# the lab hosts only: the controller's own nftables belong to the whole machine
testinfra_hosts = ["node1", "node2"]

LAB_STATE_FILE = "/var/lib/faultline-lab/mysql/lab_mysql.json"


def _lab(host):
    return json.loads(host.file(LAB_STATE_FILE).content_string)


def test_no_faultline_table_or_chain_on_the_host(host):
    assert "faultline" not in host.check_output("nft list ruleset")
    if host.exists("iptables-save"):
        assert "flt_" not in host.check_output("iptables-save")


def test_ledger_empty_on_the_host(host):
    faults = host.file("/run/faultline/faults")
    assert not faults.exists or faults.listdir() == []


def test_replication_running(host):
    lab = _lab(host)
    assert lab["layout"] == "hosts"
    replica = lab["replica"]
    status = host.check_output(
        "mariadb --no-defaults -h %s -P %s -u %s -e 'SHOW SLAVE STATUS\\G'",
        replica["host"], str(replica["port"]), replica["user"])
    assert "Slave_IO_Running: Yes" in status
    assert "Slave_SQL_Running: Yes" in status
    assert "Master_Host: %s" % lab["source"]["host"] in status


def test_each_server_on_its_host(host):
    lab = _lab(host)
    name = host.check_output("hostname")
    mine = [i for i in (lab["source"], lab["replica"]) if i["inventory_host"] == name]
    assert len(mine) == 1, (name, lab)
    assert host.socket("tcp://%s:%s" % (mine[0]["host"], mine[0]["port"])).is_listening


def test_report_written_with_result_pass():
    base = os.environ["FAULTLINE_REPORT_DIR"]
    reports = sorted(glob.glob(os.path.join(base, "tc007_flapping_connection", "*", "report.json")))
    assert reports, "no report.json under %s" % base
    with open(reports[-1]) as f:
        report = json.load(f)
    assert report["result"] == "PASS", [c for c in report["checks"] if not c["passed"]]
    assert {"node1", "node2", "localhost"} <= set(report["hosts"]), report["hosts"]

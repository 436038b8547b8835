"""Verify TC-004 on the lab: faults gone, pipeline running again, report PASS."""
import glob
import json
import os

LAB_STATE_FILE = "/var/lib/faultline-lab/mysql/lab_mysql.json"


def _lab(host):
    return json.loads(host.file(LAB_STATE_FILE).content_string)


def test_no_fault_left_in_nftables(host):
    tables = host.check_output("nft list tables")
    assert "faultline" not in tables


def test_no_fault_left_in_the_ledger(host):
    faults = host.file("/run/faultline/faults")
    assert not faults.exists or faults.listdir() == []


def test_replica_replicates_again(host):
    replica = _lab(host)["replica"]
    status = host.check_output(
        "mariadb --no-defaults -h %s -P %s -u %s -e 'SHOW SLAVE STATUS\\G'",
        replica["host"], str(replica["port"]), replica["user"])
    assert "Slave_IO_Running: Yes" in status
    assert "Slave_SQL_Running: Yes" in status


def test_report_written_with_result_pass():
    base = os.environ["FAULTLINE_REPORT_DIR"]
    reports = sorted(glob.glob(os.path.join(base, "tc004_connection_refused", "*", "report.json")))
    assert reports, "no report.json under %s" % base
    with open(reports[-1]) as f:
        report = json.load(f)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert report["result"] == "PASS", failed
    assert report["scenario"] == "tc004_connection_refused"
    assert os.path.exists(os.path.join(os.path.dirname(reports[-1]), "report.md"))

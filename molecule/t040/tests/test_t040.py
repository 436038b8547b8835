"""Verify T040's short form on every lab host: etcd healthy, no faultline rule,
no stopped etcd, empty ledger; and the report PASS with S2 and S3."""
import glob
import json
import os

import pytest

LAB_FILE = "/var/lib/faultline-lab/etcd/lab_etcd.json"


@pytest.fixture
def node(host):
    name = host.backend.get_hostname()
    if not name.startswith("node"):
        pytest.skip("a lab host check")
    return host


def _member(host):
    # the lab's files are on the filesystem the lab hosts share with this machine
    with open(LAB_FILE) as f:
        desc = json.load(f)
    name = host.backend.get_hostname()
    return [m for m in desc["members"] if m["host"] == name][0]


def test_etcd_member_healthy(node):
    m = _member(node)
    # etcdctl 3.4 prints the health line on stderr
    out = node.check_output("ETCDCTL_API=3 etcdctl --endpoints=%s --command-timeout=5s endpoint health 2>&1",
                            m["client_url"])
    assert "is healthy" in out


def test_etcd_member_running_not_stopped(node):
    m = _member(node)
    pid = node.file(m["pidfile"]).content_string.strip()
    assert pid.isdigit()
    state = node.check_output("ps -o stat= -p %s", pid).strip()
    assert state and not state.startswith("T"), state


def test_no_faultline_rule_left(node):
    assert "faultline" not in node.check_output("nft list tables")
    ipt = node.run("iptables-save")
    assert ipt.rc != 0 or "flt_" not in ipt.stdout.lower()


def test_ledger_empty(node):
    faults = node.file("/run/faultline/faults")
    assert not faults.exists or [f for f in faults.listdir() if f.endswith(".json")] == []


def test_report_pass_with_s2_and_s3():
    base = os.environ["FAULTLINE_REPORT_DIR"]
    reports = sorted(glob.glob(os.path.join(base, "t040_service_reconnection", "*", "report.json")))
    assert reports, "no report.json under %s" % base
    with open(reports[-1]) as f:
        report = json.load(f)
    failed = [c for s in report["sections"] for c in s["checks"] if not c["passed"]]
    assert report["result"] == "PASS", failed
    assert sorted(set(s["scenario"] for s in report["sections"])) == ["s2", "s3"]
    assert report["metadata"]["layout"] == "hosts"

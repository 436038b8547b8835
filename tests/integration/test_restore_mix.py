"""faultline.chaos.restore after a mix of fault kinds on a real MariaDB pair:
network reject + process paused + binlog corrupted + service stopped."""
import hashlib
import os
import socket

import pytest

from support.util import wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_state

pytestmark = pytest.mark.lab

SPARE_PORT = 3419  # nothing listens there: the reject rule is pure firewall state


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def pid_of(pidfile):
    with open(pidfile) as f:
        return int(f.read().strip())


def port_open(host, port):
    try:
        socket.create_connection((host, int(port)), 0.5).close()
        return True
    except OSError:
        return False


def ok(res):
    assert not res["failed"], res["msg"]
    return res


def snapshot(run_module, lab, state_dir, binlog):
    info = ok(run_module("fault_info", {"state_dir": state_dir}))
    src, rep = lab["source"], lab["replica"]
    return {
        "faults": sorted(f["id"] for f in info["faults"]),
        "our_chains": ("faultline:" + state_dir) in (info["network"]["ruleset"] or ""),
        "source_state": proc_state(pid_of(src["pidfile"])),
        "replica_up": port_open(rep["host"], rep["port"]),
        "binlog_sha": sha(binlog) if os.path.exists(binlog) else None,
    }


def test_restore_after_a_mix_leaves_nothing_behind(tc001_lab, state_dir, run_module):
    lab = tc001_lab
    src, rep = lab["source"], lab["replica"]
    source_login = {"login_host": src["host"], "login_port": src["port"], "login_user": src["user"],
                    "login_password": src["password"]}
    try:
        lab.query("source", "CREATE TABLE IF NOT EXISTS faultline.restore_mix (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
        lab.query("source", "INSERT INTO faultline.restore_mix (v) VALUES (1), (2), (3)")
        lab.query("source", "FLUSH BINARY LOGS")
        lab.heal_and_sync()

        bl = ok(run_module("binlog", dict(source_login, target="latest_rotated", type="garbage", state_dir=state_dir,
                                          backup_dir=os.path.join(state_dir, "backups"))))
        binlog, binlog_sha = bl["file"], bl["sha256"]
        assert sha(binlog) != binlog_sha
        ok(run_module("network", {"state": "down", "type": "reject", "port": SPARE_PORT, "state_dir": state_dir}))
        old_replica_pid = pid_of(rep["pidfile"])
        ok(run_module("network", {"state": "down", "type": "service", "port": rep["port"],
                                  "service_pidfile": rep["pidfile"], "service_start": rep["start_argv"],
                                  "service_host": rep["host"], "state_dir": state_dir}))
        ok(run_module("process", {"pidfile": src["pidfile"], "state": "paused", "state_dir": state_dir}))

        broken = snapshot(run_module, lab, state_dir, binlog)
        assert len(broken["faults"]) == 4 and broken["our_chains"], broken
        assert broken["source_state"] == "T" and not broken["replica_up"] and broken["binlog_sha"] != binlog_sha

        # check mode lists all four and changes nothing
        chk = ok(run_module("restore", {"state_dir": state_dir}, check=True, diff=True))
        assert chk["changed"] and sorted(r["id"] for r in chk["reverted"]) == broken["faults"], chk
        assert chk["diff"]["before"] and chk["diff"]["after"] == ""
        assert snapshot(run_module, lab, state_dir, binlog) == broken

        res = ok(run_module("restore", {"state_dir": state_dir}))
        assert res["changed"] and res["errors"] == [], res
        assert sorted(r["id"] for r in res["reverted"]) == broken["faults"] and all(r["reverted"] for r in res["reverted"])
        after = snapshot(run_module, lab, state_dir, binlog)
        assert after["faults"] == [] and not after["our_chains"], after
        assert after["source_state"] in ("S", "R"), after          # paused process running again, not stopped
        assert after["replica_up"] and pid_of(rep["pidfile"]) != old_replica_pid  # stopped service started again
        assert after["binlog_sha"] == binlog_sha                    # binlog byte-identical to before
        assert os.listdir(os.path.join(state_dir, "backups")) == []

        again = ok(run_module("restore", {"state_dir": state_dir}))
        assert not again["changed"] and again["reverted"] == [] and again["orphans"] == [], again
        assert snapshot(run_module, lab, state_dir, binlog) == after

        # and the pipeline still works end to end
        lab.query("source", "INSERT INTO faultline.restore_mix (v) VALUES (4)")
        lab.heal_and_sync()
        assert lab.query("replica", "SELECT COUNT(*) AS n FROM faultline.restore_mix")[0]["n"] == \
            lab.query("source", "SELECT COUNT(*) AS n FROM faultline.restore_mix")[0]["n"]
    finally:
        run_module("restore", {"state_dir": state_dir})
        wait_for(lambda: port_open(rep["host"], rep["port"]), 60, 0.5, "the replica to listen")
        lab.query("source", "DROP TABLE IF EXISTS faultline.restore_mix")
        lab.heal_and_sync()

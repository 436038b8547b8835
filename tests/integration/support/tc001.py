"""A private MariaDB lab for the TC-001 and restore-mix tests.

The shared lab (3317/3318) is used by other test modules and people; these
tests stop servers, break replication and run minutes-long playbooks, so they
bring up their own lab instance with ``playbooks/lab.yml`` (ports and base dir
from FAULTLINE_TC001_SOURCE_PORT / _REPLICA_PORT / _LAB_BASE, default
3417/3418 and /var/lib/faultline-lab-tc001/mysql) and take it down at the end
of the session if they started it (FAULTLINE_KEEP_LAB=1 keeps it).
"""
import os

import pytest

from support.ansible import LAB_PLAYBOOK
from support.mysql import MySQL
from support.util import read_lab, wait_for

LAB_VARS = {
    "lab_components": ["mysql"],
    "lab_mysql_source_port": int(os.environ.get("FAULTLINE_TC001_SOURCE_PORT", "3417")),
    "lab_mysql_replica_port": int(os.environ.get("FAULTLINE_TC001_REPLICA_PORT", "3418")),
    "lab_mysql_base_dir": os.environ.get("FAULTLINE_TC001_LAB_BASE", "/var/lib/faultline-lab-tc001/mysql"),
}


class Lab(MySQL):
    """The private lab's description (lab_mysql.json) with the shared SQL helpers."""

    def __init__(self, desc, state_file):
        super(Lab, self).__init__(desc)
        self.desc, self.state_file = desc, state_file

    def __getitem__(self, inst):
        return self.desc[inst]

    def login(self, inst):
        i = self.desc[inst]
        return {"host": i["host"], "port": int(i["port"]), "user": i["user"], "password": i["password"]}

    def heal_and_sync(self, timeout=60):
        """Make replication run again (restart the replica threads if they stopped) and catch up."""
        st = self.replica_status()
        if st["Slave_IO_Running"] == "No" or st["Slave_SQL_Running"] != "Yes":
            self.query("replica", "STOP SLAVE")
            self.query("replica", "START SLAVE")
        self.wait_replicated(timeout)
        wait_for(lambda: self.replica_status()["Slave_IO_Running"] == "Yes", 30, 0.2, "replica IO thread")


def tc001_lab_session(run_playbook):
    """Generator behind the ``tc001_lab`` fixture (conftest.py)."""
    state_file = os.path.join(LAB_VARS["lab_mysql_base_dir"], "lab_mysql.json")
    desc = read_lab(state_file)
    started = desc is None
    try:
        if started:
            cp = run_playbook(LAB_PLAYBOOK, dict(LAB_VARS, lab_state="up"))
            desc = read_lab(state_file)
            if cp.returncode != 0 or desc is None:
                pytest.fail("lab up failed (rc=%d):\n%s" % (cp.returncode, cp.stdout[-4000:]), pytrace=False)
        lab = Lab(desc, state_file)
        lab.heal_and_sync()
        yield lab
    finally:
        if started and os.environ.get("FAULTLINE_KEEP_LAB") != "1":
            run_playbook(LAB_PLAYBOOK, dict(LAB_VARS, lab_state="down"))

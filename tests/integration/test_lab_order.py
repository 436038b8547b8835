"""playbooks/lab.yml brings the lab components up in any order.

Every lab role creates its directory below /var/lib/faultline-lab. The first
one to run creates that shared parent; it must stay traversable (0755) for
daemons that do not run as root (mariadbd runs as mysql), whatever mode the
component's own directory has (lab_hosts keeps its keys in a 0700 one).
Each order is brought up in two runs (the first component alone, then all of
them, as a user adding a component does) and taken down; nothing may be left.
"""
import os
import stat

import pytest

from support.ansible import LAB_PLAYBOOK, ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root")

LAB_DIR = "/var/lib/faultline-lab"


def lab(run_playbook, components, state):
    return run_playbook(LAB_PLAYBOOK, {"lab_components": components, "lab_state": state})


@pytest.mark.parametrize("order", [["hosts", "mysql"], ["mysql", "hosts"]], ids="-then-".join)
def test_components_come_up_in_any_order(run_playbook, order):
    if os.path.exists(LAB_DIR):
        pytest.skip("%s exists: another lab is up" % LAB_DIR)
    try:
        first = lab(run_playbook, order[:1], "up")
        assert first.returncode == 0, first.stdout[-3000:]
        mode = stat.S_IMODE(os.stat(LAB_DIR).st_mode)
        assert mode == 0o755, "%s is %o after %s came up" % (LAB_DIR, mode, order[0])
        both = lab(run_playbook, order, "up")
        assert both.returncode == 0, both.stdout[-3000:]
    finally:
        down = lab(run_playbook, order, "down")
    assert down.returncode == 0, down.stdout[-3000:]
    assert not os.path.exists(LAB_DIR), "left behind: %s" % sorted(os.listdir(LAB_DIR))


def test_hosts_down_takes_down_what_the_hosts_carry(run_playbook):
    """Before: `-e lab_components=hosts lab_state=down` with etcd up on the lab hosts
    killed the members with the namespaces but left their directories, and a
    later etcd down failed on the unreachable hosts ("lab down failed for: etcd")."""
    if os.path.exists(LAB_DIR):
        pytest.skip("%s exists: another lab is up" % LAB_DIR)
    netns = os.path.join(ROOT, "inventories", "netns")
    try:
        up = run_playbook(LAB_PLAYBOOK, {"lab_components": ["hosts", "etcd"]}, inventory=netns)
        assert up.returncode == 0, up.stdout[-3000:]
        assert os.path.isdir(os.path.join(LAB_DIR, "etcd"))
        down = run_playbook(LAB_PLAYBOOK, {"lab_components": ["hosts"], "lab_state": "down"}, inventory=netns)
        assert down.returncode == 0, down.stdout[-3000:]
        assert not os.path.exists(LAB_DIR), "left behind: %s" % sorted(os.listdir(LAB_DIR))
    finally:
        run_playbook(LAB_PLAYBOOK, {"lab_components": ["hosts", "etcd"], "lab_state": "down"}, inventory=netns)
        if os.path.exists(LAB_DIR):  # the old behaviour: hosts gone, files left
            run_playbook(LAB_PLAYBOOK, {"lab_components": ["hosts"]}, inventory=netns)
            run_playbook(LAB_PLAYBOOK, {"lab_components": ["hosts", "etcd"], "lab_state": "down"}, inventory=netns)

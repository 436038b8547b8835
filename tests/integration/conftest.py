"""Integration fixtures: the real lab, and running the collection through Ansible.

Fixtures (use them as test arguments):

``lab``           module: brings the MySQL lab up with ``playbooks/lab.yml``
                  unless it is already up, yields the ``lab_mysql`` fact
                  (``{"source": {host, port, socket, pidfile, datadir,
                  binlog_dir, start_argv, log, user, password, ...},
                  "replica": {...}}``) and takes the lab down at the end of the
                  test module only if it brought it up (a later file that
                  brings up its own lab must not find it).
``run_playbook``  ``run_playbook(path, extra_vars=None, check=False, diff=False,
                  inventory=None)`` -> ``subprocess.CompletedProcess`` (text).
``run_module``    ``run_module(module, args=None, check=False, diff=False,
                  inventory=None, hosts=None)`` -> the module's result dict
                  (``failed``, ``changed``, ``msg`` always present), run on
                  localhost through ``ansible-playbook``; with ``hosts`` (a
                  pattern of ``inventory``) ``{host: result dict}``.
``lab_ctl``       ``lab_ctl.up()`` / ``lab_ctl.down()`` / ``lab_ctl.read()`` (None when
                  down) / ``lab_ctl.playbook`` for tests that stop and restart the lab.
``mysql``         ``mysql.query("source"|"replica", sql, args=None)`` -> list of
                  dict rows; ``mysql.wait_replicated(timeout)``.
``mariadb_pair``  session: a throwaway MariaDB source + GTID replica of this
                  session (support/mariadb.py; ports 3357/3358, or
                  FAULTLINE_PAIR_SOURCE_PORT/_REPLICA_PORT), ``flt.t`` with 5
                  rows; ``pair.source.stop()/start()/sql()/query()/pid()``,
                  ``pair.wait_replica()``, ``pair.wait_synced()`` ... Tests
                  that stop or break it leave it running and replicating.
``state_dir``     a private ledger directory (``<tmp_path>/state``); at
                  teardown every fault in it is reverted and every background
                  worker stopped, then nothing of it may be left running.

Plain helpers (paths, ``ansible_env``, ``wait_for`` ...) are in the
``support`` package next to this file: import them from there, never from a
``conftest`` module.

Set ``FAULTLINE_KEEP_LAB=1`` to leave a lab a test module started running.
"""
import os
import types

import pytest

from support import mariadb
from support.ansible import LAB_PLAYBOOK, run_module, run_playbook
from support import util
from support.mysql import MySQL
from support.tc001 import tc001_lab_session

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background, runtime

# Written by roles/lab_mysql while the lab is up (lab_mysql_base_dir/lab_mysql.json).
LAB_STATE_FILE = os.environ.get("FAULTLINE_LAB_STATE", "/var/lib/faultline-lab/mysql/lab_mysql.json")
# The throwaway pair of the ``mariadb_pair`` fixture.
PAIR_PORTS = (int(os.environ.get("FAULTLINE_PAIR_SOURCE_PORT", "3357")),
              int(os.environ.get("FAULTLINE_PAIR_REPLICA_PORT", "3358")))


def read_lab():
    """The shared lab's description if it is up, else None."""
    return util.read_lab(LAB_STATE_FILE)


def lab_up():
    cp = run_playbook(LAB_PLAYBOOK, {"lab_state": "up", "lab_components": ["mysql"]})
    desc = read_lab()
    if cp.returncode != 0 or desc is None:
        raise RuntimeError("lab up failed (rc=%d):\n%s\n%s" % (cp.returncode, cp.stdout[-4000:], cp.stderr[-2000:]))
    return desc


def lab_down():
    cp = run_playbook(LAB_PLAYBOOK, {"lab_state": "down", "lab_components": ["mysql"]})
    if cp.returncode != 0:
        raise RuntimeError("lab down failed (rc=%d):\n%s\n%s" % (cp.returncode, cp.stdout[-4000:], cp.stderr[-2000:]))
    return cp


# module scope: a file that needs no lab up (test_xhost, test_lab_order bring up
# their own) must not find the one an earlier file used (they skipped before)
@pytest.fixture(scope="module")
def lab():
    desc = read_lab()
    started = desc is None
    if started:
        try:
            desc = lab_up()
        except RuntimeError as e:
            try:
                lab_down()
            finally:
                pytest.fail(str(e), pytrace=False)
    try:
        yield desc
    finally:
        if started and os.environ.get("FAULTLINE_KEEP_LAB") != "1":
            lab_down()


@pytest.fixture(scope="session", name="run_playbook")
def run_playbook_fixture():
    return run_playbook


@pytest.fixture(scope="session", name="run_module")
def run_module_fixture():
    return run_module


@pytest.fixture(scope="session")
def lab_ctl():
    return types.SimpleNamespace(up=lab_up, down=lab_down, read=read_lab, playbook=LAB_PLAYBOOK)


@pytest.fixture(scope="module")
def mysql(lab):
    return MySQL(lab)


@pytest.fixture(scope="session")
def mariadb_pair():
    if not mariadb.available():
        pytest.skip("MariaDB server not installed")
    pair = mariadb.Pair(*PAIR_PORTS).start()
    try:
        yield pair
    finally:
        pair.stop()


@pytest.fixture(scope="session")
def tc001_lab(run_playbook):
    """A private MariaDB lab (3417/3418) for the TC-001 and restore-mix tests (support/tc001.py)."""
    yield from tc001_lab_session(run_playbook)


@pytest.fixture
def state_dir(tmp_path):
    sd = str(tmp_path / "state")
    yield sd
    led = runtime.Ledger(sd)
    for rec in led.list():
        if not runtime.stop_supervisor(led, rec):
            runtime.revert_record(led, rec, "test_teardown", "test")
    for meta in background.list_workers(sd):
        background.stop(sd, meta["kind"], meta["id"])
    assert led.list() == [], "faults left in %s" % sd
    assert not any(m["running"] for m in background.list_workers(sd)), "workers left in %s" % sd


# pytest-xdist (scripts/test.sh with FAULTLINE_TEST_WORKERS > 1): each worker runs
# with its own lab instance (support/worker_python.sh -> scripts/lab-ns.sh: own
# network and mount namespaces). The tests of one file stay on one worker
# (--dist loadfile), so their module fixtures are set up once and their order is
# the file's (test_harness.py checks it). A test that looks for lab processes by
# path keeps to its own instance with support.util.sees_my_lab (the paths are
# the same strings in every instance).


# FAULTLINE_TEST_TIMELINE=<file>: one JSON line per test phase (setup, call,
# teardown) with its worker, start and stop, appended by the process that
# reports (the xdist controller): where the run's wall time went and how the
# workers were loaded (scripts/test_timeline.py sums it per file and worker).
def pytest_runtest_logreport(report):
    path = os.environ.get("FAULTLINE_TEST_TIMELINE")
    if not path or os.environ.get("PYTEST_XDIST_WORKER"):  # a worker's reports reach the controller
        return
    import json
    node = getattr(report, "node", None)
    worker = getattr(getattr(node, "gateway", None), "id", None) or "main"
    with open(path, "a") as f:
        f.write(json.dumps({"nodeid": report.nodeid, "when": report.when, "worker": worker,
                            "start": getattr(report, "start", None), "stop": getattr(report, "stop", None),
                            "duration": report.duration, "outcome": report.outcome}) + "\n")


# The files that take longest go to the workers first (scripts/test.sh has xdist
# hand out the files in collection order: --dist loadfile --no-loadscope-reorder):
# a long file started last would end the run alone.  Seconds of one worker each,
# from a timeline of a quiet run (FAULTLINE_TEST_TIMELINE, 2026-12-02 18:22, 2
# workers; the two etcd layouts were one file then); the other files keep their
# order after these.
LONGEST_FILES = {
    "test_lab_etcd.py": 320, "test_lab_etcd_loopback.py": 280, "test_xhost.py": 277,
    "test_netns.py": 169, "test_lab_order.py": 134, "test_tc001_pipeline_restart.py": 123,
    "test_tc007_flapping.py": 120,
}


def pytest_collection_modifyitems(items):
    def weight(item):
        return -LONGEST_FILES.get(os.path.basename(str(item.fspath)), 0)
    items.sort(key=weight)  # stable: the tests of a file keep their order

"""A target Python without the module's library: ``missing_required_lib`` names the
library (and, through it, the host and its interpreter), and nothing is started
or applied. Every module's documentation names the libraries in ``requirements``."""
import os

import pytest
import yaml

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.faultline.chaos.plugins.module_utils._datagen import generator as gen
from ansible_collections.faultline.chaos.plugins.module_utils._db import mysql as db
from ansible_collections.faultline.chaos.plugins.module_utils._engine import background, runtime
from ansible_collections.faultline.chaos.plugins.module_utils._websocket import flap
from ansible_collections.faultline.chaos.plugins.modules import (
    binlog, datagen, fault_info, probe, process, verify, websocket_flap,
)

# (module, arguments that reach the library, library named in the message)
CASES = {
    "datagen": (datagen, {"state": "started", "run_id": "r1", "count": 3, "interval": 0.1}, "PyMySQL"),
    "probe-mysql_replica": (probe, {"state": "started", "name": "p", "kind": "mysql_replica"}, "PyMySQL"),
    "probe-mysql_query": (probe, {"state": "sampled", "name": "p", "kind": "mysql_query",
                                  "query": "SELECT 1"}, "PyMySQL"),
    "verify": (verify, {"table": "t", "database": "flt"}, "PyMySQL"),
    "binlog": (binlog, {"state": "corrupted", "type": "truncate", "target": "latest_rotated"}, "PyMySQL"),
    "fault_info": (fault_info, {"mysql": [{"name": "source", "login_host": "127.0.0.1"}]}, "PyMySQL"),
    "websocket_flap": (websocket_flap, {"url": "ws://127.0.0.1:9/"}, "websockets"),
}


@pytest.fixture
def without_libs(monkeypatch):
    """As on a target whose Python has neither PyMySQL nor websockets."""
    monkeypatch.setattr(db, "HAS_PYMYSQL", False)
    monkeypatch.setattr(db, "PYMYSQL_IMPORT_ERROR", "ModuleNotFoundError: No module named 'pymysql'")
    monkeypatch.setattr(flap, "HAS_WEBSOCKETS", False)
    monkeypatch.setattr(flap, "WEBSOCKETS_IMPORT_ERROR", ModuleNotFoundError("No module named 'websockets'"))


def assert_nothing_started(state_dir):
    assert background.list_workers(state_dir) == []
    if os.path.isdir(state_dir):
        assert runtime.Ledger(state_dir).list() == []


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_missing_library_is_reported_by_missing_required_lib(case, without_libs, run_module, tmp_path):
    mod, args, lib = CASES[case]
    state_dir = str(tmp_path / "state")
    if mod is not websocket_flap:  # the only one without a ledger
        args = dict(args, state_dir=state_dir)
    rc, out = run_module(mod, args)
    assert rc == 1 and out["failed"], out
    assert out["msg"] == missing_required_lib(lib), out["msg"]
    assert "Traceback" not in out["msg"]
    assert_nothing_started(state_dir)


def test_probe_kinds_without_a_library_do_not_need_pymysql(without_libs, run_module, tmp_path):
    """The library is only required where it is used: a tcp probe runs without PyMySQL."""
    rc, out = run_module(probe, {"state": "sampled", "name": "t", "kind": "tcp", "host": "127.0.0.1",
                                 "port": 9, "timeout": 0.5, "state_dir": str(tmp_path)})
    assert rc == 0 and not out.get("failed"), out
    assert out["sample"]["ok"] is False  # nothing listens on the discard port


def test_binlog_from_disk_does_not_need_pymysql(without_libs, run_module, tmp_path):
    """file + binlog_dir without target: the index is read from disk, PyMySQL is not asked for
    (the run then fails for its own reason, naming the missing binlog, not the library)."""
    rc, out = run_module(binlog, {"state": "corrupted", "type": "truncate", "file": "mysql-bin.000001",
                                  "binlog_dir": str(tmp_path), "state_dir": str(tmp_path / "state"),
                                  "backup_dir": str(tmp_path / "backup")})
    assert out["failed"] and "PyMySQL" not in out["msg"], out


def test_datagen_driver_mysqlclient_without_mysqldb(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(gen, "MySQLdb", None)
    state_dir = str(tmp_path / "state")
    rc, out = run_module(datagen, {"state": "started", "run_id": "r2", "count": 3, "interval": 0.1,
                                   "driver": "mysqlclient", "state_dir": state_dir})
    assert rc == 1 and out["msg"] == missing_required_lib("mysqlclient"), out
    assert_nothing_started(state_dir)


@pytest.mark.parametrize("mod, libs", [
    (datagen, ["PyMySQL", "mysqlclient"]), (probe, ["PyMySQL"]), (verify, ["PyMySQL"]),
    (binlog, ["PyMySQL"]), (fault_info, ["PyMySQL"]), (websocket_flap, ["websockets"]), (process, ["/proc"]),
], ids=lambda v: getattr(v, "__name__", "").rsplit(".", 1)[-1] or None)
def test_documentation_requirements_name_the_targets_libraries(mod, libs):
    req = yaml.safe_load(mod.DOCUMENTATION).get("requirements") or []
    text = " ".join(req)
    assert all(lib in text for lib in libs), req

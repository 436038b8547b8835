"""Unit tests for _faults/binlog.py and the runtime ops it relies on."""
import os
import struct

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._faults import binlog as bl


def fake_binlog(path, sizes):
    data = bytearray(bl.BINLOG_MAGIC)
    for n in sizes:
        pos = len(data)
        hdr = struct.pack("<IBIIIH", 0, 2, 1, n, pos + n, 0)
        data += hdr + b"\xaa" * (n - len(hdr))
    with open(path, "wb") as f:
        f.write(bytes(data))
    return str(path)


def test_events_and_mid_event_offset(tmp_path):
    p = fake_binlog(tmp_path / "mysql-bin.000001", [100, 200, 300, 400])
    evs = bl.events(p)
    assert evs == [(4, 100), (104, 200), (304, 300), (604, 400)]
    off = bl.default_offset(p)
    assert any(s < off < s + n for s, n in evs)  # strictly inside an event
    off = bl.default_offset(p, after=604)
    assert 604 < off < 1004


def test_choose_file():
    info = {"files": ["b.1", "b.2", "b.3"], "active": "b.3", "dir": "/d"}
    assert bl.choose_file(info, target="latest_rotated") == "b.2"
    assert bl.choose_file(info, target="active") == "b.3"
    assert bl.choose_file(info, file="/x/b.1") == "b.1"
    assert bl.choose_file(info, target="oldest_needed",
                          replica={"relay_source_log_file": "b.1", "source_log_file": "b.2"}) == "b.1"
    with pytest.raises(EngineError, match="no longer lists"):
        bl.choose_file(info, target="oldest_needed", replica={"source_log_file": "b.0"})
    with pytest.raises(EngineError, match="no rotated"):
        bl.choose_file({"files": ["b.1"], "active": "b.1"}, target="latest_rotated")


def test_index_binlogs(tmp_path):
    (tmp_path / "mysql-bin.index").write_text("./mysql-bin.000001\n./mysql-bin.000002\n")
    (tmp_path / "relay-bin.index").write_text("./relay-bin.000001\n")
    info = bl.index_binlogs(str(tmp_path))
    assert info["files"] == ["mysql-bin.000001", "mysql-bin.000002"] and info["active"] == "mysql-bin.000002"


class Vfs(object):
    f_frsize = 4096

    def __init__(self, blocks):
        self.f_bavail = blocks


def test_preflight_refusals(tmp_path):
    p = fake_binlog(tmp_path / "mysql-bin.000001", [100])
    with pytest.raises(EngineError, match="does not exist"):
        bl.preflight(str(tmp_path / "nope"), str(tmp_path / "b"))
    with pytest.raises(EngineError, match="no permission"):
        bl.preflight(p, str(tmp_path / "b"), access=lambda path, mode: False)
    with pytest.raises(EngineError, match="no room for the backup"):
        bl.preflight(p, str(tmp_path / "b"), 0, statvfs=lambda d: Vfs(0))
    assert bl.preflight(p, str(tmp_path / "b"), 0, statvfs=lambda d: Vfs(10)) == 104


def test_plan_apply_revert_byte_identical(tmp_path):
    p = fake_binlog(tmp_path / "mysql-bin.000001", [100, 200, 300])
    sha = runtime.sha256_file(p)
    st = os.stat(p)
    for kind in bl.TYPES:
        backup = str(tmp_path / ("bk-" + kind))
        plan = bl.BinlogFault(dict(path=p, type=kind, sha256=sha, backup=backup, offset=150, length=16,
                                   stat=dict(uid=st.st_uid, gid=st.st_gid, mode=0o640))).plan()
        runtime.execute(plan["apply"])
        assert runtime.sha256_file(backup) == sha
        assert not os.path.exists(p) or runtime.sha256_file(p) != sha
        runtime.execute(plan["revert"])
        assert runtime.sha256_file(p) == sha and not os.path.exists(backup)
        assert os.stat(p).st_mode & 0o777 == 0o640


def test_corrupt_refuses_a_changed_file_and_keeps_backup_without_verified_restore(tmp_path):
    p = fake_binlog(tmp_path / "f", [100])
    with pytest.raises(EngineError, match="changed since it was backed up"):
        runtime.execute([{"op": "corrupt", "path": p, "mode": "truncate", "offset": 10, "sha256": "0" * 64}])
    backup = str(tmp_path / "bk")
    with open(backup, "wb") as f:
        f.write(b"not the original")
    with pytest.raises(EngineError, match="does not match"):
        runtime.execute([{"op": "copy", "src": backup, "dst": p, "sha256": "1" * 64, "remove_src": True}])
    assert os.path.exists(backup)

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


# ---- the runtime's file actions never follow a planted link (issue 10 item 3) ----

def test_restore_ignores_a_symlink_planted_at_the_old_predictable_temp_name(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's file")
    os.chmod(str(victim), 0o600)
    p = fake_binlog(tmp_path / "mysql-bin.000001", [100])
    sha = runtime.sha256_file(p)
    backup = str(tmp_path / "bk")
    runtime.execute([{"op": "copy", "src": p, "dst": backup, "sha256": sha}])
    runtime.execute([{"op": "corrupt", "path": p, "mode": "garbage", "offset": 10, "length": 8, "sha256": sha}])
    # what the server's user could plant before the restore (the pid was guessable)
    for pid in range(os.getpid() - 5, os.getpid() + 50):
        os.symlink(str(victim), "%s.faultline-restore.%d" % (p, pid))
    runtime.execute([{"op": "copy", "src": backup, "dst": p, "sha256": sha, "remove_src": True,
                      "stat": {"uid": 4242, "gid": 4242, "mode": 0o666}}])
    assert runtime.sha256_file(p) == sha
    assert victim.read_bytes() == b"root's file"
    vst = os.stat(str(victim))
    assert (vst.st_uid, vst.st_mode & 0o777) == (os.getuid(), 0o600)
    st = os.lstat(p)
    assert st.st_mode & 0o777 == 0o666 and (os.getuid() != 0 or st.st_uid == 4242)
    # no temporary file or directory left next to the binlog
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith(".faultline")]


def test_copy_and_corrupt_refuse_a_target_that_is_not_a_regular_file(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"x" * 200)
    link = tmp_path / "mysql-bin.000002"
    os.symlink(str(victim), str(link))
    backup = fake_binlog(tmp_path / "bk", [100])
    sha = runtime.sha256_file(backup)
    with pytest.raises(EngineError, match="not a regular file"):
        runtime.execute([{"op": "copy", "src": backup, "dst": str(link), "sha256": sha}])
    for mode in ("truncate", "garbage", "bitflip", "delete"):
        with pytest.raises(EngineError, match="symbolic link|not a regular file"):
            runtime.execute([{"op": "corrupt", "path": str(link), "mode": mode, "offset": 10}])
    assert victim.read_bytes() == b"x" * 200 and os.path.islink(str(link))
    # the backup side too: a link in place of the file to back up is not followed
    with pytest.raises(EngineError, match="symbolic link|not a regular file"):
        runtime.execute([{"op": "copy", "src": str(link), "dst": str(tmp_path / "bk2"), "sha256": sha}])
    fifo = tmp_path / "fifo"
    os.mkfifo(str(fifo))
    with pytest.raises(EngineError, match="not a regular file"):
        runtime.execute([{"op": "corrupt", "path": str(fifo), "mode": "truncate", "offset": 0}])


def test_failed_restore_leaves_no_temporary_file(tmp_path):
    p = fake_binlog(tmp_path / "mysql-bin.000003", [100])
    backup = str(tmp_path / "bk")
    with open(backup, "wb") as f:
        f.write(b"not the original")
    before = sorted(os.listdir(str(tmp_path)))
    with pytest.raises(EngineError, match="does not match"):
        runtime.execute([{"op": "copy", "src": backup, "dst": p, "sha256": "1" * 64, "remove_src": True}])
    assert sorted(os.listdir(str(tmp_path))) == before


def test_restore_refuses_a_file_that_grew_after_the_damage_unless_allowed(tmp_path):
    """An active binlog keeps growing: restoring it by rename drops those events (issue 10 item 7)."""
    p = fake_binlog(tmp_path / "mysql-bin.000004", [100, 200])
    sha = runtime.sha256_file(p)
    backup = str(tmp_path / "bk")
    plan = bl.BinlogFault(dict(path=p, type="truncate", sha256=sha, backup=backup, offset=150,
                               stat=None)).plan()
    runtime.execute(plan["apply"])
    with open(p, "ab") as f:  # the server writes on after the damage
        f.write(b"E" * 500)
    with pytest.raises(EngineError, match="grown by 500 bytes"):
        runtime.execute(plan["revert"])
    assert os.path.getsize(p) == 650 and os.path.exists(backup)
    allowed = bl.BinlogFault(dict(path=p, type="truncate", sha256=sha, backup=backup, offset=150,
                                  stat=None, allow_active=True)).plan()
    res = runtime.execute(allowed["revert"])
    assert res[0]["dropped_bytes"] == 500 and runtime.sha256_file(p) == sha


# ---- data safety (issue 10 item 7) ----

def big_binlog(path, size):
    with open(str(path), "wb") as f:
        f.write(bl.BINLOG_MAGIC)
        f.truncate(size)
    return str(path)


def test_free_space_margin_is_sized_to_the_file(tmp_path):
    mib = 1024 * 1024
    p = big_binlog(tmp_path / "mysql-bin.000001", 20 * mib)
    # 25 MiB free held "a 20 MiB file + 1 MiB"; the backup, the restore's copy and a
    # margin of the file's size need 60 MiB on one filesystem
    with pytest.raises(EngineError, match="no room"):
        bl.preflight(p, str(tmp_path / "b"), statvfs=lambda d: Vfs(25 * mib // 4096))
    assert bl.preflight(p, str(tmp_path / "b"), statvfs=lambda d: Vfs(60 * mib // 4096)) == 20 * mib
    small = fake_binlog(tmp_path / "mysql-bin.000002", [100])  # tiny file: at least 16 MiB margin
    with pytest.raises(EngineError, match="no room"):
        bl.preflight(small, str(tmp_path / "b"), statvfs=lambda d: Vfs(15 * mib // 4096))
    assert bl.preflight(small, str(tmp_path / "b"), 0, statvfs=lambda d: Vfs(1)) == 104


def test_preflight_refuses_what_is_not_a_binlog(tmp_path):
    notbin = tmp_path / "mysql-bin.000003"
    notbin.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(EngineError, match="binlog magic"):
        bl.preflight(str(notbin), str(tmp_path / "b"), 0, statvfs=lambda d: Vfs(10 ** 6))
    real = fake_binlog(tmp_path / "real", [100])
    link = tmp_path / "mysql-bin.000004"
    os.symlink(real, str(link))
    with pytest.raises(EngineError, match="not a regular file"):
        bl.preflight(str(link), str(tmp_path / "b"), 0, statvfs=lambda d: Vfs(10 ** 6))


def test_target_must_be_listed_in_the_index_and_in_the_binlog_dir():
    info = {"files": ["b.1", "b.2"], "active": "b.2", "dir": "/var/lib/mysql", "index": "/var/lib/mysql/b.index"}
    assert bl.target_path(info, "b.1") == "/var/lib/mysql/b.1"
    assert bl.target_path(info, "b.1", "/var/lib/mysql/b.1") == "/var/lib/mysql/b.1"
    with pytest.raises(EngineError, match="not listed in the binlog index"):
        bl.target_path(info, bl.choose_file(info, file="/etc/shadow"), "/etc/shadow")
    with pytest.raises(EngineError, match="not in the binlog directory"):
        bl.target_path(info, "b.1", "/tmp/b.1")
    with pytest.raises(EngineError, match="not listed"):
        bl.target_path(dict(info, files=[]), "b.1")


def test_backup_dir_must_be_private(tmp_path):
    d = tmp_path / "backups"
    d.mkdir(mode=0o700)
    bl.check_backup_dir(str(d))
    os.chmod(str(d), 0o777)
    with pytest.raises(EngineError, match="not writable by group or others"):
        bl.check_backup_dir(str(d))
    os.chmod(str(d), 0o700)
    with pytest.raises(EngineError, match="owned by uid"):
        bl.check_backup_dir(str(d), euid=os.geteuid() + 1)
    link = tmp_path / "link"
    os.symlink(str(d), str(link))
    with pytest.raises(EngineError, match="not a directory"):
        bl.check_backup_dir(str(link))


def run_binlog_module(args, capsys):
    import json
    from module_args import patch_module_args
    from ansible_collections.faultline.chaos.plugins.modules import binlog as binlog_module
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            binlog_module.main()
    return json.loads(capsys.readouterr().out)


def test_module_plans_the_active_binlog_only_when_allowed(tmp_path, capsys):
    d = tmp_path / "binlogs"
    d.mkdir()
    fake_binlog(d / "mysql-bin.000001", [100])
    active = fake_binlog(d / "mysql-bin.000002", [100, 200])
    (d / "mysql-bin.index").write_text("./mysql-bin.000001\n./mysql-bin.000002\n")
    args = dict(file="mysql-bin.000002", binlog_dir=str(d), type="garbage", min_free_bytes=0,
                state_dir=str(tmp_path / "state"), backup_dir=str(tmp_path / "bk"), _ansible_check_mode=True)
    out = run_binlog_module(args, capsys)
    assert out["failed"] and "allow_active" in out["msg"]
    out = run_binlog_module(dict(args, allow_active=True), capsys)
    assert out["changed"] and not out.get("failed") and out["file"] == active, out
    revert = out["planned"]["revert"][0]
    assert revert["grown_ok"] and revert["damaged_size"] == 304
    assert not (tmp_path / "bk").exists() and runtime.sha256_file(active) == out["sha256"]


def test_restore_is_done_when_the_file_already_holds_the_backup_even_if_the_backup_is_gone(tmp_path):
    """An operator put the file back by hand and removed the backup: the restore (retried by the
    supervisor of a revert_failed record) failed for ever with 'backup is missing'."""
    p = fake_binlog(tmp_path / "mysql-bin.000001", [100])
    sha = runtime.sha256_file(p)
    out = runtime.execute([{"op": "copy", "src": str(tmp_path / "gone"), "dst": p, "sha256": sha,
                            "remove_src": True}])
    assert out[0]["copied"] is False
    with pytest.raises(runtime.EngineError, match="is missing"):  # a damaged file still needs its backup
        with open(p, "ab") as f:
            f.write(b"damage")
        runtime.execute([{"op": "copy", "src": str(tmp_path / "gone"), "dst": p, "sha256": sha}])


# --------------------------------------------------------------------------
# BinlogFault.resolve: discovery and refusals (FaultEngine.apply calls it before the plan)
# --------------------------------------------------------------------------

class _Engine(object):
    """What resolve needs of a FaultEngine: the module and the active record of a renewal."""

    module = None

    def __init__(self, record=None):
        self.record = record

    def active(self, fault_id):
        return self.record if self.record and self.record["id"] == fault_id else None


def _binlog_dir(tmp_path):
    d = tmp_path / "binlogs"
    d.mkdir()
    old = fake_binlog(d / "mysql-bin.000001", [100, 200, 300])
    fake_binlog(d / "mysql-bin.000002", [100])
    (d / "mysql-bin.index").write_text("./mysql-bin.000001\n./mysql-bin.000002\n")
    return d, old


def _given(d, tmp_path, **kw):
    out = dict(type="garbage", file="mysql-bin.000001", target=None, binlog_dir=str(d), allow_active=False,
               offset=None, length=64, bit=0, min_free_bytes=0, backup_dir=str(tmp_path / "bk"))
    out.update(kw)
    return out


def test_resolve_finds_the_file_through_the_index_and_records_what_the_restore_needs(tmp_path, monkeypatch):
    d, old = _binlog_dir(tmp_path)
    monkeypatch.setattr(bl, "ask_server", lambda *a, **k: pytest.fail("file + binlog_dir need no server"))
    f = bl.BinlogFault(_given(d, tmp_path))
    assert f.resolve(_Engine()) == old and not f.renewal
    st = os.lstat(old)
    p = f.params
    assert p["sha256"] == runtime.sha256_file(old) and p["size"] == st.st_size == 604
    assert p["stat"] == dict(uid=st.st_uid, gid=st.st_gid, mode=st.st_mode & 0o7777)
    assert p["backup"] == str(tmp_path / "bk" / ("%s-mysql-bin.000001" % f.fault_id))
    assert any(s < p["offset"] < s + n for s, n in bl.events(old))  # mid-event
    assert f.binlogs["active"] == "mysql-bin.000002" and f.binlogs["files"] == ["mysql-bin.000001", "mysql-bin.000002"]
    assert not (tmp_path / "bk").exists()  # read-only: the module makes the backup directory
    plan = f.plan()
    assert plan["apply"][0] == runtime.copy_action(old, p["backup"], p["sha256"])
    assert f.resolve(_Engine()) == old  # a second call (FaultEngine.apply after the module) finds it done


@pytest.mark.parametrize("kw,message", [
    (dict(file="mysql-bin.000002"), "is the active binlog; set allow_active"),
    (dict(file="mysql-bin.000009"), "not listed in the binlog index"),
    (dict(offset=604), "offset 604 is outside"),
    (dict(min_free_bytes=1 << 50), "no room for the backup"),
])
def test_resolve_refuses_before_anything_is_planned(kw, message, tmp_path):
    d, _old = _binlog_dir(tmp_path)
    f = bl.BinlogFault(_given(d, tmp_path, **kw))
    with pytest.raises(EngineError, match=message):
        f.resolve(_Engine())
    assert "sha256" not in f.params


def test_resolve_asks_the_server_and_cuts_past_the_replica_read_position(tmp_path, monkeypatch):
    d, old = _binlog_dir(tmp_path)
    asked = []

    def ask_server(login, replica=False, module=None):
        asked.append((login["login_port"], replica))
        info = {"basename": str(d / "mysql-bin"), "index": None, "dir": "/elsewhere",
                "files": ["mysql-bin.000001", "mysql-bin.000002"], "active": "mysql-bin.000002"}
        return info, {"source_log_file": "mysql-bin.000001", "read_source_log_pos": 304}

    monkeypatch.setattr(bl, "ask_server", ask_server)
    f = bl.BinlogFault(_given(d, tmp_path, file=None, target="oldest_needed"), login={"login_port": 3317})
    assert f.resolve(_Engine()) == old and asked == [(3317, True)]  # binlog_dir maps the server's path
    assert 304 < f.params["offset"] < 604


def test_a_renewal_keeps_the_recorded_backup_and_checks_nothing_more(tmp_path):
    d, old = _binlog_dir(tmp_path)
    first = bl.BinlogFault(_given(d, tmp_path))
    first.resolve(_Engine())
    plan = first.plan()
    record = dict(id=first.fault_id, params=plan["params"], revert=plan["revert"])
    # the backup directory went group-writable and the disk filled up: a renewal must not care
    again = bl.BinlogFault(_given(d, tmp_path, min_free_bytes=1 << 50, backup_dir=str(tmp_path / "other")))
    assert again.resolve(_Engine(record)) == old and again.renewal
    assert again.params["backup"] == first.params["backup"] and again.params["stat"] == first.params["stat"]
    assert again.plan()["revert"] == plan["revert"]

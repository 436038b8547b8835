"""faultline.chaos.binlog against a real MariaDB source/replica pair."""
import hashlib
import os
import shutil
import subprocess

import pytest

from support.util import wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import FaultEngine

pytestmark = pytest.mark.lab


class EngineModule(object):
    check_mode = False

    def run_command(self, argv, data=None, **kw):
        return runtime.subprocess_runner(argv, data)


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def login(pair, **kw):
    return dict(login_port=pair.source.port, **kw)


@pytest.fixture
def backup_dir(state_dir):
    """Each test keeps its backups apart (the module's default is /var/lib/faultline/backups)."""
    return os.path.join(os.path.dirname(state_dir), "backups")


def rotate(pair, rows=30):
    pair.insert(rows)
    pair.source.query("FLUSH BINARY LOGS")


def test_truncate_needed_binlog_gives_1236_and_restore_resumes(mariadb_pair, state_dir, run_module):
    pair = mariadb_pair
    pair.wait_synced()
    pair.replica.query("STOP SLAVE IO_THREAD")
    try:
        wait_for(lambda: pair.replica_status()["Slave_IO_Running"] == "No", 10)
        needed = pair.replica_status()["Master_Log_File"]
        rotate(pair, 40)  # the file the replica reads next now has unread events and is rotated
        res = run_module("binlog", login(pair, target="oldest_needed", replica_port=pair.replica.port,
                                         type="truncate", state_dir=state_dir))
        assert res["changed"], res
        assert os.path.basename(res["file"]) == needed
        assert os.path.getsize(res["file"]) == res["offset"]
        assert sha(res["backup"]) == res["sha256"]

        pair.replica.query("START SLAVE IO_THREAD")

        def io_error_1236():
            st = pair.replica_status()
            return st if st["Last_IO_Errno"] == 1236 else None
        st = wait_for(io_error_1236, 30, 0.2, "error 1236 on the replica")
        assert "truncated in the middle of event" in st["Last_IO_Error"], st["Last_IO_Error"]
        assert pair.count(pair.replica) < pair.count(pair.source)

        res2 = run_module("binlog", dict(state="restored", file="all", state_dir=state_dir))
        assert res2["changed"] and res2["restored"][0]["verified"]
        assert sha(res["file"]) == res["sha256"] and not os.path.exists(res["backup"])
    finally:
        pair.replica.query("STOP SLAVE IO_THREAD")
        pair.replica.query("START SLAVE IO_THREAD")
    wait_for(lambda: pair.replica_status()["Slave_IO_Running"] == "Yes", 30, 0.2)
    n = pair.wait_synced()
    assert n == pair.count(pair.source) and pair.replica_status()["Last_IO_Errno"] == 0


@pytest.mark.parametrize("kind", ["truncate", "garbage", "bitflip", "delete"])
def test_each_type_corrupts_and_restores_byte_identical(mariadb_pair, state_dir, run_module, kind):
    pair = mariadb_pair
    rotate(pair, 10)
    args = login(pair, target="latest_rotated", type=kind, state_dir=state_dir)
    chk = run_module("binlog", args, check=True, diff=True)
    assert chk["changed"] and chk["diff"]["after"]
    path, before = chk["file"], sha(chk["file"])
    assert not os.path.exists(chk["backup"]) and runtime.Ledger(state_dir).list() == []

    res = run_module("binlog", args)
    assert res["changed"] and res["file"] == path and res["sha256"] == before
    assert sha(res["backup"]) == before
    if kind == "delete":
        assert not os.path.exists(path)
    else:
        assert sha(path) != before
    if kind == "truncate":
        assert os.path.getsize(path) == res["offset"]
    again = run_module("binlog", args)
    assert not again["changed"] and again["renewed"]

    chk = run_module("binlog", dict(state="restored", file=os.path.basename(path), state_dir=state_dir),
                     check=True)
    assert chk["changed"] and (not os.path.exists(path) or sha(path) != before)
    res = run_module("binlog", dict(state="restored", file=os.path.basename(path), state_dir=state_dir))
    assert res["changed"] and res["restored"][0]["verified"]
    assert sha(path) == before and not os.path.exists(res["restored"][0]["backup"])
    again = run_module("binlog", dict(state="restored", state_dir=state_dir))
    assert not again["changed"]
    assert runtime.Ledger(state_dir).list() == []


def test_lease_end_restores(mariadb_pair, state_dir, run_module):
    pair = mariadb_pair
    rotate(pair, 5)
    # the lease must outlast the ansible-playbook run that applies it (seconds on a busy machine)
    res = run_module("binlog", login(pair, target="latest_rotated", type="garbage", lease=6, state_dir=state_dir))
    assert res["changed"] and sha(res["file"]) != res["sha256"]
    wait_for(lambda: runtime.Ledger(state_dir).list() == [], 15, 0.1, "the supervisor to restore")
    assert sha(res["file"]) == res["sha256"] and not os.path.exists(res["backup"])
    ev = [e for e in runtime.Ledger(state_dir).events(res["fault_id"]) if e["event"] == "reverted"]
    assert ev[0]["detail"]["reason"] == "lease" and ev[0]["detail"]["errors"] == []


def test_restore_all_after_a_mix(mariadb_pair, state_dir, backup_dir, run_module):
    pair = mariadb_pair
    rotate(pair, 5)
    rotate(pair, 5)
    files = pair.source.query("SHOW BINARY LOGS")
    a, b = [os.path.join(os.path.dirname(pair.source.binlog_base), r["Log_name"]) for r in files[-3:-1]]
    sums = {a: sha(a), b: sha(b)}
    run_module("binlog", dict(file=a, binlog_dir=os.path.dirname(a), type="bitflip", state_dir=state_dir,
                              backup_dir=backup_dir))
    run_module("binlog", login(pair, file=os.path.basename(b), type="delete", state_dir=state_dir,
                               backup_dir=backup_dir))
    assert sha(a) != sums[a] and not os.path.exists(b)
    out = FaultEngine(EngineModule(), state_dir).revert_all()
    assert len(out) == 2 and all(r["reverted"] for r in out)
    assert sha(a) == sums[a] and sha(b) == sums[b]
    assert runtime.Ledger(state_dir).list() == []
    assert os.listdir(backup_dir) == []


@pytest.mark.parametrize("extra,needle", [
    (dict(file="mysql-bin.999999"), "not listed in the binlog index"),
    (dict(target="active"), "active binlog"),
    (dict(target="latest_rotated", min_free_bytes=10 ** 18), "no room for the backup"),
    (dict(target="latest_rotated", offset=10 ** 9), "outside"),
    (dict(target="latest_rotated", login_port=1), "cannot ask the server"),
    (dict(file="all"), "only meaningful with state: restored"),
])
def test_bad_input_refused_before_damage(mariadb_pair, state_dir, run_module, extra, needle):
    pair = mariadb_pair
    binlog_dir = os.path.dirname(pair.source.binlog_base)
    before = dict((n, sha(os.path.join(binlog_dir, n))) for n in os.listdir(binlog_dir))
    res = run_module("binlog", dict(login(pair, type="truncate", state_dir=state_dir), **extra))
    assert res.get("failed") and needle in res["msg"], res
    assert runtime.Ledger(state_dir).list() == []
    after = dict((n, sha(os.path.join(binlog_dir, n))) for n in before if n.endswith(".index") or
                 n != pair.source.query("SHOW MASTER STATUS")[0]["File"])
    assert all(after[n] == before[n] for n in after)


def test_backups_are_kept_on_disk_by_default(mariadb_pair, state_dir, run_module):
    """Issue 10 item 7: on tmpfs (/run) a reboot kept the damage and lost the backup."""
    pair = mariadb_pair
    rotate(pair, 5)
    res = run_module("binlog", login(pair, target="latest_rotated", type="garbage", state_dir=state_dir))
    try:
        assert res["changed"] and res["backup"].startswith("/var/lib/faultline/backups/"), res
        fstype = subprocess.run(["stat", "-f", "-c", "%T", res["backup"]], capture_output=True, text=True, check=True).stdout
        assert fstype.strip() != "tmpfs" and sha(res["backup"]) == res["sha256"]
        st = os.stat("/var/lib/faultline/backups")
        assert st.st_uid == os.geteuid() and st.st_mode & 0o077 == 0
    finally:
        out = run_module("binlog", dict(state="restored", state_dir=state_dir))
    assert out["restored"][0]["verified"] and not os.path.exists(res["backup"])


def test_a_file_outside_the_binlog_index_is_refused(mariadb_pair, state_dir, backup_dir, run_module, tmp_path):
    """A name or path the server does not list is never damaged (root would damage any file)."""
    pair = mariadb_pair
    binlog_dir = os.path.dirname(pair.source.binlog_base)
    victim = tmp_path / "victim"
    rotated = pair.source.query("SHOW BINARY LOGS")[0]["Log_name"]
    with open(os.path.join(binlog_dir, rotated), "rb") as f:
        victim.write_bytes(f.read())  # looks like a binlog, magic and all
    before = sha(str(victim))
    for extra in (dict(file=str(victim)), dict(file=str(victim), binlog_dir=binlog_dir),
                  dict(file="../../" + str(victim))):
        res = run_module("binlog", login(pair, type="truncate", state_dir=state_dir, backup_dir=backup_dir,
                                         **extra))
        assert res.get("failed") and "not listed in the binlog index" in res["msg"], res
    assert sha(str(victim)) == before and runtime.Ledger(state_dir).list() == []


def test_restore_refuses_a_symlink_planted_in_place_of_the_binlog(mariadb_pair, state_dir, backup_dir,
                                                                  run_module, tmp_path):
    """Issue 10 item 3: the server's user swaps the damaged binlog for a link to a root file."""
    pair = mariadb_pair
    rotate(pair, 5)
    res = run_module("binlog", login(pair, target="latest_rotated", type="bitflip", state_dir=state_dir,
                                     backup_dir=backup_dir))
    path = res["file"]
    st = os.stat(path)
    damaged = tmp_path / "damaged"
    shutil.copy2(path, str(damaged))
    victim = tmp_path / "victim"
    victim.write_bytes(b"root only\n")
    os.chmod(str(victim), 0o600)
    os.unlink(path)
    os.symlink(str(victim), path)
    out = run_module("binlog", dict(state="restored", file=os.path.basename(path), state_dir=state_dir))
    assert out.get("failed"), out
    assert victim.read_bytes() == b"root only\n" and os.stat(str(victim)).st_uid == 0
    assert os.stat(str(victim)).st_mode & 0o777 == 0o600
    assert os.path.islink(path) and sha(res["backup"]) == res["sha256"]  # backup kept
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.startswith(".faultline")]
    # the operator puts the file back from the backup that was kept (a failed revert
    # keeps its record only once the engine has a revert_failed state: issue 10 item 5)
    os.unlink(path)
    shutil.copy2(res["backup"], path)
    os.chown(path, st.st_uid, st.st_gid)
    os.unlink(res["backup"])
    run_module("binlog", dict(state="restored", file=os.path.basename(path), state_dir=state_dir))
    assert sha(path) == res["sha256"]

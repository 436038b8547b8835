"""_engine/procfs.py, the one /proc reader, over the shared fake /proc tree (tests/unit/conftest.py)."""
import os
import subprocess
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt


def test_stat_and_identity(fake_proc):
    root, add = fake_proc
    add(400, ["/usr/bin/sleep", "60"], ppid=100, state="T", starttime=777, sid=40, rss_pages=3)
    st = procfs.stat(400, root)
    assert st == {"pid": 400, "state": "T", "ppid": 100, "pgid": 0, "sid": 40, "starttime": 777,
                  "rss_kb": 3 * procfs.PAGE_KB}
    assert rt.proc_stat_fields(400, root)[19] == "777"  # the runtime's reader is the one procfs builds on
    assert procfs.stat(999, root) is None and procfs.describe(999, root)["starttime"] is None
    assert procfs.describe(400, root) == {"pid": 400, "starttime": 777, "state": "T", "cmdline": ["/usr/bin/sleep", "60"]}
    assert sorted(procfs.proc_table(root)) == [1, 100, 101, 102, 200, 300, 400]


def test_comm_with_spaces_and_parentheses_does_not_shift_fields(fake_proc):
    root, add = fake_proc
    add(401, ["x"], starttime=4242)
    path = os.path.join(root, "401", "stat")
    with open(path) as f:
        line = f.read()
    with open(path, "w") as f:
        f.write(line.replace("(x)", "(we ird) (name)"))
    assert procfs.stat(401, root)["starttime"] == 4242


def test_cmdline_command_text_and_ancestry(fake_proc):
    root, add = fake_proc
    add(500, ["/bin/sh", "-c", "x"], ppid=100)
    assert procfs.cmdline(500, root) == ["/bin/sh", "-c", "x"]
    assert procfs.command_text(500, root) == "/bin/sh -c x"
    assert procfs.command_text(300, root) == "[kthread]" and procfs.cmdline(300, root) == []
    assert procfs.command_text(999, root) is None
    assert procfs.ancestry(500, root) == [500, 100, 1]
    assert procfs.list_pids(os.path.join(root, "nowhere")) == []


def test_tcp_rows_owners_and_listeners(fake_proc):
    root, _add = fake_proc
    rows = procfs.tcp_sockets(root)
    assert rows[0] == {"family": "tcp", "local": ("127.0.0.1", 3317), "remote": ("0.0.0.0", 0), "state": "0A", "inode": 111}
    assert procfs.listening_pids(3317, proc_root=root) == [100]
    assert procfs.listening_pids(3317, "127.0.0.1", root) == [100]
    assert procfs.listening_pids(3317, "10.0.0.5", root) == []
    assert procfs.listening_pids(8080, "10.0.0.5", root) == [101]  # 0.0.0.0 listens everywhere
    assert procfs.listening_ports(101, root) == [8080]
    assert procfs.socket_owners([333], root) == [200] and procfs.socket_owners([], root) == []
    assert procfs.socket_inodes(200, root) == {333}
    assert procfs.established_on_port(22, proc_root=root) == 1
    assert procfs.tcp_sockets(root, pid=100) == []  # no per-namespace table in the fake tree


def test_hex_addr_v4_v6_and_mapped():
    assert procfs.hex_addr("0100007F:0CF5") == ("127.0.0.1", 3317)
    assert procfs.hex_addr("00000000000000000000000001000000:0016") == ("::1", 22)
    assert procfs.hex_addr("00000000000000000000000000000000:0CF5") == ("::", 3317)
    assert procfs.hex_addr("0000000000000000FFFF00000100007F:0016") == ("127.0.0.1", 22)


def test_pidfile_errors_name_the_option(tmp_path):
    good, bad = tmp_path / "good.pid", tmp_path / "bad.pid"
    good.write_text("1234\n")
    bad.write_text("not a pid")
    assert procfs.read_pidfile(str(good)) == 1234
    with pytest.raises(procfs.ProcfsError, match="server_pidfile .*bad.pid does not hold a pid"):
        procfs.read_pidfile(str(bad), "server_pidfile")
    with pytest.raises(rt.EngineError, match="cannot read pidfile .*missing.pid: No such file"):
        procfs.read_pidfile(str(tmp_path / "missing.pid"))


def test_environ_and_limits_of_a_real_process():
    p = subprocess.Popen(["sleep", "30"], env={"FAULTLINE_T": "a=b"})
    try:
        end = time.monotonic() + 5  # Popen returns once exec began; /proc shows the new image a moment later
        while procfs.environ(p.pid) != {"FAULTLINE_T": "a=b"} and time.monotonic() < end:
            time.sleep(0.01)
        assert procfs.environ(p.pid) == {"FAULTLINE_T": "a=b"}
        assert procfs.cmdline(p.pid) == ["sleep", "30"] and procfs.comm(p.pid) == "sleep"
        assert procfs.stat(p.pid)["starttime"] == rt.proc_starttime(p.pid)
        assert procfs.ancestry(p.pid)[:2] == [p.pid, os.getpid()]
    finally:
        p.kill()
        p.wait()
    me = os.getpid()
    assert procfs.nofile_limit(me) is None or procfs.nofile_limit(me) > 0
    assert procfs.fd_count(me) > 0 and procfs.environ(p.pid) == {}

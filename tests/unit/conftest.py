"""Shared fakes for the unit tests (fixtures; test files never copy them).

fake_module   an object with what FaultEngine needs from an AnsibleModule
              (check_mode, params, run_command); commands go to a scripted runner.
run_module    runs a module's main() with arguments, returns (exit code, result).
fake_proc     a fake /proc tree (processes, fds, /proc/net/tcp) for procfs and its users.
"""
import json
import os

import pytest

from module_args import patch_module_args  # the shim for ansible-core below 2.19 (tests/unit/module_args.py)


class FakeModule(object):
    """check_mode, params and run_command of an AnsibleModule; records every command.

    ``answers`` maps an argv prefix (tuple) to (rc, out, err); anything else
    answers (0, "", "") unless ``run`` (e.g. runtime.subprocess_runner) runs it for real.
    """

    def __init__(self, check_mode=False, params=None, answers=None, run=None):
        self.check_mode = check_mode
        self.params = params or {}
        self.answers = dict(answers or {})
        self.run = run
        self.commands = []

    def run_command(self, argv, data=None, binary_data=False, check_rc=False, environ_update=None):
        self.commands.append((list(argv), data))
        for prefix, answer in self.answers.items():
            if tuple(argv[:len(prefix)]) == tuple(prefix):
                return answer
        return self.run(argv, data) if self.run else (0, "", "")

    def fail_json(self, **kw):
        raise AssertionError("fail_json: %s" % kw.get("msg"))


@pytest.fixture
def fake_module():
    """Factory: fake_module(check_mode=False, params=None, answers=None, run=None)."""
    return FakeModule


@pytest.fixture
def run_module(capsys):
    def run(module, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        return exc.value.code, json.loads(capsys.readouterr().out)
    return run


def stat_line(pid, comm, state, ppid, starttime, sid=0, rss_pages=0):
    """A /proc/<pid>/stat line: fields numbered as in proc(5), the rest zero."""
    rest = [state, str(ppid), "0", str(sid)] + ["0"] * 15 + [str(starttime), "0", str(rss_pages)] + ["0"] * 8
    return "%d (%s) %s\n" % (pid, comm, " ".join(rest))


@pytest.fixture
def fake_proc(tmp_path):
    """A fake /proc tree: (root, add(pid, argv, ppid=1, state="S", starttime=1000, sockets=(), sid=0, rss_pages=0)).

    Holds init (1), mariadbd on 127.0.0.1:3317 (100), two myapp workers (101
    listening on 0.0.0.0:8080, 102), an sshd with an established connection
    (200) and a kernel thread (300).
    """
    root = tmp_path / "proc"
    (root / "net").mkdir(parents=True)

    def add(pid, argv, ppid=1, state="S", starttime=1000, sockets=(), sid=0, rss_pages=0):
        d = root / str(pid)
        (d / "fd").mkdir(parents=True)
        (d / "stat").write_text(stat_line(pid, os.path.basename(argv[0]) if argv else "kthread",
                                          state, ppid, starttime, sid, rss_pages))
        (d / "comm").write_text((os.path.basename(argv[0]) if argv else "kthread")[:15] + "\n")
        (d / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + (b"\0" if argv else b""))
        for i, inode in enumerate(sockets):
            os.symlink("socket:[%d]" % inode, str(d / "fd" / str(i + 3)))

    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    # 127.0.0.1:3317 LISTEN inode 111; 0.0.0.0:8080 LISTEN inode 222;
    # established 10.0.0.5:22 <- 10.0.0.9:50000 inode 333
    rows = [
        "   0: 0100007F:0CF5 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 111 1 0",
        "   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 222 1 0",
        "   2: 0500000A:0016 0900000A:C350 01 00000000:00000000 00:00000000 00000000 0 0 333 1 0",
    ]
    (root / "net" / "tcp").write_text(header + "\n".join(rows) + "\n")
    add(1, ["/sbin/init"], ppid=0)
    add(100, ["/usr/sbin/mariadbd", "--port=3317"], sockets=[111], starttime=5000)
    add(101, ["/usr/bin/myapp", "--worker"], sockets=[222])
    add(102, ["/usr/bin/myapp", "--worker"])
    add(200, ["sshd: root@notty"], sockets=[333])
    add(300, [])  # kernel thread
    return str(root), add

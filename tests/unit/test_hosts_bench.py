"""benchmarks/hosts_bench.py: which processes count as left behind by its lab (pure part, a fake /proc)."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import hosts_bench  # noqa: E402  pylint: disable=wrong-import-position

SSHD = "/usr/sbin/sshd\0-f\0/var/lib/faultline-lab/hosts/node1/sshd_config\0"


def fake_proc(tmp_path, procs):
    """procs: pid -> (command line, 'ours' or 'other': which /var/lib its root shows)."""
    for view in ("ours", "other"):
        (tmp_path / view / "var" / "lib").mkdir(parents=True)
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    os.symlink(str(tmp_path / "ours"), str(proc / "self" / "root"))
    for pid, (cmd, view) in procs.items():
        (proc / pid).mkdir()
        (proc / pid / "cmdline").write_bytes(cmd.encode())
        os.symlink(str(tmp_path / view), str(proc / pid / "root"))
    return str(proc)


def test_a_lab_process_in_another_mount_namespace_is_not_ours(tmp_path):
    # 200: the same path in its command line, but it sees another /var/lib (an isolated
    # lab with /var/lib overlaid): the run of 2026-12-02 05:40 reported it as left behind
    proc = fake_proc(tmp_path, {"100": (SSHD, "ours"), "200": (SSHD, "other"),
                                "300": ("/usr/sbin/sshd\0-D\0", "ours")})
    found = hosts_bench.lab_processes(proc)
    assert [pid for pid, _cmd in found] == ["100"]
    assert found[0][1].startswith("/usr/sbin/sshd -f /var/lib/faultline-lab/hosts/node1/")


def test_a_process_gone_while_read_is_skipped(tmp_path):
    proc = fake_proc(tmp_path, {"100": (SSHD, "ours")})
    os.unlink(os.path.join(proc, "100", "root"))
    assert hosts_bench.lab_processes(proc) == []

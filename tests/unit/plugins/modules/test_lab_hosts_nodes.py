"""lab_hosts_nodes (the worker of roles/lab_hosts): refusals before anything happens, files, processes.

The netlink and sshd paths need root and the lab: tests/integration/test_lab_hosts_scale.py
and test_netns.py run them.
"""
import os
import subprocess
import sys

import pytest

from ansible_collections.faultline.chaos.plugins.modules import lab_hosts_nodes as m


def node(i, **over):
    n = {"name": "node%d" % i, "address": "198.18.0.%d" % (10 + i), "netns": "flt-node%d" % i,
         "veth": "fltv-node%d" % i, "dir": "/nonexistent/node%d" % i, "host_key": "/nonexistent/k%d" % i,
         "pidfile": "/nonexistent/p%d" % i, "start_script": "/nonexistent/s%d" % i,
         "etc_dir": "/nonexistent/etc%d" % i}
    n.update(over)
    return n


def args(**over):
    a = {"state": "up", "bridge": "flt-br0", "bridge_address": "198.18.0.1", "nodes": [node(1), node(2)]}
    a.update(over)
    return a


@pytest.mark.parametrize("over,message", [
    ({"nodes": [node(1, address="10.0.0.5")]}, "node node1: 10.0.0.5 is not a host address in 198.18.0.0/24"),
    ({"nodes": [node(1, address="198.18.0.255")]}, "198.18.0.255 is not a host address"),
    ({"nodes": [node(1, address="nope")]}, "node node1: 'nope' is not an IPv4 address"),
    ({"bridge_address": "192.168.1.1"}, "bridge_address: 192.168.1.1 is not a host address"),
    ({"nodes": [node(1), node(2, address="198.18.0.11")]}, "node node2: address 198.18.0.11 is used twice"),
    ({"nodes": [node(1, address="198.18.0.1")]}, "node node1: address 198.18.0.1 is used twice"),
    ({"nodes": [node(1, name="Node_1")]}, "node name 'Node_1': 1-10 lowercase"),
    ({"nodes": [node(1, veth="fltv-averylongname")]}, "longer than 15 characters"),
    ({"nodes": [node(1, netns="../x")]}, "not a plain name"),
    ({"nodes": [{"name": "node1", "address": "198.18.0.11"}]}, "node 'node1' lacks netns, veth, dir"),
    ({"bridge": "a-bridge-name-too-long"}, "an interface name has 1-15 characters"),
    ({"ssh_port": 0}, "ssh_port=0 is out of range: must be a port number from 1 to 65535"),
    ({"start_timeout": float("nan")}, "start_timeout=nan is out of range"),
    ({"stop_timeout": 7200}, "stop_timeout=7200.0 is out of range"),
    ({"prefix_length": 16}, "prefix_length=16 is out of range: must be 24"),
])
def test_bad_input_is_refused_before_anything_happens(monkeypatch, run_module, over, message):
    touched = []
    monkeypatch.setattr(m.Lab, "up", lambda self: touched.append("up"))
    monkeypatch.setattr(m.Lab, "down", lambda self: touched.append("down"))
    code, out = run_module(m, args(**over))
    assert code == 1 and message in out["msg"], out["msg"]
    assert touched == []


def test_write_file_is_atomic_and_only_when_different(tmp_path):
    path = str(tmp_path / "sshd_config")
    assert m.write_file(path, "Port 22\n", 0o600) is True
    assert open(path).read() == "Port 22\n" and os.stat(path).st_mode & 0o7777 == 0o600
    assert m.write_file(path, "Port 22\n", 0o600) is False
    assert m.write_file(path, "Port 22\n", 0o644) is True and os.stat(path).st_mode & 0o7777 == 0o644
    assert m.write_file(path, "Port 2222\n", 0o644) is True and open(path).read() == "Port 2222\n"
    assert sorted(os.listdir(str(tmp_path))) == ["sshd_config"]  # no temp file left


@pytest.mark.parametrize("value,expected", [("0644", 0o644), ("600", 0o600), (0o700, 0o700)])
def test_mode(value, expected):
    assert m._mode(value) == expected


def test_mode_refuses_what_is_not_octal():
    with pytest.raises(m.Fail, match="give an octal string"):
        m._mode("rw-r--r--")


def test_stop_pids_terms_then_kills():
    polite = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print('ready', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    assert stubborn.stdout.readline().strip() == b"ready"
    try:
        import threading
        reaper = threading.Thread(target=lambda: (polite.wait(), stubborn.wait()))
        reaper.start()
        m.stop_pids([polite.pid, stubborn.pid, 1], timeout=1)
        reaper.join(10)
        assert polite.returncode == -15 and stubborn.returncode == -9
    finally:
        for p in (polite, stubborn):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_sshd_pid_only_for_the_sshd_binary(tmp_path):
    pidfile = tmp_path / "sshd.pid"
    pidfile.write_text("%d\n" % os.getpid())
    n = node(1, pidfile=str(pidfile))
    assert m.sshd_pid(n, sys.executable) == os.getpid()
    assert m.sshd_pid(n, "/usr/sbin/sshd") is None  # a pid that is not sshd is never stopped
    pidfile.write_text("garbage")
    assert m.sshd_pid(n, sys.executable) is None
    assert m.sshd_pid(node(1, pidfile=str(tmp_path / "missing")), sys.executable) is None


def test_netns_pids_matches_by_namespace_inode(monkeypatch, tmp_path):
    # a "named namespace" that is this process's own: it is found (minus the caller itself)
    monkeypatch.setattr(m, "NETNS_DIR", str(tmp_path))
    os.symlink("/proc/%d/ns/net" % os.getpid(), str(tmp_path / "flt-here"))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found = m.netns_pids(["flt-here", "flt-absent"])
        assert set(found) == {"flt-here"}
        assert child.pid in found["flt-here"] and os.getpid() not in found["flt-here"]
    finally:
        child.kill()
        child.wait()

"""A throwaway 3-member etcd cluster on loopback for the probe and T040 tests.

Each member has its own loopback address (default 127.0.0.41-43, client port
2379, peer port 2380).  Members are started like roles/lab_etcd starts them
(start-stop-daemon, pidfile, log) and ``describe()`` writes the same
description as its lab_etcd.json, so the T040 role runs against this cluster;
at teardown every member is stopped by the pid in its pidfile.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

from support.util import read_pidfile, wait_for

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import proc_alive

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class Member(object):
    def __init__(self, name, ip, client_port, peer_port, base):
        self.name, self.ip = name, ip
        self.client_url = "http://%s:%d" % (ip, client_port)
        self.peer_url = "http://%s:%d" % (ip, peer_port)
        self.client_port = client_port
        self.dir = os.path.join(base, name)
        self.data_dir = os.path.join(self.dir, "data")
        self.log = os.path.join(self.dir, "etcd.log")
        self.pidfile = os.path.join(self.dir, "etcd.pid")

    def argv(self, cluster, state="new"):
        return [ETCD, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "faultline-test", "--log-level", "debug", "--logger", "zap"]

    @property
    def pid(self):
        pid = read_pidfile(self.pidfile)
        return pid if pid and proc_alive(pid) else None

    def describe(self):
        return {"name": self.name, "host": "localhost", "address": self.ip, "client_port": self.client_port,
                "client_url": self.client_url, "peer_url": self.peer_url, "dir": self.dir,
                "data_dir": self.data_dir, "pidfile": self.pidfile, "log": self.log, "start_argv": None}

    def status(self, timeout=1.0):
        req = urllib.request.Request(self.client_url + "/v3/maintenance/status", data=b"{}",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())


class EtcdCluster(object):
    def __init__(self, base, ips=("127.0.0.41", "127.0.0.42", "127.0.0.43"), client_port=2379, peer_port=2380):
        self.base = base
        self.members = [Member("m%d" % (i + 1), ip, client_port, peer_port, base) for i, ip in enumerate(ips)]
        self.cluster = ",".join("%s=%s" % (m.name, m.peer_url) for m in self.members)

    @property
    def endpoints(self):
        return [m.client_url for m in self.members]

    def start_member(self, m, state="new"):
        os.makedirs(m.dir, exist_ok=True)
        argv = m.argv(self.cluster, state)
        subprocess.run(["start-stop-daemon", "--start", "--quiet", "--background", "--make-pidfile",
                        "--pidfile", m.pidfile, "--output", m.log, "--chdir", m.dir, "--exec", argv[0], "--"]
                       + argv[1:], check=True)
        wait_for(lambda: m.pid, 10, 0.05, "etcd %s pid" % m.name)

    def describe(self, path):
        """Write a lab_etcd.json-shaped description (no proxy) to ``path``."""
        members = []
        for m in self.members:
            d = m.describe()
            d["start_argv"] = m.argv(self.cluster)
            members.append(d)
        with open(path, "w") as f:
            json.dump({"layout": "loopback", "members": members, "proxy": None,
                       "endpoints": self.endpoints}, f)
        return path

    def start(self, timeout=30.0):
        os.makedirs(self.base, exist_ok=True)
        for m in self.members:
            self.start_member(m)
        self.wait_healthy(timeout)
        return self

    def leader(self):
        """The member that is leader according to a live member's status, else None."""
        for m in self.members:
            if m.pid is None:
                continue
            try:
                st = m.status()
            except OSError:
                continue
            lead = st.get("leader")
            for c in self.members:
                if c.pid is None:
                    continue
                try:
                    if c.status().get("header", {}).get("member_id") == lead:
                        return c
                except OSError:
                    continue
        return None

    def wait_healthy(self, timeout=30.0):
        def ok():
            try:
                return all(m.status() for m in self.members) and self.leader()
            except OSError:
                return None
        return wait_for(ok, timeout, 0.2, "etcd cluster healthy")

    def signal(self, m, sig):
        os.kill(m.pid, sig)

    def kill(self, m):
        pid = m.pid
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not proc_alive(pid), 10, 0.02, "etcd %s gone" % m.name)

    def restart(self, m):
        self.start_member(m, state="existing")

    def stop(self):
        for m in self.members:
            pid = m.pid
            if pid is None:
                continue
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGTERM)
            try:
                wait_for(lambda: not proc_alive(pid), 10, 0.05, "etcd %s to exit" % m.name)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
                wait_for(lambda: not proc_alive(pid), 5, 0.05, "etcd %s killed" % m.name)
        shutil.rmtree(self.base, ignore_errors=True)


def wait_leader_change(cluster, old, timeout=20.0):
    t0 = time.time()

    def changed():
        ld = cluster.leader()
        return ld if ld is not None and ld is not old else None
    new = wait_for(changed, timeout, 0.05, "a new etcd leader")
    return new, time.time() - t0

"""A throwaway 3-member etcd cluster on loopback for the probe tests.

Each member has its own loopback address (default 127.0.0.41-43, client port
2379, peer port 2380) so a partition by address is a real partition.  The
members are children of the test process, stopped by pid at teardown.
"""
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request

from support.util import wait_for

ETCD = shutil.which("etcd") or "/usr/bin/etcd"


class Member(object):
    def __init__(self, name, ip, client_port, peer_port, base):
        self.name, self.ip = name, ip
        self.client_url = "http://%s:%d" % (ip, client_port)
        self.peer_url = "http://%s:%d" % (ip, peer_port)
        self.data_dir = os.path.join(base, name)
        self.log = os.path.join(base, name + ".log")
        self.proc = None

    def argv(self, cluster, state="new"):
        return [ETCD, "--name", self.name, "--data-dir", self.data_dir,
                "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", cluster, "--initial-cluster-state", state,
                "--initial-cluster-token", "faultline-test", "--log-level", "debug", "--logger", "zap"]

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

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
        with open(m.log, "ab") as log:
            m.proc = subprocess.Popen(m.argv(self.cluster, state), stdin=subprocess.DEVNULL, stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

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
        os.kill(m.proc.pid, sig)

    def kill(self, m):
        self.signal(m, signal.SIGKILL)
        m.proc.wait(10)

    def restart(self, m):
        self.start_member(m, state="existing")

    def stop(self):
        for m in self.members:
            if m.proc is not None and m.proc.poll() is None:
                try:
                    os.kill(m.proc.pid, signal.SIGCONT)
                    m.proc.terminate()
                    m.proc.wait(10)
                except (OSError, subprocess.TimeoutExpired):
                    m.proc.kill()
                    m.proc.wait(5)
        shutil.rmtree(self.base, ignore_errors=True)


def wait_leader_change(cluster, old, timeout=20.0):
    t0 = time.time()
    new = wait_for(lambda: (lambda ld: ld if ld is not None and ld is not old else None)(cluster.leader()),
                   timeout, 0.05, "a new etcd leader")
    return new, time.time() - t0

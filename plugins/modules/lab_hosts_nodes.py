#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: lab_hosts_nodes
short_description: Bring the lab hosts' namespaces, links and sshd up or down in one process
description:
  - The worker of the role C(faultline.chaos.lab_hosts), which runs it on the
    lab machine (the controller here); use the role rather than this module. One call does for every node what used to
    be a dozen loop tasks per node - node directory, host key, the node's
    files, network namespace, veth pair on the bridge, addresses, link state,
    sshd - so a lab of 100 nodes is one module run instead of about 1,500.
  - Namespaces, links and addresses are created and removed over netlink in
    this process with pyroute2 (no C(ip) invocations); sshd is started with
    C(ip netns exec) (it binds the namespace's C(/etc/netns) files) and
    C(unshare), as before.
  - V(up) is idempotent (only what is missing or different is changed);
    V(down) removes every node's sshd (by pidfile, checked against the sshd
    binary), every process left in its namespace (by pid, TERM then KILL),
    the namespace, the host-side veth, the bridge and each node's
    C(/etc/netns) directory. Shared directories are left to the role.
  - Only addresses in 198.18.0.0/24 are accepted.
version_added: 0.1.0
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be created or removed and changes nothing.
  diff_mode:
    support: full
    details: Before lists what V(down) removes, after what V(up) creates.
options:
  state:
    description: Bring the nodes up or take them down.
    type: str
    choices: [up, down]
    default: up
  bridge:
    description: Name of the Linux bridge (at most 15 characters).
    type: str
    required: true
  bridge_address:
    description: The host's address on the bridge (198.18.0.0/24).
    type: str
    required: true
  prefix_length:
    description: Prefix length of the lab network (24, the only one allowed).
    type: int
    default: 24
  nodes:
    description:
      - The nodes, as in the role's fact C(lab_hosts.nodes) - C(name), C(address)
        (198.18.0.0/24), C(netns), C(veth), C(dir), C(host_key), C(pidfile),
        C(start_script), C(etc_dir). Extra keys are ignored.
    type: list
    elements: dict
    required: true
  files:
    description:
      - Files to write on V(up), each C(path), C(content) and C(mode) (an octal
        string); written atomically, only when content or mode differ.
    type: list
    elements: dict
    default: []
  sshd:
    description: Path of the sshd binary.
    type: path
    default: /usr/sbin/sshd
  ssh_port:
    description: Port each sshd listens on (1-65535).
    type: int
    default: 22
  start_timeout:
    description: Seconds to wait for every sshd to listen (1-3600).
    type: float
    default: 30
  stop_timeout:
    description: Seconds to wait after SIGTERM before SIGKILL (1-3600).
    type: float
    default: 10
requirements:
  - pyroute2 (on the lab machine; pinned in the repository's requirements-dev.txt)
  - iproute2 (C(ip netns exec)), util-linux (C(unshare)), openssh-server, ssh-keygen
notes:
  - Needs root. Touches only the bridge, namespaces, veths and files it is given.
seealso:
  - name: The lab hosts
    description: roles/lab_hosts and docs/lab.md in the repository.
    link: https://github.com/faultline/faultline.chaos/blob/main/docs/lab.md
'''

EXAMPLES = r'''
- name: Bring the lab hosts up (what roles/lab_hosts does)
  faultline.chaos.lab_hosts_nodes:
    state: up
    bridge: flt-br0
    bridge_address: 198.18.0.1
    nodes: "{{ lab_hosts.nodes }}"
    files: "{{ lookup('ansible.builtin.template', 'node_files.json.j2') | from_json }}"

- name: Take them down
  faultline.chaos.lab_hosts_nodes:
    state: down
    bridge: flt-br0
    bridge_address: 198.18.0.1
    nodes: "{{ lab_hosts.nodes }}"
'''

RETURN = r'''
created:
  description:
    - What was created or changed (in check mode, would be), by kind (C(dir), C(host_key),
      C(file), C(bridge), C(netns), C(veth), C(address), C(link_up), C(sshd)).
  returned: always
  type: dict
  sample: {"netns": ["flt-node1"], "sshd": ["node1"]}
removed:
  description:
    - What was removed (in check mode, would be), by kind (C(sshd), C(process),
      C(netns), C(veth), C(bridge), C(etc_dir)).
  returned: always
  type: dict
  sample: {"netns": ["flt-node1"], "sshd": ["node1 (pid 4242)"]}
timings:
  description: Seconds spent per phase (V(up) C(files), C(netlink), C(sshd); V(down) C(processes), C(netlink)).
  returned: always
  type: dict
  sample: {"files": 0.41, "netlink": 1.2, "sshd": 0.9}
'''

import errno
import ipaddress
import os
import re
import shutil
import signal
import socket
import time
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import PORT, Bound, checked_module

try:
    from pyroute2 import IPRoute, netns as pyroute2_netns
    HAS_PYROUTE2, PYROUTE2_ERROR = True, None
except ImportError:
    HAS_PYROUTE2, PYROUTE2_ERROR = False, traceback.format_exc()

LAB_NET = ipaddress.ip_network(u"198.18.0.0/24")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,9}$")
NETNS_DIR = "/run/netns"


class Fail(Exception):
    pass


def _lab_address(value, what):
    try:
        addr = ipaddress.ip_address(u"%s" % value)
    except ValueError:
        raise Fail("%s: %r is not an IPv4 address" % (what, value))
    if addr not in LAB_NET or addr in (LAB_NET.network_address, LAB_NET.broadcast_address):
        raise Fail("%s: %s is not a host address in %s" % (what, addr, LAB_NET))
    return str(addr)


BOUNDS = {
    "prefix_length": Bound(24, 24, integer=True, text="24 (the lab network is 198.18.0.0/24)"),
    "ssh_port": PORT,
    "start_timeout": Bound(1, 3600, "seconds"),
    "stop_timeout": Bound(1, 3600, "seconds"),
}


def check_params(p):
    _lab_address(p["bridge_address"], "bridge_address")
    if not 1 <= len(p["bridge"]) <= 15:
        raise Fail("bridge %r: an interface name has 1-15 characters" % p["bridge"])
    seen = set([p["bridge_address"]])
    for n in p["nodes"]:
        missing = [k for k in ("name", "address", "netns", "veth", "dir", "host_key", "pidfile",
                               "start_script", "etc_dir") if not n.get(k)]
        if missing:
            raise Fail("node %r lacks %s" % (n.get("name"), ", ".join(missing)))
        if not NAME_RE.match(n["name"]):
            raise Fail("node name %r: 1-10 lowercase letters, digits or '-'" % n["name"])
        if len(n["veth"]) > 15 or "/" in n["netns"]:
            raise Fail("node %s: veth %r longer than 15 characters or netns %r not a plain name"
                       % (n["name"], n["veth"], n["netns"]))
        addr = _lab_address(n["address"], "node %s" % n["name"])
        if addr in seen:
            raise Fail("node %s: address %s is used twice" % (n["name"], addr))
        seen.add(addr)


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------

def _exe(pid):
    try:
        return os.path.realpath(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return None


def sshd_pid(node, sshd):
    """The pid in the node's pidfile when it is a live sshd, else None."""
    try:
        with open(node["pidfile"]) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    return pid if pid > 1 and _exe(pid) == os.path.realpath(sshd) else None


def _ns_ident(path):
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def netns_pids(names):
    """{netns name: [pids]} of the processes inside each named namespace."""
    idents = {}
    for name in names:
        ident = _ns_ident(os.path.join(NETNS_DIR, name))
        if ident:
            idents[ident] = name
    found = dict((name, []) for name in idents.values())
    if not idents:
        return found
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        name = idents.get(_ns_ident("/proc/%s/ns/net" % entry))
        if name:
            found[name].append(int(entry))
    return found


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def stop_pids(pids, timeout):
    """SIGTERM every pid, wait up to ``timeout`` for all, SIGKILL the rest."""
    pids = [p for p in pids if p > 1]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 5
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    if left:
        raise Fail("processes still alive after SIGKILL: %s" % left)


# --------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------

def write_file(path, content, mode):
    data = content.encode("utf-8")
    try:
        with open(path, "rb") as f:
            same = f.read() == data
        if same and (os.stat(path).st_mode & 0o7777) == mode:
            return False
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
    tmp = "%s.tmp.%d" % (path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    return True


def _mode(value):
    if isinstance(value, int):
        return value
    if not re.match(r"^0?[0-7]{3,4}$", str(value)):
        raise Fail("file mode %r: give an octal string such as '0644'" % (value,))
    return int(str(value), 8)


# --------------------------------------------------------------------------
# up / down
# --------------------------------------------------------------------------

class Lab(object):
    def __init__(self, module):
        self.m = module
        self.p = module.params
        self.check = module.check_mode
        self.created = {}
        self.removed = {}
        self.timings = {}

    def note(self, book, kind, what):
        book.setdefault(kind, []).append(what)

    # --- up -----------------------------------------------------------------
    def up_files(self):
        for node in self.p["nodes"]:
            if not os.path.isdir(node["dir"]):
                self.note(self.created, "dir", node["dir"])
                if not self.check:
                    os.makedirs(node["dir"], 0o700)
            if not os.path.isdir(node["etc_dir"]):
                self.note(self.created, "dir", node["etc_dir"])
                if not self.check:
                    os.makedirs(node["etc_dir"], 0o755)
                    os.chmod(node["etc_dir"], 0o755)
            if not os.path.exists(node["host_key"]):
                self.note(self.created, "host_key", node["host_key"])
                if not self.check:
                    self.m.run_command(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", node["name"],
                                        "-f", node["host_key"]], check_rc=True)
        for f in self.p["files"]:
            mode = _mode(f.get("mode", "0644"))
            if self.check:
                try:
                    with open(f["path"], "rb") as fh:
                        if fh.read() == f["content"].encode("utf-8"):
                            continue
                except OSError:
                    pass
                self.note(self.created, "file", f["path"])
            elif write_file(f["path"], f["content"], mode):
                self.note(self.created, "file", f["path"])

    def up_netlink(self):
        p = self.p
        plen = p["prefix_length"]
        existing = set(pyroute2_netns.listnetns())
        with IPRoute() as ipr:
            br = ipr.link_lookup(ifname=p["bridge"])
            if not br:
                self.note(self.created, "bridge", p["bridge"])
                if self.check:
                    br = [None]
                else:
                    ipr.link("add", ifname=p["bridge"], kind="bridge")
                    br = ipr.link_lookup(ifname=p["bridge"])
            br = br[0]
            if br is not None:
                addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=br)]
                if p["bridge_address"] not in addrs:
                    self.note(self.created, "address", "%s %s" % (p["bridge"], p["bridge_address"]))
                    if not self.check:
                        ipr.addr("add", index=br, address=p["bridge_address"], prefixlen=plen)
                if not self._is_up(ipr, br):
                    self.note(self.created, "link_up", p["bridge"])
                    if not self.check:
                        ipr.link("set", index=br, state="up")
            for node in p["nodes"]:
                ns = node["netns"]
                if ns not in existing:
                    self.note(self.created, "netns", ns)
                    if self.check:
                        continue
                    pyroute2_netns.create(ns)
                veth = ipr.link_lookup(ifname=node["veth"])
                if not veth:
                    self.note(self.created, "veth", node["veth"])
                    if self.check:
                        continue
                    ipr.link("add", ifname=node["veth"], kind="veth",
                             peer={"ifname": "eth0", "net_ns_fd": ns})
                    veth = ipr.link_lookup(ifname=node["veth"])
                link = ipr.get_links(veth[0])[0]
                if link.get_attr("IFLA_MASTER") != br or not link["flags"] & 1:
                    self.note(self.created, "link_up", node["veth"])
                    if not self.check:
                        ipr.link("set", index=veth[0], master=br, state="up")
                self.up_inside(node, plen)

    @staticmethod
    def _is_up(ipr, index):
        return bool(ipr.get_links(index)[0]["flags"] & 1)  # IFF_UP

    def up_inside(self, node, plen):
        if self.check and node["netns"] not in pyroute2_netns.listnetns():
            return
        with IPRoute(netns=node["netns"]) as nsr:
            eth0 = nsr.link_lookup(ifname="eth0")
            if not eth0:
                raise Fail("node %s: no eth0 in namespace %s (the veth %s has its peer elsewhere)"
                           % (node["name"], node["netns"], node["veth"]))
            addrs = [a.get_attr("IFA_ADDRESS") for a in nsr.get_addr(index=eth0[0])]
            if node["address"] not in addrs:
                self.note(self.created, "address", "%s %s" % (node["netns"], node["address"]))
                if not self.check:
                    nsr.addr("add", index=eth0[0], address=node["address"], prefixlen=plen)
            for ifname in ("lo", "eth0"):
                idx = nsr.link_lookup(ifname=ifname)[0]
                if not self._is_up(nsr, idx):
                    self.note(self.created, "link_up", "%s %s" % (node["netns"], ifname))
                    if not self.check:
                        nsr.link("set", index=idx, state="up")

    def up_sshd(self):
        p = self.p
        failed = []
        for node in p["nodes"]:
            if sshd_pid(node, p["sshd"]):
                continue
            self.note(self.created, "sshd", node["name"])
            if self.check:
                continue
            # sshd detaches at once (pidfile): one short command per node
            rc, out, err = self.m.run_command(
                ["ip", "netns", "exec", node["netns"], "unshare", "--mount", "--uts", "--propagation", "slave",
                 "sh", node["start_script"]])
            if rc != 0:
                failed.append("%s (rc %s): %s" % (node["name"], rc, (out + err)[-300:]))
        if failed:
            raise Fail("sshd did not start on " + "; ".join(failed))
        if self.check:
            return
        waiting = list(p["nodes"])
        deadline = time.monotonic() + p["start_timeout"]
        while waiting:
            left = []
            for node in waiting:
                if not (sshd_pid(node, p["sshd"]) and self._listens(node["address"], p["ssh_port"])):
                    left.append(node)
            waiting = left
            if waiting:
                if time.monotonic() > deadline:
                    raise Fail("sshd not listening after %ss on: %s"
                               % (p["start_timeout"], ", ".join(n["name"] for n in waiting)))
                time.sleep(0.1)

    @staticmethod
    def _listens(address, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect((address, port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    # --- down ---------------------------------------------------------------
    def down(self):
        p = self.p
        t0 = time.monotonic()
        sshds = [(n, sshd_pid(n, p["sshd"])) for n in p["nodes"]]
        sshds = [(n, pid) for n, pid in sshds if pid]
        for node, pid in sshds:
            self.note(self.removed, "sshd", "%s (pid %d)" % (node["name"], pid))
        if not self.check:
            stop_pids([pid for _n, pid in sshds], p["stop_timeout"])
        # what the sshds forked (sessions) and anything started inside them
        left = netns_pids([n["netns"] for n in p["nodes"]])
        pids = sorted(set(pid for ps in left.values() for pid in ps))
        for pid in pids:
            self.note(self.removed, "process", pid)
        if not self.check:
            stop_pids(pids, p["stop_timeout"])
        self.timings["processes"] = time.monotonic() - t0
        t0 = time.monotonic()
        existing = set(pyroute2_netns.listnetns())
        with IPRoute() as ipr:
            for node in p["nodes"]:
                if node["netns"] in existing:
                    self.note(self.removed, "netns", node["netns"])
                    if not self.check:
                        pyroute2_netns.remove(node["netns"])
            for node in p["nodes"]:
                # the namespace's end takes the pair with it, but not always at once
                idx = self._gone_or(ipr, node["veth"])
                if idx:
                    self.note(self.removed, "veth", node["veth"])
                    if not self.check:
                        try:
                            ipr.link("del", index=idx)
                        except Exception as e:  # the pair went away meanwhile
                            if ipr.link_lookup(ifname=node["veth"]):
                                raise Fail("could not delete %s: %s" % (node["veth"], e))
            br = ipr.link_lookup(ifname=p["bridge"])
            if br:
                self.note(self.removed, "bridge", p["bridge"])
                if not self.check:
                    ipr.link("del", index=br[0])
        self.timings["netlink"] = time.monotonic() - t0
        for node in p["nodes"]:
            if os.path.lexists(node["etc_dir"]):
                self.note(self.removed, "etc_dir", node["etc_dir"])
                if not self.check:
                    shutil.rmtree(node["etc_dir"])

    @staticmethod
    def _gone_or(ipr, ifname):
        idx = ipr.link_lookup(ifname=ifname)
        return idx[0] if idx else None

    def up(self):
        for phase, fn in (("files", self.up_files), ("netlink", self.up_netlink), ("sshd", self.up_sshd)):
            t0 = time.monotonic()
            fn()
            self.timings[phase] = round(time.monotonic() - t0, 3)


def main():
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=dict(
            state=dict(type="str", choices=["up", "down"], default="up"),
            bridge=dict(type="str", required=True),
            bridge_address=dict(type="str", required=True),
            prefix_length=dict(type="int", default=24),
            nodes=dict(type="list", elements="dict", required=True),
            files=dict(type="list", elements="dict", default=[]),
            sshd=dict(type="path", default="/usr/sbin/sshd"),
            ssh_port=dict(type="int", default=22),
            start_timeout=dict(type="float", default=30),
            stop_timeout=dict(type="float", default=10),
        ),
        supports_check_mode=True,
    )
    if not HAS_PYROUTE2:
        module.fail_json(msg=missing_required_lib("pyroute2"), exception=PYROUTE2_ERROR)
    lab = Lab(module)
    try:
        check_params(module.params)
        if module.params["state"] == "up":
            lab.up()
        else:
            lab.down()
    except Fail as e:
        module.fail_json(msg=str(e), created=lab.created, removed=lab.removed)
    except Exception as e:  # noqa: BLE001 -- netlink errors become a message, not a traceback
        module.fail_json(msg="%s: %s" % (type(e).__name__, e), exception=traceback.format_exc(),
                         created=lab.created, removed=lab.removed)
    lab.timings = dict((k, round(v, 3)) for k, v in lab.timings.items())
    result = dict(changed=bool(lab.created or lab.removed), created=lab.created, removed=lab.removed,
                  timings=lab.timings)
    if module._diff:
        result["diff"] = dict(before=_listing(lab.removed), after=_listing(lab.created))
    module.exit_json(**result)


def _listing(book):
    return "".join("%s %s\n" % (kind, what) for kind in sorted(book) for what in book[kind])


if __name__ == "__main__":
    main()

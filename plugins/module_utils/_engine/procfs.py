# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one reader of /proc: processes, pidfiles and TCP sockets (Linux, standard library only).

Every function takes the process as ``pid`` and the mount as ``proc_root``
(a fake tree in unit tests), and answers None, [] or an empty set when the
process or the file is gone: a process can exit between two reads.

Processes are compared as (pid, starttime) identities: ``proc_alive``,
``proc_identity`` and the stat and cmdline readers themselves live in
``runtime.py``, which the supervisor runs without the collection; this file
builds on those readers (``cmdline`` here is ``runtime.proc_cmdline``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import struct

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    PROC, EngineError, proc_cmdline as cmdline, proc_stat_fields,
)

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TCP_ESTABLISHED = "01"
TCP_LISTEN = "0A"
WILDCARDS = ("0.0.0.0", "::")


class ProcfsError(EngineError):
    """A message for the user (unreadable pidfile ...)."""


def read(path, mode="r"):
    """Contents of ``path``, or None when it cannot be read."""
    try:
        with open(path, mode) as f:
            return f.read()
    except (IOError, OSError):
        return None


def _path(proc_root, pid, *names):
    return os.path.join(proc_root, str(int(pid)), *names)


# --------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------

def list_pids(proc_root=PROC):
    try:
        names = os.listdir(proc_root)
    except OSError:
        return []
    return sorted(int(n) for n in names if n.isdigit())


def stat(pid, proc_root=PROC):
    """{pid, state, ppid, pgid, sid, starttime, rss_kb} from /proc/<pid>/stat, or None."""
    f = proc_stat_fields(pid, proc_root)
    try:
        return {"pid": int(pid), "state": f[0], "ppid": int(f[1]), "pgid": int(f[2]), "sid": int(f[3]),
                "starttime": int(f[19]), "rss_kb": int(f[21]) * PAGE_KB}
    except (TypeError, IndexError, ValueError):
        return None


def proc_table(proc_root=PROC):
    """{pid: stat} for every process visible now."""
    table = {}
    for pid in list_pids(proc_root):
        st = stat(pid, proc_root)
        if st is not None:
            table[pid] = st
    return table


def parent_pid(pid, proc_root=PROC):
    f = proc_stat_fields(pid, proc_root)
    try:
        return int(f[1])
    except (TypeError, IndexError, ValueError):
        return None


def ancestry(pid=None, proc_root=PROC):
    """``pid`` (default: this process) and all its ancestors up to PID 1."""
    pid = os.getpid() if pid is None else int(pid)
    seen = []
    while pid and pid not in seen:
        seen.append(pid)
        if pid == 1:
            break
        pid = parent_pid(pid, proc_root)
    return seen


def comm(pid, proc_root=PROC):
    """The kernel's short name of ``pid`` (/proc/<pid>/comm), or None."""
    data = read(_path(proc_root, pid, "comm"))
    return data.rstrip("\n") if data is not None else None


def command_text(pid, proc_root=PROC):
    """argv joined by spaces, ``[comm]`` for a kernel thread, None when gone."""
    argv = cmdline(pid, proc_root)
    if argv:
        return " ".join(argv)
    name = comm(pid, proc_root)
    return "[%s]" % name if name is not None else None


def environ(pid, proc_root=PROC):
    """The environment ``pid`` started with, as a dict ({} when unreadable)."""
    data = read(_path(proc_root, pid, "environ"), "rb") or b""
    out = {}
    for item in data.split(b"\0"):
        key, sep, value = item.decode("utf-8", "replace").partition("=")
        if sep:
            out[key] = value
    return out


def describe(pid, proc_root=PROC):
    """Identity (pid, starttime) plus state letter and argv of ``pid``."""
    st = stat(pid, proc_root) or {}
    return {"pid": int(pid), "starttime": st.get("starttime"), "state": st.get("state"),
            "cmdline": cmdline(pid, proc_root)}


def fd_count(pid, proc_root=PROC):
    try:
        return len(os.listdir(_path(proc_root, pid, "fd")))
    except (IOError, OSError):
        return 0


def nofile_limit(pid, proc_root=PROC):
    """Soft RLIMIT_NOFILE of ``pid`` (None if unknown or unlimited)."""
    for line in (read(_path(proc_root, pid, "limits")) or "").splitlines():
        if line.startswith("Max open files"):
            soft = (line[len("Max open files"):].split() or [""])[0]
            return int(soft) if soft.isdigit() else None
    return None


def read_pidfile(path, option="pidfile"):
    """The pid in ``path``; ProcfsError naming ``option`` when it cannot be read or holds none."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except (IOError, OSError) as e:
        raise ProcfsError("cannot read %s %s: %s" % (option, path, e.strerror))
    try:
        return int(text.split()[0])
    except (IndexError, ValueError):
        raise ProcfsError("%s %s does not hold a pid (%r)" % (option, path, text[:40]))


# --------------------------------------------------------------------------
# TCP sockets
# --------------------------------------------------------------------------

def hex_addr(text):
    """'0100007F:0CEB' (from /proc/net/tcp or tcp6) -> ('127.0.0.1', 3307).

    The address in its canonical text form (``ipaddress``: ``::1``, IPv4-mapped
    IPv6 as IPv4), so it compares equal to what SSH_CONNECTION or a user writes.
    /proc prints each 32-bit word in the host's byte order."""
    addr, port = text.split(":")
    raw = b"".join(struct.pack("=I", int(addr[i:i + 8], 16)) for i in range(0, len(addr), 8))
    ip = ipaddress.ip_address(raw)
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def tcp_sockets(proc_root=PROC, pid=None):
    """Rows of /proc/net/tcp and tcp6: {family, local: (ip, port), remote: (ip, port), state, inode}.

    With ``pid`` the tables of that process's network namespace (/proc/<pid>/net/).
    """
    base = os.path.join(proc_root, "net") if pid is None else _path(proc_root, pid, "net")
    rows = []
    for name in ("tcp", "tcp6"):
        data = read(os.path.join(base, name))
        for line in (data or "").splitlines()[1:]:
            f = line.split()
            if len(f) < 10:
                continue
            try:
                rows.append({"family": name, "local": hex_addr(f[1]), "remote": hex_addr(f[2]),
                             "state": f[3].upper(), "inode": int(f[9])})
            except (ValueError, struct.error):
                continue
    return rows


def socket_inodes(pid, proc_root=PROC):
    """Inodes of the sockets ``pid`` holds open (from its /proc/<pid>/fd links)."""
    out = set()
    fd_dir = _path(proc_root, pid, "fd")
    try:
        names = os.listdir(fd_dir)
    except (IOError, OSError):
        return out
    for n in names:
        try:
            target = os.readlink(os.path.join(fd_dir, n))
        except OSError:
            continue
        if target.startswith("socket:[") and target.endswith("]"):
            out.add(int(target[8:-1]))
    return out


def socket_owners(inodes, proc_root=PROC):
    """pids holding any of the socket ``inodes``."""
    wanted = set(i for i in inodes if i)
    if not wanted:
        return []
    return [pid for pid in list_pids(proc_root) if socket_inodes(pid, proc_root) & wanted]


def listening_pids(port, host=None, proc_root=PROC):
    """pids listening on TCP ``port`` (optionally on ``host`` or a wildcard address)."""
    inodes = [r["inode"] for r in tcp_sockets(proc_root)
              if r["state"] == TCP_LISTEN and r["local"][1] == int(port)
              and (not host or r["local"][0] in (host,) + WILDCARDS)]
    return socket_owners(inodes, proc_root)


def listening_ports(pid, proc_root=PROC):
    """TCP ports ``pid`` listens on."""
    inodes = socket_inodes(pid, proc_root)
    return sorted(set(r["local"][1] for r in tcp_sockets(proc_root)
                      if r["state"] == TCP_LISTEN and r["inode"] in inodes))


def established_on_port(port, rows=None, proc_root=PROC):
    """Established TCP connections whose local port is ``port`` (the server side)."""
    rows = tcp_sockets(proc_root) if rows is None else rows
    return sum(1 for r in rows if r["state"] == TCP_ESTABLISHED and r["local"][1] == port)

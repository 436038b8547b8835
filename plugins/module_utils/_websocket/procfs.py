# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side resource sampling from /proc (Linux, standard library only).

A *server* is a process identity ``{"pid", "starttime"}`` (so a recycled pid
is never mistaken for it).  Its *workers* are its descendants in the process
tree plus, when the server owns its session (it is the session leader, or the
leader has exited, as after ``start-stop-daemon --background``), every later
process of that session: a handler that double-forks an "agent" re-parents it
to init, but cannot leave the session without calling setsid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    proc_alive, proc_starttime,
)

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
TCP_ESTABLISHED = "01"
TCP_LISTEN = "0A"


class ProcError(Exception):
    """A message for the user (server not found, unreadable pidfile ...)."""


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def proc_stat(pid, proc="/proc"):
    """Parsed /proc/<pid>/stat fields we need, or None if the process is gone."""
    try:
        data = _read("%s/%d/stat" % (proc, pid))
    except (IOError, OSError):
        return None
    head, _sep, tail = data.rpartition(")")
    rest = tail.split()
    try:
        return {
            "pid": pid,
            "comm": head.partition("(")[2],
            "state": rest[0],
            "ppid": int(rest[1]),
            "pgid": int(rest[2]),
            "sid": int(rest[3]),
            "starttime": int(rest[19]),
            "rss_kb": int(rest[21]) * PAGE_KB,
        }
    except (IndexError, ValueError):
        return None


def proc_table(proc="/proc"):
    """{pid: stat dict} for every process visible now."""
    table = {}
    for name in os.listdir(proc):
        if name.isdigit():
            st = proc_stat(int(name), proc)
            if st is not None:
                table[st["pid"]] = st
    return table


def cmdline(pid, proc="/proc"):
    try:
        raw = _read("%s/%d/cmdline" % (proc, pid), "rb")
    except (IOError, OSError):
        return None
    parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
    if parts:
        return " ".join(parts)
    st = proc_stat(pid, proc)
    return "[%s]" % st["comm"] if st else None


def fd_count(pid, proc="/proc"):
    try:
        return len(os.listdir("%s/%d/fd" % (proc, pid)))
    except (IOError, OSError):
        return 0


def nofile_limit(pid, proc="/proc"):
    """Soft RLIMIT_NOFILE of ``pid`` (None if unknown or unlimited)."""
    try:
        for line in _read("%s/%d/limits" % (proc, pid)).splitlines():
            if line.startswith("Max open files"):
                soft = line[len("Max open files"):].split()[0]
                return int(soft) if soft.isdigit() else None
    except (IOError, OSError, IndexError):
        return None
    return None


def socket_inodes(pid, proc="/proc"):
    out = set()
    d = "%s/%d/fd" % (proc, pid)
    try:
        names = os.listdir(d)
    except (IOError, OSError):
        return out
    for n in names:
        try:
            target = os.readlink(os.path.join(d, n))
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(int(target[8:-1]))
    return out


def tcp_sockets(proc="/proc"):
    """Rows of /proc/net/tcp and tcp6: local_port, remote_port, state, inode."""
    rows = []
    for name in ("tcp", "tcp6"):
        try:
            lines = _read("%s/net/%s" % (proc, name)).splitlines()[1:]
        except (IOError, OSError):
            continue
        for line in lines:
            f = line.split()
            if len(f) < 10:
                continue
            try:
                rows.append({
                    "family": name,
                    "local_port": int(f[1].rsplit(":", 1)[1], 16),
                    "remote_port": int(f[2].rsplit(":", 1)[1], 16),
                    "state": f[3].upper(),
                    "inode": int(f[9]),
                })
            except (IndexError, ValueError):
                continue
    return rows


def established_on_port(port, rows=None, proc="/proc"):
    """Established TCP connections whose local port is ``port`` (server side)."""
    rows = tcp_sockets(proc) if rows is None else rows
    return sum(1 for r in rows if r["state"] == TCP_ESTABLISHED and r["local_port"] == port)


def listening_ports(pid, proc="/proc"):
    inodes = socket_inodes(pid, proc)
    return sorted(set(r["local_port"] for r in tcp_sockets(proc)
                      if r["state"] == TCP_LISTEN and r["inode"] in inodes))


def listener_pid(port, proc="/proc"):
    """The process listening on TCP ``port`` (the topmost one if several share it)."""
    inodes = set(r["inode"] for r in tcp_sockets(proc)
                 if r["state"] == TCP_LISTEN and r["local_port"] == port)
    if not inodes:
        return None
    owners = [pid for pid in proc_table(proc) if socket_inodes(pid, proc) & inodes]
    if not owners:
        return None
    table = proc_table(proc)
    tops = [p for p in owners if table.get(p, {}).get("ppid") not in owners]
    return min(tops or owners, key=lambda p: (table.get(p, {}).get("starttime", 0), p))


def read_pidfile(path):
    try:
        text = _read(path).strip()
    except (IOError, OSError) as e:
        raise ProcError("cannot read server_pidfile %s: %s" % (path, e.strerror))
    try:
        pid = int(text.split()[0])
    except (IndexError, ValueError):
        raise ProcError("server_pidfile %s does not hold a pid (%r)" % (path, text[:40]))
    return pid


def resolve_server(pid=None, pidfile=None, port=None, proc="/proc"):
    """Find the server process; returns {"pid", "starttime", "ports", "found_by"}."""
    if pidfile:
        pid, how = read_pidfile(pidfile), "server_pidfile %s" % pidfile
    elif pid is not None:
        how = "server_pid"
    elif port is not None:
        pid, how = listener_pid(port, proc), "server_port %d" % port
        if pid is None:
            raise ProcError("no process is listening on TCP port %d on this host" % port)
    else:
        return None
    if pid <= 1 or not proc_alive(pid):
        raise ProcError("server process %d (from %s) is not running on this host" % (pid, how))
    ports = listening_ports(pid, proc)
    if port is not None and port not in ports:
        ports = sorted(set(ports) | set([port]))
    return {"pid": pid, "starttime": proc_starttime(pid), "ports": ports, "found_by": how,
            "cmdline": cmdline(pid, proc)}


def workers(server, table, proc="/proc"):
    """Descendants of the server (tree) and later members of its own session."""
    pid = server["pid"]
    me = table.get(pid)
    if me is None:
        return []
    children = {}
    for st in table.values():
        children.setdefault(st["ppid"], []).append(st["pid"])
    found, todo = {}, list(children.get(pid, []))
    while todo:
        p = todo.pop()
        if p in found:
            continue
        found[p] = "tree"
        todo.extend(children.get(p, []))
    sid = me["sid"]
    owns_session = sid == pid or sid not in table
    if owns_session:
        for st in table.values():
            if st["sid"] == sid and st["pid"] != pid and st["pid"] not in found \
                    and st["starttime"] >= me["starttime"]:
                found[st["pid"]] = "session"
    out = []
    for p in sorted(found):
        st = table[p]
        out.append({"pid": p, "ppid": st["ppid"], "starttime": st["starttime"],
                    "state": st["state"], "via": found[p], "rss_kb": st["rss_kb"]})
    return out


def snapshot(server, port=None, with_cmdline=True, proc="/proc"):
    """One sample of the server's resources."""
    table = proc_table(proc)
    me = table.get(server["pid"])
    alive = me is not None and me["starttime"] == server["starttime"] and me["state"] != "Z"
    procs = workers(server, table, proc) if alive else []
    if with_cmdline:
        for p in procs:
            p["cmdline"] = cmdline(p["pid"], proc)
    server_fds = fd_count(server["pid"], proc) if alive else 0
    return {
        "alive": alive,
        "server_rss_kb": me["rss_kb"] if alive else 0,
        "rss_kb": (me["rss_kb"] if alive else 0) + sum(p["rss_kb"] for p in procs),
        "server_fds": server_fds,
        "fds": server_fds + sum(fd_count(p["pid"], proc) for p in procs),
        "processes": procs,
        "process_count": len(procs),
        "established": established_on_port(port, proc=proc) if port else None,
    }

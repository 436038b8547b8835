# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side resource sampling of a WebSocket server (reads /proc through ``_engine/procfs.py``).

A *server* is a process identity ``{"pid", "starttime"}`` (so a recycled pid
is never mistaken for it).  Its *workers* are its descendants in the process
tree plus, when the server owns its session (it is the session leader, or the
leader has exited, as after ``start-stop-daemon --background``), every later
process of that session: a handler that double-forks an "agent" re-parents it
to init, but cannot leave the session without calling setsid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    proc_alive, proc_starttime,
)

ProcError = procfs.ProcfsError


def listener_pid(port, proc=procfs.PROC):
    """The process listening on TCP ``port`` (the topmost one if several share it)."""
    owners = procfs.listening_pids(port, proc_root=proc)
    if not owners:
        return None
    table = procfs.proc_table(proc)
    tops = [p for p in owners if table.get(p, {}).get("ppid") not in owners]
    return min(tops or owners, key=lambda p: (table.get(p, {}).get("starttime", 0), p))


def resolve_server(pid=None, pidfile=None, port=None, proc=procfs.PROC):
    """Find the server process; returns {"pid", "starttime", "ports", "found_by"}."""
    if pidfile:
        pid, how = procfs.read_pidfile(pidfile, "server_pidfile"), "server_pidfile %s" % pidfile
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
    ports = procfs.listening_ports(pid, proc)
    if port is not None and port not in ports:
        ports = sorted(set(ports) | set([port]))
    return {"pid": pid, "starttime": proc_starttime(pid), "ports": ports, "found_by": how,
            "cmdline": procfs.command_text(pid, proc)}


def workers(server, table, proc=procfs.PROC):
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


def snapshot(server, port=None, with_cmdline=True, proc=procfs.PROC):
    """One sample of the server's resources."""
    table = procfs.proc_table(proc)
    me = table.get(server["pid"])
    alive = me is not None and me["starttime"] == server["starttime"] and me["state"] != "Z"
    procs = workers(server, table, proc) if alive else []
    if with_cmdline:
        for p in procs:
            p["cmdline"] = procfs.command_text(p["pid"], proc)
    server_fds = procfs.fd_count(server["pid"], proc) if alive else 0
    return {
        "alive": alive,
        "server_rss_kb": me["rss_kb"] if alive else 0,
        "rss_kb": (me["rss_kb"] if alive else 0) + sum(p["rss_kb"] for p in procs),
        "server_fds": server_fds,
        "fds": server_fds + sum(procfs.fd_count(p["pid"], proc) for p in procs),
        "processes": procs,
        "process_count": len(procs),
        "established": procfs.established_on_port(port, proc_root=proc) if port else None,
    }

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Process faults: kill, terminate, pause/resume, stop/start, restart.

Everything here is plain Python over ``/proc`` so it can be unit-tested with a
fake ``proc_root``.  Targets are always carried as *identities*
``{"pid", "starttime"}`` (see ``runtime.proc_identity``): the runtime's
``signal``/``wait_exit`` ops check the start time, so a recycled pid is never
signalled.

Two planners:

``ProcessFault``      what ``faultline.chaos.process`` drives (kill, term,
                      pause, stop).
``ServiceStopFault``  "stop the service, start it again at the end", used by
                      ``faultline.chaos.network`` for ``type: service``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import Fault
from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.procfs import (
    PROC, ancestry, cmdline, describe, list_pids, listening_pids, read_pidfile, socket_owners, tcp_sockets,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    DEFAULT_STATE_DIR, EngineError, has_systemd, is_supervisor_cmdline, proc_starttime, run_action,
    signal_action, spawn_action, subprocess_runner, wait_exit_action, wait_port_action,
)


class NotFound(EngineError):
    """No process matches the target (a distinct case for ``restarted``)."""


def ssh_session_pids(environ=None, proc_root=PROC):
    """sshd processes serving the controller's session ($SSH_CONNECTION)."""
    environ = os.environ if environ is None else environ
    conn = (environ.get("SSH_CONNECTION") or "").split()
    if len(conn) != 4:
        return []
    client, cport, server, sport = conn[0], int(conn[1]), conn[2], int(conn[3])

    def same(a, b):
        return a == b or a.endswith(":" + b) or b.endswith(":" + a)

    inodes = [r["inode"] for r in tcp_sockets(proc_root)
              if r["local"][1] == sport and r["remote"][1] == cport
              and same(r["local"][0], server) and same(r["remote"][0], client)]
    return socket_owners(inodes, proc_root)


def faultline_pids(state_dirs=(), proc_root=PROC):
    """pids of the collection's own processes, which a process fault never touches.

    Supervisors of any ledger, by their command line (``<state_dir>/supervisor.py
    --state-dir ... --id ...``), and the running background workers (probes,
    data generators) of ``state_dirs`` and the default ledger, by their meta
    (pid and start time).
    """
    out = set()
    for pid in list_pids(proc_root):
        if is_supervisor_cmdline(cmdline(pid, proc_root)):
            out.add(pid)
    for sd in set(list(state_dirs) + [DEFAULT_STATE_DIR]) if proc_root == PROC else ():
        if not sd:
            continue
        try:
            for meta in background.list_workers(sd):
                if meta.get("running"):
                    out.add(int(meta["pid"]))
        except (OSError, EngineError):
            continue
    return out


# --------------------------------------------------------------------------
# target resolution and refusals
# --------------------------------------------------------------------------

def find_targets(params, proc_root=PROC, environ=None):
    """Resolve pid / pidfile / port / match to a list of process descriptions.

    Raises EngineError with a user message for: nothing found, an ambiguous
    match without ``allow_multiple``, PID 1, our own ancestry, the sshd of the
    controller's session.
    """
    mine = set(ancestry(proc_root=proc_root))
    ours = faultline_pids([params.get("state_dir")], proc_root)
    if params.get("pid") is not None:
        pids = [int(params["pid"])]
        if procfs.stat(pids[0], proc_root) is None:
            raise NotFound("no process with pid %d" % pids[0])
        how = "pid %d" % pids[0]
    elif params.get("pidfile"):
        if not os.path.exists(params["pidfile"]):
            raise NotFound("pidfile %s does not exist" % params["pidfile"])
        pids = [read_pidfile(params["pidfile"])]
        if procfs.stat(pids[0], proc_root) is None:
            raise NotFound("pidfile %s names pid %d, which is not running" % (params["pidfile"], pids[0]))
        how = "pidfile %s" % params["pidfile"]
    elif params.get("port") is not None:
        pids = listening_pids(params["port"], params.get("host"), proc_root)
        how = "listening port %s" % params["port"]
        if not pids:
            raise NotFound("no process listens on TCP port %s" % params["port"])
    elif params.get("match"):
        try:
            rx = re.compile(params["match"])
        except re.error as e:
            raise EngineError("match is not a valid regular expression: %s" % e)
        pids = []
        for pid in list_pids(proc_root):
            if pid in mine or pid in ours:
                continue  # never our own ancestry (the play's command line) nor a faultline supervisor/worker
            argv = cmdline(pid, proc_root)
            if argv and rx.search(" ".join(argv)):
                pids.append(pid)
        how = "match %r" % params["match"]
        if not pids:
            raise NotFound("no process command line matches %r" % params["match"])
    elif params.get("unit") and has_systemd():
        rc, out, err = subprocess_runner(["systemctl", "show", "-p", "MainPID", "--value", params["unit"]])
        pid = int(out.strip() or 0) if rc == 0 and out.strip().isdigit() else 0
        if not pid:
            raise NotFound("unit %s has no running main process" % params["unit"])
        pids, how = [pid], "unit %s" % params["unit"]
    else:
        raise EngineError("one of pid, pidfile, port, match (or unit on a systemd host) is required")
    found = [describe(p, proc_root) for p in pids]
    if len(found) > 1 and not params.get("allow_multiple"):
        raise EngineError("%s hits %d processes (%s); set allow_multiple: true to target them all" % (
            how, len(found), ", ".join("%d %s" % (t["pid"], " ".join(t["cmdline"])[:60]) for t in found)))
    refuse(found, proc_root=proc_root, environ=environ, mine=mine, ours=ours)
    return found


def refuse(targets, proc_root=PROC, environ=None, mine=None, ours=None):
    mine = set(ancestry(proc_root=proc_root)) if mine is None else mine
    ours = faultline_pids(proc_root=proc_root) if ours is None else ours
    ssh = set(ssh_session_pids(environ, proc_root))
    for t in targets:
        pid = t["pid"]
        if pid <= 1:
            raise EngineError("refusing to touch PID %d (init)" % pid)
        if pid in mine:
            raise EngineError("refusing to touch pid %d: it is this module's own ancestry" % pid)
        if pid in ssh:
            raise EngineError("refusing to touch pid %d: it serves the controller's SSH session" % pid)
        if pid in ours:
            raise EngineError("refusing to touch pid %d: it is a faultline supervisor or worker "
                              "(it reverts faults; stop it with faultline.chaos.restore)" % pid)


def idents(targets):
    return [{"pid": t["pid"], "starttime": t.get("starttime")} for t in targets]


# --------------------------------------------------------------------------
# action builders (shared by both planners)
# --------------------------------------------------------------------------

def stop_actions(targets, sig="SIGTERM", timeout=30.0, kill_after=True):
    acts = []
    for t in idents(targets):
        acts.append(signal_action(t, sig))
    for t in idents(targets):
        acts.append(wait_exit_action(t, timeout, kill_after))
    return acts


def start_actions(unit=None, start_argv=None, port=None, host=None, timeout=60.0,
                  not_while=None, log=None):
    """Start a service again: systemd unit where present, else spawn argv."""
    acts = []
    if unit and has_systemd():
        acts.append(run_action(["systemctl", "start", unit]))
    elif start_argv:
        acts.append(spawn_action(start_argv, unless_alive=idents(not_while or []), log=log))
    else:
        return []
    if port:
        acts.append(wait_port_action(port, host or "127.0.0.1", timeout))
    return acts


# --------------------------------------------------------------------------
# planners
# --------------------------------------------------------------------------

STATE_SIGNAL = {"killed": "SIGKILL", "terminated": "SIGTERM", "stopped": "SIGTERM", "paused": "SIGSTOP"}
TARGET_KEYS = ("pid", "pidfile", "port", "host", "match", "unit")


class ProcessFault(Fault):
    """kill / term / pause / stop of resolved ``targets``.

    params: state (killed|terminated|paused|stopped), targets (from
    :func:`find_targets`), the target spec (pid/pidfile/port/match/unit),
    start_argv/unit/port/host/timeout/start_timeout/start_log.
    """

    kind = "process"

    def identity(self):
        p = self.params
        ident = dict((k, p.get(k)) for k in TARGET_KEYS if p.get(k) is not None)
        ident["state"] = p["state"]
        if p.get("start_argv"):
            ident["start_argv"] = list(p["start_argv"])
        return ident

    def resolve(self, engine=None):
        """The processes to act on: those of the active fault (a renewal keeps
        its targets), else found now by :func:`find_targets`."""
        if self.params.get("targets") is None:
            existing = engine.active(self.fault_id) if engine is not None else None
            self.params["targets"] = existing["params"]["targets"] if existing else find_targets(self.params)
        return self.params["targets"]

    def plan(self):
        p = self.params
        state, targets = p["state"], self.resolve()
        if state not in STATE_SIGNAL:
            raise EngineError("ProcessFault cannot plan state %r" % state)
        timeout = float(p.get("timeout") or 30.0)
        names = ", ".join("%d (%s)" % (t["pid"], os.path.basename((t.get("cmdline") or ["?"])[0]))
                          for t in targets)
        restart = start_actions(unit=p.get("unit"), start_argv=p.get("start_argv"), port=p.get("port"),
                                host=p.get("host"), timeout=float(p.get("start_timeout") or 60.0),
                                not_while=targets, log=p.get("start_log"))
        if state == "paused":
            apply = [signal_action(t, "SIGSTOP") for t in targets]
            revert = [signal_action(t, "SIGCONT") for t in targets]
        elif state == "killed":
            apply = stop_actions(targets, "SIGKILL", timeout, kill_after=False)
            revert = restart
        elif state == "terminated":
            apply = stop_actions(targets, "SIGTERM", timeout, kill_after=False)
            revert = restart
        else:  # stopped: graceful with a KILL fallback, then started again at the end
            if p.get("unit") and has_systemd():
                apply = [run_action(["systemctl", "stop", p["unit"]])]
            else:
                apply = stop_actions(targets, "SIGTERM", timeout, kill_after=True)
            revert = restart
        summary = "%s %s" % (state, names)
        if revert and state != "paused":
            summary += "; started again at the end"
        preview = "\n".join(["%s pid %d starttime %s: %s" % (STATE_SIGNAL[state], t["pid"], t.get("starttime"),
                                                             " ".join(t.get("cmdline") or []))
                             for t in targets])
        return dict(type=state, summary=summary, apply=apply, revert=revert, preview=preview,
                    params=dict(self.identity(), targets=targets))


class ServiceStopFault(Fault):
    """Stop a service and start it again at the end (network ``type: service``).

    params: ``service_unit`` (systemd, used when /run/systemd/system exists)
    or ``service_pidfile`` + ``service_start`` (argv list); optional
    ``service_port`` / ``service_host`` to wait for after the start,
    ``service_timeout`` (seconds for TERM before KILL, default 30),
    ``service_start_timeout`` (default 60), ``service_log`` (spawned stdio).

    apply = TERM + wait_exit (KILL fallback); revert = spawn + wait_port.
    The pidfile is read at plan time; its (pid, starttime) identity goes into
    the actions, so a recycled pid is never signalled.
    """

    kind = "network"
    fault_type = "service"

    def identity(self):
        p = self.params
        keys = ("service_unit", "service_pidfile", "service_start", "service_port", "service_host")
        return dict((k, p.get(k)) for k in keys if p.get(k) is not None)

    def resolve(self, engine=None):
        """The service process from ``service_pidfile`` (none when systemd stops
        the unit); a renewal keeps the targets of the active fault."""
        p = self.params
        if p.get("targets") is not None:
            return p["targets"]
        existing = engine.active(self.fault_id) if engine is not None else None
        if existing:
            p["targets"] = (existing.get("params") or {}).get("targets") or []
        elif p.get("service_unit") and has_systemd():
            p["targets"] = []
        else:
            if not p.get("service_pidfile") or not p.get("service_start"):
                raise EngineError("type service needs service_unit (on a systemd host) or "
                                  "service_pidfile and service_start")
            if not isinstance(p["service_start"], (list, tuple)) or not p["service_start"]:
                raise EngineError("service_start must be a non-empty argv list")
            pid = read_pidfile(p["service_pidfile"])
            if proc_starttime(pid) is None:
                raise EngineError("pidfile %s names pid %d, which is not running" % (p["service_pidfile"], pid))
            targets = [describe(pid)]
            refuse(targets)
            p["targets"] = targets
        return p["targets"]

    def plan(self):
        p = self.params
        unit = p.get("service_unit")
        port, host = p.get("service_port"), p.get("service_host") or "127.0.0.1"
        timeout = float(p.get("service_timeout") or 30.0)
        start_timeout = float(p.get("service_start_timeout") or 60.0)
        targets = self.resolve()
        if unit and has_systemd():
            apply = [run_action(["systemctl", "stop", unit])]
            revert = start_actions(unit=unit, port=port, host=host, timeout=start_timeout)
            what = "unit %s" % unit
        else:
            apply = stop_actions(targets, "SIGTERM", timeout, kill_after=True)
            revert = start_actions(start_argv=p["service_start"], port=port, host=host,
                                   timeout=start_timeout, not_while=targets, log=p.get("service_log"))
            what = "pid %d (%s)" % (targets[0]["pid"],
                                    os.path.basename(targets[0]["cmdline"][0] if targets[0]["cmdline"] else "?"))
        summary = "service %s stopped; started again at the end" % what
        return dict(type=self.fault_type, summary=summary, apply=apply, revert=revert,
                    preview="stop %s, then start %s" % (what, " ".join(p.get("service_start") or [unit or ""])),
                    params=dict(self.identity(), targets=targets))

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault engine's runtime: ledger, action interpreter and supervisor.

This file is deliberately standalone (standard library only, no imports from
the collection).  Modules import it like any module_utils file; the supervisor
copies *this very source* into the state directory and executes it there, so
the dead-man switch keeps working after Ansible deletes the module payload and
after the controller, its SSH connection or the play has died.

Vocabulary
----------
ledger      A state directory on the target (default /run/faultline, tmpfs):
            ``faults/<id>.json`` one record per active fault, ``journal.jsonl``
            every event, ``lock`` a flock serialising writers.
record      A JSON document describing one fault: what to do to apply it and
            to revert it (as *actions*), its schedule and its lease.
action      A small dict interpreted by :func:`execute`: ``run`` (argv list),
            ``signal`` (pid + start time, so a recycled pid is never hit),
            ``wait_exit``, ``spawn`` (start a detached service), ``wait_port``,
            ``copy`` (atomic, sha256-verified file restore), ``corrupt``
            (truncate/garbage/bitflip/delete a file), ``nft_gc``.
supervisor  A detached process per fault that runs the schedule on the
            monotonic clock and reverts at the deadline; SIGTERM reverts now.
            It holds ``locks/<id>.lock`` (flock) for its whole life: one
            supervisor per fault, and "is it alive" is a lock test.
states      A record is ``scheduled`` (``start_at`` not reached, nothing
            applied), ``active`` or ``revert_failed`` (revert tried, failed,
            kept with its errors and retried); a reverted fault has no record.
reaper      :func:`reap`, run at the start of every module: reverts overdue
            faults whose supervisor is gone, restarts the missing supervisor
            of the others.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import json
import math
import os
import select
import signal
import stat
import subprocess
import sys
import time

# hashlib, shutil and socket are imported where they are used: the supervisor
# (this file, started for every fault) needs none of them to hold and revert a
# rule, and each costs milliseconds of its start.

DEFAULT_STATE_DIR = "/run/faultline"
DEFAULT_LEASE = 3600.0
SUPERVISOR_SCRIPT = "supervisor.py"   # the program: a stub that imports the runtime copy below
SUPERVISOR_RUNTIME = "faultline_runtime"  # this file, copied into the state dir, run from cached bytecode
SUPERVISOR_STUB = """# faultline.chaos supervisor: runs the copy of the collection's runtime next to it
# as a module, from its bytecode in __pycache__ (a script is compiled on every start)
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import faultline_runtime  # noqa: E402

sys.exit(faultline_runtime.main())
"""
START_TOLERANCE = 2.0       # seconds a start_at may lie in the past
START_MAX_AHEAD = 86400.0   # ... and at most this far in the future
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # backoff of a failed revert (seconds)
LOCK_GRAB = 2.0             # seconds a new supervisor tries for its fault lock
SUPERVISOR_POLL = 0.05  # seconds between looks at the record while waiting
SUPERVISOR_NICE = -5    # schedule transitions before ordinary work (root only)
# Root: while a start_at or a flap schedule runs, the supervisor runs SCHED_FIFO
# at this priority (reset on fork: services it starts run as usual) and its nft
# session one below, so the supervisor can always preempt (and kill) a session
# that spins; a busy host delays neither.  Reverts (a binlog restore hashes whole
# files) run at the normal policy.
SUPERVISOR_RT_PRIORITY = 10
HOUSEKEEPING_OPS = ("nft_gc", "ns_unpin")  # end-of-fault steps, not on a flap's clock
# Crash-consistency tests only: "<role>:<n>" makes the n-th crash point reached by
# a process of that role ("module" or "supervisor") SIGKILL itself, with no
# clean-up of any kind.  Crash points: before every action, before the
# supervisor is spawned, between a revert and the deletion of its record.
CRASH_ENV = "FAULTLINE_TEST_CRASH_AT"
_CRASH = {"role": "module", "count": 0}

SIGNALS = {
    "SIGKILL": signal.SIGKILL,
    "SIGTERM": signal.SIGTERM,
    "SIGSTOP": signal.SIGSTOP,
    "SIGCONT": signal.SIGCONT,
    "SIGHUP": signal.SIGHUP,
    "SIGINT": signal.SIGINT,
}


class EngineError(Exception):
    """An error with a message meant for the user (no traceback)."""


def check_trusted(path, kind="directory"):
    """Refuse a state directory (or a file in it) that another user could change.

    Root runs the supervisor script copied into the state directory and the
    revert actions its records hold, so the directory, every directory above
    it and the file must belong to the executing user or root and must not be
    writable by group or others (a sticky directory such as /tmp is fine above
    it); the path itself must not be a symbolic link.  A missing path passes
    (it is created 0700).
    """
    trusted = (0, os.geteuid())
    path = os.path.abspath(path)
    try:
        lst = os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return
        raise EngineError("cannot check %s %s: %s" % (kind, path, e.strerror))
    if stat.S_ISLNK(lst.st_mode):
        raise EngineError("%s %s is a symbolic link: refusing to use it (root executes from the state "
                          "directory); give its real path as state_dir" % (kind, path))
    want = stat.S_ISDIR if kind == "directory" else stat.S_ISREG
    if not want(lst.st_mode):
        what = "directory" if kind == "directory" else "regular file"
        raise EngineError("%s %s is not a %s: refusing to use it" % (kind, path, what))
    if lst.st_uid not in trusted or lst.st_mode & 0o022:
        raise EngineError("%s %s is owned by uid %d with mode %04o: it must belong to uid %d (or root) and not be "
                          "writable by group or others, since root executes from the state directory; fix it "
                          "(chown, chmod 700) or choose another state_dir"
                          % (kind, path, lst.st_uid, stat.S_IMODE(lst.st_mode), os.geteuid()))
    parent = os.path.dirname(path)
    while True:
        lst, st = os.lstat(parent), os.stat(parent)
        if (stat.S_ISLNK(lst.st_mode) and lst.st_uid not in trusted) or st.st_uid not in trusted or (
                st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            raise EngineError("%s %s lies under %s, which another user can change (uid %d, mode %04o): "
                              "refusing to use it; choose another state_dir"
                              % (kind, path, parent, st.st_uid, stat.S_IMODE(st.st_mode)))
        if parent == os.path.dirname(parent):
            return
        parent = os.path.dirname(parent)


class RecordUnreadable(EngineError):
    """A record file exists but cannot be read or parsed."""


# --------------------------------------------------------------------------
# events
# --------------------------------------------------------------------------

def _hostname():
    """socket.gethostname() without importing socket (both are uname's nodename on Linux)."""
    return os.uname()[1]


def make_event(source, ident, event, detail=None, host=None, ts=None):
    """The one event shape of DESIGN.md section 3."""
    return {
        "ts": time.time() if ts is None else ts,
        "host": host or _hostname(),
        "source": source,
        "id": ident,
        "event": event,
        "detail": detail if detail is not None else {},
    }


# --------------------------------------------------------------------------
# processes: identity that survives pid reuse
# --------------------------------------------------------------------------

# The minimum the supervisor needs from /proc (it runs without the collection);
# everything else about processes and sockets is in module_utils/_engine/procfs.py,
# built on these readers.
PROC = "/proc"


def proc_stat_fields(pid, proc_root=PROC):
    """Fields of /proc/<pid>/stat after the command name (state first), or None if gone."""
    try:
        with open("%s/%d/stat" % (proc_root, int(pid)), "r") as f:
            data = f.read()
    except (IOError, OSError, ValueError):
        return None
    # comm may contain spaces and parentheses: split after the last ')'
    return data.rsplit(")", 1)[-1].split()


def proc_starttime(pid):
    """Start time of ``pid`` in clock ticks since boot, or None if gone."""
    fields = proc_stat_fields(pid)
    try:
        return int(fields[19])
    except (TypeError, IndexError, ValueError):
        return None


def proc_state(pid):
    """Single-letter state (R, S, T, Z ...) of ``pid`` or None."""
    fields = proc_stat_fields(pid)
    return fields[0] if fields else None


def proc_alive(pid, starttime=None):
    """True if ``pid`` runs (not a zombie) and, if given, started at ``starttime``."""
    st = proc_starttime(pid)
    if st is None:
        return False
    if starttime is not None and st != starttime:
        return False
    return proc_state(pid) != "Z"


def proc_cmdline(pid, proc_root=PROC):
    """argv of ``pid`` as a list (empty for kernel threads and gone processes)."""
    try:
        with open("%s/%d/cmdline" % (proc_root, int(pid)), "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except (IOError, OSError, ValueError):
        return []


def proc_identity(pid):
    return {"pid": int(pid), "starttime": proc_starttime(pid)}


# --------------------------------------------------------------------------
# ledger
# --------------------------------------------------------------------------

class Ledger(object):
    """Records of active faults and the event journal, on the target."""

    def __init__(self, state_dir=DEFAULT_STATE_DIR, host=None):
        self.state_dir = state_dir
        self.faults_dir = os.path.join(state_dir, "faults")
        self.journal_path = os.path.join(state_dir, "journal.jsonl")
        self.lock_path = os.path.join(state_dir, "lock")
        self.host = host or _hostname()
        self._lock_fd = None
        self._depth = 0
        self._checked = False

    # -- set-up ---------------------------------------------------------
    def ensure(self):
        if self._checked:
            return self
        for d in (self.state_dir, self.faults_dir):
            try:
                os.makedirs(d, 0o700)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise EngineError("cannot create state directory %s: %s" % (d, e.strerror))
        return self.check()

    def check(self):
        """Refuse a state directory another user could write (see check_trusted)."""
        check_trusted(self.state_dir)
        check_trusted(self.faults_dir)
        # once ours and private, nobody else can change that: check once
        self._checked = os.path.isdir(self.faults_dir)
        return self

    def exists(self):
        return os.path.isdir(self.faults_dir)

    # -- locking (re-entrant within one process) ------------------------
    def __enter__(self):
        if self._depth == 0:
            self.ensure()
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0 and self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        return False

    # -- records ----------------------------------------------------------
    def _path(self, fault_id):
        if not fault_id or "/" in fault_id or fault_id.startswith("."):
            raise EngineError("invalid fault id %r" % (fault_id,))
        return os.path.join(self.faults_dir, fault_id + ".json")

    def get(self, fault_id):
        """The record, or None when it is missing *or unreadable* (see :meth:`read`)."""
        try:
            return self.read(fault_id)
        except RecordUnreadable:
            return None

    def read(self, fault_id):
        """The record or None when there is none; raises RecordUnreadable when
        the file exists but cannot be read or parsed (never 'reverted elsewhere')."""
        path = self._path(fault_id)
        try:
            with open(path, "r") as f:
                rec = json.load(f)
        except (IOError, OSError) as e:
            if e.errno == errno.ENOENT:
                return None
            raise RecordUnreadable("record %s is unreadable: %s" % (path, e))
        except ValueError as e:
            raise RecordUnreadable("record %s is unreadable: %s" % (path, e))
        if not isinstance(rec, dict) or rec.get("id") != fault_id:
            raise RecordUnreadable("record %s is not a fault record" % path)
        return rec

    def unreadable(self):
        """Ids of record files that exist but cannot be parsed."""
        out = []
        if not os.path.isdir(self.faults_dir):
            return out
        for name in sorted(os.listdir(self.faults_dir)):
            if name.endswith(".json"):
                try:
                    self.read(name[:-5])
                except RecordUnreadable:
                    out.append(name[:-5])
        return out

    def put(self, record):
        self.ensure()
        path = self._path(record["id"])
        tmp = "%s.tmp.%d" % (path, os.getpid())
        with open(tmp, "w") as f:
            json.dump(record, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, path)

    def delete(self, fault_id):
        try:
            os.unlink(self._path(fault_id))
            return True
        except OSError:
            return False

    def list(self):
        if not os.path.isdir(self.faults_dir):
            return []
        out = []
        for name in sorted(os.listdir(self.faults_dir)):
            if not name.endswith(".json"):
                continue
            rec = self.get(name[:-5])
            if rec is not None:
                out.append(rec)
        return out

    # -- journal --------------------------------------------------------
    def journal(self, fault_id, event, detail=None, source="fault", ts=None):
        ev = make_event(source, fault_id, event, detail, host=self.host, ts=ts)
        self.ensure()
        line = json.dumps(ev, sort_keys=True) + "\n"
        fd = os.open(self.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return ev

    def events(self, fault_id=None, since=None):
        out = []
        try:
            with open(self.journal_path, "r") as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if fault_id is not None and ev.get("id") != fault_id:
                        continue
                    if since is not None and ev.get("ts", 0) < since:
                        continue
                    out.append(ev)
        except (IOError, OSError):
            pass
        return out


# --------------------------------------------------------------------------
# actions
# --------------------------------------------------------------------------

def subprocess_runner(argv, data=None):
    """Default command runner: argv list, never a shell. Returns (rc, out, err)."""
    try:
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, close_fds=True)
    except OSError as e:
        return 127, "", "%s: %s" % (argv[0], e.strerror)
    out, err = p.communicate(data.encode("utf-8") if data is not None else None)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# one long-lived `nft -i` per namespace: rule changes without a process each
# --------------------------------------------------------------------------

NFT_SESSION_TIMEOUT = 2.0   # seconds a session may take to answer before it is killed
NFT_SESSION_GIVE_UP = 3     # sessions in a row that never answered: this nft cannot (no -i), stop trying
# a script longer than this runs as its own process: a line always fits into the pipe
# (64 KiB), so writing it never blocks even when the child hangs
NFT_SESSION_MAX_LINE = 32768
NFT_SESSION_ENV = "FAULTLINE_NFT_SESSION"  # "0": every nft script runs as its own process (benchmarks)
_NFT_SCRIPT = ("nft", "-f", "-")


def set_realtime(pid, priority, reset_on_fork=False):
    """SCHED_FIFO at ``priority`` for ``pid`` (0: this process); False where not allowed."""
    try:
        policy = os.SCHED_FIFO | (os.SCHED_RESET_ON_FORK if reset_on_fork else 0)
        os.sched_setscheduler(pid, policy, os.sched_param(priority))
        return True
    except (AttributeError, OSError):
        return False


def set_normal(pid=0):
    """Back to the normal policy (SCHED_OTHER) for ``pid`` (0: this process); False where not allowed."""
    try:
        os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        return True
    except (AttributeError, OSError):
        return False


def is_realtime():
    try:
        return os.sched_getscheduler(0) & ~getattr(os, "SCHED_RESET_ON_FORK", 0) == os.SCHED_FIFO
    except (AttributeError, OSError):
        return False


class NftSession(object):
    """One ``nft -i`` child fed rule scripts on stdin (``<prefix> nft -i``).

    Starting ``nft`` for every rule change costs ~5-25 ms (exec, library
    load, cache); a session answers in well under a millisecond plus the
    kernel's own work.  Protocol: the script goes on *one* line (its newline
    separated commands joined with ``;``, which nft parses as the same
    single transaction as ``nft -f``), followed by a marker line that is a
    syntax error naming this command's sequence number.  nft reports errors
    on stderr in order, so everything on stderr before the marker's echo
    belongs to the script.  stdout is discarded (write commands print nothing).

    :meth:`run` returns ``(rc, out, err)`` like :func:`subprocess_runner`, or
    None when the session cannot answer (it could not start, died, did not
    answer within ``timeout``, or the script does not fit on one line): the
    caller then runs a fresh ``nft -f -``.  A session that failed once is
    killed (by pid) and reaped; the next call starts a new one.  After
    NFT_SESSION_GIVE_UP sessions in a row that never answered (an nft built
    without its interactive mode) no more are started.
    """

    def __init__(self, prefix=(), timeout=NFT_SESSION_TIMEOUT, popen=None):
        self.prefix = list(prefix)
        self.timeout = float(timeout)
        self._popen = popen or subprocess.Popen
        self.proc = None
        self.seq = 0
        self._buf = b""
        self._answered = False   # the current child has answered at least once
        self.dead_starts = 0     # children in a row that never answered

    @staticmethod
    def one_line(script):
        """The script as one nft input line, or None when it cannot be one."""
        lines = [ln.strip() for ln in (script or "").splitlines()]
        lines = [ln for ln in lines if ln]
        # a comment would swallow the rest of the line, a backslash join it to the next
        if not lines or any("#" in ln or "\\" in ln for ln in lines):
            return None
        line = "; ".join(ln.rstrip(";") for ln in lines)
        return line if len(line.encode("utf-8")) <= NFT_SESSION_MAX_LINE else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        if self.alive():
            return True
        self.close()
        if self.dead_starts >= NFT_SESSION_GIVE_UP:
            return False
        self._answered = False
        try:
            self.proc = self._popen(self.prefix + ["nft", "-i"], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, close_fds=True)
        except OSError:
            self.proc = None
            return False
        self._buf = b""
        if is_realtime():
            # below its real-time parent, which must stay able to preempt and kill it
            set_realtime(self.proc.pid, max(1, os.sched_getparam(0).sched_priority - 1))
        return True

    def ping(self):
        """Start the session (if needed) and wait for it to answer: True when it did."""
        return self._exchange("") is not None

    def run(self, script):
        line = self.one_line(script)
        if line is None:
            return None
        err = self._exchange(line)
        if err is None:
            return None
        rc = 1 if any(ln.startswith("Error") for ln in err.splitlines()) else 0
        return rc, "", err

    def _exchange(self, line):
        """Send ``line`` and the marker; the stderr text before the marker, or None."""
        if not self.start():
            return None
        self.seq += 1
        marker = "@@faultline-%d-%d" % (os.getpid(), self.seq)
        payload = (line + "\n" if line else "") + marker + "\n"
        try:
            os.write(self.proc.stdin.fileno(), payload.encode("utf-8"))
        except (OSError, ValueError):
            self.close()
            return None
        want = ("\n" + marker + "\n").encode("utf-8")
        fd = self.proc.stderr.fileno()
        end = time.monotonic() + self.timeout
        while True:
            buf = b"\n" + self._buf
            at = buf.find(want)
            if at >= 0:
                # the caret line nft prints under the marker ends the reply
                after = buf.find(b"\n", at + len(want))
                if after >= 0:
                    before = buf[1:at + 1]  # up to the marker's "Error: syntax error" line
                    self._buf = buf[after + 1:]
                    self._answered, self.dead_starts = True, 0
                    text = before.decode("utf-8", "replace").splitlines()
                    return "\n".join(text[:-1]) + ("\n" if len(text) > 1 else "")
            left = end - time.monotonic()
            if left <= 0:
                self.close()
                return None
            try:
                ready, _w, _x = select.select([fd], [], [], left)
                chunk = os.read(fd, 65536) if ready else None
            except OSError:
                chunk = b""
            if chunk == b"":
                self.close()  # the child died
                return None
            if chunk:
                self._buf += chunk

    def close(self):
        """End the child: EOF first, then SIGKILL by pid; always reaped."""
        proc, self.proc = self.proc, None
        self._buf = b""
        if proc is None:
            return
        if not self._answered:
            self.dead_starts += 1
        for f in (proc.stdin, proc.stderr):
            try:
                f.close()
            except (OSError, AttributeError):
                pass
        try:
            proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            try:
                proc.kill()
            except OSError:
                pass
            try:
                proc.wait(timeout=2.0)
            except subprocess.TimeoutExpired:
                pass


class SessionRunner(object):
    """A command runner (as :func:`subprocess_runner`) that sends ``nft -f -``
    scripts to one :class:`NftSession` per command prefix (namespace); any
    other command, and any script the session cannot answer or answers with an
    error, runs as its own process (``fallback``).  The supervisor keeps one
    for its life, so flap edges cost a pipe round trip instead of an ``nft``
    start.  ``FAULTLINE_NFT_SESSION=0`` in the environment turns sessions off.
    """

    def __init__(self, fallback=None, timeout=NFT_SESSION_TIMEOUT, session_factory=None):
        self.fallback = fallback or subprocess_runner
        self.timeout = timeout
        self.enabled = os.environ.get(NFT_SESSION_ENV, "1") != "0"
        self._factory = session_factory or NftSession
        self.sessions = {}
        self.stats = {"session": 0, "fallback": 0}

    def _session(self, prefix):
        s = self.sessions.get(prefix)
        if s is None:
            s = self.sessions[prefix] = self._factory(list(prefix), timeout=self.timeout)
        return s

    def __call__(self, argv, data=None):
        argv = list(argv)
        if self.enabled and data is not None and tuple(argv[-3:]) == _NFT_SCRIPT:
            res = self._session(tuple(argv[:-3])).run(data)
            if res is not None and res[0] == 0:
                self.stats["session"] += 1
                return res
            # no answer, or an error: a fresh nft has the last word
        self.stats["fallback"] += 1
        return self.fallback(argv, data)

    def prepare(self, actions):
        """Start (and wait for) the sessions the ``nft -f -`` steps of ``actions`` will use."""
        if not self.enabled:
            return
        for a in actions or []:
            argv = a.get("argv") or []
            if a.get("op") == "run" and a.get("stdin") is not None and tuple(argv[-3:]) == _NFT_SCRIPT:
                self._session(tuple(argv[:-3])).ping()

    def set_realtime(self, on, priority=SUPERVISOR_RT_PRIORITY):
        """This process SCHED_FIFO at ``priority`` (reset on fork) and its sessions one below,
        or both back to the normal policy; False where that is not allowed (not root)."""
        ok = set_realtime(0, priority, reset_on_fork=True) if on else set_normal()
        for s in self.sessions.values():
            if s.alive():
                if on and ok:
                    set_realtime(s.proc.pid, max(1, priority - 1))
                elif not on:
                    set_normal(s.proc.pid)
        return ok

    def close(self):
        for s in self.sessions.values():
            s.close()
        self.sessions = {}


def port_open(host, port, timeout=0.5):
    import socket
    try:
        s = socket.create_connection((host, int(port)), timeout=timeout)
    except (socket.error, OSError):
        return False
    s.close()
    return True


def sha256_file(path):
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _do_run(action, runner):
    rc, out, err = runner(action["argv"], action.get("stdin"))
    ok_rc = action.get("ok_rc", [0])
    if ok_rc != "any" and rc not in ok_rc:
        raise EngineError("%s failed (rc=%s): %s" % (" ".join(action["argv"]), rc, (err or out).strip()))
    return {"op": "run", "argv": action["argv"], "rc": rc}


def _do_signal(action):
    pid = int(action["pid"])
    name = action.get("signal", "SIGTERM")
    if pid <= 1:
        raise EngineError("refusing to signal pid %d" % pid)
    if not proc_alive(pid, action.get("starttime")):
        if action.get("missing_ok", True):
            return {"op": "signal", "pid": pid, "signal": name, "sent": False}
        raise EngineError("process %d is gone" % pid)
    os.kill(pid, SIGNALS[name])
    return {"op": "signal", "pid": pid, "signal": name, "sent": True}


def _do_wait_exit(action):
    pid = int(action["pid"])
    deadline = time.monotonic() + float(action.get("timeout", 30))
    while proc_alive(pid, action.get("starttime")):
        if time.monotonic() > deadline:
            if action.get("kill_after", False):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
                time.sleep(0.2)
                return {"op": "wait_exit", "pid": pid, "exited": not proc_alive(pid), "killed": True}
            raise EngineError("process %d did not exit within %ss" % (pid, action.get("timeout", 30)))
        time.sleep(0.02)
    return {"op": "wait_exit", "pid": pid, "exited": True}


def _do_spawn(action):
    """Start a service detached from us (new session, stdio to a log file)."""
    argv = action["argv"]
    for ident in action.get("unless_alive") or []:
        if proc_alive(ident["pid"], ident.get("starttime")):
            # the instance we stopped is still there: never start a second one
            return {"op": "spawn", "argv": argv, "pid": None, "skipped": True}
    log = action.get("log") or os.devnull
    logf = open(log, "ab")
    try:
        p = subprocess.Popen(argv, stdin=open(os.devnull, "rb"), stdout=logf, stderr=logf,
                             close_fds=True, start_new_session=True, cwd=action.get("cwd") or "/")
    except OSError as e:
        raise EngineError("cannot start %s: %s" % (argv[0], e.strerror))
    finally:
        logf.close()
    if action.get("wait", False):
        rc = p.wait()
        if rc != 0:
            raise EngineError("%s exited with rc=%s (log: %s)" % (" ".join(argv), rc, log))
    return {"op": "spawn", "argv": argv, "pid": p.pid}


def _do_wait_port(action):
    host, port = action.get("host", "127.0.0.1"), int(action["port"])
    deadline = time.monotonic() + float(action.get("timeout", 60))
    want_open = action.get("state", "open") == "open"
    while port_open(host, port, 0.3) != want_open:
        if time.monotonic() > deadline:
            raise EngineError("port %s:%s not %s within %ss" % (host, port, action.get("state", "open"), action.get("timeout", 60)))
        time.sleep(0.05)
    return {"op": "wait_port", "host": host, "port": port}


def _drop_src(action):
    """``remove_src``: delete the source only once ``dst`` is verified."""
    if action.get("remove_src") and action.get("sha256"):
        try:
            os.unlink(action["src"])
        except OSError:
            pass


# File actions (copy, corrupt) run as root on files in directories that other
# users (the database server's) may write to: they never follow a symbolic
# link, act on descriptors, and refuse anything but a regular file.
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def _lstat(path):
    try:
        return os.lstat(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return None
        raise


def _open_regular(path, flags=os.O_RDONLY):
    """(fd, stat) of ``path``, never through a symlink, only if it is a regular file."""
    try:
        # O_NONBLOCK: a planted FIFO must not hang the open
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise EngineError("%s is a symbolic link; refusing to follow it" % path)
        raise
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise EngineError("%s is not a regular file; refusing to touch it" % path)
    return fd, st


def _sha256_fd(fd):
    return _copy_fd(fd, None)


def _sha256_regular(path):
    fd, _st = _open_regular(path)
    try:
        return _sha256_fd(fd)
    finally:
        os.close(fd)


def _private_dir(parent_fd):
    """A fresh directory (random name, mode 0700, ours) inside ``parent_fd``.

    Nobody else can create, rename or replace an entry in it, so the temporary
    file in it cannot be raced even when the parent is writable by another user."""
    for _i in range(100):
        name = ".faultline-restore-%s" % os.urandom(8).hex()
        try:
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        except OSError as e:
            if e.errno == errno.EEXIST:
                continue
            raise
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=parent_fd)
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            os.close(fd)
            raise EngineError("temporary directory %s was replaced by someone else" % name)
        return name, fd
    raise EngineError("cannot create a temporary directory")


def _copy_fd(sfd, dfd):
    """Copy ``sfd`` into ``dfd`` (both at offset 0; ``dfd`` None: only read);
    returns the sha256 of what was read."""
    import hashlib
    h = hashlib.sha256()
    pos = 0
    while True:
        chunk = os.pread(sfd, 1 << 20, pos)
        if not chunk:
            return h.hexdigest()
        h.update(chunk)
        if dfd is None:
            pos += len(chunk)
            continue
        view = memoryview(chunk)
        while view:
            n = os.pwrite(dfd, view, pos)
            view, pos = view[n:], pos + n


def _replace_file(src, dst, want, st=None):
    """Copy ``src`` over ``dst`` atomically: a temporary file created with
    O_CREAT|O_EXCL|O_NOFOLLOW in a private directory next to ``dst``, verified,
    owner and mode set on its descriptor, then renamed into place."""
    sfd, _sst = _open_regular(src)
    try:
        pfd = os.open(os.path.dirname(dst) or ".", os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
        try:
            tname, tfd = _private_dir(pfd)
            try:
                fd = os.open("data", os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _CLOEXEC, 0o600,
                             dir_fd=tfd)
                try:
                    got = _copy_fd(sfd, fd)
                    if want and got != want:
                        raise EngineError("copy of %s for %s does not match its recorded sha256" % (src, dst))
                    if st:
                        try:
                            os.fchown(fd, st["uid"], st["gid"])
                        except OSError as e:  # not root: the file stays ours
                            if e.errno != errno.EPERM:
                                raise
                        os.fchmod(fd, st["mode"])
                    os.fsync(fd)
                    if want and _sha256_fd(fd) != want:
                        raise EngineError("copy of %s for %s does not match its recorded sha256" % (src, dst))
                finally:
                    os.close(fd)
                os.rename("data", os.path.basename(dst), src_dir_fd=tfd, dst_dir_fd=pfd)
                os.fsync(pfd)
            finally:
                try:
                    os.unlink("data", dir_fd=tfd)
                except OSError:
                    pass
                os.close(tfd)
                os.rmdir(tname, dir_fd=pfd)
        finally:
            os.close(pfd)
    finally:
        os.close(sfd)


def _do_copy(action):
    """Atomic, sha256-verified copy of ``src`` over ``dst`` (a binlog restore or its backup).

    ``damaged_size``: ``dst``'s size right after the damage; if it has grown
    since, something wrote to it (the server, on an active binlog) and the copy
    would drop those bytes: refused unless ``grown_ok`` (then reported)."""
    src, dst, want = action["src"], action["dst"], action.get("sha256")
    dst_st = _lstat(dst)
    if dst_st is not None and not stat.S_ISREG(dst_st.st_mode):
        raise EngineError("%s is not a regular file (a symlink, a directory ...); refusing to replace it" % dst)
    if want and dst_st is not None and _sha256_regular(dst) == want:
        # already what the backup holds (restored before, or by the operator
        # by hand): done, whether or not the backup is still there
        _drop_src(action)
        return {"op": "copy", "dst": dst, "copied": False}
    if _lstat(src) is None:
        raise EngineError("backup %s is missing" % src)
    dropped = 0
    if dst_st is not None and action.get("damaged_size") is not None \
            and dst_st.st_size > int(action["damaged_size"]):
        dropped = dst_st.st_size - int(action["damaged_size"])
        if not action.get("grown_ok"):
            raise EngineError("%s has grown by %d bytes since it was damaged (something wrote to it); "
                              "restoring it would drop them: kept as it is" % (dst, dropped))
    _replace_file(src, dst, want, action.get("stat"))
    if want and _sha256_regular(dst) != want:
        raise EngineError("%s does not match its recorded sha256 after the restore" % dst)
    _drop_src(action)
    return {"op": "copy", "dst": dst, "copied": True, "dropped_bytes": dropped}


def _do_corrupt(action):
    """Damage a file on purpose: truncate, garbage, bitflip or delete.

    ``sha256`` (optional) guards the damage: the file must still be the one
    that was backed up, so the backup always restores it byte for byte.  The
    file is opened without following a symlink and changed through that
    descriptor; anything but a regular file is refused.
    """
    path, mode = action["path"], action["mode"]
    want = action.get("sha256")
    if mode not in ("delete", "truncate", "garbage", "bitflip"):
        raise EngineError("unknown corruption mode %r" % (mode,))
    if _lstat(path) is None:
        raise EngineError("%s does not exist" % path)
    fd, st = _open_regular(path, os.O_RDONLY if mode == "delete" else os.O_RDWR)
    try:
        if want and _sha256_fd(fd) != want:
            raise EngineError("%s changed since it was backed up; not damaging it" % path)
        offset = int(action.get("offset", 0))
        if mode == "delete":
            now = _lstat(path)
            if now is None or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise EngineError("%s was replaced while it was being checked; not deleting it" % path)
            os.unlink(path)
        elif mode == "truncate":
            os.ftruncate(fd, offset)
        else:
            if mode == "garbage":
                old = os.pread(fd, int(action.get("length", 64)), offset)
                new = os.urandom(len(old))
                while old and new == old:
                    new = os.urandom(len(old))
            else:
                old = os.pread(fd, 1, offset)
                if not old:
                    raise EngineError("offset %d is past the end of %s" % (offset, path))
                new = bytes([old[0] ^ (1 << int(action.get("bit", 0)))])
            os.pwrite(fd, new, offset)
        os.fsync(fd)
    finally:
        os.close(fd)
    return {"op": "corrupt", "path": path, "mode": mode, "offset": offset}


def _do_nft_gc(action, runner):
    """Delete the collection's nftables table when no chain is left in it."""
    prefix = action.get("prefix", [])
    family, table = action.get("family", "inet"), action.get("table", "faultline")
    rc, out, err = runner(prefix + ["nft", "-j", "list", "table", family, table], None)
    if rc != 0:
        return {"op": "nft_gc", "deleted": False}
    try:
        items = json.loads(out).get("nftables", [])
    except ValueError:
        return {"op": "nft_gc", "deleted": False}
    if action.get("empty_chains_ok"):
        # a table iptables-nft made for us: chains may stay (its built-in
        # INPUT/OUTPUT), but only empty ones with policy accept, nothing else
        if any(not (set(i) & {"metainfo", "table", "chain"}) or i.get("chain", {}).get("policy", "accept") != "accept"
               for i in items):
            return {"op": "nft_gc", "deleted": False}
    elif any("chain" in i or "set" in i or "map" in i for i in items):
        return {"op": "nft_gc", "deleted": False}
    runner(prefix + ["nft", "delete", "table", family, table], None)
    return {"op": "nft_gc", "deleted": True}


def crash_point():
    """Count a crash point; SIGKILL this process at the one named in CRASH_ENV (tests)."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    _CRASH["count"] += 1
    role, _sep, n = spec.partition(":")
    if role == _CRASH["role"] and n.isdigit() and _CRASH["count"] == int(n):
        os.kill(os.getpid(), signal.SIGKILL)


def _do_ns_pin(action, runner):
    """Bind-mount a process's network namespace (``src``, /proc/<pid>/ns/net)
    onto ``dst`` so that it outlives the process: the revert then still finds
    the namespace (and its rules) after the process has exited."""
    src, dst, want = action["src"], action["dst"], action.get("ino")
    if os.path.ismount(dst):
        if want and os.stat(dst).st_ino != want:
            raise EngineError("%s already pins another namespace" % dst)
        return {"op": "ns_pin", "dst": dst, "pinned": False}
    try:
        ino = os.stat(src).st_ino
    except OSError as e:
        raise EngineError("cannot pin network namespace %s: %s" % (src, e.strerror))
    if want and ino != want:
        raise EngineError("network namespace %s is not the one planned (the process changed)" % src)
    parent = os.path.dirname(dst)
    if not os.path.isdir(parent):
        os.makedirs(parent, 0o700)
    os.close(os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600))
    rc, out, err = runner(["mount", "--bind", src, dst], None)
    if rc != 0:
        os.unlink(dst)
        raise EngineError("cannot pin network namespace %s: %s" % (src, (err or out).strip()))
    return {"op": "ns_pin", "dst": dst, "pinned": True}


def _do_ns_unpin(action, runner):
    """Release a pin made by ``ns_pin`` (idempotent)."""
    dst = action["dst"]
    if os.path.ismount(dst):
        rc, out, err = runner(["umount", dst], None)
        if rc != 0:
            raise EngineError("cannot release namespace pin %s: %s" % (dst, (err or out).strip()))
    try:
        os.unlink(dst)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise EngineError("cannot remove namespace pin %s: %s" % (dst, e.strerror))
    return {"op": "ns_unpin", "dst": dst}


def _do_sleep(action):
    time.sleep(float(action["seconds"]))
    return {"op": "sleep"}


# The action vocabulary: op -> (handler, whether the handler takes the command
# runner). Plans are built with the constructors below, never as literals.
ACTIONS = {
    "run": (_do_run, True),
    "signal": (_do_signal, False),
    "wait_exit": (_do_wait_exit, False),
    "spawn": (_do_spawn, False),
    "wait_port": (_do_wait_port, False),
    "copy": (_do_copy, False),
    "corrupt": (_do_corrupt, False),
    "nft_gc": (_do_nft_gc, True),
    "ns_pin": (_do_ns_pin, True),
    "ns_unpin": (_do_ns_unpin, True),
    "sleep": (_do_sleep, False),
}


def execute(actions, runner=None):
    """Run a list of actions in order; stop at the first failure (EngineError)."""
    runner = runner or subprocess_runner
    results = []
    for a in actions:
        crash_point()
        try:
            handler, takes_runner = ACTIONS[a["op"]]
        except KeyError:
            raise EngineError("unknown action op %r" % (a.get("op"),))
        results.append(handler(a, runner) if takes_runner else handler(a))
    return results


# --------------------------------------------------------------------------
# action constructors (one per op; optional keys only when given)
# --------------------------------------------------------------------------

def _action(op, **fields):
    out = {"op": op}
    out.update((k, v) for k, v in fields.items() if v is not None)
    return out


def run_action(argv, stdin=None, ok_rc=None):
    """``argv`` (a list, never a shell string); ``ok_rc`` exit codes that succeed, or "any"."""
    return _action("run", argv=list(argv), stdin=stdin, ok_rc=ok_rc)


def signal_action(target, sig, missing_ok=None):
    """Send ``sig`` (a SIGNALS name) to ``target`` {pid, starttime} if it still is that process."""
    return _action("signal", signal=sig, pid=target["pid"], starttime=target.get("starttime"),
                   missing_ok=missing_ok)


def wait_exit_action(target, timeout, kill_after):
    return _action("wait_exit", timeout=float(timeout), kill_after=kill_after,
                   pid=target["pid"], starttime=target.get("starttime"))


def spawn_action(argv, unless_alive=None, log=None):
    """Start ``argv`` detached, unless one of ``unless_alive`` ({pid, starttime}) still runs."""
    return _action("spawn", argv=list(argv), unless_alive=list(unless_alive or []), log=log)


def wait_port_action(port, host="127.0.0.1", timeout=60.0):
    return _action("wait_port", host=host, port=int(port), timeout=float(timeout))


def copy_action(src, dst, sha256=None, stat=None, remove_src=None, **checks):
    """``checks``: missing_ok, damaged_size, grown_ok (see ``_do_copy``)."""
    return _action("copy", src=src, dst=dst, sha256=sha256, stat=stat, remove_src=remove_src, **checks)


def corrupt_action(path, mode, sha256=None, **where):
    """``where``: offset, length, bit (as the mode needs them)."""
    return _action("corrupt", path=path, mode=mode, sha256=sha256, **where)


def ns_pin_action(src, dst, ino=None):
    """Bind-mount the network namespace ``src`` onto ``dst`` (checked against inode ``ino``)."""
    return _action("ns_pin", src=src, dst=dst, ino=ino)


def ns_unpin_action(dst):
    return _action("ns_unpin", dst=dst)


def nft_gc_action(prefix, family, table, empty_chains_ok=None):
    """Delete ``family table`` when it is empty (``empty_chains_ok``: when only
    empty accept-policy chains are left: a table iptables-nft made)."""
    return _action("nft_gc", prefix=list(prefix), family=family, table=table, empty_chains_ok=empty_chains_ok)


def execute_all(actions, runner=None):
    """Run every action even if some fail (used for reverts). Returns errors."""
    errors = []
    for a in actions:
        try:
            execute([a], runner)
        except Exception as e:  # noqa: BLE001 -- a revert must try every step
            errors.append("%s: %s" % (a.get("op"), e))
    return errors


# --------------------------------------------------------------------------
# the per-fault lock: one supervisor per fault
# --------------------------------------------------------------------------

def fault_lock_path(state_dir, fault_id):
    Ledger(state_dir)._path(fault_id)  # validates the id
    return os.path.join(state_dir, "locks", fault_id + ".lock")


def try_fault_lock(state_dir, fault_id):
    """Take the fault's lock without waiting: an fd, or None when it is held.

    The supervisor holds it for its whole life, so a free lock means that no
    supervisor runs for this fault (whatever a record says about pids).
    """
    path = fault_lock_path(state_dir, fault_id)
    d = os.path.dirname(path)
    if not os.path.isdir(d):
        os.makedirs(d, 0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except (IOError, OSError) as e:
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return None
        raise
    return fd


def release_fault_lock(fd):
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def supervisor_holder(state_dir, fault_id):
    """Identity of the live supervisor of ``fault_id`` (from its lock file), or None.

    ``{"pid": None, "busy": True}`` when the lock is held by someone that is not a
    registered supervisor (a module or the reaper reverting the fault right now).
    """
    path = fault_lock_path(state_dir, fault_id)
    if not os.path.exists(path):
        return None
    fd = try_fault_lock(state_dir, fault_id)
    if fd is not None:
        release_fault_lock(fd)
        return None
    try:
        with open(path, "r") as f:
            ident = json.loads(f.read() or "{}")
    except (IOError, OSError, ValueError):
        ident = {}
    if ident.get("pid") and proc_alive(ident["pid"], ident.get("starttime")):
        return ident
    return {"pid": None, "busy": True}


def _lock_registration(state_dir, fault_id):
    """The identity a supervisor wrote into the fault's lock file (text), or None."""
    try:
        with open(fault_lock_path(state_dir, fault_id), "r") as f:
            text = f.read()
        json.loads(text)
        return text or None
    except (IOError, OSError, ValueError):
        return None


def _grab_fault_lock(state_dir, fault_id, seconds=LOCK_GRAB):
    """The supervisor's own lock: retry briefly (another process may be testing it)."""
    end = time.monotonic() + seconds
    while True:
        fd = try_fault_lock(state_dir, fault_id)
        if fd is not None or time.monotonic() >= end:
            return fd
        time.sleep(0.01)


# --------------------------------------------------------------------------
# apply / revert a record under the ledger lock
# --------------------------------------------------------------------------

def _read_or(ledger, fault_id, memory=None):
    """(record, unreadable): the fresh record, else ``memory`` when the file is
    unreadable (a supervisor keeps its plan in memory for exactly this)."""
    try:
        return ledger.read(fault_id), False
    except RecordUnreadable:
        if memory is None:
            raise
        return memory, True


def retry_delay(attempts):
    """Backoff before the next try of a failed revert: 1, 2, 4 ... 60 s."""
    return min(RETRY_MAX, RETRY_FIRST * (2 ** max(0, int(attempts) - 1)))


def revert_record(ledger, record, reason, by, runner=None, memory=None, only_if_due=False):
    """Revert a fault and drop its record; keep it as ``revert_failed`` when a step fails.

    Idempotent; journals the outcome. Returns ``reverted`` True only when every
    revert step succeeded (or nothing was ever applied). ``memory``: the plan
    to use when the record file is unreadable. ``only_if_due``: do nothing when
    the deadline (re-read under the lock) lies in the future: a renewal won.
    """
    fid = record["id"]
    with ledger:
        current, unreadable = _read_or(ledger, fid, memory)
        if current is None:
            return {"id": fid, "reverted": False, "errors": [], "gone": True}
        if only_if_due and current.get("state") != "revert_failed" and \
                float(current.get("deadline_mono", 0)) > time.monotonic() + 0.001 and not unreadable:
            return {"id": fid, "reverted": False, "errors": [], "renewed": True}
        if current.get("state") == "scheduled":
            # start_at not reached: nothing was applied, nothing to undo
            ledger.journal(fid, "cancelled", {"reason": reason, "by": by, "start_at": current.get("start_at")})
            ledger.delete(fid)
            return {"id": fid, "reverted": True, "errors": [], "cancelled": True}
        errors = execute_all(current.get("revert", []), runner)
        crash_point()
        if errors:
            attempts = int(current.get("revert_attempts") or 0) + 1
            current.update(state="revert_failed", revert_errors=errors, revert_attempts=attempts,
                           revert_reason=current.get("revert_reason") or reason, last_revert_try=time.time(),
                           next_retry=time.time() + retry_delay(attempts))
            ledger.put(current)
            ledger.journal(fid, "revert_failed", {"reason": reason, "by": by, "errors": errors,
                                                  "attempt": attempts, "next_retry": current["next_retry"]})
            return {"id": fid, "reverted": False, "errors": errors, "state": "revert_failed",
                    "attempts": attempts}
        # journal first: whoever waits for the record to vanish finds the event
        ledger.journal(fid, "reverted", {
            "reason": reason, "by": by, "kind": current.get("kind"),
            "type": current.get("type"), "errors": [], "cycle": current.get("cycle"),
            "attempts": int(current.get("revert_attempts") or 0) + 1,
            "record_unreadable": unreadable,
        })
        ledger.delete(fid)
    return {"id": fid, "reverted": True, "errors": []}


# --------------------------------------------------------------------------
# start_at: wall-clock instants
# --------------------------------------------------------------------------

def parse_instant(value):
    """ISO 8601 (offset or Z; none means UTC) or unix seconds -> unix seconds (float)."""
    import datetime  # only needed here
    text = str(value).strip()
    try:
        t = float(text)
    except ValueError:
        t = None
    if t is None:
        iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
        try:
            dt = datetime.datetime.fromisoformat(iso)
        except ValueError:
            raise EngineError("start_at %r is neither an ISO 8601 time (e.g. 2026-12-01T21:30:00Z) "
                              "nor unix seconds" % (text,))
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=datetime.timezone.utc)
        t = dt.timestamp()
    if math.isnan(t) or math.isinf(t):
        raise EngineError("start_at must be a finite time, got %r" % (text,))
    return t


def check_start_at(value, now=None):
    """Parse and bound a start_at: at most START_TOLERANCE s in the past, at most a day ahead."""
    t = parse_instant(value)
    now = time.time() if now is None else now
    if t < now - START_TOLERANCE:
        raise EngineError("start_at %s lies %.1f s in the past (tolerance %.0f s): refusing to apply late"
                          % (iso_utc(t), now - t, START_TOLERANCE))
    if t > now + START_MAX_AHEAD:
        raise EngineError("start_at %s lies more than a day ahead (%.0f s): refusing"
                          % (iso_utc(t), t - now))
    return t


def iso_utc(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + (".%06dZ" % int(round((t % 1) * 1e6) % 1000000))


def clock_status(runner=None, timeout=2.0):
    """Offset and error bound of the system clock from ``chronyc tracking``, or None."""
    import shutil
    if shutil.which("chronyc") is None:
        return None
    try:
        out = subprocess.run(["chronyc", "-n", "tracking"], stdin=subprocess.DEVNULL, capture_output=True,
                             timeout=timeout, check=False).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return None
    vals = {}
    for line in out.splitlines():
        key, _sep, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        try:
            num = float(parts[0])
        except ValueError:
            continue
        if key.strip() == "System time":
            vals["offset_s"] = -num if "slow" in rest else num  # + means fast of NTP time
        elif key.strip() == "Root delay":
            vals["root_delay_s"] = num
        elif key.strip() == "Root dispersion":
            vals["root_dispersion_s"] = num
    if "offset_s" not in vals:
        return None
    # chrony's bound on the true time: |offset| + dispersion + delay / 2
    vals["error_bound_s"] = abs(vals["offset_s"]) + vals.get("root_dispersion_s", 0.0) + \
        vals.get("root_delay_s", 0.0) / 2.0
    return vals


# --------------------------------------------------------------------------
# supervisor
# --------------------------------------------------------------------------

def supervisor_script_path(state_dir):
    return os.path.join(state_dir, SUPERVISOR_SCRIPT)


def supervisor_runtime_path(state_dir):
    return os.path.join(state_dir, SUPERVISOR_RUNTIME + ".py")


def supervisor_bytecode_path(state_dir):
    """Where the supervisor (this interpreter, ``-E``: no PYTHONPYCACHEPREFIX) finds the
    runtime copy's bytecode; None when this Python keeps none."""
    tag = getattr(sys.implementation, "cache_tag", None)
    if not tag:
        return None
    return os.path.join(state_dir, "__pycache__", "%s.%s.pyc" % (SUPERVISOR_RUNTIME, tag))


def is_supervisor_cmdline(argv):
    """True for the command line of a faultline supervisor (any ledger)."""
    argv = list(argv or [])
    script = [a for a in argv[1:] if not a.startswith("-")][:1]  # after the interpreter's options (-S)
    return bool(script) and os.path.basename(script[0]) == SUPERVISOR_SCRIPT and \
        "--state-dir" in argv and "--id" in argv


def _runtime_source():
    """This file's source (from the AnsiballZ zip when the module runs from one)."""
    loader = globals().get("__loader__")
    if loader is not None and hasattr(loader, "get_source"):
        try:
            src = loader.get_source(__name__)
            if src is not None:
                return src
        except Exception:  # noqa: BLE001
            pass
    with open(__file__, "r") as f:
        return f.read()


def _install_file(path, text, mode):
    """Write ``text`` to ``path`` (atomic) unless it holds it already; True when written."""
    try:
        with open(path, "r") as f:
            if f.read() == text:
                return False
    except (IOError, OSError):
        pass
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.rename(tmp, path)
    return True


def install_supervisor(state_dir):
    """Install the supervisor into the state directory (what changed) and return its script's path.

    The script (``supervisor.py``) is a stub that imports a copy of this file
    (``faultline_runtime.py``) as a module, so Python runs it from the bytecode
    compiled here into ``__pycache__`` (a script run as ``__main__`` is compiled
    on every start).  The bytecode is checked against the source's hash on
    every import, so a copy replaced by an upgraded collection never runs stale
    bytecode; the copy itself is compared with this file on every install.
    Everything is refused unless trusted (:func:`check_trusted`): root imports it.
    """
    src = _runtime_source()
    script, copy = supervisor_script_path(state_dir), supervisor_runtime_path(state_dir)
    cache = supervisor_bytecode_path(state_dir)
    check_trusted(state_dir)
    check_trusted(script, kind="supervisor script")
    check_trusted(copy, kind="supervisor runtime")
    if cache:
        check_trusted(os.path.dirname(cache))
        check_trusted(cache, kind="supervisor bytecode")
    changed = _install_file(copy, src, 0o600)
    if cache and (changed or not os.path.exists(cache)):
        import py_compile  # only when the copy changed
        try:
            os.mkdir(os.path.dirname(cache), 0o700)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
        try:
            py_compile.compile(copy, cfile=cache, doraise=True, optimize=0,
                               invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
        except py_compile.PyCompileError as e:
            raise EngineError("cannot compile the supervisor runtime %s: %s" % (copy, e.msg))
        os.chmod(cache, 0o600)
    _install_file(script, SUPERVISOR_STUB, 0o700)
    return script


def has_systemd():
    import shutil
    return os.path.isdir("/run/systemd/system") and shutil.which("systemd-run") is not None


def systemd_run_argv(fault_id, argv):
    """The transient unit of a supervisor: restarted when it dies of a signal
    (SIGKILL, OOM) or an error; its spawned services outlive it (KillMode=process)."""
    unit = "faultline-%s" % fault_id.replace("_", "-")
    return ["systemd-run", "--quiet", "--collect", "--unit", unit,
            "--property", "Restart=on-failure", "--property", "RestartSec=1",
            "--property", "KillMode=process"] + argv


def spawn_supervisor(state_dir, fault_id, python=None, timeout=30.0):
    """Start the dead-man switch for ``fault_id``; returns its pid identity.

    On a host booted with systemd it runs as a transient unit (the end of the
    SSH session cannot take it down); elsewhere it is double-forked into its
    own session with stdio closed.  Whatever the way or the number of callers,
    one supervisor runs: each one first takes the fault's lock, a second one
    exits.  Returns the identity of the one that holds the lock (None when the
    fault ended before it could be seen).
    """
    crash_point()
    script = install_supervisor(state_dir)
    python = python or sys.executable
    # -S: no site-packages (the script is standard library only): a faster start;
    # -E: no PYTHON* variables (PYTHONPYCACHEPREFIX would bypass the installed bytecode)
    argv = [python, "-E", "-S", script, "--state-dir", state_dir, "--id", fault_id]
    registered_before = _lock_registration(state_dir, fault_id)
    started = False
    if has_systemd():
        rc = subprocess.call(systemd_run_argv(fault_id, argv),
                             stdin=open(os.devnull, "rb"), stdout=open(os.devnull, "wb"),
                             stderr=open(os.devnull, "wb"))
        started = rc == 0
    if not started:
        # double fork through a tiny intermediate so the supervisor is re-parented
        p = subprocess.Popen(argv + ["--daemonize"], stdin=open(os.devnull, "rb"),
                             stdout=subprocess.PIPE, stderr=open(os.devnull, "wb"),
                             close_fds=True, start_new_session=True)
        p.stdout.read()
        p.wait()
    ledger = Ledger(state_dir)
    end = time.monotonic() + timeout
    while True:
        ident = supervisor_holder(state_dir, fault_id)
        if ident and ident.get("pid"):
            return ident
        if ident is None:
            # lock free: a supervisor that registered and has already died (the
            # reaper of the next module call recovers its fault) is still the
            # one we started; do not wait for a second one that never comes
            registered = _lock_registration(state_dir, fault_id)
            if registered and registered != registered_before:
                return dict(json.loads(registered), exited=True)
        if ledger.read(fault_id) is None:
            return None  # already over (a zero duration, or reverted meanwhile)
        if time.monotonic() > end:
            raise EngineError("supervisor failed to start for fault %s within %.0fs" % (fault_id, timeout))
        time.sleep(0.002)


def stop_supervisor(ledger, record, timeout=10.0):
    """Ask a fault's supervisor to revert now (SIGTERM) and wait for the outcome.

    Returns True when the supervisor reverted the fault, False when no
    supervisor runs, and the record when its revert failed (``revert_failed``:
    the supervisor keeps retrying) or did not finish within ``timeout``.
    """
    fid = record["id"]
    sup = supervisor_holder(ledger.state_dir, fid)
    if not sup or not sup.get("pid"):
        return False
    tried = int(record.get("revert_attempts") or 0)
    try:
        os.kill(sup["pid"], signal.SIGTERM)
    except OSError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = ledger.get(fid)
        alive = proc_alive(sup["pid"], sup.get("starttime"))
        if rec is None and not alive:
            return True
        if rec is not None and int(rec.get("revert_attempts") or 0) > tried:
            return rec
        if rec is not None and not alive:
            return False  # it died before finishing (SIGKILL mid-revert): the caller reverts
        time.sleep(0.004)
    return ledger.get(fid) or True


class _Stop(Exception):
    pass


def _wake_on_signals(state):
    """Let a signal (SIGTERM: revert now) end the supervisor's current nap at once:
    the signal's number is written to a pipe that :func:`_nap` waits on."""
    try:
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        signal.set_wakeup_fd(w)
    except (OSError, ValueError):
        return
    state["wake"] = r


def _nap(state, seconds):
    """Sleep ``seconds``, or less when a signal arrives (see :func:`_wake_on_signals`)."""
    r = state.get("wake")
    if r is None:
        time.sleep(seconds)
        return
    try:
        if select.select([r], [], [], seconds)[0]:
            os.read(r, 512)
    except OSError:
        time.sleep(seconds)


def _fresh_record(ledger, fault_id, state):
    """The record as it is now (kept in ``state["memory"]``), None when it vanished.

    Raises _Stop when a signal asked the supervisor to stop; an unreadable
    record gives the copy already in memory.
    """
    if state.get("stop"):
        raise _Stop()
    rec, _bad = _read_or(ledger, fault_id, state["memory"])
    if rec is not None:
        state["memory"] = rec
    return rec


def _sleep_until(ledger, fault_id, target_mono, state):
    """Sleep until ``target_mono`` (or the record's deadline) on the monotonic clock.

    Re-reads the record while it waits (a renewal moves the deadline).  Returns
    the fresh record, or None when it vanished (reverted elsewhere).  An
    unreadable record does not end the wait: the copy in ``state["memory"]`` is used.
    """
    while True:
        rec = _fresh_record(ledger, fault_id, state)
        if rec is None:
            return None
        now = time.monotonic()
        deadline = float(rec.get("deadline_mono", target_mono))
        wake = min(target_mono, deadline)
        if now >= wake:
            return rec
        _nap(state, min(SUPERVISOR_POLL, wake - now))


def _revert_until_done(ledger, fault_id, reason, state, only_if_due=False):
    """Revert; while it fails, keep the record and retry with backoff (SIGTERM: retry now).

    Returns False when the revert did not happen because a renewal moved the deadline.
    """
    while True:
        state["stop"] = False
        mem = state.get("memory") or {"id": fault_id}
        res = revert_record(ledger, mem, reason, "supervisor", state.get("runner"), memory=state.get("memory"),
                            only_if_due=only_if_due)
        if res.get("renewed"):
            return False
        if res.get("reverted") or res.get("gone"):
            return True
        rec, _bad = _read_or(ledger, fault_id, state.get("memory"))
        if rec is None:
            return True
        state["memory"] = rec
        end = time.monotonic() + retry_delay(res.get("attempts") or 1)
        while time.monotonic() < end and not state.get("stop"):
            _nap(state, min(SUPERVISOR_POLL, max(0.0, end - time.monotonic())))
        reason = "retry"
        only_if_due = False


def _wait_for_start(ledger, fault_id, state):
    """Sleep until the record's ``start_at`` (wall clock), then apply it.

    Returns the applied record, or None when it was cancelled, missed or
    failed.  The journal gets one ``applied`` event: the intended instant, the
    actual wall and monotonic times and, where chrony runs, the clock's error bound.
    """
    while True:
        rec = _fresh_record(ledger, fault_id, state)
        if rec is None:
            return None
        start_at = float(rec["start_at"])
        left = start_at - time.time()
        if left <= 0:
            break
        if not state.get("prepared"):
            # the nft session is up before the instant: the apply is one round trip
            state["prepared"] = True
            if state.get("runner") is not None:
                state["runner"].prepare(rec.get("apply"))
            continue
        # wall-clock target (a clock step is followed), short sleeps at the end
        _nap(state, min(SUPERVISOR_POLL, left) if left > 0.002 else 0.0002)
    late = time.time() - start_at
    if late > START_TOLERANCE:
        # this supervisor came too late (e.g. restarted after start_at): never apply late silently
        with ledger:
            if ledger.get(fault_id) is not None:
                ledger.journal(fault_id, "start_missed", {"start_at": start_at, "late_s": late})
                ledger.delete(fault_id)
        return None
    with ledger:
        rec, _bad = _read_or(ledger, fault_id, state["memory"])
        if rec is None or rec.get("state") != "scheduled":
            return rec
        wall0, mono0 = time.time(), time.monotonic()
        try:
            if (rec.get("schedule") or {}).get("mode") != "flap":
                execute(rec["apply"], state.get("runner"))
        except Exception as e:  # noqa: BLE001 -- roll back whatever half-applied
            errors = execute_all(rec["revert"], state.get("runner"))
            ledger.journal(fault_id, "apply_failed", {"error": str(e), "rollback_errors": errors,
                                                      "start_at": start_at})
            ledger.delete(fault_id)
            return None
        wall1, mono1 = time.time(), time.monotonic()
        span = float(rec.get("span") or 0.0)
        rec.update(state="active", applied=wall1, deadline=wall0 + span, deadline_mono=mono0 + span,
                   lease_until=wall0 + float(rec.get("lease") or DEFAULT_LEASE))
        if (rec.get("schedule") or {}).get("mode") == "flap":
            rec["schedule"].update(start=wall0, start_mono=mono0)
        else:
            rec["cycle"], rec["phase"] = 1, "down"
        ledger.put(rec)
    state["memory"] = rec
    detail = {"intended": start_at, "wall": wall0, "mono": mono0, "lag_s": wall0 - start_at,
              "applied_wall": wall1, "applied_lag_s": wall1 - start_at, "clock": clock_status()}
    ledger.journal(fault_id, "applied", detail, ts=wall0)
    if (rec.get("schedule") or {}).get("mode") != "flap":
        ledger.journal(fault_id, "down", {"cycle": 1, "type": rec.get("type"), "summary": rec.get("summary")},
                       ts=wall1)
    return rec


def run_supervisor(state_dir, fault_id):
    """Body of the supervisor process. Returns an exit code."""
    ledger = Ledger(state_dir)
    _CRASH["role"] = "supervisor"
    lock = _grab_fault_lock(state_dir, fault_id)
    if lock is None:
        return 0  # another supervisor owns this fault: one per fault
    me = proc_identity(os.getpid())
    os.ftruncate(lock, 0)
    os.write(lock, json.dumps(me).encode("ascii"))
    # rule changes of this fault go through one long-lived nft per namespace
    state = {"stop": False, "memory": None, "runner": SessionRunner()}

    def _term(signum, frame):
        state["stop"] = True

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _wake_on_signals(state)
    try:
        # absolute, not relative to the module's: a module run under `nice` (or from
        # a niced job) must not leave the revert and the schedule at that low priority
        os.setpriority(os.PRIO_PROCESS, 0, SUPERVISOR_NICE)
    except OSError:
        pass  # not root: the priority it inherited

    with ledger:
        try:
            rec = ledger.read(fault_id)
        except RecordUnreadable as e:
            # no plan to keep: journal it for fault_info and restore
            ledger.journal(fault_id, "supervisor_failed", {"error": str(e)})
            return 0
        if rec is None:
            return 0
        previous = rec.get("supervisor")
        rec["supervisor"] = me
        ledger.put(rec)
        ledger.journal(fault_id, "supervisor_started", {"pid": me["pid"], "deadline": rec.get("deadline"),
                                                        "state": rec.get("state"),
                                                        "replaces": previous})
    state["memory"] = rec
    try:
        if rec.get("state") == "revert_failed":
            _revert_until_done(ledger, fault_id, "retry", state)
            return 0
        if rec.get("state") == "scheduled":
            state["runner"].set_realtime(True)  # the instant: real-time until applied
            rec = _wait_for_start(ledger, fault_id, state)
            if rec is None:
                return 0
        sched = rec.get("schedule") or {"mode": "hold"}
        if sched.get("mode") == "flap":
            state["runner"].set_realtime(True)  # every edge on time, whatever else the host runs
            _run_flap(ledger, fault_id, rec, state)
            state["runner"].set_realtime(False)
            if state["memory"] is not None:
                _revert_until_done(ledger, fault_id, "schedule_end", state)
        else:
            state["runner"].set_realtime(False)
            # a held fault's revert (deadline, or `up` by SIGTERM) is then one round trip
            state["runner"].prepare(rec.get("revert"))
            while True:
                rec = _sleep_until(ledger, fault_id, float("inf"), state)
                if rec is None:
                    break
                reason = "duration" if rec.get("duration") else "lease"
                if _revert_until_done(ledger, fault_id, reason, state, only_if_due=True):
                    break
    except _Stop:
        state["runner"].set_realtime(False)
        _revert_until_done(ledger, fault_id, "signal", state)
    finally:
        state["runner"].close()
    return 0


def _session_count(state):
    """nft scripts the supervisor's session runner has answered so far (journalled per flap edge)."""
    runner = state.get("runner")
    return runner.stats["session"] if runner is not None else 0


def _run_flap(ledger, fault_id, rec, state):
    """Alternate apply/revert on a fixed grid t0 + k*period (no drift).

    Leaves ``state["memory"]`` None when the record vanished (reverted elsewhere).
    """
    sched = rec["schedule"]
    down_for, up_for = float(sched["down_for"]), float(sched["up_for"])
    period = down_for + up_for
    t0 = float(sched.get("start_mono", time.monotonic()))
    end = float(rec["deadline_mono"])
    n = int(rec.get("cycle") or 0)
    if state.get("runner") is not None:
        # before the grid is anchored: the first edge pays no nft start-up, and its start-up is not late
        state["runner"].prepare(rec.get("apply"))
    if n == 0 and not rec.get("start_at"):
        # anchor the grid at the moment the schedule really starts (this
        # process's start-up takes a while); the period keeps its length
        with ledger:
            rec, _bad = _read_or(ledger, fault_id, state["memory"])
            if rec is None:
                state["memory"] = None
                return
            shift = time.monotonic() - t0
            t0 += shift
            end += shift
            rec["schedule"]["start_mono"], rec["schedule"]["start"] = t0, time.time()
            rec["deadline_mono"], rec["deadline"] = end, float(rec["deadline"]) + shift
            ledger.put(rec)
            state["memory"] = rec
    while True:
        start_down = t0 + n * period
        if start_down >= end:
            break
        rec = _sleep_until(ledger, fault_id, start_down, state)
        if rec is None:
            state["memory"] = None
            return
        if time.monotonic() >= float(rec["deadline_mono"]):
            break
        n += 1
        woke = time.monotonic()
        with ledger:
            rec, _bad = _read_or(ledger, fault_id, state["memory"])
            if rec is None:
                state["memory"] = None
                return
            via = _session_count(state)
            errors = execute_all(rec["apply"], state.get("runner"))
            done = time.monotonic()
            rec["cycle"], rec["phase"] = n, "down"
            ledger.put(rec)
            state["memory"] = rec
            ledger.journal(fault_id, "down", {"cycle": n, "scheduled_mono": start_down,
                                              "lag_s": woke - start_down,
                                              "applied_lag_s": done - start_down,
                                              "nft_session": _session_count(state) - via,
                                              "errors": errors})
        up_at = min(start_down + down_for, end)
        rec = _sleep_until(ledger, fault_id, up_at, state)
        if rec is None:
            state["memory"] = None
            return
        woke = time.monotonic()
        with ledger:
            rec, _bad = _read_or(ledger, fault_id, state["memory"])
            if rec is None:
                state["memory"] = None
                return
            # housekeeping (deleting an emptied table) waits for the end of the
            # schedule: only the steps that bring the network up are on the clock
            via = _session_count(state)
            errors = execute_all([a for a in rec["revert"] if a["op"] not in HOUSEKEEPING_OPS], state.get("runner"))
            done = time.monotonic()
            rec["phase"] = "up"
            ledger.put(rec)
            state["memory"] = rec
            ledger.journal(fault_id, "up", {"cycle": n, "scheduled_mono": up_at,
                                            "lag_s": woke - up_at, "applied_lag_s": done - up_at,
                                            "nft_session": _session_count(state) - via,
                                            "errors": errors})


# --------------------------------------------------------------------------
# the reaper: run at the start of every module
# --------------------------------------------------------------------------

def reap(state_dir=DEFAULT_STATE_DIR, runner=None):
    """Finish what dead supervisors left: cheap, never raises.

    For each record whose fault lock is free (no supervisor runs): when it is
    overdue (deadline passed, start_at missed, or a failed revert due for its
    retry) revert it here, holding the lock; otherwise start a new supervisor.
    Returns one dict per record acted on.
    """
    out = []
    try:
        faults_dir = os.path.join(state_dir, "faults")
        if not os.path.isdir(faults_dir) or not os.access(faults_dir, os.W_OK | os.X_OK):
            return out
        ledger = Ledger(state_dir)
        listing = os.listdir(faults_dir)
        names = sorted(n[:-5] for n in listing if n.endswith(".json"))
    except (OSError, EngineError):
        return out
    for n in listing:
        # a writer killed between write and rename (Ledger.put) leaves <id>.json.tmp.<pid>
        head, sep, pid = n.rpartition(".tmp.")
        if sep and head.endswith(".json") and pid.isdigit() and not proc_alive(int(pid)):
            try:
                os.unlink(os.path.join(faults_dir, n))
            except OSError:
                pass
    for fid in names:
        try:
            fd = try_fault_lock(state_dir, fid)
            if fd is None:
                continue  # its supervisor runs (or someone is reverting it now)
            restart = False
            try:
                with ledger:
                    try:
                        rec = ledger.read(fid)
                    except RecordUnreadable as e:
                        out.append({"id": fid, "action": "none", "error": str(e)})
                        continue
                    if rec is None:
                        continue
                    sup = rec.get("supervisor") or {}
                    if sup.get("pid") and proc_alive(sup["pid"], sup.get("starttime")) and \
                            is_supervisor_cmdline(proc_cmdline(sup["pid"])):
                        continue  # a supervisor of an older version (no lock) still runs
                    now = time.time()
                    if rec.get("state") == "scheduled":
                        due = now > float(rec.get("start_at") or 0) + START_TOLERANCE
                    elif rec.get("state") == "revert_failed":
                        due = now >= float(rec.get("next_retry") or 0)
                    else:
                        due = now >= float(rec.get("deadline") or 0)
                    if due:
                        res = revert_record(ledger, rec, "orphan", "reaper", runner)
                        out.append(dict(res, action="reverted" if res["reverted"] else "revert_failed"))
                        restart = not res["reverted"] and not res.get("gone")
                    else:
                        restart = True
            finally:
                release_fault_lock(fd)
            if restart:
                Ledger(state_dir).journal(fid, "supervisor_lost", {"by": "reaper"})
                sup = spawn_supervisor(state_dir, fid)
                out.append({"id": fid, "action": "supervisor_restarted", "supervisor": sup})
        except Exception as e:  # noqa: BLE001 -- the reaper must never break the module that runs it
            out.append({"id": fid, "action": "error", "error": "%s: %s" % (type(e).__name__, e)})
    return out


def _daemonize_and_report():
    """Second fork: print the grandchild pid for the spawner and let it run."""
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(w)
        data = os.read(r, 64)
        os.close(r)
        sys.stdout.write(data.decode("ascii"))
        sys.stdout.flush()
        os._exit(0)
    os.close(r)
    # the intermediate parent is the session leader (start_new_session); this
    # grandchild is not, so it can never acquire a controlling terminal.
    os.write(w, str(os.getpid()).encode("ascii"))
    os.close(w)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.chdir("/")


def _supervisor_args(argv):
    """``--state-dir DIR --id ID [--daemonize]`` (the command line spawn_supervisor builds;
    parsed by hand: argparse would cost the supervisor's start milliseconds)."""
    out, rest = {"daemonize": False}, list(argv)
    while rest:
        arg = rest.pop(0)
        if arg == "--daemonize":
            out["daemonize"] = True
        elif arg in ("--state-dir", "--id") and rest and arg[2:] not in out:
            out[arg[2:]] = rest.pop(0)
        else:
            raise EngineError("unexpected argument %r" % arg)
    if "state-dir" not in out or "id" not in out:
        raise EngineError("--state-dir and --id are required")
    return out


def main(argv=None):
    try:
        args = _supervisor_args(sys.argv[1:] if argv is None else argv)
    except EngineError as e:
        sys.stderr.write("usage: supervisor.py --state-dir DIR --id ID [--daemonize]\nerror: %s\n" % e)
        return 2
    if args["daemonize"]:
        _daemonize_and_report()
    return run_supervisor(args["state-dir"], args["id"])


if __name__ == "__main__":
    # This file also runs as its own program (as the supervisor, the stub supervisor.py
    # calls main() of its copy), never inside a module, so there is no exit_json to call here.
    sys.exit(main())  # pylint: disable=ansible-bad-function

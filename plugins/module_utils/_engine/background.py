# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Background workers (probes, data generators) on the target.

A worker is a Python callable run in a detached process (double fork, own
session, stdio on /dev/null) that appends JSON lines to an output file until
it is told to stop (SIGTERM), its own end condition is met, or its lease runs
out.  Everything it needs must already be imported when :func:`start` is
called: Ansible deletes the module payload as soon as the module returns, so
nothing of the collection can be imported lazily inside the worker.

Files under ``<state_dir>/workers/``:
``<kind>-<id>.json``   meta: pid + start time, started, deadline, finished, exit
``<kind>-<id>.jsonl``  the worker's output, one JSON object per line

The state directory is on tmpfs (memory) by default, so finished workers do
not stay forever: :func:`prune` removes the files of a worker that is not
running and ended more than :data:`RETENTION` seconds ago (it runs when a
worker starts and on restore).  A running worker is never touched.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import signal
import time
import traceback

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    EngineError, check_trusted, proc_alive, proc_identity,
)

_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# how long the files of a finished worker stay (long enough for verify and
# report to read them after a scenario): 6 hours after the worker ended
RETENTION = 6 * 3600.0


class StopFlag(object):
    """Set by SIGTERM; workers poll ``flag.stopped`` or sleep with ``flag.wait``."""

    def __init__(self, deadline_mono=None):
        self.stopped = False
        self.deadline_mono = deadline_mono

    def expired(self):
        return self.stopped or (self.deadline_mono is not None and time.monotonic() >= self.deadline_mono)

    def wait(self, seconds):
        """Sleep up to ``seconds``; return True if the worker should stop."""
        end = time.monotonic() + max(0.0, seconds)
        while True:
            if self.expired():
                return True
            now = time.monotonic()
            if now >= end:
                return False
            time.sleep(min(0.05, end - now))


class Output(object):
    """Line-buffered JSONL writer used inside a worker."""

    def __init__(self, path):
        self.path = path
        self._f = open(path, "a")

    def write(self, obj):
        self._f.write(json.dumps(obj, sort_keys=True) + "\n")
        self._f.flush()

    def close(self):
        self._f.close()


def _paths(state_dir, kind, worker_id):
    if not _ID_RE.match(worker_id or ""):
        raise EngineError("invalid worker id %r (letters, digits, '.', '_' and '-' only)" % (worker_id,))
    base = os.path.join(state_dir, "workers", "%s-%s" % (kind, worker_id))
    return base + ".json", base + ".jsonl"


def _check_dirs(state_dir):
    """The workers' directory must be private: root signals the pids its metas name."""
    check_trusted(state_dir)
    check_trusted(os.path.join(state_dir, "workers"))


def _write_json(path, data):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(data, f, sort_keys=True)
    os.rename(tmp, path)


def read_meta(state_dir, kind, worker_id):
    meta_path, out_path = _paths(state_dir, kind, worker_id)
    _check_dirs(state_dir)
    try:
        with open(meta_path) as f:
            meta = json.load(f)
    except (IOError, OSError, ValueError):
        return None
    meta["running"] = bool(meta.get("pid")) and not meta.get("finished") and \
        proc_alive(meta["pid"], meta.get("starttime"))
    meta["output"] = out_path
    return meta


def read_output(state_dir, kind, worker_id):
    _meta, out_path = _paths(state_dir, kind, worker_id)
    _check_dirs(state_dir)
    out = []
    try:
        with open(out_path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    except (IOError, OSError):
        pass
    return out


def start(state_dir, kind, worker_id, target, params, lease=3600.0, fresh=True):
    """Run ``target(params, output, flag)`` in a detached process.

    Returns the meta dict (pid, starttime, output path ...).  Raises
    EngineError if a worker with this id is already running.
    """
    meta_path, out_path = _paths(state_dir, kind, worker_id)
    os.makedirs(os.path.dirname(meta_path), 0o700, exist_ok=True)
    prune(state_dir)
    old = read_meta(state_dir, kind, worker_id)
    if old and old["running"]:
        raise EngineError("%s %s is already running (pid %s)" % (kind, worker_id, old["pid"]))
    if fresh and os.path.exists(out_path):
        os.unlink(out_path)
    deadline_mono = time.monotonic() + float(lease)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # first child
        os.close(r)
        os.setsid()
        pid2 = os.fork()
        if pid2 > 0:
            os._exit(0)
        # grandchild: the worker
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.chdir("/")
        flag = StopFlag(deadline_mono)

        def _term(signum, frame):
            flag.stopped = True

        signal.signal(signal.SIGTERM, _term)
        signal.signal(signal.SIGINT, _term)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        meta = dict(proc_identity(os.getpid()), kind=kind, id=worker_id, started=time.time(),
                    lease=float(lease), deadline=time.time() + float(lease), params=params,
                    finished=None, error=None)
        _write_json(meta_path, meta)
        os.write(w, b"ok")
        os.close(w)
        output = Output(out_path)
        code = 0
        try:
            summary = target(params, output, flag)
            meta["summary"] = summary
        except Exception as e:  # noqa: BLE001 -- recorded for the caller, never lost
            meta["error"] = "%s: %s" % (type(e).__name__, e)
            meta["traceback"] = traceback.format_exc()
            code = 1
        finally:
            output.close()
            meta["finished"] = time.time()
            meta["stopped_by"] = "signal" if flag.stopped else (
                "lease" if time.monotonic() >= deadline_mono else "done")
            _write_json(meta_path, meta)
            os._exit(code)
    os.close(w)
    os.waitpid(pid, 0)
    data = os.read(r, 8)
    os.close(r)
    if data != b"ok":
        raise EngineError("%s %s failed to start" % (kind, worker_id))
    return read_meta(state_dir, kind, worker_id)


def stop(state_dir, kind, worker_id, timeout=30.0):
    """SIGTERM the worker (identity-checked) and wait until it has finished."""
    meta = read_meta(state_dir, kind, worker_id)
    if meta is None:
        return None
    if meta["running"]:
        try:
            os.kill(meta["pid"], signal.SIGTERM)
        except OSError:
            pass
        end = time.monotonic() + timeout
        while proc_alive(meta["pid"], meta.get("starttime")) and time.monotonic() < end:
            time.sleep(0.02)
        if proc_alive(meta["pid"], meta.get("starttime")):
            os.kill(meta["pid"], signal.SIGKILL)
            time.sleep(0.1)
    return read_meta(state_dir, kind, worker_id)


def wait(state_dir, kind, worker_id, timeout):
    """Wait for a worker to finish on its own; returns its meta."""
    end = time.monotonic() + timeout
    meta = read_meta(state_dir, kind, worker_id)
    while meta is not None and meta["running"] and time.monotonic() < end:
        time.sleep(0.05)
        meta = read_meta(state_dir, kind, worker_id)
    return meta


def list_workers(state_dir, kind=None):
    d = os.path.join(state_dir, "workers")
    out = []
    if not os.path.isdir(d):
        return out
    for name in sorted(os.listdir(d)):
        if not name.endswith(".json"):
            continue
        k, _sep, wid = name[:-5].partition("-")
        if kind and k != kind:
            continue
        m = read_meta(state_dir, k, wid)
        if m:
            out.append(m)
    return out


def prune(state_dir, retention=RETENTION, now=None):
    """Remove the files of workers that ended more than ``retention`` s ago.

    A worker counts as ended when its meta says finished or its process is
    gone (killed); its age is taken from the newest of its finish time and
    its files' modification times.  Running workers are never touched, nor
    files younger than ``retention``.  Returns the ``<kind>-<id>`` removed.
    """
    d = os.path.join(state_dir, "workers")
    if not os.path.isdir(d):
        return []
    _check_dirs(state_dir)
    now = time.time() if now is None else now
    removed = []
    names = sorted(os.listdir(d))
    for name in names:
        if not name.endswith(".json"):
            continue
        kind, _sep, wid = name[:-5].partition("-")
        if not _ID_RE.match(wid or ""):
            continue
        meta_path, out_path = _paths(state_dir, kind, wid)
        meta = read_meta(state_dir, kind, wid)
        if meta is None or meta["running"]:
            continue
        if max([meta.get("finished") or 0] + [_mtime(p) for p in (meta_path, out_path)]) > now - retention:
            continue
        again = read_meta(state_dir, kind, wid)  # restarted under the same id meanwhile?
        if again is None or again["running"] or again.get("pid") != meta.get("pid"):
            continue
        for p in (meta_path, out_path):
            _unlink(p)
        removed.append("%s-%s" % (kind, wid))
    # output without a meta and temp files of a crashed write, by age alone
    for name in names:
        p = os.path.join(d, name)
        orphan = name.endswith(".jsonl") and not os.path.exists(p[:-1])
        if (orphan or ".tmp." in name) and _mtime(p) <= now - retention:
            _unlink(p)
    return removed


def _mtime(path):
    try:
        return os.lstat(path).st_mtime
    except OSError:
        return 0


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass

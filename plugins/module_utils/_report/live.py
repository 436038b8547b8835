# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The live timeline behind the ``faultline.chaos.timeline`` callback.

:class:`Tailer` follows the ledger journal ``<state_dir>/journal.jsonl`` and
the worker outputs ``<state_dir>/workers/*.jsonl`` and turns what they gain
into one-line messages: every fault event, and for probes and data generators
only *transitions* (ok -> error, acked -> failed, a new event name), plus a
periodic heartbeat while something is happening.  It never raises on bad
files and never prints payloads: only ids, event names, cycles, counts and
(truncated) error texts.  Controller-side only; no threads here (the callback
owns the thread), so it is unit-testable with plain files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import socket
import time

PREFIX = "[faultline]"
MAX_TEXT = 160
MAX_RESULT_LINES = 30
_CTRL = re.compile(r"[\x00-\x1f\x7f]+")


def clean(text, limit=MAX_TEXT):
    text = _CTRL.sub(" ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 3] + "..."


def local_clock(ts):
    try:
        ts = float(ts)
    except (TypeError, ValueError):
        ts = time.time()
    return time.strftime("%H:%M:%S", time.localtime(ts)) + ".%03d" % int((ts % 1) * 1000)


def _error_text(obj):
    detail = obj.get("detail") if isinstance(obj.get("detail"), dict) else {}
    for value in (obj.get("error"), detail.get("error"), detail.get("message"), detail.get("last_io_error")):
        if value:
            return clean(value)
    return None


class Tailer(object):
    def __init__(self, state_dir, heartbeat=30.0, host=None):
        self.state_dir = state_dir
        self.heartbeat = float(heartbeat)
        self.host = host or socket.gethostname()
        self.files = {}       # path -> {"offset", "inode", "rest"}
        self.streams = {}     # (source, id) -> {"state", "since", "count", "rows", "cycle"}
        self.printed = set()  # keys of events already shown
        self.activity = False
        self.last_beat = time.time()

    # -- files ------------------------------------------------------------
    def paths(self):
        out = [os.path.join(self.state_dir, "journal.jsonl")]
        out += sorted(glob.glob(os.path.join(self.state_dir, "workers", "*.jsonl")))
        return out

    def prime(self):
        """Skip what the files hold now (history of earlier runs is not news)."""
        for path in self.paths():
            try:
                st = os.stat(path)
            except OSError:
                continue
            self.files[path] = {"offset": st.st_size, "inode": st.st_ino, "rest": ""}

    def _read_new(self, path):
        try:
            st = os.stat(path)
        except OSError:
            return []
        info = self.files.get(path)
        if info is None or info["inode"] != st.st_ino or st.st_size < info["offset"]:
            info = self.files[path] = {"offset": 0, "inode": st.st_ino, "rest": ""}
        if st.st_size == info["offset"]:
            return []
        try:
            with open(path, "rb") as f:
                f.seek(info["offset"])
                data = f.read(4 * 1024 * 1024)
        except (IOError, OSError):
            return []
        info["offset"] += len(data)
        text = info["rest"] + data.decode("utf-8", "replace")
        lines = text.split("\n")
        info["rest"] = lines.pop()
        out = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                out.append(obj)
        return out

    def poll(self, now=None):
        """New lines to print (may be empty)."""
        lines = []
        for path in self.paths():
            base = os.path.basename(path)
            kind, _sep, ident = base[:-len(".jsonl")].partition("-")
            for obj in self._read_new(path):
                self.activity = True
                if base == "journal.jsonl" or ("event" in obj and "source" in obj):
                    line = self.consider(obj)
                else:
                    line = self.consider_sample(kind, ident or kind, obj)
                if line:
                    lines.append(line)
        beat = self.beat(now)
        if beat:
            lines.append(beat)
        return lines

    # -- interpretation ----------------------------------------------------
    def _who(self, obj):
        host = obj.get("host")
        return " @%s" % clean(host, 40) if host and host != self.host else ""

    def consider(self, ev):
        """An event of the shared shape: fault events always, others on change."""
        key = (ev.get("ts"), ev.get("host"), ev.get("source"), ev.get("id"), ev.get("event"))
        if key in self.printed:
            return None
        source, ident, name = ev.get("source") or "event", ev.get("id") or "-", ev.get("event") or "?"
        stream = self.streams.setdefault((source, ident), {"state": None, "since": ev.get("ts"), "count": 0})
        stream["count"] += 1
        detail = ev.get("detail") if isinstance(ev.get("detail"), dict) else {}
        if source != "fault" and name == stream["state"]:
            return None
        stream["state"], stream["since"] = name, ev.get("ts")
        if detail.get("cycle") is not None:
            stream["cycle"] = detail.get("cycle")
        self.printed.add(key)
        text = "%s %s%s %s" % (clean(source, 20), clean(ident, 60), self._who(ev), clean(name, 40))
        if detail.get("cycle") is not None:
            text += " cycle %s" % clean(detail["cycle"], 10)
        if detail.get("reason"):
            text += " (%s)" % clean(detail["reason"], 40)
        err = _error_text(ev)
        if err and (name in ("error", "apply_failed") or "fail" in name or source != "fault"):
            text += ": " + err
        return "%s %s %s" % (PREFIX, local_clock(ev.get("ts")), text)

    def consider_sample(self, kind, ident, obj):
        """A worker line that is not an event: probe sample or datagen ledger entry."""
        stream = self.streams.setdefault((kind, ident), {"state": None, "since": obj.get("ts"), "count": 0,
                                                         "rows": 0})
        stream["count"] += 1
        if "ok" in obj:
            state = "ok" if obj.get("ok") else "error"
        elif "status" in obj:
            state = str(obj.get("status"))
            if state == "acked":
                try:
                    stream["rows"] = stream.get("rows", 0) + int(obj["seq_to"]) - int(obj["seq_from"]) + 1
                except (KeyError, TypeError, ValueError):
                    pass
        else:
            return None
        if state == stream["state"]:
            return None
        before, since = stream["state"], stream["since"]
        stream["state"], stream["since"] = state, obj.get("ts")
        text = "%s %s %s" % (clean(kind, 20), clean(ident, 60), clean(state, 30))
        err = _error_text(obj)
        if err and state != "ok" and state != "acked":
            text += ": " + err
        elif before is not None and since is not None and obj.get("ts") is not None:
            try:
                text += " (after %.1f s %s)" % (float(obj["ts"]) - float(since), clean(before, 30))
            except (TypeError, ValueError):
                pass
        return "%s %s %s" % (PREFIX, local_clock(obj.get("ts")), text)

    def beat(self, now=None):
        """One summary line every ``heartbeat`` seconds, only if something happened."""
        now = time.time() if now is None else now
        if self.heartbeat <= 0 or now - self.last_beat < self.heartbeat:
            return None
        self.last_beat = now
        if not self.activity:
            return None
        self.activity = False
        parts = []
        for (source, ident), s in sorted(self.streams.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))):
            if s["state"] is None:
                continue
            part = "%s %s %s" % (clean(source, 20), clean(ident, 40), clean(s["state"], 30))
            if s.get("cycle") is not None and source == "fault":
                part += " cycle %s" % clean(s["cycle"], 10)
            try:
                age = now - float(s["since"])
                part += (" for %.1f s" if age < 10 else " for %.0f s") % age
            except (TypeError, ValueError):
                pass
            if s.get("rows"):
                part += ", %d rows acked" % s["rows"]
            parts.append(part)
        if not parts:
            return None
        return "%s %s still running: %s" % (PREFIX, local_clock(now), "; ".join(parts))

    def result_lines(self, events):
        """Lines for events of a task result that were not shown yet."""
        out = []
        if not isinstance(events, list):
            return out

        def _ts(ev):
            try:
                return float(ev.get("ts"))
            except (TypeError, ValueError):
                return float("inf")

        for ev in sorted((e for e in events if isinstance(e, dict)), key=_ts):
            line = self.consider(ev)
            if line:
                out.append(line)
        if len(out) > MAX_RESULT_LINES:
            hidden = len(out) - MAX_RESULT_LINES
            out = out[:MAX_RESULT_LINES] + ["%s ... %d more events in the task result" % (PREFIX, hidden)]
        return out

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WS-RESILIENCE-006: rapid WebSocket reconnection (flapping) with leak checks.

The client side uses the ``websockets`` library on asyncio.  Both edges of
every cycle sit on a fixed grid of the monotonic clock (so lateness never
accumulates): cycle ``k`` connects at ``t0 + k * (hold + gap)`` and starts to
close at ``t0 + k * (hold + gap) + hold``.  The measured hold (handshake done
to close start) is thus ``hold`` minus the handshake time and the measured gap
(close done to the next connect) ``gap`` minus the close time.
Every connection is closed in ``finally`` (aborted if the close handshake
does not finish in time).  Meanwhile a thread samples the server's resources
from /proc (see :mod:`server`).  :func:`evaluate` turns the figures into one
pass/fail per success criterion of the seed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import gc
import json
import os
import re
import ssl
import signal
import tempfile
import time
from urllib.parse import urlsplit

from ansible.module_utils.urls import open_url
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    SUPERVISOR_RT_PRIORITY, make_event, set_normal, set_realtime)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._websocket import server as ws_server

try:
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
    HAS_WEBSOCKETS = True
    WEBSOCKETS_IMPORT_ERROR = None
except ImportError as _e:  # pragma: no cover - reported through missing_required_lib
    HAS_WEBSOCKETS = False
    WEBSOCKETS_IMPORT_ERROR = _e

# The success criteria of the seed, in its order (names are the checklist text).
CRITERIA = (
    ("no_duplicate_agents", "No duplicate agent instances created during flapping"),
    ("memory_stable", "Memory usage remains stable (no leaks)"),
    ("connection_pool", "Connection pool properly manages rapid state changes"),
    ("final_connection", "Final connection works normally after flapping period"),
    ("cleanup_logged", "Server logs show proper cleanup for each disconnect"),
    ("no_exhaustion", "No resource exhaustion or server instability"),
)


class FlapError(Exception):
    """A message for the user (bad URL, connection refused, TLS failure ...)."""


# --------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------

def validate_url(url):
    parts = urlsplit(url or "")
    if parts.scheme not in ("ws", "wss"):
        raise FlapError("url %r must start with ws:// or wss://" % (url,))
    if not parts.hostname:
        raise FlapError("url %r has no host" % (url,))
    try:
        port = parts.port
    except ValueError:
        raise FlapError("url %r has an invalid port" % (url,))
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "wss" else 80)


def ssl_context(scheme, validate_certs=True, ca_path=None):
    if scheme != "wss":
        return None
    ctx = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    if not validate_certs:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect_kwargs(p):
    """Keyword arguments for websockets' connect() from module parameters."""
    headers = dict(p.get("headers") or {})
    if p.get("auth_token"):
        headers["Authorization"] = "Bearer %s" % p["auth_token"]
    scheme = validate_url(p["url"])[0]
    kw = dict(additional_headers=headers or None, open_timeout=p["connect_timeout"],
              close_timeout=p["close_timeout"], ping_interval=None,
              ssl=ssl_context(scheme, p.get("validate_certs", True), p.get("ca_path")))
    if p.get("subprotocol"):
        kw["subprotocols"] = [p["subprotocol"]]
    return kw


def describe_error(exc, url, timeout=None):
    """A one-line, user-facing reason for a failed connection attempt."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed for %s: %s" % (url, exc.verify_message or exc)
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake with %s failed: %s" % (url, exc.reason or exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused by %s (is the server running?)" % url
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out after %ss opening %s" % (timeout, url)
    if HAS_WEBSOCKETS and isinstance(exc, InvalidStatus):
        return "server at %s rejected the WebSocket upgrade with HTTP %s" % (url, exc.response.status_code)
    if HAS_WEBSOCKETS and isinstance(exc, InvalidURI):
        return "invalid WebSocket url %s: %s" % (url, exc)
    if HAS_WEBSOCKETS and isinstance(exc, InvalidHandshake):
        return "WebSocket handshake with %s failed: %s" % (url, exc)
    if isinstance(exc, OSError):
        return "cannot connect to %s: %s" % (url, exc.strerror or exc)
    return "%s: %s" % (type(exc).__name__, exc)


# --------------------------------------------------------------------------
# client side
# --------------------------------------------------------------------------

async def _sleep_until(target):
    delay = target - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _close(ws, timeout):
    """Close ``ws`` politely; abort the transport if that does not finish."""
    if ws is None:
        return
    try:
        await asyncio.wait_for(ws.close(), timeout + 0.5)
    except Exception:  # noqa: BLE001 -- whatever happened, the socket must go
        pass
    finally:
        transport = getattr(ws, "transport", None)
        if transport is not None and not transport.is_closing():
            transport.abort()


async def _flap(p, clock, kw, emit):
    """Run the connect/hold/close cycles; returns the per-cycle measurements."""
    hold, gap = p["hold_ms"] / 1000.0, p["gap_ms"] / 1000.0
    period = hold + gap
    cycles = []
    t0 = time.monotonic()
    for k in range(p["iterations"]):
        grid = t0 + k * period
        await _sleep_until(grid)
        c = {"n": k + 1, "start_lag_ms": (time.monotonic() - grid) * 1000.0, "error": None,
             "connected_at": None, "closed_at": None, "connect_ms": None, "hold_ms": None,
             "close_ms": None, "gap_ms": None}
        ws, started = None, time.monotonic()
        c["connect_started_mono"] = started
        try:
            ws = await ws_connect(p["url"], **kw)
            connected = time.monotonic()
            c.update(connected_at=clock(connected), connect_ms=(connected - started) * 1000.0)
            emit("fault", "up", {"cycle": k + 1, "connect_ms": round(c["connect_ms"], 3)}, clock(connected))
            await _sleep_until(grid + hold)
            close_start = time.monotonic()
            await _close(ws, p["close_timeout"])
            ws = None
            closed = time.monotonic()
            c.update(hold_ms=(close_start - connected) * 1000.0, close_ms=(closed - close_start) * 1000.0,
                     closed_at=clock(closed), closed_mono=closed, close_started_at=clock(close_start))
            emit("fault", "down", {"cycle": k + 1, "hold_ms": round(c["hold_ms"], 3),
                                   "close_ms": round(c["close_ms"], 3)}, clock(close_start))
        except Exception as e:  # noqa: BLE001 -- recorded per cycle
            c["error"] = describe_error(e, p["url"], p["connect_timeout"])
            emit("probe", "error", {"cycle": k + 1, "error": c["error"]}, clock(time.monotonic()))
            if k == 0:
                raise FlapError(c["error"])
        finally:
            await _close(ws, p["close_timeout"])
        if cycles and cycles[-1].get("closed_mono") is not None:
            cycles[-1]["gap_ms"] = (started - cycles[-1]["closed_mono"]) * 1000.0
        cycles.append(c)
    for c in cycles:
        c.pop("closed_mono", None)
        c.pop("connect_started_mono", None)
    return cycles


async def _final(p, kw):
    """Connect once more, send ``final_message`` and wait for the expected reply."""
    out = {"ok": False, "connect_ms": None, "connected_at": None, "latency_ms": None, "reply": None, "error": None}
    ws, started = None, time.monotonic()
    try:
        ws = await ws_connect(p["url"], **kw)
        connected = time.monotonic()
        out["connect_ms"] = (connected - started) * 1000.0
        out["connected_at"] = time.time()
        await ws.send(p["final_message"])
        reply = await asyncio.wait_for(ws.recv(), p["final_timeout"])
        out["latency_ms"] = (time.monotonic() - connected) * 1000.0
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        out["reply"] = reply
        if p.get("final_expect") is not None:
            out["ok"] = reply.rstrip("\r\n") == p["final_expect"]
            if not out["ok"]:
                out["error"] = "reply %r is not %r" % (reply[:200], p["final_expect"])
        elif p.get("final_expect_regex"):
            out["ok"] = re.search(p["final_expect_regex"], reply) is not None
            if not out["ok"]:
                out["error"] = "reply %r does not match /%s/" % (reply[:200], p["final_expect_regex"])
        else:
            out["ok"] = True
    except (asyncio.TimeoutError, TimeoutError) as e:
        out["error"] = ("no reply within %ss" % p["final_timeout"]) if ws is not None \
            else describe_error(e, p["url"], p["connect_timeout"])
    except Exception as e:  # noqa: BLE001 -- reported as the criterion's detail
        out["error"] = describe_error(e, p["url"], p["connect_timeout"])
    finally:
        await _close(ws, p["close_timeout"])
    return out


# --------------------------------------------------------------------------
# server side
# --------------------------------------------------------------------------

class Sampler(object):
    """Samples the server every ``interval`` seconds in a forked child process.

    A process rather than a thread: reading /proc costs tens of milliseconds
    per sample and must not compete for the GIL with the asyncio client whose
    timing is being measured.  Samples go to a private temporary file.
    """

    def __init__(self, server, port, interval, clock):
        self.server, self.port, self.interval, self.clock = server, port, interval, clock
        self.samples, self.pid, self.path = [], None, None

    def start(self):
        fd, self.path = tempfile.mkstemp(prefix="faultline-ws-samples-")
        pid = os.fork()
        if pid == 0:  # child: sample until SIGTERM (or the parent is gone)
            state = {"stop": False}

            def _term(signum, frame):
                state["stop"] = True

            signal.signal(signal.SIGTERM, _term)
            code = 0
            parent = os.getppid()
            try:
                while not state["stop"] and os.getppid() == parent:
                    s = ws_server.snapshot(self.server, self.port, with_cmdline=False)
                    line = json.dumps({"ts": self.clock(time.monotonic()), "rss_kb": s["rss_kb"], "fds": s["fds"],
                                       "processes": s["process_count"], "established": s["established"],
                                       "alive": s["alive"]}) + "\n"
                    os.write(fd, line.encode("utf-8"))
                    if not state["stop"]:
                        time.sleep(self.interval)
            except Exception:  # noqa: BLE001 -- the parent sees missing samples
                code = 1
            finally:
                if os.getppid() != parent:  # the module was killed: nobody reads or removes the file
                    try:
                        os.unlink(self.path)
                    except OSError:
                        pass
                os._exit(code)
        os.close(fd)
        self.pid = pid
        # let the first sample land before the client starts: forking and the
        # first /proc scan must not eat into the first cycle
        deadline = time.monotonic() + 2.0
        while os.path.getsize(self.path) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)

    def stop(self):
        if self.pid is None:
            return self.samples
        try:
            os.kill(self.pid, signal.SIGTERM)
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        self.pid = None
        try:
            with open(self.path) as f:
                self.samples = [json.loads(line) for line in f if line.strip()]
        except (IOError, OSError, ValueError):
            self.samples = []
        finally:
            os.unlink(self.path)
        return self.samples


def log_position(path):
    try:
        st = os.stat(path)
    except OSError:
        return {"inode": None, "size": 0}
    return {"inode": st.st_ino, "size": st.st_size}


def count_log_lines(path, start, pattern):
    """Lines appended to ``path`` since ``start`` (a log_position) matching ``pattern``."""
    pos = log_position(path)
    offset = start["size"] if pos["inode"] == start["inode"] and pos["size"] >= start["size"] else 0
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except (IOError, OSError) as e:
        return {"lines": 0, "matched": 0, "error": "cannot read log_file %s: %s" % (path, e.strerror)}
    lines = data.decode("utf-8", "replace").splitlines()
    rx = re.compile(pattern)
    return {"lines": len(lines), "matched": sum(1 for ln in lines if rx.search(ln)), "error": None,
            "rotated": offset == 0 and start["size"] > 0}


def parse_count(text):
    """An agent count from a command's output or an HTTP body (int, or JSON)."""
    text = (text or "").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, bool):
        data = None
    if isinstance(data, (int, float)):
        return int(data)
    if isinstance(data, dict):
        for key in ("count", "agents", "sessions", "connections", "active"):
            if isinstance(data.get(key), (int, float)) and not isinstance(data.get(key), bool):
                return int(data[key])
    m = re.search(r"-?\d+", text)
    if m is None:
        raise FlapError("cannot read an agent count from %r" % text[:200])
    return int(m.group(0))


def agent_count(p, runner):
    if p.get("agent_count_command"):
        rc, out, err = runner(p["agent_count_command"])
        if rc != 0:
            raise FlapError("agent_count_command failed (rc=%s): %s" % (rc, (err or out).strip()[:300]))
        return parse_count(out)
    if p.get("agent_count_url"):
        try:
            resp = open_url(p["agent_count_url"], method="GET", timeout=p["connect_timeout"])
            body = resp.read().decode("utf-8", "replace")
        except Exception as e:  # noqa: BLE001
            raise FlapError("agent_count_url %s failed: %s" % (p["agent_count_url"], e))
        return parse_count(body)
    return None


# --------------------------------------------------------------------------
# verdict
# --------------------------------------------------------------------------

def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return {"min": None, "max": None, "mean": None}
    return {"min": round(min(values), 3), "max": round(max(values), 3), "mean": round(sum(values) / len(values), 3)}


def leaked(before, after):
    """Workers alive after the run that did not exist before (pid + start time)."""
    old = set((pr["pid"], pr["starttime"]) for pr in before["processes"])
    return [{"pid": pr["pid"], "ppid": pr["ppid"], "starttime": pr["starttime"], "state": pr["state"],
             "via": pr["via"], "cmdline": pr.get("cmdline")}
            for pr in after["processes"] if (pr["pid"], pr["starttime"]) not in old]


def evaluate(p, cycles, final, before=None, after=None, samples=None, logs=None, agents=None, nofile=None):
    """One verdict per success criterion: {key, name, passed (bool|None), detail, measured}."""
    samples = samples or []
    ok_cycles = [c for c in cycles if c["error"] is None]
    errors = [c for c in cycles if c["error"] is not None]
    res = {}

    def put(key, passed, detail, **measured):
        res[key] = {"passed": passed, "detail": detail, "measured": measured}

    leak = leaked(before, after) if before and after else []
    if before and after:
        dproc = after["process_count"] - before["process_count"]
        ok = dproc <= p["process_tolerance"]
        detail = "workers before %d, after %d (tolerance %d)" % (
            before["process_count"], after["process_count"], p["process_tolerance"])
        if leak:
            detail += "; leaked: " + ", ".join("pid %d %s" % (x["pid"], x["cmdline"]) for x in leak[:10])
        if agents:
            ok = ok and agents["after"] - agents["before"] <= p["process_tolerance"]
            detail += "; agent count before %d, after %d" % (agents["before"], agents["after"])
        put("no_duplicate_agents", ok, detail, workers_before=before["process_count"],
            workers_after=after["process_count"], leaked=len(leak),
            workers_peak=max([s["processes"] for s in samples] or [None]) if samples else None,
            agents_before=(agents or {}).get("before"), agents_after=(agents or {}).get("after"))
        drss = after["rss_kb"] - before["rss_kb"]
        put("memory_stable", drss <= p["rss_tolerance_kb"],
            "RSS of the server and its workers %d kB before, %d kB after (%+d kB, tolerance %d kB), peak %s kB" % (
                before["rss_kb"], after["rss_kb"], drss, p["rss_tolerance_kb"],
                max([s["rss_kb"] for s in samples] or [after["rss_kb"]])),
            rss_before_kb=before["rss_kb"], rss_after_kb=after["rss_kb"], rss_delta_kb=drss,
            rss_peak_kb=max([s["rss_kb"] for s in samples] or [after["rss_kb"]]))
        dfd = after["fds"] - before["fds"]
        est_b, est_a = before["established"], after["established"]
        ok = dfd <= p["fd_tolerance"] and not errors and (est_a is None or est_a <= est_b)
        put("connection_pool", ok,
            "%d/%d cycles connected and closed; established connections on the port before %s, after %s; "
            "open fds %d before, %d after (%+d, tolerance %d)" % (
                len(ok_cycles), len(cycles), est_b, est_a, before["fds"], after["fds"], dfd, p["fd_tolerance"]),
            cycles_ok=len(ok_cycles), cycles=len(cycles), established_before=est_b, established_after=est_a,
            fds_before=before["fds"], fds_after=after["fds"], fds_delta=dfd,
            established_peak=max([s["established"] or 0 for s in samples] or [0]))
        fds_peak = max([s["fds"] for s in samples] + [after["fds"]])
        ok = after["alive"] and all(s["alive"] for s in samples) and not errors and \
            (nofile is None or fds_peak < 0.9 * nofile)
        put("no_exhaustion", ok,
            "server %s after the run; %d connection errors; peak fds %d of limit %s" % (
                "alive (same process)" if after["alive"] else "GONE or replaced", len(errors), fds_peak, nofile),
            server_alive=after["alive"], connect_errors=len(errors), fds_peak=fds_peak, nofile_limit=nofile)
    else:
        msg = "not measured: no server_pid, server_pidfile or server_port given"
        for key in ("no_duplicate_agents", "memory_stable"):
            put(key, None, msg)
        put("connection_pool", not errors if cycles else None,
            "%d/%d cycles connected and closed (server side %s)" % (len(ok_cycles), len(cycles), msg),
            cycles_ok=len(ok_cycles), cycles=len(cycles))
        put("no_exhaustion", not errors, "%d connection errors (server side %s)" % (len(errors), msg),
            connect_errors=len(errors))
    if final is None:
        put("final_connection", None, "not run (final_check: false)")
    else:
        put("final_connection", final["ok"],
            ("reply %r after %.1f ms (connect %.1f ms)" % (final["reply"], final["latency_ms"], final["connect_ms"]))
            if final["ok"] else "final connection failed: %s" % final["error"],
            latency_ms=final["latency_ms"], connect_ms=final["connect_ms"], reply=final["reply"])
    if logs is None:
        put("cleanup_logged", None, "not measured: no log_file given")
    elif logs.get("error"):
        put("cleanup_logged", False, logs["error"])
    else:
        expected = len(ok_cycles)
        put("cleanup_logged", logs["matched"] == expected,
            "%d cleanup lines (/%s/) for %d disconnects (%d lines appended to %s)" % (
                logs["matched"], p["cleanup_pattern"], expected, logs["lines"], p["log_file"]),
            cleanup_lines=logs["matched"], disconnects=expected, lines_appended=logs["lines"])
    criteria = []
    for key, name in CRITERIA:
        c = dict(key=key, name=name)
        c.update(res[key])
        criteria.append(c)
    return criteria, leak


def timing_summary(cycles):
    return {"hold_ms": _stats([c["hold_ms"] for c in cycles]), "gap_ms": _stats([c["gap_ms"] for c in cycles]),
            "connect_ms": _stats([c["connect_ms"] for c in cycles]),
            "close_ms": _stats([c["close_ms"] for c in cycles]),
            "start_lag_ms": _stats([c["start_lag_ms"] for c in cycles])}


# --------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------

def run(p, runner, check_mode=False, host=None):
    """Everything the module does. ``runner(argv) -> (rc, out, err)``. Raises FlapError."""
    offset = time.time() - time.monotonic()

    def clock(mono):
        return mono + offset

    scheme = validate_url(p["url"])[0]
    if p.get("ca_path") and scheme != "wss":
        raise FlapError("ca_path only applies to wss:// urls")
    for opt in ("cleanup_pattern", "final_expect_regex"):
        if p.get(opt):
            try:
                re.compile(p[opt])
            except re.error as e:
                raise FlapError("%s is not a valid regular expression: %s" % (opt, e))
    try:
        server = ws_server.resolve_server(p.get("server_pid"), p.get("server_pidfile"), p.get("server_port"))
    except ws_server.ProcError as e:
        raise FlapError(str(e))
    port = p.get("server_port") or (validate_url(p["url"])[2] if server else None)
    if server and port not in server["ports"] and server["ports"] and not p.get("server_port"):
        port = server["ports"][0]
    kw = connect_kwargs(p)
    result = {"server": server, "port": port, "url": p["url"]}
    if check_mode:
        result.update(passed=None, criteria=[], checks=[], cycles=[], events=[], leaked_processes=[])
        return result

    events = []

    def emit(source, event, detail, ts):
        events.append(make_event(source, p["event_id"], event, detail, host=host, ts=ts))

    before = after = sampler = logs = agents = None
    log_start = log_position(p["log_file"]) if p.get("log_file") else None
    if server:
        before = ws_server.snapshot(server, port)
    agents_before = agent_count(p, runner)
    if server:
        sampler = Sampler(server, port, p["sample_interval_ms"] / 1000.0, clock)
        sampler.start()
    started = time.time()
    emit("probe", "flapping_started", {"iterations": p["iterations"], "hold_ms": p["hold_ms"],
                                       "gap_ms": p["gap_ms"], "url": p["url"]}, started)
    gc.disable()  # no collector pauses inside the measured cycles
    # Root: the cycles run SCHED_FIFO (reset on fork), like a supervisor on a flap's
    # clock, so a busy host does not push connects and closes off the grid; the
    # loop sleeps between edges, and the policy is back to normal right after.
    realtime = set_realtime(0, SUPERVISOR_RT_PRIORITY, reset_on_fork=True)
    try:
        cycles = asyncio.run(_flap(p, clock, kw, emit))
    finally:
        if realtime:
            set_normal()
        gc.enable()
    try:
        time.sleep(p["settle_ms"] / 1000.0)
    finally:
        if sampler is not None:
            sampler.stop()
    emit("probe", "flapping_finished", {}, time.time())
    if server:
        after = ws_server.snapshot(server, port)
    if agents_before is not None:
        agents = {"before": agents_before, "after": agent_count(p, runner)}
    if log_start is not None:
        logs = count_log_lines(p["log_file"], log_start, p["cleanup_pattern"])
    final = None
    if p["final_check"]:
        final = asyncio.run(_final(p, kw))
        emit("probe", "ok" if final["ok"] else "error",
             {"check": "final_connection", "latency_ms": final["latency_ms"], "error": final["error"]}, time.time())
    nofile = procfs.nofile_limit(server["pid"]) if server else None
    samples = sampler.samples if sampler else []
    criteria, leak = evaluate(p, cycles, final, before, after, samples, logs, agents, nofile)
    for c in criteria:
        if c["passed"] is not None:
            emit("verify", "pass" if c["passed"] else "fail", {"check": c["name"], "detail": c["detail"]}, time.time())
    measured = [c for c in criteria if c["passed"] is not None]
    # the report's view: each cycle's disconnected window, ended by the next
    # connection (the final one for the last cycle)
    nexts = [c["connected_at"] for c in cycles[1:]] + [final["connected_at"] if final else None]
    for c, up in zip(cycles, nexts):
        c.update(down_at=c.get("close_started_at"), up_at=up, detected_at=None, recovered_at=up,
                 notes="held %s ms, then disconnected %s ms%s" % (
                     "-" if c["hold_ms"] is None else "%.1f" % c["hold_ms"],
                     "-" if c["gap_ms"] is None else "%.1f" % c["gap_ms"],
                     "; " + c["error"] if c["error"] else ""))
    result.update(
        passed=all(c["passed"] for c in measured),
        criteria=criteria,
        checks=[{"name": c["name"], "passed": c["passed"], "detail": c["detail"]} for c in measured],
        leaked_processes=leak,
        cycles=cycles,
        timing=dict(timing_summary(cycles), realtime=realtime),
        before=before, after=after, samples=samples,
        series={"server_processes": [[s["ts"], s["processes"]] for s in samples],
                "server_fds": [[s["ts"], s["fds"]] for s in samples],
                "server_rss_kb": [[s["ts"], s["rss_kb"]] for s in samples],
                "established": [[s["ts"], s["established"]] for s in samples]},
        log=logs, agents=agents, final=final, started=started, finished=time.time(),
        events=sorted(events, key=lambda e: e["ts"]),
    )
    return result

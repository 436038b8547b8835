# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe samplers: one observation of the system under test per call.

``make_sampler(params)`` returns an object with ``sample() -> dict`` and
``close()``.  A sample is ``{"ts", "ok", "latency_ms", "error", "detail"}``;
``ts`` is the wall-clock time the attempt started.  Everything here is
imported by the module before a background worker is forked (Ansible deletes
the payload when the module returns), so nothing is imported lazily.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import re
import socket
import ssl
import subprocess
import time

from urllib.error import HTTPError, URLError
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    connect, connect_params, error_text, pymysql, replica_status,
)
from ansible_collections.faultline.chaos.plugins.module_utils._probes import etcdgw

KINDS = ("mysql_replica", "mysql_query", "tcp", "http", "command", "etcd", "watch")
DETAIL_MAX = 300  # characters kept of values echoed into samples


def os_error_text(exc):
    """``Connection refused (errno 111)`` / ``timed out`` from a socket error."""
    if isinstance(exc, socket.timeout):
        return "timed out"
    if getattr(exc, "errno", None) and getattr(exc, "strerror", None):
        return "%s (errno %d)" % (exc.strerror, exc.errno)
    return str(exc) or type(exc).__name__


class Sampler(object):
    def __init__(self, params):
        self.params = params
        self.timeout = float(params.get("timeout") or 1.0)

    def sample(self):
        ts, t0 = time.time(), time.monotonic()
        try:
            ok, error, detail = self.observe()
        except Exception as e:  # noqa: BLE001 -- a probe reports, it never dies
            ok, error, detail = False, "%s: %s" % (type(e).__name__, e), {}
        return {"ts": ts, "ok": bool(ok), "latency_ms": round((time.monotonic() - t0) * 1000.0, 2),
                "error": None if ok else error, "detail": detail}

    def observe(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self):
        pass


class TcpSampler(Sampler):
    """A fresh TCP connect per sample."""

    def observe(self):
        try:
            s = socket.create_connection((self.params["host"], int(self.params["port"])), timeout=self.timeout)
        except (socket.error, OSError) as e:
            return False, os_error_text(e), {}
        s.close()
        return True, None, {}


class CommandSampler(Sampler):
    """Runs an argv list (never a shell); ok = exit code 0."""

    def observe(self):
        argv = self.params["command"]
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            return False, "timed out after %ss" % self.timeout, {"rc": None}
        except OSError as e:
            return False, "%s: %s" % (argv[0], os_error_text(e)), {"rc": None}
        out = p.stdout.decode("utf-8", "replace").strip()
        err = p.stderr.decode("utf-8", "replace").strip()
        detail = {"rc": p.returncode, "stdout": out[-DETAIL_MAX:]}
        if p.returncode == 0:
            return True, None, detail
        lines = (err or out).splitlines()
        return False, "rc=%d%s" % (p.returncode, (": " + lines[-1]) if lines else ""), detail


class HttpSampler(Sampler):
    """A fresh HTTP(S) request per sample; ok = status in ``expect_status``."""

    def __init__(self, params):
        Sampler.__init__(self, params)
        ctx = ssl.create_default_context()
        if not params.get("validate_certs", True):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.opener = build_opener(HTTPSHandler(context=ctx))
        self.headers = dict(params.get("headers") or {})
        if params.get("url_username"):
            cred = "%s:%s" % (params["url_username"], params.get("url_password") or "")
            self.headers["Authorization"] = "Basic " + base64.b64encode(cred.encode("utf-8")).decode("ascii")
        self.expect = list(params.get("expect_status") or [200])

    def observe(self):
        req = Request(self.params["url"], headers=self.headers, method=self.params.get("method") or "GET")
        try:
            resp = self.opener.open(req, timeout=self.timeout)
            status = resp.getcode()
            resp.read(65536)
            resp.close()
        except HTTPError as e:
            status = e.code
            e.close()
        except URLError as e:
            reason = e.reason
            return False, os_error_text(reason) if isinstance(reason, (OSError, socket.error)) else str(reason), {}
        except (socket.error, OSError) as e:
            return False, os_error_text(e), {}
        if status in self.expect:
            return True, None, {"status": status}
        return False, "HTTP status %s (expected %s)" % (status, ", ".join(str(s) for s in self.expect)), {"status": status}


class _MysqlSampler(Sampler):
    """One connection reused across samples, re-opened after any failure."""

    def __init__(self, params):
        Sampler.__init__(self, params)
        kw = connect_params(params)
        kw["connect_timeout"] = self.timeout
        self.kw = kw
        self.conn = None

    def _cursor(self):
        reconnected = False
        if self.conn is None:
            self.conn = connect(self.kw, read_timeout=self.timeout, write_timeout=self.timeout)
            reconnected = True
        return self.conn.cursor(), reconnected

    def observe(self):
        try:
            cur, reconnected = self._cursor()
            try:
                return self.check(cur, reconnected)
            finally:
                cur.close()
        except pymysql.err.MySQLError as e:
            self.close()
            return False, error_text(e), {}

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:  # noqa: BLE001 -- the socket may be dead already
                pass
            self.conn = None


class MysqlQuerySampler(_MysqlSampler):
    """Runs ``query``; optional ``expect`` (regex on the first column of the
    first row) and ``expect_rows`` (exact row count)."""

    def check(self, cur, reconnected):
        cur.execute(self.params["query"])
        rows = cur.fetchall() if cur.description else []
        first = None
        if rows:
            first = list(rows[0].values())[0]
            first = None if first is None else str(first)
        detail = {"rows": len(rows), "value": first[:DETAIL_MAX] if first is not None else None,
                  "reconnected": reconnected}
        expect = self.params.get("expect")
        if expect and not re.search(expect, first or ""):
            return False, "first column %r does not match %r" % (first, expect), detail
        want = self.params.get("expect_rows")
        if want is not None and len(rows) != int(want):
            return False, "%d rows returned (expected %d)" % (len(rows), int(want)), detail
        return True, None, detail


REPLICA_DETAIL = ("io_running", "sql_running", "io_state", "last_io_errno", "last_io_error",
                  "last_io_error_ts", "seconds_behind", "gtid_io_pos", "read_source_log_pos",
                  "exec_source_log_pos", "connect_retry", "last_sql_errno", "last_sql_error")


class MysqlReplicaSampler(_MysqlSampler):
    """SHOW REPLICA/SLAVE STATUS; ok = IO and SQL threads running and no new IO error.

    An IO error already reported when the probe started (same errno, text and
    timestamp) is not "new"; Last_IO_Error is reported verbatim.
    """

    def __init__(self, params):
        _MysqlSampler.__init__(self, params)
        self.baseline = None

    def check(self, cur, reconnected):
        st = replica_status(cur)
        if st is None:
            return False, "no replica status: the server is not configured as a replica", {}
        detail = dict((k, _plain(st.get(k))) for k in REPLICA_DETAIL)
        err_key = (st.get("last_io_errno"), st.get("last_io_error"), st.get("last_io_error_ts"))
        if self.baseline is None:
            self.baseline = err_key
        new_io_error = bool(st.get("last_io_errno")) and err_key != self.baseline
        running = st.get("io_running") == "Yes" and st.get("sql_running") == "Yes"
        if running and not new_io_error:
            return True, None, detail
        if st.get("last_io_error") and (new_io_error or st.get("io_running") != "Yes"):
            return False, st["last_io_error"], detail
        if st.get("sql_running") != "Yes" and st.get("last_sql_error"):
            return False, st["last_sql_error"], detail
        return False, "IO thread: %s, SQL thread: %s" % (st.get("io_running"), st.get("sql_running")), detail


# gateway answers that prove a write was not applied; any other error after
# the request was sent leaves it indeterminate (it may still commit)
ETCD_DEFINITE = ("etcdserver: no leader", "etcdserver: not capable", "etcdserver: too many requests",
                 "etcdserver: request is too large")


def backoff_delays(params):
    """The pauses between attempts: initial * multiplier**i, capped at max (one per retry)."""
    d0, mult, cap = float(params["backoff_initial"]), float(params["backoff_multiplier"]), float(params["backoff_max"])
    return [round(min(d0 * mult ** i, cap), 6) for i in range(int(params["retries"]))]


def key_prefix(params):
    return params.get("key_prefix") or "faultline/probe/%s/" % params.get("name", "probe")


class EtcdSampler(Sampler):
    """One sample = one write (``/v3/kv/put``) of a fresh key under ``key_prefix``
    with the client retry policy, then (``read_back``) a read of it.

    Every attempt is in ``detail.attempts`` with its wall-clock time, endpoint,
    error and the pause before the next attempt.  A multi-endpoint client moves
    to the next endpoint after a failed attempt (and stays there while it
    works).  ``detail.outcome``: ``acked`` (the server confirmed), ``failed``
    (no attempt can have been applied: never sent, or refused with an error
    that proves it) or ``indeterminate`` (sent, no answer: it may still commit).
    """

    def __init__(self, params):
        Sampler.__init__(self, params)
        self.endpoints = list(params["endpoints"])
        self.prefix = key_prefix(params)
        self.delays = backoff_delays(params)
        self.client = etcdgw.Client(self.timeout)
        self.cur = 0
        self.n = 0
        self.flag = None  # the worker's StopFlag: pauses end early when the probe is stopped

    def _pause(self, seconds):
        if self.flag is not None:
            return self.flag.wait(seconds)
        time.sleep(seconds)
        return False

    def sample(self):
        self.n += 1
        key = "%s%08d" % (self.prefix, self.n)
        ts, t0 = time.time(), time.monotonic()
        value = "%d %.6f" % (self.n, ts)
        attempts = []
        revision = None
        sent_unknown = False
        for i in range(len(self.delays) + 1):
            ep = self.endpoints[self.cur]
            a_ts, a0 = time.time(), time.monotonic()
            try:
                doc = self.client.put(ep, key, value)
            except etcdgw.GatewayError as e:
                err = str(e)
                if e.sent and not (e.status and 400 <= e.status < 500) and \
                        not any(err.startswith(d) for d in ETCD_DEFINITE):
                    sent_unknown = True
                att = {"n": i + 1, "ts": a_ts, "endpoint": ep, "ok": False, "error": err,
                       "latency_ms": round((time.monotonic() - a0) * 1000.0, 2)}
                attempts.append(att)
                if i < len(self.delays):
                    att["backoff_s"] = self.delays[i]
                    if len(self.endpoints) > 1:
                        self.cur = (self.cur + 1) % len(self.endpoints)
                    if self._pause(self.delays[i]):
                        break
                continue
            revision = int((doc.get("header") or {}).get("revision") or 0) or None
            attempts.append({"n": i + 1, "ts": a_ts, "endpoint": ep, "ok": True, "revision": revision,
                             "latency_ms": round((time.monotonic() - a0) * 1000.0, 2)})
            break
        acked = bool(attempts) and attempts[-1]["ok"]
        outcome = "acked" if acked else ("indeterminate" if sent_unknown else "failed")
        detail = {"key": key, "outcome": outcome, "revision": revision, "attempts": attempts,
                  "endpoint": attempts[-1]["endpoint"] if attempts else None}
        ok, error = acked, None
        if not acked:
            error = attempts[-1]["error"] if attempts else "stopped before the first attempt"
            if len(attempts) > 1:
                error = "%s (after %d attempts)" % (error, len(attempts))
        elif self.params.get("read_back", True):
            try:
                got = self.client.get(attempts[-1]["endpoint"], key)
                detail["read"] = "ok" if got == value else "mismatch: %r" % (got,)
            except etcdgw.GatewayError as e:
                detail["read"] = "error: %s" % e
            if detail["read"] != "ok":
                ok, error = False, "read back: %s" % detail["read"]
        return {"ts": ts, "ok": ok, "latency_ms": round((time.monotonic() - t0) * 1000.0, 2),
                "error": error, "detail": detail}

    def close(self):
        self.client.close()


class WatchSampler(Sampler):
    """A watch stream on ``key_prefix`` (``POST /v3/watch``), run as a loop.

    Output lines are samples whose ``detail.event`` is ``connected``,
    ``events`` (``keys``, ``revisions``), ``alive`` (nothing arrived within
    ``interval``), ``broken`` (the stream ended; ``error``),
    ``connect_failed``, ``stopped`` or ``down``.  A single-endpoint client does
    not resume after a break (the seed's documented gap: it reports ``down``
    until the probe is stopped); a multi-endpoint client reconnects to the next
    endpoint with ``start_revision`` = last revision seen + 1, so no event is
    lost or repeated.
    """

    def __init__(self, params):
        Sampler.__init__(self, params)
        self.endpoints = list(params["endpoints"])
        self.prefix = key_prefix(params)
        self.interval = float(params.get("interval") or 0.1)

    def _line(self, ok, event, error=None, **detail):
        detail["event"] = event
        return {"ts": time.time(), "ok": ok, "latency_ms": 0.0, "error": error, "detail": detail}

    def observe(self):  # state=sampled: can a watch be created?
        stream = etcdgw.WatchStream(self.endpoints[0], self.prefix, timeout=self.timeout)
        try:
            msgs = stream.messages(self.timeout)
        finally:
            stream.close()
        created = [m for m in msgs if m.get("created")]
        if not created:
            return False, "no 'created' answer within %ss" % self.timeout, {"endpoint": self.endpoints[0]}
        return True, None, {"endpoint": self.endpoints[0],
                            "revision": int((created[0].get("header") or {}).get("revision") or 0)}

    def run(self, output, flag):
        cur, last_rev, connected_once, n_events = 0, None, False, 0
        multi = len(self.endpoints) > 1
        while not flag.expired():
            ep = self.endpoints[cur]
            start = last_rev + 1 if last_rev else None
            try:
                stream = etcdgw.WatchStream(ep, self.prefix, start_revision=start, timeout=self.timeout)
            except (etcdgw.GatewayError, socket.error, OSError) as e:
                output.write(self._line(False, "connect_failed", etcdgw.error_text(e), endpoint=ep))
                if multi:
                    cur = (cur + 1) % len(self.endpoints)
                if connected_once and not multi:
                    break
                flag.wait(self.interval)
                continue
            output.write(self._line(True, "connected", endpoint=ep, start_revision=start))
            connected_once = True
            try:
                while not flag.expired():
                    msgs = stream.messages(self.interval)
                    wrote = False
                    for m in msgs:
                        rev = int((m.get("header") or {}).get("revision") or 0)
                        if m.get("created"):
                            output.write(self._line(True, "created", endpoint=ep, revision=rev,
                                                    watch_id=m.get("watch_id")))
                            if last_rev is None:
                                last_rev = rev
                            wrote = True
                        evs = m.get("events") or []
                        if evs:
                            keys = [etcdgw.unb64((e.get("kv") or {}).get("key")) for e in evs]
                            revs = [int((e.get("kv") or {}).get("mod_revision") or 0) for e in evs]
                            last_rev = max([last_rev or 0] + revs)
                            n_events += len(evs)
                            output.write(self._line(True, "events", endpoint=ep, keys=keys, revisions=revs,
                                                    types=[e.get("type") or "PUT" for e in evs]))
                            wrote = True
                        if m.get("canceled"):
                            raise etcdgw.GatewayError("watch canceled: %s" % (m.get("cancel_reason") or "no reason"))
                    if not wrote:
                        output.write(self._line(True, "alive", endpoint=ep))
            except (etcdgw.GatewayError, socket.error, OSError) as e:
                output.write(self._line(False, "broken", etcdgw.error_text(e), endpoint=ep, last_revision=last_rev))
                if not multi:
                    break
                cur = (cur + 1) % len(self.endpoints)
            finally:
                stream.close()
        if not flag.expired():
            output.write(self._line(False, "stopped", "watch stream broken; the single-endpoint client does "
                                                      "not resume (documented gap)", endpoint=self.endpoints[0],
                                    last_revision=last_rev))
            while not flag.wait(self.interval):
                output.write(self._line(False, "down", "not watching", endpoint=self.endpoints[0]))
        return {"events": n_events, "last_revision": last_rev}


def _plain(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


SAMPLERS = {
    "tcp": TcpSampler,
    "command": CommandSampler,
    "http": HttpSampler,
    "mysql_query": MysqlQuerySampler,
    "mysql_replica": MysqlReplicaSampler,
    "etcd": EtcdSampler,
    "watch": WatchSampler,
}

REQUIRED = {
    "tcp": ("host", "port"),
    "command": ("command",),
    "http": ("url",),
    "mysql_query": ("query",),
    "mysql_replica": (),
    "etcd": ("endpoints",),
    "watch": ("endpoints",),
}


def validate(params):
    """Return an error message for bad probe parameters, or None."""
    kind = params.get("kind")
    if kind not in SAMPLERS:
        return "unknown probe kind %r (one of: %s)" % (kind, ", ".join(KINDS))
    missing = [k for k in REQUIRED[kind] if params.get(k) in (None, "", [])]
    if missing:
        return "kind=%s needs %s" % (kind, ", ".join(missing))
    if kind in ("etcd", "watch"):
        return _validate_etcd(params)
    if kind == "mysql_query" and params.get("expect"):
        try:
            re.compile(params["expect"])
        except re.error as e:
            return "expect is not a valid regular expression: %s" % e
    return None


def _validate_etcd(params):
    for ep in params["endpoints"]:
        try:
            etcdgw.parse_endpoint(ep)
        except ValueError as e:
            return str(e)
    if not key_prefix(params).strip("/"):
        return "key_prefix must not be empty or only '/' (the probe would watch or write the whole keyspace)"
    return None


def make_sampler(params):
    return SAMPLERS[params["kind"]](params)

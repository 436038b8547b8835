# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""etcd v3 JSON gateway, standard library only (no etcd client library).

Keys and values travel base64-encoded (``/v3/kv/put``, ``/v3/kv/range``,
``/v3/watch``).  ``call`` raises :class:`GatewayError` with the server's own
message (``etcdserver: request timed out``, ``context deadline exceeded``) or
the socket error (``Connection refused (errno 111)``, ``timed out``); its
``sent`` attribute says whether the request may have reached the server (an
error after the request was sent leaves the write's fate unknown).

``WatchStream`` reads ``POST /v3/watch`` over a raw socket with its own
chunked-transfer parser: ``http.client`` cannot resume a chunked body after a
read timeout, and a watch worker has to wake up regularly to see its stop
flag while no event arrives.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import json
import select
import socket

from http.client import HTTPConnection, HTTPException
from urllib.parse import urlsplit


class GatewayError(Exception):
    def __init__(self, message, sent=False, status=None):
        Exception.__init__(self, message)
        self.sent = sent
        self.status = status


def b64(s):
    if not isinstance(s, bytes):
        s = s.encode("utf-8")
    return base64.b64encode(s).decode("ascii")


def unb64(s):
    return base64.b64decode(s or "").decode("utf-8", "replace")


def prefix_end(prefix):
    """range_end that selects every key starting with ``prefix``."""
    b = bytearray(prefix.encode("utf-8"))
    while b:
        if b[-1] < 0xff:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"


def parse_endpoint(ep):
    """``http://127.0.0.11:2379`` or ``127.0.0.11:2379`` -> (host, port)."""
    if "://" not in ep:
        ep = "http://" + ep
    u = urlsplit(ep)
    if u.scheme != "http":
        raise ValueError("endpoint %r: only http:// endpoints are supported" % ep)
    if not u.hostname or not u.port:
        raise ValueError("endpoint %r needs host and port (http://HOST:PORT)" % ep)
    return u.hostname, u.port


def error_text(exc):
    if isinstance(exc, socket.timeout):
        return "timed out"
    if getattr(exc, "errno", None) and getattr(exc, "strerror", None):
        return "%s (errno %d)" % (exc.strerror, exc.errno)
    return str(exc) or type(exc).__name__


class Client(object):
    """One keep-alive HTTP connection per endpoint, re-opened after a failure."""

    def __init__(self, timeout=2.0):
        self.timeout = timeout
        self.conns = {}

    def call(self, endpoint, path, body):
        host, port = parse_endpoint(endpoint)
        conn = self.conns.get(endpoint)
        if conn is None:
            conn = self.conns[endpoint] = HTTPConnection(host, port, timeout=self.timeout)
        sent = False
        try:
            data = json.dumps(body).encode("utf-8")
            conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
            sent = True
            resp = conn.getresponse()
            raw = resp.read()
        except (socket.error, OSError, HTTPException) as e:
            self.drop(endpoint)
            raise GatewayError(error_text(e), sent=sent)
        try:
            doc = json.loads(raw.decode("utf-8", "replace") or "{}")
        except ValueError:
            doc = {"error": raw[:200].decode("utf-8", "replace")}
        if resp.status != 200 or "error" in doc:
            msg = doc.get("message") or doc.get("error") or "HTTP status %d" % resp.status
            raise GatewayError(msg, sent=True, status=resp.status)
        return doc

    def drop(self, endpoint):
        conn = self.conns.pop(endpoint, None)
        if conn is not None:
            conn.close()

    def close(self):
        for ep in list(self.conns):
            self.drop(ep)

    def put(self, endpoint, key, value):
        return self.call(endpoint, "/v3/kv/put", {"key": b64(key), "value": b64(value)})

    def get(self, endpoint, key):
        doc = self.call(endpoint, "/v3/kv/range", {"key": b64(key)})
        kvs = doc.get("kvs") or []
        return unb64(kvs[0].get("value")) if kvs else None

    def keys(self, endpoint, prefix):
        """Every key under ``prefix`` (keys only)."""
        doc = self.call(endpoint, "/v3/kv/range", {"key": b64(prefix), "range_end": b64(prefix_end(prefix)),
                                                   "keys_only": True})
        return [unb64(kv.get("key")) for kv in doc.get("kvs") or []]


class WatchStream(object):
    """One ``POST /v3/watch`` stream; ``messages(wait)`` yields decoded JSON lines."""

    def __init__(self, endpoint, prefix, start_revision=None, timeout=2.0):
        self.endpoint = endpoint
        host, port = parse_endpoint(endpoint)
        req = {"key": b64(prefix), "range_end": b64(prefix_end(prefix))}
        if start_revision:
            req["start_revision"] = int(start_revision)
        body = json.dumps({"create_request": req}).encode("utf-8")
        self.sock = socket.create_connection((host, port), timeout=timeout)
        head = ("POST /v3/watch HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n" % (host, port, len(body))).encode("ascii")
        self.sock.sendall(head + body)
        self.buf = b""
        self.body = b""
        self.chunked = False
        self.ended = False
        self.error = None
        self._read_head(timeout)

    def _recv(self, wait):
        r, _w, _x = select.select([self.sock], [], [], wait)
        if not r:
            return False
        data = self.sock.recv(65536)
        if not data:
            raise GatewayError("stream closed by the server (EOF)", sent=True)
        self.buf += data
        return True

    def _read_head(self, timeout):
        while b"\r\n\r\n" not in self.buf:
            if not self._recv(timeout):
                raise GatewayError("timed out waiting for the watch response", sent=True)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
        headers = dict((k.strip().lower(), v.strip()) for k, _s, v in (ln.partition(":") for ln in lines[1:]))
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if status != 200:
            raise GatewayError("watch: HTTP status %d" % status, sent=True, status=status)

    def _dechunk(self):
        if not self.chunked:
            self.body += self.buf
            self.buf = b""
            return
        while True:
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.ended = True
                self.buf = b""
                return
            if len(rest) < size + 2:
                return
            self.body += rest[:size]
            self.buf = rest[size + 2:]

    def _parse(self):
        self._dechunk()
        out = []
        while b"\n" in self.body:
            line, self.body = self.body.split(b"\n", 1)
            if not line.strip():
                continue
            try:
                doc = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue
            if "error" in doc:
                err = doc["error"]
                raise GatewayError(err.get("message") if isinstance(err, dict) else str(err), sent=True)
            out.append(doc.get("result") or {})
        return out

    def messages(self, wait):
        """Decoded messages available within ``wait`` seconds ([] if none).

        Raises GatewayError when the stream breaks (EOF, reset, end of body,
        or an error message from the gateway), after every message received
        before the break has been returned."""
        out = self._parse()
        if out:
            return out
        if not self.ended:
            try:
                self._recv(wait)
            except GatewayError as e:
                self.ended, self.error = True, e
            except (socket.error, OSError) as e:
                self.ended, self.error = True, GatewayError(error_text(e), sent=True)
            out = self._parse()
        if not out and self.ended:
            raise self.error or GatewayError("stream ended by the server", sent=True)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

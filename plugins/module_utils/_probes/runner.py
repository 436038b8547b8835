# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe lifecycle: start a background sampler, stop it, collect its metrics.

The worker runs through ``_engine/background.py`` (kind ``probe``): its
samples go to ``<state_dir>/workers/probe-<name>.jsonl``, its meta (pid,
start time, parameters) to ``probe-<name>.json``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import time

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError, Ledger
from ansible_collections.faultline.chaos.plugins.module_utils._probes import guard, metrics
from ansible_collections.faultline.chaos.plugins.module_utils._probes.samplers import make_sampler

WORKER_KIND = "probe"

# parameters that define what a probe observes; a running probe with other
# values for any of these is a different probe
IDENTITY_KEYS = ("kind", "interval", "timeout", "host", "port", "url", "command", "query", "expect",
                 "expect_rows", "expect_status", "headers", "method", "validate_certs", "url_username",
                 "login_host", "login_port", "login_user", "login_unix_socket", "database", "abort_when",
                 "run_id", "endpoints", "key_prefix", "retries", "backoff_initial", "backoff_multiplier",
                 "backoff_max", "read_back")
# kept in memory only, never in the meta file (headers may carry a token:
# the meta file keeps their digest, so identity still tells two probes apart)
SECRET_KEYS = ("login_password", "url_password", "headers")


def worker(params, output, flag):
    """Body of the background process: sample on a fixed grid until stopped.

    With ``abort_when`` the samples also feed the steady-state guard, which
    aborts the run (``guard.abort_run``) the first time its condition holds;
    the probe then keeps sampling, so the report sees the recovery.
    """
    sampler = make_sampler(params)
    sampler.flag = flag
    if hasattr(sampler, "run"):  # a stream (watch): its own loop, its own lines
        try:
            return sampler.run(output, flag)
        finally:
            sampler.close()
    interval = float(params["interval"])
    watch = guard.Guard(params["abort_when"]) if params.get("abort_when") else None
    aborted = None
    t0 = time.monotonic()
    k = n = 0
    try:
        while not flag.expired():
            sample = sampler.sample()
            output.write(sample)
            n += 1
            trip = watch.feed(sample) if watch is not None else None
            if trip is not None:
                aborted = dict(trip, **guard.abort_run(params["state_dir"], params["run_id"], trip, params["name"]))
            k += 1
            now = time.monotonic()
            if t0 + k * interval < now:  # a slow sample: skip the grid slots it overran
                k = int((now - t0) / interval) + 1
            if flag.wait(t0 + k * interval - now):
                break
    finally:
        sampler.close()
    return {"samples": n, "aborted": aborted} if aborted else {"samples": n}


def _headers_digest(headers):
    if not headers:
        return None
    return hashlib.sha256(json.dumps(headers, sort_keys=True).encode("utf-8")).hexdigest()


def identity(params):
    ident = dict((k, params.get(k)) for k in IDENTITY_KEYS)
    ident["headers"] = params.get("headers_sha256") or _headers_digest(params.get("headers"))
    return ident


def status(state_dir, name):
    return background.read_meta(state_dir, WORKER_KIND, name)


def start(state_dir, params, lease):
    """Start the probe. Returns (changed, meta).

    A probe with this name already running with the same parameters is left
    alone (changed False); with other parameters it is an error.
    """
    meta = status(state_dir, params["name"])
    if meta and meta["running"]:
        if identity(meta.get("params") or {}) == identity(params):
            return False, meta
        raise EngineError("probe %s is already running (pid %s) with other parameters; stop it first "
                          "(state: stopped)" % (params["name"], meta["pid"]))
    full = dict(params)

    def target(_stored, output, flag):
        return worker(full, output, flag)

    stored = dict((k, v) for k, v in params.items() if k not in SECRET_KEYS)
    stored["headers_sha256"] = _headers_digest(params.get("headers"))
    return True, background.start(state_dir, WORKER_KIND, params["name"], target, stored, lease=lease)


def sample_once(params):
    sampler = make_sampler(params)
    try:
        return sampler.sample()
    finally:
        sampler.close()


def fault_windows(state_dir, meta, fault_ids=None, windows=None):
    """Explicit windows, or those of the journal's fault events in the probe's lifetime."""
    if windows:
        return metrics.normalize_windows(windows)
    events = Ledger(state_dir).events()
    started = meta.get("started")
    until = meta.get("finished") or time.time()
    if not fault_ids:
        return metrics.windows_from_events(events, since=started, until=until)
    # named faults: a window that opened before the probe started still counts,
    # but earlier runs of the same fault (same id: same parameters) do not
    wins = [w for w in metrics.windows_from_events(events, fault_ids=fault_ids)
            if w["down_at"] <= until and (started is None or w["up_at"] is None or w["up_at"] >= started)]
    for i, w in enumerate(wins, 1):
        w["n"] = i
    return wins


def collect(state_dir, name, fault_ids=None, windows=None, recover_after=3, compare_probe=None):
    """Metrics of a probe's samples so far (None if the probe is unknown).

    ``etcd`` probes add ``etcd`` (writes by outcome, failed attempts); ``watch``
    probes add ``watch`` (events, breaks, reconnects and, with
    ``compare_probe`` naming an ``etcd`` probe on the same prefix, the events
    missed)."""
    meta = status(state_dir, name)
    if meta is None:
        return None
    samples = background.read_output(state_dir, WORKER_KIND, name)
    params = meta.get("params") or {}
    wins = fault_windows(state_dir, meta, fault_ids, windows)
    result = metrics.compute(samples, wins, name, kind=params.get("kind"),
                             recover_after=recover_after, host=Ledger(state_dir).host)
    result["aborted"] = guard_abort(state_dir, name, meta.get("started"))
    result.update(name=name, kind=params.get("kind"), started=meta.get("started"),
                  finished=meta.get("finished"), running=meta["running"], output=meta.get("output"),
                  worker_error=meta.get("error"), stopped_by=meta.get("stopped_by"))
    if params.get("kind") == "etcd":
        result["etcd"] = metrics.etcd_summary(samples)
    elif params.get("kind") == "watch":
        expected = None
        if compare_probe:
            other = status(state_dir, compare_probe)
            if other is None or (other.get("params") or {}).get("kind") != "etcd":
                raise EngineError("compare_probe %s: no etcd probe of that name in %s" % (compare_probe, state_dir))
            expected = metrics.etcd_summary(background.read_output(state_dir, WORKER_KIND, compare_probe))["acked_at"]
        result["watch"] = metrics.watch_summary(samples, expected)
    return result


def guard_abort(state_dir, name, since=None):
    """The ``abort`` event this probe's guard journaled (its detail and time), or None."""
    for ev in Ledger(state_dir).events(since=since):
        if ev.get("source") == "guard" and ev.get("event") == "abort" and \
                (ev.get("detail") or {}).get("guard") == name:
            return dict(ev["detail"], at=ev["ts"], host=ev.get("host"))
    return None


def stop(state_dir, name):
    """Stop a running probe. Returns True if it was running."""
    meta = status(state_dir, name)
    if not meta or not meta["running"]:
        return False
    background.stop(state_dir, WORKER_KIND, name)
    return True


def journal_events(state_dir, events):
    """Append the probe's transition events to the shared journal."""
    ledger = Ledger(state_dir)
    for ev in events:
        ledger.journal(ev["id"], ev["event"], ev["detail"], source="probe", ts=ev["ts"])

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fault protocol and the engine that modules drive.

Every fault kind (``_faults/network.py``, ``_faults/process.py``,
``_faults/binlog.py``) subclasses :class:`Fault` and only *plans*: it turns
its parameters into an id, a summary, and two lists of runtime actions
(``apply`` and ``revert``).  :class:`FaultEngine` does the rest the same way
for every kind: ledger record, apply with roll-back on failure, supervisor
(dead-man switch), lease renewal, check mode, diff, revert and restore.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import time

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    DEFAULT_LEASE, DEFAULT_STATE_DIR, EngineError, Ledger, execute, execute_all,
    proc_alive, revert_record, spawn_supervisor, stop_supervisor,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import LEASE


def engine_argument_spec():
    """Options every fault module shares (documented in doc fragment ``fault``)."""
    return dict(
        state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        lease=dict(type="float", default=DEFAULT_LEASE),
        fault_id=dict(type="str"),
        run_id=dict(type="str"),
    )


# bounds of the shared options (validate.enforce): a lease of at most 7 days
ENGINE_BOUNDS = dict(lease=LEASE)


def short_hash(obj, n=8):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:n]


class Fault(object):
    """One fault: a pure planner. Subclasses set ``kind`` and implement ``plan``.

    ``plan()`` returns a dict with keys ``type``, ``summary``, ``apply``,
    ``revert`` (lists of runtime actions) and optionally ``params`` (what the
    ledger should remember) and ``preview`` (text for check mode / diff).
    ``probe_active(runner)`` may report whether the fault's effect is really in
    place (e.g. its nftables chain exists); None means "cannot tell".
    """

    kind = "fault"

    def __init__(self, params, fault_id=None):
        self.params = params
        self._fault_id = fault_id

    def identity(self):
        """The parameters that make two tasks 'the same fault'."""
        return self.params

    @property
    def fault_id(self):
        if self._fault_id:
            return self._fault_id
        return "%s_%s" % (self.kind, short_hash([self.kind, self.identity()]))

    def plan(self):
        raise NotImplementedError

    def probe_active(self, runner):  # pragma: no cover - optional
        return None


class FaultEngine(object):
    """Apply, renew and revert faults through the ledger and the supervisor."""

    def __init__(self, module, state_dir=DEFAULT_STATE_DIR, runner=None):
        self.module = module
        self.ledger = Ledger(state_dir)
        try:
            self.ledger.check()  # an existing state dir must be ours and private: root executes from it
        except EngineError as e:
            module.fail_json(msg=str(e))
        self.state_dir = state_dir
        self.runner = runner or self._module_runner

    # the one command wrapper: argv lists through module.run_command
    def _module_runner(self, argv, data=None):
        rc, out, err = self.module.run_command(argv, data=data, binary_data=data is not None,
                                               check_rc=False, environ_update={"LC_ALL": "C"})
        return rc, out, err

    # ------------------------------------------------------------------
    def _supervisor_alive(self, record):
        sup = record.get("supervisor") or {}
        return bool(sup.get("pid")) and proc_alive(sup["pid"], sup.get("starttime"))

    def active(self, fault_id):
        return self.ledger.get(fault_id)

    def apply(self, fault, duration=None, lease=DEFAULT_LEASE, schedule=None, extra=None):
        """Put ``fault`` in place (or renew it). Returns a result dict.

        ``duration``: seconds until the supervisor reverts (None = until
        ``up``/restore or the lease).  ``schedule``: {"mode": "flap",
        "down_for": s, "up_for": s} hands the whole schedule to the
        supervisor; the fault's own actions then run only inside it.
        """
        check = self.module.check_mode
        plan = fault.plan()
        fid = fault.fault_id
        now, mono = time.time(), time.monotonic()
        span = float(lease) if duration is None else min(float(duration), float(lease))
        existing = self.ledger.get(fid)
        result = dict(fault_id=fid, kind=fault.kind, type=plan["type"], summary=plan["summary"],
                      state_dir=self.state_dir, changed=False, renewed=False,
                      diff=dict(before="", after=plan.get("preview", plan["summary"]) + "\n"))
        if existing is not None:
            # same fault already in place: renew its lease, re-apply only if its
            # effect vanished behind our back (e.g. someone deleted the chain).
            really = fault.probe_active(self.runner)
            result["diff"]["before"] = result["diff"]["after"]
            if existing.get("supervisor") and not self._supervisor_alive(existing):
                really = False
            if really is False and (schedule is None):
                result["changed"] = True
                if check:
                    return result
                self.revert(fid, reason="reapply", by="module")
                existing = None
            else:
                if not check:
                    with self.ledger:
                        rec = self.ledger.get(fid) or existing
                        rec["renewed"] = now
                        rec["lease_until"] = now + float(lease)
                        rec["deadline"] = now + span
                        rec["deadline_mono"] = mono + span
                        self.ledger.put(rec)
                        self.ledger.journal(fid, "renewed", {"deadline": rec["deadline"]})
                    existing = rec
                result.update(renewed=True, deadline=existing["deadline"],
                              supervisor=existing.get("supervisor"))
                result["record"] = existing
                return result
        result["changed"] = True
        result["diff"]["before"] = ""
        if check:
            result["planned"] = {"apply": plan["apply"], "revert": plan["revert"]}
            return result
        record = dict(
            id=fid, kind=fault.kind, type=plan["type"], summary=plan["summary"],
            params=plan.get("params", fault.identity()), apply=plan["apply"], revert=plan["revert"],
            created=now, renewed=now, lease=float(lease), lease_until=now + float(lease),
            duration=duration, deadline=now + span, deadline_mono=mono + span,
            schedule=schedule or {"mode": "hold"}, cycle=0, phase="down",
        )
        run_id = (getattr(self.module, "params", None) or {}).get("run_id")
        if run_id:
            record["run_id"] = run_id  # the run a steady-state guard or restore run_id=... acts on
        if extra:
            record.update(extra)
        if schedule is not None:
            record["schedule"] = dict(schedule, start=now, start_mono=mono)
            record["phase"] = "pending"
        with self.ledger:
            self.ledger.put(record)
            self.ledger.journal(fid, "requested", {"kind": fault.kind, "type": plan["type"],
                                                   "summary": plan["summary"], "duration": duration,
                                                   "schedule": schedule})
            if schedule is None:
                try:
                    execute(plan["apply"], self.runner)
                except Exception as e:  # noqa: BLE001 -- roll back whatever half-applied
                    errors = execute_all(plan["revert"], self.runner)
                    self.ledger.delete(fid)
                    self.ledger.journal(fid, "apply_failed", {"error": str(e), "rollback_errors": errors})
                    raise EngineError("could not apply %s: %s" % (plan["summary"], e))
                record["applied"] = time.time()
                record["cycle"] = 1
                self.ledger.put(record)
                self.ledger.journal(fid, "down", {"cycle": 1, "type": plan["type"],
                                                  "summary": plan["summary"]})
        try:
            sup = spawn_supervisor(self.state_dir, fid)
        except Exception as e:  # noqa: BLE001
            self.revert(fid, reason="supervisor_failed", by="module")
            raise EngineError("could not start the supervisor, fault reverted: %s" % e)
        record = self.ledger.get(fid) or record
        result.update(deadline=record["deadline"], supervisor=sup, record=record)
        return result

    def revert(self, fault_id, reason="up", by="module", timeout=30.0):
        """Revert one fault by id: through its supervisor if alive, else here."""
        rec = self.ledger.get(fault_id)
        if rec is None:
            return dict(id=fault_id, reverted=False, errors=[])
        if self.module.check_mode:
            return dict(id=fault_id, reverted=True, errors=[], check_mode=True)
        if stop_supervisor(self.ledger, rec, timeout=timeout):
            return dict(id=fault_id, reverted=True, errors=[], by="supervisor")
        return revert_record(self.ledger, rec, reason, by, self.runner)

    def revert_all(self, kinds=None, reason="restore", by="module", run_id=None):
        out = []
        for rec in self.ledger.list():
            if kinds and rec.get("kind") not in kinds:
                continue
            if run_id and rec.get("run_id") != run_id:
                continue
            res = self.revert(rec["id"], reason=reason, by=by)
            res.update(kind=rec.get("kind"), type=rec.get("type"), summary=rec.get("summary"))
            out.append(res)
        return out

    def wait_for_end(self, fault_id, timeout):
        """Block until the supervisor has reverted the fault (flap/duration ``wait``)."""
        end = time.monotonic() + timeout
        while self.ledger.get(fault_id) is not None:
            if time.monotonic() > end:
                return False
            time.sleep(0.1)
        return True

    def describe(self, record):
        """A user-facing view of a ledger record with its timeline."""
        now = time.time()
        view = dict((k, record.get(k)) for k in (
            "id", "kind", "type", "summary", "params", "created", "renewed", "deadline",
            "lease_until", "duration", "schedule", "cycle", "phase", "supervisor"))
        view["remaining_s"] = max(0.0, record.get("deadline", now) - now)
        view["supervisor_alive"] = self._supervisor_alive(record)
        view["events"] = self.ledger.events(record["id"], since=record.get("created", 0) - 1)
        return view

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

import contextlib
import hashlib
import json
import time

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    DEFAULT_LEASE, DEFAULT_STATE_DIR, EngineError, Ledger, RecordUnreadable, check_start_at,
    execute, execute_all, iso_utc, reap, release_fault_lock, revert_record, spawn_supervisor,
    stop_supervisor, supervisor_holder, try_fault_lock,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import LEASE


def engine_argument_spec():
    """Options every fault module shares (documented in doc fragment ``fault``)."""
    return dict(
        state_dir=dict(type="path", default=DEFAULT_STATE_DIR),
        lease=dict(type="float", default=DEFAULT_LEASE),
        fault_id=dict(type="str"),
        run_id=dict(type="str"),
        start_at=dict(type="str"),
    )


# bounds of the shared options (validate.enforce): a lease of at most 7 days
ENGINE_BOUNDS = dict(lease=LEASE)


def reap_orphans(module):
    """Run first by every module of the collection: finish what dead supervisors left.

    Overdue faults whose supervisor is gone are reverted, the supervisor of the
    others is started again (see ``runtime.reap``).  Uses the module's
    ``state_dir`` when it has one, else the default ledger; never fails the module.
    In check mode nothing is changed (``fault_info`` still lists the orphans).
    """
    if getattr(module, "check_mode", False):
        return []
    state_dir = (getattr(module, "params", None) or {}).get("state_dir") or DEFAULT_STATE_DIR
    done = reap(state_dir)
    for item in done:
        errors = item.get("errors") or ([item["error"]] if item.get("error") else [])
        module.warn("faultline: fault %s had lost its supervisor: %s %s" % (
            item["id"], item["action"], "; ".join(errors)))
    return done


def short_hash(obj, n=8):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:n]


# The fault kinds a user names (restore's ``kinds``, docs/faults/): one place.
# A ledger record's name here is :func:`kind_of`; every Fault subclass of the
# collection must map to one of them (the contract test fails otherwise), and
# restore's documented ``choices`` are checked against this tuple.
KINDS = ("network", "service", "process", "binlog")

# records whose (kind, type) a user names differently: network type=service is
# a service stop (ServiceStopFault), recorded under the network module's kind
KIND_VARIANTS = {("network", "service"): "service"}


def kind_of(record):
    """The :data:`KINDS` name of a ledger record (or of a revert result, which
    carries the record's ``kind`` and ``type``)."""
    return KIND_VARIANTS.get((record.get("kind"), record.get("type")), record.get("kind"))


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

    def id_parts(self):
        """What the fault id hashes: the kind and :meth:`identity` (a subclass
        may add what scopes the fault further, e.g. the ledger that owns it)."""
        return [self.kind, self.identity()]

    @property
    def fault_id(self):
        if self._fault_id:
            return self._fault_id
        return "%s_%s" % (self.kind, short_hash(self.id_parts()))

    def resolve(self, engine=None):
        """Discovery before planning: find what the fault acts on (processes,
        files ...) and check it can be acted on; EngineError with a message for
        the user otherwise. FaultEngine.apply calls it before ``plan()``; it must
        be read-only and cheap to call twice. ``engine`` gives the active record
        of a renewal (``engine.active(self.fault_id)``). Default: nothing to find."""
        return None

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
        sup = supervisor_holder(self.state_dir, record["id"])
        return bool(sup and sup.get("pid"))

    def active(self, fault_id):
        return self.ledger.get(fault_id)

    def start_at(self):
        """The task's ``start_at`` as unix seconds (validated), or None."""
        value = (getattr(self.module, "params", None) or {}).get("start_at")
        if value in (None, ""):
            return None
        return check_start_at(value)

    def apply(self, fault, duration=None, lease=DEFAULT_LEASE, schedule=None, extra=None):
        """Put ``fault`` in place (or renew it). Returns a result dict.

        ``duration``: seconds until the supervisor reverts (None = until
        ``up``/restore or the lease).  ``schedule``: {"mode": "flap",
        "down_for": s, "up_for": s} hands the whole schedule to the
        supervisor; the fault's own actions then run only inside it.
        With the task's ``start_at`` the record is ``scheduled``: the module
        returns at once and the supervisor applies at that instant.

        The existing record is read and written under the ledger lock, so two
        concurrent identical tasks give one fault (the second renews it).
        """
        check = self.module.check_mode
        start_at = self.start_at()
        fault.resolve(self)
        plan = fault.plan()
        fid = fault.fault_id
        span = float(lease) if duration is None else min(float(duration), float(lease))
        result = dict(fault_id=fid, kind=fault.kind, type=plan["type"], summary=plan["summary"],
                      state_dir=self.state_dir, changed=False, renewed=False,
                      diff=dict(before="", after=plan.get("preview", plan["summary"]) + "\n"))
        for _attempt in range(3):
            outcome = self._apply_locked(fault, plan, fid, duration, lease, span, schedule, extra,
                                         start_at, check, result)
            if outcome != "reapply":
                break
            # its effect vanished or its supervisor died: revert (outside the
            # lock: the supervisor needs it) and apply afresh
            self.revert(fid, reason="reapply", by="module")
        else:
            raise EngineError("fault %s keeps vanishing while it is applied; not retrying" % fid)
        if outcome == "renewed" or check:
            return result
        try:
            sup = spawn_supervisor(self.state_dir, fid)
        except Exception as e:  # noqa: BLE001
            self.revert(fid, reason="supervisor_failed", by="module")
            raise EngineError("could not start the supervisor, fault reverted: %s" % e)
        record = self.ledger.get(fid) or result["record"]
        result.update(deadline=record["deadline"], supervisor=sup, record=record)
        return result

    def _schedule_result(self, result, record):
        if record.get("start_at") is not None:
            result.update(start_at=record["start_at"], start_at_iso=iso_utc(record["start_at"]),
                          apply_journal=dict(path=self.ledger.journal_path, fault_id=record["id"],
                                             event="applied"))

    def _apply_locked(self, fault, plan, fid, duration, lease, span, schedule, extra, start_at, check, result):
        """One pass of apply under the ledger lock: 'renewed', 'applied' or 'reapply'."""
        with (contextlib.nullcontext() if check else self.ledger):
            now, mono = time.time(), time.monotonic()
            try:
                existing = self.ledger.read(fid)
            except RecordUnreadable as e:
                raise EngineError("%s; run faultline.chaos.restore (its supervisor still reverts it)" % e)
            if existing is not None:
                result["diff"]["before"] = result["diff"]["after"]
                if existing.get("state") == "revert_failed":
                    raise EngineError("fault %s could not be reverted (%s) and is being retried; run "
                                      "faultline.chaos.restore before applying it again"
                                      % (fid, "; ".join(existing.get("revert_errors") or [])))
                if existing.get("state") != "scheduled":
                    really = fault.probe_active(self.runner)
                    if existing.get("supervisor") and not self._supervisor_alive(existing):
                        really = False
                    if really is False and schedule is None:
                        result["changed"] = True
                        return "renewed" if check else "reapply"
                if not check and existing.get("state") != "scheduled":
                    existing["renewed"] = now
                    existing["lease_until"] = now + float(lease)
                    existing["deadline"] = now + span
                    existing["deadline_mono"] = mono + span
                    self.ledger.put(existing)
                    self.ledger.journal(fid, "renewed", {"deadline": existing["deadline"]})
                result.update(renewed=True, deadline=existing["deadline"], supervisor=existing.get("supervisor"),
                              record=existing, state=existing.get("state", "active"))
                self._schedule_result(result, existing)
                return "renewed"
            result["changed"] = True
            result["diff"]["before"] = ""
            if start_at is not None:
                result.update(start_at=start_at, start_at_iso=iso_utc(start_at))
            if check:
                result["planned"] = {"apply": plan["apply"], "revert": plan["revert"]}
                return "applied"
            first = now if start_at is None else start_at
            first_mono = mono + (first - now)
            record = dict(
                id=fid, kind=fault.kind, type=plan["type"], summary=plan["summary"],
                params=plan.get("params", fault.identity()), apply=plan["apply"], revert=plan["revert"],
                created=now, renewed=now, lease=float(lease), lease_until=first + float(lease),
                duration=duration, span=span, deadline=first + span, deadline_mono=first_mono + span,
                schedule=schedule or {"mode": "hold"}, cycle=0, phase="down", state="active",
            )
            if extra:
                record.update(extra)
            run_id = (getattr(self.module, "params", None) or {}).get("run_id")
            if run_id:
                record["run_id"] = run_id  # the run a steady-state guard or restore run_id=... acts on
            if schedule is not None:
                record["schedule"] = dict(schedule, start=first, start_mono=first_mono)
                record["phase"] = "pending"
            if start_at is not None:
                record.update(state="scheduled", phase="scheduled", start_at=start_at)
            self.ledger.put(record)
            self.ledger.journal(fid, "requested", {"kind": fault.kind, "type": plan["type"],
                                                   "summary": plan["summary"], "duration": duration,
                                                   "schedule": schedule, "start_at": start_at})
            if schedule is None and start_at is None:
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
            result["record"] = record
            self._schedule_result(result, record)
            return "applied"

    def revert(self, fault_id, reason="up", by="module", timeout=30.0):
        """Revert one fault by id: through its supervisor if alive, else here.

        ``reverted`` is True only when every revert step succeeded; a failed
        revert leaves the record as ``revert_failed`` (with ``errors``) and a
        supervisor retrying it with backoff.
        """
        if (getattr(self.module, "params", None) or {}).get("start_at") not in (None, ""):
            raise EngineError("start_at schedules putting a fault in place; it cannot be used to revert one")
        try:
            rec = self.ledger.read(fault_id)
        except RecordUnreadable:
            rec = {"id": fault_id}
        if rec is None:
            return dict(id=fault_id, reverted=False, errors=[])
        if self.module.check_mode:
            return dict(id=fault_id, reverted=True, errors=[], check_mode=True)
        res = stop_supervisor(self.ledger, rec, timeout=timeout)
        if res is True:
            return dict(id=fault_id, reverted=True, errors=[], by="supervisor")
        if isinstance(res, dict):
            return dict(id=fault_id, reverted=False, by="supervisor", state=res.get("state"),
                        errors=res.get("revert_errors") or ["revert did not finish within %ss" % timeout])
        # no supervisor: revert here, holding the fault's lock (no supervisor
        # can start meanwhile), and hand a failure to a new supervisor to retry
        fd = None
        end = time.monotonic() + timeout
        while fd is None:
            fd = try_fault_lock(self.state_dir, fault_id)
            if fd is None:
                if time.monotonic() > end:
                    return dict(id=fault_id, reverted=False, errors=["fault %s is locked by another process"
                                                                     % fault_id])
                if self._supervisor_alive(rec):
                    return self.revert(fault_id, reason=reason, by=by, timeout=max(1.0, end - time.monotonic()))
                time.sleep(0.02)
        try:
            out = revert_record(self.ledger, rec, reason, by, self.runner)
        finally:
            release_fault_lock(fd)
        if out.get("state") == "revert_failed":
            try:
                out["supervisor"] = spawn_supervisor(self.state_dir, fault_id)
            except EngineError as e:
                out["errors"] = list(out["errors"]) + [str(e)]
        return out

    @staticmethod
    def revert_failure(results):
        """A user message when any revert in ``results`` failed (the module must fail), else None."""
        bad = [r for r in results or [] if r.get("errors") and not r.get("reverted")]
        if not bad:
            return None
        return "revert failed for %s; kept as revert_failed and retried by its supervisor (see fault_info, " \
            "run restore to retry now)" % "; ".join("%s: %s" % (r["id"], ", ".join(r["errors"])) for r in bad)

    def faults(self, kind=None, match=None):
        """Records of the active faults of ``kind`` (a kind, a list of kinds, None:
        every kind) that ``match(record)`` accepts (None: all)."""
        kinds = (kind,) if isinstance(kind, str) else kind
        return [rec for rec in self.ledger.list()
                if (not kinds or rec.get("kind") in kinds) and (match is None or match(rec))]

    def revert_where(self, kind=None, match=None, reason="restore", by="module"):
        """Revert what matches a scope: every fault of :meth:`faults` (kind, match).

        One result per fault (see :meth:`revert`) with the record's ``kind``,
        ``type``, ``summary`` and ``params``; in check mode nothing is reverted.
        """
        out = []
        for rec in self.faults(kind, match):
            res = self.revert(rec["id"], reason=reason, by=by)
            res.update(kind=rec.get("kind"), type=rec.get("type"), summary=rec.get("summary"),
                       params=rec.get("params") or {})
            out.append(res)
        return out

    def run_now(self, journal_id, event, actions, detail=None):
        """One-shot actions that leave nothing to revert (a restart, resuming a
        process the collection did not pause): run through the engine's runner
        and journaled as ``event``; ``detail(results)`` adds to the journal line.
        Check mode runs nothing and returns None."""
        if self.module.check_mode:
            return None
        results = execute(actions, self.runner)
        self.ledger.journal(journal_id, event, detail(results) if detail else {})
        return results

    def revert_all(self, kinds=None, reason="restore", by="module", run_id=None):
        """Revert every fault of ``kinds`` (:data:`KINDS` names through
        :func:`kind_of`, so ``service`` selects network type=service; None:
        every kind) and of ``run_id`` (None: any run); ``revert_failed`` ones
        are tried again. One result per fault (see :meth:`revert_where`), then
        one per unreadable record (not reverted, with the reason in
        ``errors``; not listed in check mode, where nothing is tried)."""
        def match(rec):
            return (not kinds or kind_of(rec) in kinds) and (not run_id or rec.get("run_id") == run_id)

        out = self.revert_where(None, match, reason=reason, by=by)
        for fid in [] if self.module.check_mode else self.ledger.unreadable():
            out.append(dict(id=fid, reverted=False, kind=None, summary=None,
                            errors=["record is unreadable; its supervisor (if alive) reverts it at its deadline"]))
        return out

    def wait_for_end(self, fault_id, timeout):
        """Block until the supervisor has reverted the fault (flap/duration ``wait``)."""
        end = time.monotonic() + timeout
        while True:
            rec = self.ledger.get(fault_id)
            if rec is None:
                return True
            if rec.get("state") == "revert_failed" or time.monotonic() > end:
                return False
            time.sleep(0.1)

    def describe(self, record):
        """A user-facing view of a ledger record with its timeline.

        ``state``: scheduled | active | revert_failed; ``orphan``: no supervisor
        runs for it (the next module call restarts one or reverts it).
        """
        now = time.time()
        view = dict((k, record.get(k)) for k in (
            "id", "kind", "type", "summary", "params", "created", "renewed", "deadline",
            "lease_until", "duration", "schedule", "cycle", "phase", "supervisor", "start_at",
            "applied", "revert_errors", "revert_attempts", "next_retry"))
        view["state"] = record.get("state") or "active"
        if record.get("start_at") is not None:
            view["start_at_iso"] = iso_utc(record["start_at"])
            view["starts_in_s"] = max(0.0, record["start_at"] - now)
        view["remaining_s"] = max(0.0, record.get("deadline", now) - now)
        view["overdue"] = now > record.get("deadline", now)
        holder = supervisor_holder(self.state_dir, record["id"])
        view["supervisor_alive"] = bool(holder and holder.get("pid"))
        if holder and holder.get("pid"):
            view["supervisor"] = holder
        view["orphan"] = holder is None
        view["events"] = self.ledger.events(record["id"], since=record.get("created", 0) - 1)
        return view

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: timeline
type: aggregate
short_description: Print fault, probe and data generator events live while tasks run
version_added: 0.1.0
author:
  - faultline.chaos contributors (@faultline)
description:
  - While a task runs, a background thread tails the local ledger journal
    C(<state_dir>/journal.jsonl) and the worker outputs C(<state_dir>/workers/*.jsonl)
    and prints one line per fault event and per probe or data generator
    transition, e.g. C([faultline] 12:00:03.120 fault net_reject_ab12 down cycle 2),
    so a five-minute flap does not look frozen.
  - A heartbeat line summarises the current states every O(heartbeat) seconds, but only
    when something happened since the last one; an idle play prints nothing.
  - When a task returns, events found in its result (C(events)) that were not printed
    yet are printed; this is how events of remote hosts appear.
  - It never fails a play, prints only ids, event names, cycles, counts and shortened
    error texts (no task arguments, no results of C(no_log) tasks), and stops its thread
    when the playbook ends.
  - Limits. The live tail only sees the state directory of the controller, i.e. faults,
    probes and data generators running on the controller host (the local lab or
    C(delegate_to=localhost)). Events of remote hosts are printed when their task returns.
    Wall-clock times are the controller's local time.
requirements:
  - Enable it with C(callbacks_enabled = faultline.chaos.timeline) in C(ansible.cfg) (section C(defaults)).
options:
  state_dir:
    description: Ledger directory to tail on the controller.
    type: path
    default: /run/faultline
    env:
      - name: FAULTLINE_STATE_DIR
    ini:
      - section: callback_faultline_timeline
        key: state_dir
  heartbeat:
    description: Seconds between heartbeat lines (0 disables them).
    type: float
    default: 30
    env:
      - name: FAULTLINE_TIMELINE_HEARTBEAT
    ini:
      - section: callback_faultline_timeline
        key: heartbeat
  poll_interval:
    description: Seconds between looks at the files.
    type: float
    default: 0.25
    env:
      - name: FAULTLINE_TIMELINE_POLL
    ini:
      - section: callback_faultline_timeline
        key: poll_interval
'''

import threading

from ansible.plugins.callback import CallbackBase

try:
    from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import DEFAULT_STATE_DIR
    from ansible_collections.faultline.chaos.plugins.module_utils._report.live import Tailer
except Exception:  # noqa: BLE001 - a broken install must never break a play
    Tailer = None
    DEFAULT_STATE_DIR = None


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "faultline.chaos.timeline"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super(CallbackModule, self).__init__(*args, **kwargs)
        self._tailer = None
        self._thread = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._poll = 0.25
        if Tailer is None:
            self.disabled = True

    def set_options(self, *args, **kwargs):
        super(CallbackModule, self).set_options(*args, **kwargs)
        try:
            self._poll = max(0.05, float(self.get_option("poll_interval")))
            self._tailer = Tailer(self.get_option("state_dir") or DEFAULT_STATE_DIR,
                                  heartbeat=float(self.get_option("heartbeat")))
            self._tailer.prime()
        except Exception:  # noqa: BLE001
            self._tailer = None

    # -- output ------------------------------------------------------------
    def _emit(self, lines):
        for line in lines:
            try:
                self._display.display(line)
            except Exception:  # noqa: BLE001
                pass

    def _poll_once(self):
        try:
            with self._lock:
                lines = self._tailer.poll() if self._tailer else []
            self._emit(lines)
        except Exception:  # noqa: BLE001
            pass

    # -- the tail thread ------------------------------------------------------
    def _run(self, stop):
        while not stop.wait(self._poll):
            self._poll_once()

    def _start(self):
        try:
            self._halt()
            if self._tailer is None:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,),
                                            name="faultline-timeline", daemon=True)
            self._thread.start()
        except Exception:  # noqa: BLE001
            pass

    def _halt(self):
        try:
            self._stop.set()
            if self._thread is not None:
                self._thread.join(5)
            self._thread = None
            if self._tailer is not None:
                self._poll_once()
        except Exception:  # noqa: BLE001
            pass

    # -- results ----------------------------------------------------------------
    def _from_result(self, result):
        try:
            if self._tailer is None or getattr(result._task, "no_log", False):
                return
            res = result._result
            found = []
            if isinstance(res, dict):
                found.append(res.get("events"))
                for item in res.get("results") or []:
                    if isinstance(item, dict):
                        found.append(item.get("events"))
            for events in found:
                if isinstance(events, list) and events:
                    with self._lock:
                        lines = self._tailer.result_lines(events)
                    self._emit(lines)
        except Exception:  # noqa: BLE001
            pass

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._start()

    def v2_playbook_on_handler_task_start(self, task):
        self._start()

    def v2_runner_on_ok(self, result):
        self._from_result(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._from_result(result)

    def v2_runner_item_on_ok(self, result):
        self._from_result(result)

    def v2_runner_item_on_failed(self, result):
        self._from_result(result)

    def v2_playbook_on_stats(self, stats):
        self._halt()

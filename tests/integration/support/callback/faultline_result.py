# Test support of the integration tests (not part of the collection): the
# result collector of support.ansible.run_module.
"""Write each host's result of the play's task as JSON, as ``register`` holds it.

Enabled only for ``run_module`` (ANSIBLE_CALLBACK_PLUGINS points at this
directory, ANSIBLE_CALLBACKS_ENABLED names it); ``FAULTLINE_RESULT_DIR`` is
the directory to write ``<inventory_hostname>.json`` into;
``FAULTLINE_RESULT_TASK``, when set, the name of the one task to write
(test_harness compares other tasks than run_module's).

A callback receives ``result._result``: a copy of the task's raw result with
``failed`` and ``skipped`` removed (the event says them), the ``_ansible_*``
keys stripped except a few callbacks need, ``invocation`` kept.  What
``register`` holds is the raw result with every ``_ansible_*`` key stripped
and ``invocation`` removed.  So the registered dict is rebuilt here: drop
``invocation`` and every ``_ansible_*`` key, put ``failed`` and ``skipped``
back as the task executor left them (an executed task always has ``failed``;
a skip decided by a ``when`` has no ``failed``; an unreachable host has
neither).
"""
import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r'''
name: faultline_result
type: aggregate
short_description: Write each host's task result as JSON (test support of run_module)
description:
  - Test support only.
'''


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not (isinstance(k, str) and k.startswith("_ansible_"))}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "faultline_result"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._dir = os.environ.get("FAULTLINE_RESULT_DIR")
        self._task = os.environ.get("FAULTLINE_RESULT_TASK")

    def _write(self, result, **flags):
        if not self._dir or self._task and result._task.get_name() != self._task:
            return
        os.makedirs(self._dir, exist_ok=True)
        data = _strip(dict(result._result))
        data.pop("invocation", None)
        data.update(flags)
        path = os.path.join(self._dir, result._host.get_name() + ".json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, default=str)
        os.replace(tmp, path)

    def v2_runner_on_ok(self, result, **kwargs):
        self._write(result, failed=False)

    def v2_runner_on_failed(self, result, ignore_errors=False, **kwargs):
        self._write(result, failed=True)

    def v2_runner_on_skipped(self, result, **kwargs):
        # an executed module that skipped (no check mode support ...) passed the
        # executor's "failed is set" step; a `when` skip returns before it
        flags = dict(skipped=True)
        if "false_condition" not in result._result and "skip_reason" not in result._result:
            flags["failed"] = False
        self._write(result, **flags)

    def v2_runner_on_unreachable(self, result, **kwargs):
        self._write(result)

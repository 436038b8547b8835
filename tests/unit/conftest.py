"""Shared fakes for the unit tests (fixtures; test files never copy them).

fake_module   an object with what FaultEngine needs from an AnsibleModule
              (check_mode, params, run_command); commands go to a scripted runner.
run_module    runs a module's main() with arguments, returns (exit code, result).
"""
import json

import pytest

try:
    from ansible.module_utils.testing import patch_module_args
except ImportError:  # ansible-core < 2.19 (the declared floor): the same through _ANSIBLE_ARGS
    import contextlib

    from ansible.module_utils import basic
    from ansible.module_utils.common.text.converters import to_bytes

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


class FakeModule(object):
    """check_mode, params and run_command of an AnsibleModule; records every command.

    ``answers`` maps an argv prefix (tuple) to (rc, out, err); anything else
    answers (0, "", "") unless ``run`` (e.g. runtime.subprocess_runner) runs it for real.
    """

    def __init__(self, check_mode=False, params=None, answers=None, run=None):
        self.check_mode = check_mode
        self.params = params or {}
        self.answers = dict(answers or {})
        self.run = run
        self.commands = []

    def run_command(self, argv, data=None, binary_data=False, check_rc=False, environ_update=None):
        self.commands.append((list(argv), data))
        for prefix, answer in self.answers.items():
            if tuple(argv[:len(prefix)]) == tuple(prefix):
                return answer
        return self.run(argv, data) if self.run else (0, "", "")

    def fail_json(self, **kw):
        raise AssertionError("fail_json: %s" % kw.get("msg"))


@pytest.fixture
def fake_module():
    """Factory: fake_module(check_mode=False, params=None, answers=None, run=None)."""
    return FakeModule


@pytest.fixture
def run_module(capsys):
    def run(module, args):
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exc:
                module.main()
        return exc.value.code, json.loads(capsys.readouterr().out)
    return run

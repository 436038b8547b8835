"""``patch_module_args`` for the unit tests, also on the declared ansible-core floor.

ansible-core 2.19 ships ``ansible.module_utils.testing.patch_module_args``;
below it (``make test``'s floor step runs the unit tests on 2.16) the same is
done through ``basic._ANSIBLE_ARGS``.
"""
import contextlib
import json

__all__ = ["patch_module_args"]

try:
    from ansible.module_utils.testing import patch_module_args  # noqa: F401  pylint: disable=unused-import
except ImportError:  # ansible-core < 2.19
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

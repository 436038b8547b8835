"""Run the collection of the working tree through Ansible, as a play would."""
import atexit
import json
import os
import subprocess
import tempfile
import threading

from support import zygote

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, ".collections")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")
LAB_PLAYBOOK = os.path.join(ROOT, "playbooks", "lab.yml")
# run_module's result collector (a callback plugin of the test support tree)
CALLBACK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "callback")

_pool = None
_pool_lock = threading.Lock()


def zygotes():
    """The fork servers of this process (support/zygote.py), started on first use."""
    global _pool  # pylint: disable=global-statement
    with _pool_lock:
        if _pool is None:
            _pool = zygote.Pool(PYTHON)
            atexit.register(_pool.close)
        return _pool


def _run_ansible_playbook(argv, env, timeout):
    """subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    of ansible-playbook, forked from a zygote when one can take it."""
    if argv[0] == tool("ansible-playbook"):
        cp = zygotes().run(argv, ROOT, env, timeout)
        if cp is not None:
            return cp
    with subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            zygote.terminate(proc.pid, proc.wait)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, output=out, stderr=err) from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def tool(name):
    """A command of the project's virtualenv (falls back to PATH)."""
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else name


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(
        ANSIBLE_CONFIG=os.path.join(ROOT, "ansible.cfg"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        PATH=VENV_BIN + os.pathsep + env.get("PATH", ""),
    )
    env.update(extra)
    return env


def run_playbook(path, extra_vars=None, check=False, diff=False, timeout=900, inventory=None, env=None):
    """Run a playbook (path relative to the repo root or absolute) -> CompletedProcess (text).

    ``env``: extra environment variables for ansible-playbook."""
    argv = [tool("ansible-playbook"), os.path.join(ROOT, path)]
    if inventory:
        argv += ["-i", inventory]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    return _run_ansible_playbook(argv, ansible_env(**(env or {})), timeout)


def run_module(module, args=None, check=False, diff=False, timeout=600, inventory=None, hosts=None, become=False):
    """Run one module through ``ansible-playbook`` and return its result dict.

    ``module`` is a short name of this collection (``network``) or a FQCN.
    Without ``hosts`` the module runs on localhost and the result dict is
    returned; with ``hosts`` (a pattern of ``inventory``) the return value is
    ``{inventory_hostname: result dict}``.  A generated one-task play
    registers the result (``ignore_errors``) and writes it as JSON, so each
    dict is exactly what ``register`` would hold.  ``failed``, ``changed`` and
    ``msg`` are always present; when Ansible itself failed (unknown module, a
    syntax error) the result says ``failed: True`` with Ansible's error text
    in ``msg``.  ``_stderr`` holds Ansible's warnings.  A module that died
    with a Python traceback raises AssertionError: that is never a result.
    ``become``: run the task with ``become: true`` (sudo on the target),
    also when the login user is already root (the lab hosts): Ansible would
    skip sudo to the same user, so it is forced, and sudo really runs.
    A host that became unreachable during the task gives a result with
    ``unreachable: True`` and ``failed: True``.
    """
    return _run_module(module, args, check, diff, timeout, inventory, hosts, become)


def _run_module(module, args=None, check=False, diff=False, timeout=600, inventory=None, hosts=None, become=False,
                dump_task=False):
    """run_module; ``dump_task``: the former way to collect the results (a second task that
    writes ``register``'s value with ansible.builtin.copy), kept to compare with."""
    fqcn = module if "." in module else "faultline.chaos." + module
    with tempfile.TemporaryDirectory(prefix="faultline-run-module-") as tmp:
        tasks = [{"name": fqcn, fqcn: args or {}, "register": "_faultline_result", "ignore_errors": True,
                  "ignore_unreachable": True, "become": bool(become)}]
        # Only the module under test: no extra callbacks (the timeline callback
        # belongs to scenario playbooks, not to a single module call).
        extra = dict(ANSIBLE_BECOME_ALLOW_SAME_USER="1" if become else "0")
        if dump_task:
            tasks.append({"name": "dump the result", "delegate_to": "localhost", "check_mode": False, "diff": False,
                          "ansible.builtin.copy": {"content": "{{ _faultline_result | to_json }}", "mode": "0600",
                                                   "dest": tmp + "/{{ inventory_hostname }}.json"}})
            extra.update(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.default")
        else:
            # support/callback/faultline_result.py writes <tmp>/<host>.json
            plugins = [CALLBACK_DIR] + [p for p in os.environ.get("ANSIBLE_CALLBACK_PLUGINS", "").split(os.pathsep) if p]
            extra.update(ANSIBLE_CALLBACKS_ENABLED="faultline_result", FAULTLINE_RESULT_DIR=tmp,
                         ANSIBLE_CALLBACK_PLUGINS=os.pathsep.join(plugins))
        play = [{"name": "run_module", "hosts": hosts or "localhost", "gather_facts": False, "tasks": tasks}]
        book = os.path.join(tmp, "run_module.yml")
        with open(book, "w") as f:
            json.dump(play, f)
        argv = [tool("ansible-playbook"), book]
        if inventory:
            argv += ["-i", inventory]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        cp = _run_ansible_playbook(argv, ansible_env(**extra), timeout)
        results = {}
        for name in os.listdir(tmp):
            if name.endswith(".json"):
                with open(os.path.join(tmp, name)) as f:
                    results[name[:-5]] = json.load(f)
    if not results and hosts:
        raise AssertionError("ansible-playbook rc=%d:\n%s\n%s" % (cp.returncode, cp.stdout[-3000:], cp.stderr[-2000:]))
    if not results:
        results["localhost"] = {
            "failed": True,
            "msg": "ansible-playbook rc=%d: %s" % (cp.returncode, (cp.stderr or cp.stdout).strip()[-3000:])}
    for result in results.values():
        if "Traceback (most recent call last)" in (result.get("module_stderr") or ""):
            raise AssertionError("%s crashed:\n%s" % (fqcn, result["module_stderr"][-3000:]))
        if result.get("unreachable"):
            result["failed"] = True
        result.setdefault("failed", False)
        result.setdefault("changed", False)
        result.setdefault("msg", "")
        result["_stderr"] = cp.stderr
    return results if hosts else results.get("localhost", next(iter(results.values())))

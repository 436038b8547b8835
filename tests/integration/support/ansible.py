"""Run the collection of the working tree through Ansible, as a play would."""
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
COLLECTIONS = os.path.join(ROOT, ".collections")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
PYTHON = os.path.join(VENV_BIN, "python")
LAB_PLAYBOOK = os.path.join(ROOT, "playbooks", "lab.yml")


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
    return subprocess.run(argv, cwd=ROOT, env=ansible_env(**(env or {})), capture_output=True,
                          text=True, timeout=timeout, check=False)


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
    fqcn = module if "." in module else "faultline.chaos." + module
    with tempfile.TemporaryDirectory(prefix="faultline-run-module-") as tmp:
        play = [{
            "name": "run_module",
            "hosts": hosts or "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": fqcn, fqcn: args or {}, "register": "_faultline_result", "ignore_errors": True,
                 "ignore_unreachable": True, "become": bool(become)},
                {"name": "dump the result", "delegate_to": "localhost", "check_mode": False, "diff": False,
                 "ansible.builtin.copy": {"content": "{{ _faultline_result | to_json }}", "mode": "0600",
                                          "dest": tmp + "/{{ inventory_hostname }}.json"}},
            ],
        }]
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
        # Only the module under test: no extra callbacks (the timeline callback
        # belongs to scenario playbooks, not to a single module call).
        env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.default",
                          ANSIBLE_BECOME_ALLOW_SAME_USER="1" if become else "0")
        cp = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
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

"""Integration fixtures: the real lab, and running the collection through Ansible.

Fixtures (use them as test arguments):

``lab``           session: brings the MySQL lab up with ``playbooks/lab.yml``
                  unless it is already up, yields the ``lab_mysql`` fact
                  (``{"source": {host, port, socket, pidfile, datadir,
                  binlog_dir, start_argv, log, user, password, ...},
                  "replica": {...}}``) and takes the lab down at the end of the
                  session only if it brought it up.
``run_playbook``  ``run_playbook(path, extra_vars=None, check=False, diff=False)``
                  -> ``subprocess.CompletedProcess`` (text stdout/stderr).
``run_module``    ``run_module(module, args=None, check=False, diff=False)`` ->
                  the module's result dict (``failed``, ``changed``, ``msg``
                  always present), run on localhost through ``ansible``.
``lab_ctl``       ``lab_ctl.up()`` / ``lab_ctl.down()`` / ``lab_ctl.read()`` (None when
                  down) / ``lab_ctl.playbook`` for tests that stop and restart the lab.
``mysql``         ``mysql.query("source"|"replica", sql, args=None)`` -> list of
                  dict rows; ``mysql.wait_replicated(timeout)``.

Set ``FAULTLINE_KEEP_LAB=1`` to leave a lab this session started running.
"""
import json
import os
import socket
import subprocess
import tempfile
import time
import types

import pymysql
import pymysql.cursors
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
LAB_PLAYBOOK = os.path.join(ROOT, "playbooks", "lab.yml")
# Written by roles/lab_mysql while the lab is up (lab_mysql_base_dir/lab_mysql.json).
LAB_STATE_FILE = os.environ.get("FAULTLINE_LAB_STATE", "/var/lib/faultline-lab/mysql/lab_mysql.json")


def _tool(name):
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


def run_playbook(path, extra_vars=None, check=False, diff=False, timeout=900):
    """Run a playbook of this repository (path relative to the repo root or absolute)."""
    argv = [_tool("ansible-playbook"), os.path.join(ROOT, path)]
    if extra_vars:
        argv += ["-e", json.dumps(extra_vars)]
    if check:
        argv.append("--check")
    if diff:
        argv.append("--diff")
    return subprocess.run(argv, cwd=ROOT, env=ansible_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def run_module(module, args=None, check=False, diff=False, timeout=600):
    """Run one module on localhost through Ansible and return its result dict.

    ``module`` is a short name of this collection (``network``) or a FQCN.
    A generated one-task playbook registers the result (``ignore_errors``) and
    writes it as JSON, so the dict is exactly what ``register`` would hold.
    ``failed``, ``changed`` and ``msg`` are always present; when Ansible itself
    failed (unknown module, a syntax error) the dict says ``failed: True`` with
    Ansible's error text in ``msg``.  ``_stderr`` holds Ansible's warnings.
    """
    fqcn = module if "." in module else "faultline.chaos." + module
    with tempfile.TemporaryDirectory(prefix="faultline-run-module-") as tmp:
        out = os.path.join(tmp, "result.json")
        play = [{
            "name": "run_module",
            "hosts": "localhost",
            "gather_facts": False,
            "tasks": [
                {"name": fqcn, fqcn: args or {}, "register": "_faultline_result", "ignore_errors": True},
                {"name": "dump the result", "ansible.builtin.copy": {
                    "content": "{{ _faultline_result | to_json }}", "dest": out, "mode": "0600"},
                 "check_mode": False, "diff": False},
            ],
        }]
        book = os.path.join(tmp, "run_module.yml")
        with open(book, "w") as f:
            json.dump(play, f)
        argv = [_tool("ansible-playbook"), book]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        # Only the module under test: no extra callbacks (the timeline callback
        # belongs to scenario playbooks, not to a single module call).
        env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.default")
        cp = subprocess.run(argv, cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=timeout, check=False)
        try:
            with open(out) as f:
                result = json.load(f)
        except (OSError, ValueError):
            result = {"failed": True,
                      "msg": "ansible-playbook rc=%d: %s" % (cp.returncode, (cp.stderr or cp.stdout).strip()[-3000:])}
    result.setdefault("failed", False)
    result.setdefault("changed", False)
    result.setdefault("msg", "")
    result["_stderr"] = cp.stderr
    return result


def _port_open(host, port):
    try:
        socket.create_connection((host, int(port)), 0.5).close()
        return True
    except OSError:
        return False


def _pid_alive(pidfile):
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def read_lab():
    """The lab description if the lab is up (both servers alive and listening), else None."""
    try:
        with open(LAB_STATE_FILE) as f:
            desc = json.load(f)
    except (OSError, ValueError):
        return None
    for inst in ("source", "replica"):
        i = desc.get(inst) or {}
        if not (i.get("pidfile") and _pid_alive(i["pidfile"]) and _port_open(i["host"], i["port"])):
            return None
    return desc


def lab_up():
    cp = run_playbook(LAB_PLAYBOOK, {"lab_state": "up"})
    desc = read_lab()
    if cp.returncode != 0 or desc is None:
        raise RuntimeError("lab up failed (rc=%d):\n%s\n%s" % (cp.returncode, cp.stdout[-4000:], cp.stderr[-2000:]))
    return desc


def lab_down():
    cp = run_playbook(LAB_PLAYBOOK, {"lab_state": "down"})
    if cp.returncode != 0:
        raise RuntimeError("lab down failed (rc=%d):\n%s\n%s" % (cp.returncode, cp.stdout[-4000:], cp.stderr[-2000:]))
    return cp


class MySQL(object):
    """Queries against the lab instances with PyMySQL (autocommit, dict rows)."""

    def __init__(self, lab):
        self.lab = lab

    def connect(self, instance, database=None, **kw):
        i = self.lab[instance]
        args = dict(host=i["host"], port=int(i["port"]), user=i["user"], password=i["password"],
                    database=database, autocommit=True, connect_timeout=5, charset="utf8mb4",
                    cursorclass=pymysql.cursors.DictCursor)
        args.update(kw)
        return pymysql.connect(**args)

    def query(self, instance, sql, args=None, database=None):
        conn = self.connect(instance, database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def scalar(self, instance, sql, args=None, database=None):
        rows = self.query(instance, sql, args, database)
        return list(rows[0].values())[0] if rows else None

    def replica_status(self):
        rows = self.query("replica", "SHOW SLAVE STATUS")
        return rows[0] if rows else None

    def wait_replicated(self, timeout=30.0):
        """Wait until the replica has applied everything the source has binlogged."""
        want = self.scalar("source", "SELECT @@GLOBAL.gtid_binlog_pos")
        deadline = time.monotonic() + timeout
        while True:
            got = self.scalar("replica", "SELECT MASTER_GTID_WAIT(%s, 1) AS w", (want,))
            if got == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError("replica did not reach GTID %s within %ss: %s"
                                     % (want, timeout, self.replica_status()))


@pytest.fixture(scope="session")
def lab():
    desc = read_lab()
    started = desc is None
    if started:
        try:
            desc = lab_up()
        except RuntimeError as e:
            try:
                lab_down()
            finally:
                pytest.fail(str(e), pytrace=False)
    try:
        yield desc
    finally:
        if started and os.environ.get("FAULTLINE_KEEP_LAB") != "1":
            lab_down()


@pytest.fixture(scope="session", name="run_playbook")
def run_playbook_fixture():
    return run_playbook


@pytest.fixture(scope="session", name="run_module")
def run_module_fixture():
    return run_module


@pytest.fixture(scope="session")
def lab_ctl():
    return types.SimpleNamespace(up=lab_up, down=lab_down, read=read_lab, playbook=LAB_PLAYBOOK)


@pytest.fixture(scope="session")
def mysql(lab):
    return MySQL(lab)

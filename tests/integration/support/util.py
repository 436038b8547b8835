"""Small process and wait helpers for the integration tests (/proc through the collection's procfs)."""
import json
import os
import time

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import port_open, proc_alive


def wait_for(pred, timeout=30.0, step=0.1, what="condition"):
    """Poll ``pred`` until it returns something truthy (returned); AssertionError after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for %s" % what)


def sees_my_lab(pid, path="/var/lib"):
    """True when process ``pid`` sees the same ``path`` as this one (same file
    system behind it): a process of this lab instance, not one of another
    instance started by scripts/lab-ns.sh (whose lab paths are the same
    strings on a different overlay). False when the process is gone."""
    try:
        return os.stat("/proc/%d/root%s" % (pid, path)).st_dev == os.stat(path).st_dev
    except OSError:
        return False


def read_pidfile(path):
    """The pid in ``path``, None when it is missing or holds none (the lab may be down)."""
    try:
        return procfs.read_pidfile(path)
    except procfs.ProcfsError:
        return None


def reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except OSError:
        pass


def read_lab(path):
    """A lab_mysql.json description if its lab is up (both servers alive and listening), else None."""
    try:
        with open(path) as f:
            desc = json.load(f)
    except (OSError, ValueError):
        return None
    for inst in ("source", "replica"):
        i = desc.get(inst) or {}
        pid = read_pidfile(i["pidfile"]) if i.get("pidfile") else None
        if not (pid and proc_alive(pid) and port_open(i["host"], i["port"])):
            return None
    return desc


def descendant_groups(pid):
    """Process groups of the descendants of ``pid`` other than its own group, now.

    ansible-core 2.19 runs each task worker of ansible-playbook in a process group of
    its own: a test that SIGKILLs a controller's group kills these too (a worker in a
    120 s pause outlived the controller until scripts/lab-ns.sh stopped it)."""
    from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
    table = procfs.proc_table()
    mine, found = {pid}, True
    while found:
        found = False
        for p, st in table.items():
            if p not in mine and st["ppid"] in mine:
                mine.add(p)
                found = True
    return sorted({table[p]["pgid"] for p in mine if p in table and table[p]["pgid"] != pid} - {0, 1})


def kill_run(pid):
    """SIGKILL an ansible-playbook started in a session of its own (``pid`` leads its group)
    and the process groups of its task workers; -> those worker groups."""
    import signal
    workers = descendant_groups(pid)
    for pgid in [pid] + workers:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return workers

"""Small process and wait helpers for the integration tests."""
import json
import os
import time

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import port_open


def wait_for(pred, timeout=30.0, step=0.1, what="condition"):
    """Poll ``pred`` until it returns something truthy (returned); AssertionError after ``timeout``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out waiting for %s" % what)


def proc_state(pid):
    """The one-letter state of ``pid`` from /proc (R, S, T, Z ...), None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return None


def proc_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")
    except OSError:
        return []


def pid_alive(pid):
    return proc_state(pid) not in (None, "Z")


def read_pidfile(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
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
        if not (pid and pid_alive(pid) and port_open(i["host"], i["port"])):
            return None
    return desc

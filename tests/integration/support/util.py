"""Small process and wait helpers for the integration tests."""
import os
import time


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

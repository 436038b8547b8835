"""The supervisor as installed into the state dir: a stub script that imports a
copy of runtime.py as a module, run from bytecode compiled at install.

Before: ``supervisor.py`` was the whole runtime, run as ``__main__``, which
Python compiles on every start (about 11 ms of every supervisor start here).
Real files and processes in a temp state dir; nothing touches the kernel.
"""
import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt


@pytest.fixture
def state_dir(tmp_path):
    return rt.Ledger(str(tmp_path / "state")).ensure().state_dir


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def current_source():
    with open(rt.__file__) as f:
        return f.read()


def pyc_source_hash(path):
    """The source hash a checked hash-based pyc carries (PEP 552), or None for another kind."""
    with open(path, "rb") as f:
        head = f.read(16)
    flags = int.from_bytes(head[4:8], "little")
    assert head[:4] == importlib.util.MAGIC_NUMBER
    return head[8:16] if flags == 0b11 else None  # hash-based and checked


def run_stub(state_dir, *opts):
    """Run the installed script as spawn_supervisor does (no record: it exits at once)."""
    argv = [sys.executable, "-E", "-S"] + list(opts) + [rt.supervisor_script_path(state_dir),
                                                        "--state-dir", state_dir, "--id", "none"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


def test_install_writes_a_stub_the_runtime_copy_and_its_bytecode_private(state_dir):
    script = rt.install_supervisor(state_dir)
    assert script == os.path.join(state_dir, "supervisor.py")
    with open(script) as f:
        stub = f.read()
    assert stub == rt.SUPERVISOR_STUB and "import faultline_runtime" in stub and len(stub) < 1000
    copy = rt.supervisor_runtime_path(state_dir)
    with open(copy) as f:
        assert f.read() == current_source()
    pyc = rt.supervisor_bytecode_path(state_dir)
    assert pyc == os.path.join(state_dir, "__pycache__", "faultline_runtime.%s.pyc" % sys.implementation.cache_tag)
    assert pyc_source_hash(pyc) == importlib.util.source_hash(current_source().encode())
    assert mode(script) == 0o700 and mode(copy) == 0o600
    assert mode(os.path.dirname(pyc)) == 0o700 and mode(pyc) == 0o600
    for path in (script, copy, os.path.dirname(pyc), pyc):
        assert os.lstat(path).st_uid == os.geteuid()


def test_the_supervisor_runs_from_the_installed_bytecode(state_dir):
    rt.install_supervisor(state_dir)
    pyc = rt.supervisor_bytecode_path(state_dir)
    before = os.stat(pyc)
    out = run_stub(state_dir, "-v")
    assert out.returncode == 0, out.stderr
    assert "code object from '%s'" % pyc in out.stderr, out.stderr[-3000:]
    assert "faultline_runtime.py" not in [ln.split()[-1] for ln in out.stderr.splitlines() if "code object" in ln]
    after = os.stat(pyc)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # used, not rewritten


def test_a_second_install_writes_nothing(state_dir):
    rt.install_supervisor(state_dir)
    paths = [rt.supervisor_script_path(state_dir), rt.supervisor_runtime_path(state_dir),
             rt.supervisor_bytecode_path(state_dir)]
    before = [(os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in paths]
    time.sleep(0.01)
    rt.install_supervisor(state_dir)
    assert [(os.stat(p).st_ino, os.stat(p).st_mtime_ns) for p in paths] == before


@pytest.mark.parametrize("old", ["older runtime copy", "pre-stub supervisor.py", "bytecode gone"])
def test_a_changed_installation_is_replaced_and_recompiled(state_dir, old):
    """An upgraded collection finds the files of another version: it installs its own."""
    rt.install_supervisor(state_dir)
    copy, pyc = rt.supervisor_runtime_path(state_dir), rt.supervisor_bytecode_path(state_dir)
    if old == "older runtime copy":
        # same size as the current copy, and its bytecode compiled the same way
        with open(copy, "w") as f:
            f.write(current_source().replace("faultline.chaos fault supervisor", "faultline.chaos fault supervisoR"))
        os.utime(copy, (os.stat(pyc).st_mtime,) * 2)
    elif old == "pre-stub supervisor.py":
        with open(rt.supervisor_script_path(state_dir), "w") as f:
            f.write(current_source())  # the old layout: the runtime itself, run as __main__
        os.unlink(copy)
        shutil.rmtree(os.path.dirname(pyc))
    else:
        os.unlink(pyc)
    rt.install_supervisor(state_dir)
    with open(copy) as f:
        assert f.read() == current_source()
    with open(rt.supervisor_script_path(state_dir)) as f:
        assert f.read() == rt.SUPERVISOR_STUB
    assert pyc_source_hash(pyc) == importlib.util.source_hash(current_source().encode())
    assert mode(os.path.dirname(pyc)) == 0o700 and mode(pyc) == 0o600


def test_stale_bytecode_never_runs(state_dir):
    """A copy replaced behind the installer's back (another version's install, without
    its bytecode yet): Python checks the source hash and runs the new source."""
    rt.install_supervisor(state_dir)
    copy = rt.supervisor_runtime_path(state_dir)
    with open(copy, "w") as f:
        f.write("import sys\n\ndef main():\n    sys.stderr.write('the new copy ran\\n')\n    return 3\n")
    out = run_stub(state_dir)
    assert out.returncode == 3 and "the new copy ran" in out.stderr, out.stderr


def test_the_supervisor_runs_after_the_module_payload_is_gone(tmp_path, state_dir):
    """The module imports runtime.py from the AnsiballZ payload, which Ansible deletes when the
    module returns: a supervisor started again later (systemd's Restart=on-failure runs the
    same command line) runs from the installed copy and its bytecode alone."""
    payload = tmp_path / "payload"
    payload.mkdir()
    shutil.copy(rt.__file__, str(payload / "runtime.py"))
    spec = importlib.util.spec_from_file_location("payload_runtime", str(payload / "runtime.py"))
    prt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prt)
    marker = tmp_path / "reverted"
    led = rt.Ledger(state_dir)
    now, mono = time.time(), time.monotonic()
    led.put(dict(id="gone", kind="test", type="t", summary="t", apply=[],
                 revert=[{"op": "run", "argv": ["touch", str(marker)]}], deadline=now + 60,
                 deadline_mono=mono + 60, schedule={"mode": "hold"}, state="active"))
    first = prt.spawn_supervisor(state_dir, "gone")
    shutil.rmtree(str(payload))
    os.kill(first["pid"], 9)
    while rt.proc_alive(first["pid"], first["starttime"]):
        time.sleep(0.01)
    again = subprocess.Popen([sys.executable, "-E", "-S", rt.supervisor_script_path(state_dir),
                              "--state-dir", state_dir, "--id", "gone"])
    try:
        end = time.monotonic() + 10
        while not (rt.supervisor_holder(state_dir, "gone") or {}).get("pid") and time.monotonic() < end:
            time.sleep(0.01)
        assert rt.supervisor_holder(state_dir, "gone")["pid"] == again.pid
        assert rt.stop_supervisor(led, led.get("gone"), timeout=10) is True
        assert again.wait(10) == 0
    finally:
        if again.poll() is None:
            again.kill()
            again.wait()
    assert marker.exists() and led.get("gone") is None


@pytest.mark.parametrize("what", ["runtime copy", "bytecode directory", "bytecode"])
@pytest.mark.parametrize("change", ["chmod", "chown", "symlink"])
def test_a_planted_runtime_or_bytecode_is_refused(tmp_path, state_dir, what, change):
    rt.install_supervisor(state_dir)
    path = {"runtime copy": rt.supervisor_runtime_path(state_dir),
            "bytecode": rt.supervisor_bytecode_path(state_dir),
            "bytecode directory": os.path.dirname(rt.supervisor_bytecode_path(state_dir))}[what]
    if change == "symlink":
        other = tmp_path / "elsewhere"
        os.rename(path, str(other))
        os.symlink(str(other), path)
    elif change == "chmod":
        os.chmod(path, 0o777 if what == "bytecode directory" else 0o666)
    else:
        os.chown(path, 4321, 4321)
    with pytest.raises(rt.EngineError, match=os.path.basename(path)):
        rt.install_supervisor(state_dir)
    with pytest.raises(rt.EngineError):
        rt.spawn_supervisor(state_dir, "x")


def test_the_runtime_copy_imports_only_what_a_held_fault_needs(state_dir):
    """Before: hashlib, shutil, socket and argparse were imported at every supervisor start
    (about 9 ms here) though holding and reverting a rule needs none of them."""
    rt.install_supervisor(state_dir)
    code = ("import sys; sys.path.insert(0, %r); import faultline_runtime; "
            "print(' '.join(m for m in ('hashlib', 'shutil', 'socket', 'argparse') if m in sys.modules))" % state_dir)
    out = subprocess.run([sys.executable, "-E", "-S", "-c", code], capture_output=True, text=True, timeout=30,
                         check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("argv, want", [
    (["--state-dir", "/run/x", "--id", "f1"], {"state-dir": "/run/x", "id": "f1", "daemonize": False}),
    (["--id", "f1", "--daemonize", "--state-dir", "/run/x"], {"state-dir": "/run/x", "id": "f1", "daemonize": True}),
])
def test_supervisor_command_line(argv, want):
    assert rt._supervisor_args(argv) == want


@pytest.mark.parametrize("argv", [
    [], ["--id", "f1"], ["--state-dir", "/x", "--id"], ["--state-dir", "/x", "--id", "a", "--id", "b"],
    ["--state-dir", "/x", "--id", "a", "--help"],
])
def test_a_wrong_supervisor_command_line_is_a_usage_error(argv, capsys):
    assert rt.main(argv) == 2
    assert "usage: supervisor.py --state-dir DIR --id ID" in capsys.readouterr().err

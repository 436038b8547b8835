"""A fork server ("zygote") for ``ansible-playbook``: import Ansible once, fork per run.

Starting ``ansible-playbook`` costs ~0.6 s of CPU, more than half of it
importing Ansible.  A zygote is a long-lived Python process that has imported
``ansible.cli.playbook`` once; each run is a child forked from it that calls
``ansible.cli.playbook.main()`` with the run's argv, cwd and environment
(``os.environ`` replaced), its stdin/stdout/stderr, in a session of its own
(``start_new_session``), and the zygote reports its exit status.

What a fork changes, and why it is the same as a fresh ``ansible-playbook``:
Ansible reads part of its configuration when it is imported
(``ansible.constants`` loads ``ansible.cfg`` and every ``ANSIBLE_*`` variable,
the plugin loaders take their paths, ``Display`` its settings).  So the
zygote records every environment variable its imports read (a recording
``os.environ`` while it imports) and serves only runs whose environment has
the same values for all of them (``ANSIBLE_CALLBACKS_ENABLED`` differing is
a different zygote), the same cwd and the same config file (path, size,
mtime); a run with another environment gets a zygote of its own (a few are
kept, least recently used first out).  Everything else (``FAULTLINE_*``,
``PATH`` of the modules' subprocesses, variables Ansible reads while it runs
such as a connection plugin's options) is the run's own environment.
Per-process state of the import is redone in the child: the local temporary
directory (``DEFAULT_LOCAL_TMP``, ``ansible-local-<pid>...``) is made anew,
the zygote's ``atexit`` handlers are dropped, signal handlers reset.

The zygote ends when the pipe from its pytest process reaches EOF (pytest
ended or was killed) and never outlives it.  A zygote that cannot start
(``FAULTLINE_ZYGOTE=0`` disables them) leaves the run to a plain subprocess.

Client: ``run(argv, cwd, env, timeout)`` -> ``subprocess.CompletedProcess``
(text), or ``None`` when no zygote can take the run (the caller runs it
itself).  Server: ``python zygote.py CTL_FD SOCKET_PATH``.
"""
import json
import os
import select
import signal
import socket
import struct
import sys

# Read by the interpreter or the C library, not through os.environ: always compared.
_STATIC_KEYS = ("LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "HOME")
_STATIC_PREFIXES = ("LC_", "PYTHON", "ANSIBLE_", "_ANSIBLE_")
_HEADER = struct.Struct("!I")
# The AnsiballZ payload cache of every run of this zygote.  ansible-playbook builds a
# module's payload (the module and the module_utils it imports, found by parsing them:
# 0.15-0.27 s of CPU a module) once per run, in ansiballz_cache/ of the run's local
# tmp, keyed by the module's name; a forked run's ansiballz_cache is a link to this
# directory, so a module is built once per zygote instead of once per run.  The payload
# depends on the module's sources only (not on variables or the inventory; Ansible
# writes it atomically under a lock), and a zygote serves one cwd and one
# configuration: the same name finds the same sources as long as the tree does not
# change during the test session.
_PAYLOADS = None


# --------------------------------------------------------------------------- server

def _record_env_reads():
    """Replace os.environ by a view that records every name read through it."""
    reads = set()
    orig = os.environ

    class Recording(os._Environ):  # pylint: disable=protected-access
        def __getitem__(self, key):
            reads.add(key)
            return super().__getitem__(key)

        def __contains__(self, key):
            reads.add(key)
            return super().__contains__(key)

        def __iter__(self):
            reads.add("*")  # the whole environment was read
            return super().__iter__()

    # pylint: disable-next=protected-access
    os.environ = Recording(orig._data, orig.encodekey, orig.decodekey, orig.encodevalue, orig.decodevalue)
    return orig, reads


def _child(req, fds, close):
    """In the forked child: become the ansible-playbook run of ``req``. Never returns."""
    code = 1
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        # the only dispositions the zygote changed; the others (SIGINT ignored in a
        # background job, say) are what a process started by pytest inherits too
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for fd in close:
            os.close(fd)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = list(req["argv"])
        import atexit
        atexit._clear()  # pylint: disable=protected-access  # the zygote's (its local tmp dir cleanup)
        from ansible import constants as C
        # a fresh ansible-local-<pid>... directory, removed at this child's exit
        C.DEFAULT_LOCAL_TMP = C.config.get_config_value("DEFAULT_LOCAL_TMP", variables=vars(C))
        # the AnsiballZ payloads built by earlier runs (see _PAYLOADS); without the
        # link the run builds its own, as a fresh ansible-playbook does
        try:
            os.symlink(_PAYLOADS, os.path.join(C.DEFAULT_LOCAL_TMP, "ansiballz_cache"))
        except (OSError, TypeError):
            pass
        from ansible.cli.playbook import main
        try:
            main()
            code = 0
        except SystemExit as e:
            if e.code is None:
                code = 0
            elif isinstance(e.code, int):
                code = e.code
            else:
                print(e.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            code = 128 + signal.SIGINT
        # what the interpreter does at exit: wait for non-daemon threads, atexit, flush
        import threading
        threading._shutdown()  # pylint: disable=protected-access
        atexit._run_exitfuncs()  # pylint: disable=protected-access
    except BaseException:  # pylint: disable=broad-except
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code & 0xFF if code >= 0 else 1)  # pylint: disable=protected-access


def _recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError("client went away")
        buf += chunk
    return buf


# Imported by the zygote after ansible.cli.playbook: the packages whose modules a run
# imports as it goes (strategy, connection, shell, become, callback, inventory, action
# and templating plugins, the task executor and the AnsiballZ builder; found with
# -X importtime over a one-task run; a forked run of a one-task play used 0.22 s of CPU
# without them imported ahead, 0.12 s with).  Every forked run and each of its task workers inherits them instead of
# importing them again.  Only plain imports: a module whose import warns (a deprecated
# one) is skipped, and the zygote refuses to start if Display recorded anything, so a
# run shows the same warnings as a fresh ansible-playbook.
_WARM_PACKAGES = ("ansible.executor", "ansible.playbook", "ansible._internal._ansiballz", "ansible.plugins")
_WARM_SKIP = ("ansible.plugins.cache.base",)  # deprecated: importing it warns


def _warm():
    import importlib
    import pkgutil
    for package in _WARM_PACKAGES:
        for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
            if info.name in _WARM_SKIP:
                continue
            try:
                importlib.import_module(info.name)
            except ImportError:  # a plugin whose optional library is missing: it fails in a run alike
                sys.modules.pop(info.name, None)
    from ansible.utils.display import Display
    display = Display()
    # pylint: disable-next=protected-access
    if getattr(display, "_deprecations", None) or getattr(display, "_warns", None):
        raise SystemExit("zygote: importing Ansible's plugins warned: a forked run would not show it")


_STOPPED = []


def _stop(*_args):
    _STOPPED.append(True)  # the wakeup fd ends the select; the loop sees it


def serve(ctl_fd, sock_path):
    sys.argv = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")]
    env, reads = _record_env_reads()
    import ansible.cli.playbook  # noqa: F401  pylint: disable=unused-import
    _warm()
    os.environ = env
    global _PAYLOADS  # pylint: disable=global-statement
    _PAYLOADS = os.path.join(os.path.dirname(sock_path), "ansiballz")
    os.mkdir(_PAYLOADS, 0o700)
    import threading
    if threading.active_count() != 1:
        raise SystemExit("zygote: %d threads after importing ansible: forking is unsafe" % threading.active_count())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(sock_path)
    listener.listen(64)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    # stopped from outside (scripts/lab-ns.sh stops what is left in its instance when
    # its command ended, TERM first): end as when pytest went away, directory removed
    signal.signal(signal.SIGTERM, _stop)
    sys.stdout.write(json.dumps({"pid": os.getpid(), "env_reads": sorted(reads)}) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    conns = {}
    client_gone = False
    try:
        while True:
            if _STOPPED:
                client_gone = True
                return
            try:
                ready = select.select([ctl_fd, listener, wake_r], [], [])[0]
            except InterruptedError:
                continue
            if ctl_fd in ready and not os.read(ctl_fd, 4096):
                client_gone = True
                return  # pytest is gone
            if wake_r in ready:
                os.read(wake_r, 4096)
                while conns:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                    if pid == 0:
                        break
                    conn = conns.pop(pid, None)
                    if conn is not None:
                        try:
                            conn.sendall(b"%d\n" % os.waitstatus_to_exitcode(status))
                        except OSError:
                            pass
                        conn.close()
            if listener in ready:
                conn = listener.accept()[0]
                fds = []
                try:
                    conn.settimeout(10)
                    head, fds, _flags, _addr = socket.recv_fds(conn, _HEADER.size, 3)
                    if len(head) < _HEADER.size:
                        head += _recv_exact(conn, _HEADER.size - len(head))
                    req = json.loads(_recv_exact(conn, _HEADER.unpack(head)[0]))
                    if len(fds) != 3:
                        raise ValueError("expected 3 fds, got %d" % len(fds))
                except (OSError, ValueError, EOFError):
                    for fd in fds:
                        os.close(fd)
                    conn.close()
                    continue
                pid = os.fork()
                if pid == 0:
                    _child(req, fds, [ctl_fd, listener.fileno(), wake_r, wake_w, devnull, conn.fileno()]
                           + [c.fileno() for c in conns.values()])
                for fd in fds:
                    os.close(fd)
                conns[pid] = conn
                try:
                    conn.sendall(b"%d\n" % pid)
                except OSError:
                    pass
    finally:
        listener.close()
        try:
            os.unlink(sock_path)
        except OSError:
            pass
        if _PAYLOADS:
            import shutil
            shutil.rmtree(_PAYLOADS, ignore_errors=True)
        if client_gone:
            # the directory its client made for it (the socket, this stderr log): a pytest
            # that ends without its atexit handlers (an xdist worker) never removes it
            directory = os.path.dirname(sock_path)
            for name in ("stderr",):
                try:
                    os.unlink(os.path.join(directory, name))
                except OSError:
                    pass
            try:
                os.rmdir(directory)
            except OSError:
                pass


# --------------------------------------------------------------------------- client
# (below: only imported by the test process)

import locale  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

MAX_ZYGOTES = 4
START_TIMEOUT = 60


def _config_stamp(env, cwd):
    """What says which ansible.cfg is read, and whether it changed."""
    paths = [env.get("ANSIBLE_CONFIG") or "", os.path.join(cwd, "ansible.cfg"),
             os.path.expanduser("~/.ansible.cfg"), "/etc/ansible/ansible.cfg"]
    stamp = []
    for path in paths:
        try:
            st = os.stat(path)
            stamp.append((path, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append((path, None))
    return tuple(stamp)


class Zygote:
    """One zygote process (client side)."""

    def __init__(self, python, env, cwd):
        self.cwd = cwd
        self.env = dict(env)
        self.stamp = _config_stamp(env, cwd)
        self.runs = 0
        self.busy = 0  # runs going on (guarded by the pool's lock)
        self.dir = tempfile.mkdtemp(prefix="faultline-zygote-")
        self.sock_path = os.path.join(self.dir, "sock")
        ctl_r, self._ctl_w = os.pipe()  # both ends non-inheritable; pass_fds hands ctl_r over
        try:
            with open(os.path.join(self.dir, "stderr"), "wb") as log:
                self.proc = subprocess.Popen(
                    [python, os.path.abspath(__file__), str(ctl_r), self.sock_path],
                    cwd=cwd, env=self.env, stdout=subprocess.PIPE, stderr=log, pass_fds=(ctl_r,))
        except BaseException:
            os.close(self._ctl_w)
            shutil.rmtree(self.dir, ignore_errors=True)  # was left with its stderr file (no interpreter, say)
            raise
        finally:
            os.close(ctl_r)
        try:
            if not select.select([self.proc.stdout], [], [], START_TIMEOUT)[0]:
                raise RuntimeError("zygote did not start within %d s" % START_TIMEOUT)
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError("zygote failed to start: %s" % self.log()[-2000:])
            hello = json.loads(line)
        except BaseException:
            self.close()
            raise
        self.proc.stdout.close()
        self.pid = hello["pid"]
        reads = set(hello["env_reads"])
        self.all_env = "*" in reads
        self.keys = reads | {k for k in env if k.startswith(_STATIC_PREFIXES)} | set(_STATIC_KEYS)

    def log(self):
        try:
            with open(os.path.join(self.dir, "stderr"), "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def serves(self, env, cwd):
        if cwd != self.cwd or self.proc.poll() is not None:
            return False
        if self.all_env:
            return env == self.env
        keys = self.keys | {k for k in env if k.startswith(_STATIC_PREFIXES)}
        return all(env.get(k) == self.env.get(k) for k in keys) and _config_stamp(env, cwd) == self.stamp

    def run(self, argv, cwd, env, timeout):
        """-> CompletedProcess; raises NotTaken when the zygote did not start the run."""
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                conn.connect(self.sock_path)
                body = json.dumps({"argv": list(argv), "cwd": cwd, "env": dict(env)}).encode()
                stdin = os.dup(0) if _valid_fd(0) else os.open(os.devnull, os.O_RDONLY)
                try:
                    socket.send_fds(conn, [_HEADER.pack(len(body))], [stdin, out.fileno(), err.fileno()])
                finally:
                    os.close(stdin)
                conn.sendall(body)
                pid = int(_readline(conn, time.monotonic() + 30))
            except (OSError, ValueError) as e:  # ValueError: the zygote died before it forked
                conn.close()
                raise NotTaken("zygote %d did not take the run: %s" % (self.pid, e)) from e
            self.runs += 1
            with conn:
                start = time.monotonic()
                try:
                    line = _readline(conn, None if timeout is None else start + timeout)
                except socket.timeout:
                    terminate(pid, lambda grace: _readline(conn, time.monotonic() + grace))
                    raise subprocess.TimeoutExpired(argv, timeout, output=_text(out), stderr=_text(err)) from None
                if not line:
                    raise RuntimeError("zygote %d died while run %d (%s) was going on (%.1f s): %s"
                                       % (self.pid, pid, argv, time.monotonic() - start, self.log()[-2000:]))
                return subprocess.CompletedProcess(argv, int(line), _text(out), _text(err))

    def close(self):
        try:
            os.close(self._ctl_w)
        except OSError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class NotTaken(Exception):
    """The zygote did not start the run (nothing ran): run it some other way."""


def terminate(pgid, wait):
    """End a run that timed out: SIGTERM to its process group (ansible-playbook passes it
    to its workers, which since ansible-core 2.19 are process groups of their own),
    SIGKILL to the group after a 5 s grace. ``wait(grace)``: returns once the run ended
    or raises socket.timeout / subprocess.TimeoutExpired after ``grace`` s."""
    for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 30)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            wait(grace)
            return
        except (socket.timeout, subprocess.TimeoutExpired):
            continue


def _readline(conn, deadline):
    """One line from the zygote (b"" on EOF); socket.timeout at ``deadline`` (monotonic)."""
    buf = b""
    while not buf.endswith(b"\n"):
        conn.settimeout(None if deadline is None else max(0.001, deadline - time.monotonic()))
        chunk = conn.recv(1)
        if not chunk:
            return buf
        buf += chunk
    return buf


def _valid_fd(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _text(f):
    """The bytes of a run's output file as subprocess.run(text=True) gives them."""
    f.seek(0)
    data = f.read().decode(locale.getpreferredencoding(False))
    return data.replace("\r\n", "\n").replace("\r", "\n")


class Pool:
    """The zygotes of this process, one per import-relevant environment."""

    def __init__(self, python):
        self.python = python
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self.zygotes = []  # most recently used last
        self.failed = set()  # environments a zygote could not start for
        self.forked = 0  # runs a zygote took
        self.fallbacks = 0  # runs left to a plain subprocess

    def _get(self, env, cwd):
        with self.lock:
            for z in self.zygotes:
                if z.serves(env, cwd):
                    self.zygotes.remove(z)
                    self.zygotes.append(z)
                    z.busy += 1
                    return z
            sig = (cwd, tuple(sorted((k, v) for k, v in env.items() if k.startswith(_STATIC_PREFIXES))))
            if sig in self.failed:
                return None
            try:
                z = Zygote(self.python, env, cwd)
            except (OSError, RuntimeError, ValueError) as e:
                print("faultline zygote: cannot start (%s): plain subprocesses" % e, file=sys.stderr)
                self.failed.add(sig)
                return None
            z.busy += 1
            self.zygotes.append(z)
            for old in [o for o in self.zygotes if not o.busy][:max(0, len(self.zygotes) - MAX_ZYGOTES)]:
                self.zygotes.remove(old)
                old.close()
            return z

    def run(self, argv, cwd, env, timeout):
        if os.getpid() != self.owner or os.environ.get("FAULTLINE_ZYGOTE", "1") == "0":
            return None
        z = self._get(env, cwd)
        if z is None:
            self.fallbacks += 1
            return None
        try:
            cp = z.run(argv, cwd, env, timeout)
        except NotTaken as e:
            print("faultline zygote: %s: plain subprocess" % e, file=sys.stderr)
            self.fallbacks += 1
            return None
        finally:
            with self.lock:
                z.busy -= 1
        self.forked += 1
        return cp

    def pids(self):
        return [z.pid for z in self.zygotes]

    def close(self):
        with self.lock:
            while self.zygotes:
                self.zygotes.pop().close()


if __name__ == "__main__":
    # sys.path[0] is this directory (its ansible.py would shadow Ansible); the
    # ansible-playbook script's is its bin directory
    sys.path[0] = os.path.dirname(sys.executable)
    serve(int(sys.argv[1]), sys.argv[2])

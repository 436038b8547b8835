"""Loopback TCP helpers for the network fault tests: listeners, a connect probe,
and the collection's nftables chains as the kernel reports them."""
import errno
import json
import socket
import subprocess
import threading
import time


class Listener(object):
    """A TCP server on 127.0.0.1 that accepts connections and holds them
    (``hold=False``: closes each at once, for thousands of probe connects)."""

    def __init__(self, port, hold=True):
        self.hold = hold
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(512)
        self.conns = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while True:
            try:
                c, _a = self.sock.accept()
            except OSError:
                return
            if self.hold:
                self.conns.append(c)
            else:
                c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the thread
        except OSError:
            pass
        self.sock.close()
        self._t.join(2)
        for c in self.conns:
            c.close()


def connect(port, timeout=2.0):
    """Outcome of one TCP connect: 'ok', 'refused' or 'timeout', and seconds taken."""
    t0 = time.monotonic()
    s = socket.socket()
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        return "ok", time.monotonic() - t0
    except ConnectionRefusedError:
        return "refused", time.monotonic() - t0
    except (socket.timeout, TimeoutError):
        return "timeout", time.monotonic() - t0
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e)), time.monotonic() - t0
    finally:
        s.close()


def nft_chains():
    cp = subprocess.run(["nft", "-j", "list", "table", "inet", "faultline"], capture_output=True, text=True,
                        check=False)
    if cp.returncode != 0:
        return None  # no table at all
    return [i["chain"]["name"] for i in json.loads(cp.stdout)["nftables"] if "chain" in i]


def owned_chains(state_dir):
    """nft chains of the collection tagged with this ledger (other tests' chains ignored)."""
    cp = subprocess.run(["nft", "list", "table", "inet", "faultline"], capture_output=True, text=True, check=False)
    if cp.returncode != 0:
        return []
    chains, current = [], None
    for line in cp.stdout.splitlines():
        line = line.strip()
        if line.startswith("chain "):
            current = line.split()[1]
        elif current and "comment" in line and state_dir in line:
            chains.append(current)
    return chains

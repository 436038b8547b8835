# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Network faults: reject (TCP RST), timeout (silent drop), loss (random drop).

Rules live only in the collection's own nftables table ``inet faultline``
(one base chain per fault and hook) or, where nftables is unusable, in the
collection's own iptables chains ``FLT_<token>_<IN|OUT>`` reached by a single
jump rule that is removed on revert.  Nothing else is ever touched.

Port semantics: a listed port is a *service* port. ``reject`` answers every
packet sent to it with a TCP reset (new connections are refused, an
established one is reset as soon as the client sends or acknowledges
anything); ``timeout`` and ``loss`` drop both directions of the conversation
(``th dport P`` and ``th sport P``), so a silent drop really is silent.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import os
import re
import shutil

from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import Fault, short_hash
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError

TABLE_FAMILY = "inet"
TABLE_NAME = "faultline"
CHAIN_PRIORITY = -10
HOOKS = {"in": "input", "out": "output"}
OWNER_TAG = "faultline:"
IPT_CHAINS = {"in": "INPUT", "out": "OUTPUT"}


# --------------------------------------------------------------------------
# network namespaces
# --------------------------------------------------------------------------

def netns_prefix(netns):
    """argv prefix that runs a command inside ``netns`` (name, path or pid)."""
    if netns in (None, ""):
        return []
    s = str(netns)
    if s.isdigit():
        path = "/proc/%s/ns/net" % s
        if not os.path.exists(path):
            raise EngineError("netns: no process with pid %s" % s)
        return ["nsenter", "--net=%s" % path]
    if "/" in s:
        if not os.path.exists(s):
            raise EngineError("netns: namespace path %s does not exist" % s)
        return ["nsenter", "--net=%s" % s]
    if not os.path.exists(os.path.join("/run/netns", s)):
        raise EngineError("netns: unknown network namespace %r (see 'ip netns list')" % s)
    return ["ip", "netns", "exec", s]


def pid_netns_path(netns):
    """``/proc/<pid>/ns/net`` when ``netns`` names a process (a pid or that path), else None."""
    s = str(netns or "")
    if s.isdigit():
        return "/proc/%s/ns/net" % s
    if re.match(r"^/proc/[0-9]+/ns/net$", s):
        return s
    return None


# --------------------------------------------------------------------------
# backends
# --------------------------------------------------------------------------

def detect_backend(runner, prefix=(), wanted="auto"):
    """'nft' or 'iptables', whichever works here (nft preferred)."""
    prefix = list(prefix)
    candidates = ["nft", "iptables"] if wanted == "auto" else [wanted]
    reasons = []
    for b in candidates:
        if shutil.which(b) is None:
            reasons.append("%s not installed" % b)
            continue
        argv = ["nft", "list", "tables"] if b == "nft" else ["iptables", "-w", "-S", "INPUT"]
        rc, out, err = runner(prefix + argv, None)
        if rc == 0:
            return b
        reasons.append("%s unusable: %s" % (b, (err or out).strip()[:200]))
    raise EngineError("no usable firewall backend (need nft or iptables, as root): " + "; ".join(reasons))


def chain_definition(hook, owner=None):
    comment = ' comment "%s%s";' % (OWNER_TAG, owner) if owner else ""
    return "{ type filter hook %s priority %d; policy accept;%s }" % (hook, CHAIN_PRIORITY, comment)


def _split_peers(peers):
    v4, v6 = [], []
    for p in peers or []:
        try:
            net = ipaddress.ip_network(str(p), strict=False)
        except ValueError:
            raise EngineError("peers: %r is not an IP address or network" % (p,))
        (v4 if net.version == 4 else v6).append(str(net) if net.num_addresses > 1 else str(net.network_address))
    return v4, v6


def _nft_set(items):
    items = [str(i) for i in items]
    return items[0] if len(items) == 1 else "{ %s }" % ", ".join(items)


class NetworkFault(Fault):
    """reject | timeout | loss on ports and/or peers, in/out/both, in a netns."""

    kind = "network"

    def __init__(self, params, fault_id=None, backend=None, owner=None):
        super(NetworkFault, self).__init__(params, fault_id)
        self.backend = backend
        # the ledger (state_dir) that owns the chains: written as the chain's
        # comment, so an orphan sweep from another ledger leaves them alone
        self.owner = owner

    def identity(self):
        p = self.params
        return dict(type=p["type"], ports=sorted(p.get("ports") or []), peers=sorted(p.get("peers") or []),
                    direction=p.get("direction", "in"), protocol=p.get("protocol", "tcp"),
                    netns=p.get("netns"), loss_percent=p.get("loss_percent"))

    # --- names -----------------------------------------------------------
    @property
    def token(self):
        return short_hash(self.fault_id, 8)

    def directions(self):
        d = self.params.get("direction", "in")
        return ["in", "out"] if d == "both" else [d]

    def chain(self, direction):
        return "flt_%s_%s" % (self.token, direction)

    def ipt_chain(self, direction):
        return "FLT_%s_%s" % (self.token, direction.upper())

    # --- rule bodies ---------------------------------------------------------
    def _verdicts(self):
        t = self.params["type"]
        if t == "reject":
            proto = self.params.get("protocol", "tcp")
            if proto == "tcp":
                return ["reject with tcp reset"]
            if proto == "udp":
                return ["reject with icmpx type port-unreachable"]
            return ["meta l4proto tcp reject with tcp reset", "reject with icmpx type port-unreachable"]
        if t == "timeout":
            return ["drop"]
        if t == "loss":
            return ["numgen random mod 100 < %d drop" % int(self.params["loss_percent"])]
        raise EngineError("unsupported network fault type %r" % t)

    def _port_keys(self):
        """reject answers requests to the port with a reset (the client sees
        it at once; matching answers *from* the port as well would swallow
        that very reset on loopback); drop and loss silence both ways."""
        return ("dport",) if self.params["type"] == "reject" else ("dport", "sport")

    def nft_rules(self, direction):
        """nft rule bodies (without 'add rule ...') for one direction."""
        p = self.params
        ports = sorted(set(int(x) for x in (p.get("ports") or [])))
        proto = p.get("protocol", "tcp")
        v4, v6 = _split_peers(p.get("peers"))
        addr_key = "saddr" if direction == "in" else "daddr"
        addr_matches = []
        if v4:
            addr_matches.append("ip %s %s" % (addr_key, _nft_set(v4)))
        if v6:
            addr_matches.append("ip6 %s %s" % (addr_key, _nft_set(v6)))
        if not addr_matches:
            addr_matches = [""]
        if ports:
            protos = ["tcp", "udp"] if proto == "all" else [proto]
            port_matches = ["%s %s %s" % (pr, k, _nft_set(ports)) for pr in protos for k in self._port_keys()]
        else:
            port_matches = [""] if proto == "all" else ["meta l4proto %s" % proto]
        rules = []
        for am in addr_matches:
            for pm in port_matches:
                for verdict in self._verdicts():
                    if proto == "udp" and "tcp reset" in verdict:
                        continue
                    if pm.startswith("udp") and "tcp reset" in verdict:
                        continue
                    body = " ".join(x for x in (am, pm, "counter", verdict) if x)
                    rules.append(body)
        return rules

    def ipt_rules(self, direction):
        """iptables rule argv tails (after '-A CHAIN') for one direction."""
        p = self.params
        if p["type"] == "loss":
            loss = ["-m", "statistic", "--mode", "random", "--probability", "%.4f" % (p["loss_percent"] / 100.0), "-j", "DROP"]
        elif p["type"] == "timeout":
            loss = ["-j", "DROP"]
        else:
            loss = None
        ports = sorted(set(int(x) for x in (p.get("ports") or [])))
        proto = p.get("protocol", "tcp")
        v4, _v6 = _split_peers(p.get("peers"))
        flag = "-s" if direction == "in" else "-d"
        addr = [[flag, a] for a in v4] or [[]]
        protos = ["tcp", "udp"] if proto == "all" and ports else ([proto] if proto != "all" else [None])
        rules = []
        for a in addr:
            for pr in protos:
                if ports:
                    pm = [["-p", pr, "-m", "multiport", "--%ss" % k, ",".join(map(str, ports))]
                          for k in self._port_keys()]
                else:
                    pm = [["-p", pr]] if pr else [[]]
                for m in pm:
                    if loss is not None:
                        verdict = loss
                    elif pr == "tcp":
                        verdict = ["-j", "REJECT", "--reject-with", "tcp-reset"]
                    else:
                        verdict = ["-j", "REJECT"]
                    rules.append(a + m + verdict)
        return rules

    # --- a process's namespace, pinned so that it outlives the process -------
    def netns_pin(self):
        """The ``ns_pin`` action for a ``netns`` given as a process, or None.

        The namespace is bind-mounted under the ledger at apply and released
        after revert, so a revert still reaches the rules after the process exited.
        """
        src = pid_netns_path(self.params.get("netns"))
        if not src or not self.owner:
            return None
        try:
            ino = os.stat(src).st_ino
        except OSError:
            raise EngineError("netns: no process with pid %s" % src.split("/")[2])
        return {"op": "ns_pin", "src": src, "ino": ino,
                "dst": os.path.join(self.owner, "netns", self.fault_id)}

    def prefix(self):
        """Command prefix for the fault's namespace: its pin once it is in place."""
        if self.owner and pid_netns_path(self.params.get("netns")):
            dst = os.path.join(self.owner, "netns", self.fault_id)
            if os.path.ismount(dst):
                return ["nsenter", "--net=%s" % dst]
        return netns_prefix(self.params.get("netns"))

    # --- plan -----------------------------------------------------------------
    def plan(self):
        p = self.params
        pin = self.netns_pin()
        prefix = ["nsenter", "--net=%s" % pin["dst"]] if pin else netns_prefix(p.get("netns"))
        backend = self.backend or "nft"
        apply, revert, preview = [], [], []
        if backend == "nft":
            script = ["add table %s %s" % (TABLE_FAMILY, TABLE_NAME)]
            undo = ["add table %s %s" % (TABLE_FAMILY, TABLE_NAME)]
            for d in self.directions():
                c = self.chain(d)
                chain_def = chain_definition(HOOKS[d], self.owner)
                script.append("add chain %s %s %s %s" % (TABLE_FAMILY, TABLE_NAME, c, chain_def))
                script.append("flush chain %s %s %s" % (TABLE_FAMILY, TABLE_NAME, c))
                for r in self.nft_rules(d):
                    script.append("add rule %s %s %s %s" % (TABLE_FAMILY, TABLE_NAME, c, r))
                # idempotent delete: (re)declare, flush, delete -- one atomic batch
                undo.append("add chain %s %s %s %s" % (TABLE_FAMILY, TABLE_NAME, c, chain_def))
                undo.append("flush chain %s %s %s" % (TABLE_FAMILY, TABLE_NAME, c))
                undo.append("delete chain %s %s %s" % (TABLE_FAMILY, TABLE_NAME, c))
            text = "\n".join(script) + "\n"
            apply.append({"op": "run", "argv": prefix + ["nft", "-f", "-"], "stdin": text})
            revert.append({"op": "run", "argv": prefix + ["nft", "-f", "-"], "stdin": "\n".join(undo) + "\n"})
            revert.append({"op": "nft_gc", "prefix": prefix, "family": TABLE_FAMILY, "table": TABLE_NAME})
            preview = script
        else:
            for tool in self._ipt_tools():
                for d in self.directions():
                    c = self.ipt_chain(d)
                    apply.append({"op": "run", "argv": prefix + [tool, "-w", "-N", c]})
                    preview.append("%s -N %s" % (tool, c))
                    for r in self.ipt_rules(d):
                        if tool == "ip6tables" and any(x in ("-s", "-d") for x in r):
                            continue
                        apply.append({"op": "run", "argv": prefix + [tool, "-w", "-A", c] + r})
                        preview.append("%s -A %s %s" % (tool, c, " ".join(r)))
                    apply.append({"op": "run", "argv": prefix + [tool, "-w", "-I", IPT_CHAINS[d], "1", "-j", c]})
                    preview.append("%s -I %s 1 -j %s" % (tool, IPT_CHAINS[d], c))
                    revert.append({"op": "run", "argv": prefix + [tool, "-w", "-D", IPT_CHAINS[d], "-j", c], "ok_rc": "any"})
                    revert.append({"op": "run", "argv": prefix + [tool, "-w", "-F", c], "ok_rc": "any"})
                    revert.append({"op": "run", "argv": prefix + [tool, "-w", "-X", c], "ok_rc": "any"})
        if pin:
            apply.insert(0, pin)
            revert.append({"op": "ns_unpin", "dst": pin["dst"]})
        return dict(type=p["type"], summary=self.summary(), apply=apply, revert=revert,
                    params=dict(self.identity(), backend=backend,
                                chains=[self.chain(d) if backend == "nft" else self.ipt_chain(d)
                                        for d in self.directions()]),
                    preview="\n".join(preview))

    def _ipt_tools(self):
        tools = ["iptables"]
        _v4, v6 = _split_peers(self.params.get("peers"))
        if shutil.which("ip6tables") and (v6 or not self.params.get("peers")):
            tools.append("ip6tables")
        return tools

    def summary(self):
        p = self.params
        what = {"reject": "reject (TCP RST)", "timeout": "timeout (silent drop)",
                "loss": "loss %s%%" % p.get("loss_percent")}[p["type"]]
        scope = []
        if p.get("ports"):
            scope.append("%s port %s" % (p.get("protocol", "tcp"), ",".join(str(x) for x in sorted(p["ports"]))))
        if p.get("peers"):
            scope.append("peers %s" % ",".join(p["peers"]))
        scope.append("direction %s" % p.get("direction", "in"))
        if p.get("netns"):
            scope.append("netns %s" % p["netns"])
        return "network %s on %s" % (what, ", ".join(scope))

    def probe_active(self, runner):
        prefix = self.prefix()
        if (self.backend or "nft") == "nft":
            for d in self.directions():
                rc, _o, _e = runner(prefix + ["nft", "list", "chain", TABLE_FAMILY, TABLE_NAME, self.chain(d)], None)
                if rc != 0:
                    return False
            return True
        for d in self.directions():
            rc, _o, _e = runner(prefix + ["iptables", "-w", "-S", self.ipt_chain(d)], None)
            if rc != 0:
                return False
        return True


# --------------------------------------------------------------------------
# status and orphan sweep (what `toolkit network --status` shows)
# --------------------------------------------------------------------------

_CHAIN_RE = re.compile(r'^\s*chain (\S+) \{\s*\n(?:\s*comment "([^"]*)"\s*\n)?', re.M)


def list_owned(runner, prefix=()):
    """Chains the collection owns right now: {'nft': [...], 'iptables': [...]}."""
    prefix = list(prefix)
    out = {"nft": [], "iptables": [], "nft_table": False, "owners": {}}
    if shutil.which("nft"):
        # the text listing, because nft 1.0.x leaves chain comments out of -j
        rc, text, _e = runner(prefix + ["nft", "list", "table", TABLE_FAMILY, TABLE_NAME], None)
        if rc == 0:
            out["nft_table"] = True
            for m in _CHAIN_RE.finditer(text):
                out["nft"].append(m.group(1))
                if m.group(2) and m.group(2).startswith(OWNER_TAG):
                    out["owners"][m.group(1)] = m.group(2)[len(OWNER_TAG):]
    for tool in ("iptables", "ip6tables"):
        if not shutil.which(tool):
            continue
        rc, text, _e = runner(prefix + [tool, "-w", "-S"], None)
        if rc != 0:
            continue
        for line in text.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "-N" and parts[1].startswith("FLT_"):
                out["iptables"].append("%s:%s" % (tool, parts[1]))
    return out


def sweep_actions(owned, keep_chains, prefix=(), owner=None):
    """Actions removing every chain of ours not in ``keep_chains`` (orphans).

    With ``owner``, nft chains tagged as belonging to another ledger (another
    state_dir on the same host) are left alone.
    """
    prefix = list(prefix)
    actions = []
    owners = owned.get("owners", {})
    orphans = [c for c in owned["nft"] if c not in keep_chains
               and (owner is None or owners.get(c) in (None, owner))]
    if orphans:
        # deleting a base chain needs it flushed first; one batch per chain so
        # a chain that vanished meanwhile does not stop the others
        for c in orphans:
            actions.append({"op": "run", "ok_rc": "any", "argv": prefix + ["nft", "-f", "-"],
                            "stdin": "flush chain %s %s %s\ndelete chain %s %s %s\n" % (
                                TABLE_FAMILY, TABLE_NAME, c, TABLE_FAMILY, TABLE_NAME, c)})
    if owned.get("nft_table"):
        actions.append({"op": "nft_gc", "prefix": prefix, "family": TABLE_FAMILY, "table": TABLE_NAME})
    for item in owned["iptables"]:
        tool, chain = item.split(":", 1)
        if chain in keep_chains:
            continue
        builtin = "INPUT" if chain.endswith("_IN") else "OUTPUT"
        actions.append({"op": "run", "ok_rc": "any", "argv": prefix + [tool, "-w", "-D", builtin, "-j", chain]})
        actions.append({"op": "run", "ok_rc": "any", "argv": prefix + [tool, "-w", "-F", chain]})
        actions.append({"op": "run", "ok_rc": "any", "argv": prefix + [tool, "-w", "-X", chain]})
    return actions, orphans + [i for i in owned["iptables"] if i.split(":", 1)[1] not in keep_chains]


# --------------------------------------------------------------------------
# self-lockout guard
# --------------------------------------------------------------------------

def lockout_reason(params, environ=None):
    """Why this fault would cut the controller's own SSH session, or None."""
    env = os.environ if environ is None else environ
    conn = env.get("SSH_CONNECTION")
    if not conn or params.get("netns"):
        return None
    try:
        client_ip, client_port, _server_ip, server_port = conn.split()[:4]
        client_port, server_port = int(client_port), int(server_port)
    except ValueError:
        return None
    ports = set(int(x) for x in (params.get("ports") or []))
    proto = params.get("protocol", "tcp")
    if proto == "udp":
        return None
    peers = params.get("peers") or []
    peer_hit = not peers or any(
        ipaddress.ip_address(client_ip) in ipaddress.ip_network(str(p), strict=False) for p in peers
        if _same_family(client_ip, p))
    port_hit = not ports or server_port in ports or client_port in ports
    if peer_hit and port_hit:
        return ("this fault would cut the controller's SSH session (%s, SSH_CONNECTION=%s); "
                "narrow ports/peers or set allow_lockout: true" % (
                    "port %d" % server_port if ports else "all ports", conn))
    return None


def _same_family(a, net):
    try:
        return ipaddress.ip_address(a).version == ipaddress.ip_network(str(net), strict=False).version
    except ValueError:
        return False

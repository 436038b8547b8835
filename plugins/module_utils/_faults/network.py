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

import hashlib
import ipaddress
import json
import os
import re
import shutil

from ansible_collections.faultline.chaos.plugins.module_utils._engine import procfs
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import Fault, short_hash
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    EngineError, nft_gc_action, ns_pin_action, ns_unpin_action, run_action, subprocess_runner,
)

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


_SAFE_OWNER = re.compile(r"^[A-Za-z0-9_./@:+=,-]{1,200}$")


def owner_tag(state_dir):
    """How a ledger (state_dir) is named in a chain's comment: its normalised
    path when that is short and made of safe characters, else a hash of it.

    It goes into an nft script and an iptables comment, so it can never
    contain a quote, a space, a newline or a semicolon.
    """
    if not state_dir:
        return None
    path = os.path.normpath(os.path.abspath(str(state_dir)))
    if _SAFE_OWNER.match(path):
        return path
    return "sha256:" + hashlib.sha256(path.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def chain_definition(hook, owner=None):
    tag = owner_tag(owner)
    comment = ' comment "%s%s";' % (OWNER_TAG, tag) if tag else ""
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

    def __init__(self, params, fault_id=None, backend=None, owner=None, gc_tables=(), wanted_backend="auto",
                 allow_lockout=False, all_traffic=False):
        super(NetworkFault, self).__init__(params, fault_id)
        # 'nft' or 'iptables'; None: found by resolve() (wanted_backend: auto, nft or iptables)
        self.backend = backend
        self.wanted_backend = wanted_backend
        self.allow_lockout = allow_lockout
        self.all_traffic = all_traffic
        # the ledger (state_dir) that owns the chains: part of the fault id and
        # of the chain names (two ledgers never share a chain) and written as
        # the chain's comment, so an orphan sweep from another ledger leaves
        # them alone
        self.owner = owner
        # iptables path: nftables tables (family, name) such as ("ip6", "filter")
        # that this fault's ip(6)tables use creates (see ipt_tables_to_gc);
        # revert deletes them again once nothing is left in them
        self.gc_tables = list(gc_tables)
        self._checked = False

    def identity(self):
        p = self.params
        return dict(type=p["type"], ports=sorted(p.get("ports") or []), peers=sorted(p.get("peers") or []),
                    direction=p.get("direction", "in"), protocol=p.get("protocol", "tcp"),
                    netns=p.get("netns"), loss_percent=p.get("loss_percent"))

    def resolve(self, engine=None):
        """Discovery and refusals before planning, read-only: the namespace
        exists; the scope is not empty (``ports``/``peers`` None when not
        given, an empty list is refused, neither needs ``all_traffic``); the
        rules would not cut the controller's SSH session (unless
        ``allow_lockout``); the firewall backend that works here and, on the
        iptables path, the iptables-nft tables its use would create (revert
        deletes them again). Commands run through ``engine.runner``.
        Returns the backend."""
        if self._checked:
            return self.backend
        p = self.params
        prefix = netns_prefix(p.get("netns"))
        why = scope_error(p.get("ports"), p.get("peers"), self.all_traffic)
        if why is None and not self.allow_lockout:
            why = lockout_reason(p)
        if why:
            raise EngineError(why)
        if self.backend is None:
            runner = engine.runner if engine is not None else subprocess_runner
            self.backend = detect_backend(runner, prefix, self.wanted_backend)
            if self.backend == "iptables":
                self.gc_tables = ipt_tables_to_gc(runner, [t for t, _f in self.ipt_tools()], prefix)
        self._checked = True
        return self.backend

    # --- names -----------------------------------------------------------
    def id_parts(self):
        return super(NetworkFault, self).id_parts() + ([owner_tag(self.owner)] if self.owner else [])

    @property
    def token(self):
        if self.owner:
            return short_hash([self.fault_id, owner_tag(self.owner)], 8)
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

    def ipt_rules(self, direction, family=4):
        """iptables (``family`` 4) or ip6tables (6) rule argv tails (after
        '-A CHAIN') for one direction. With peers, each family's rules match
        exactly that family's peers, and a family without peers gets none."""
        p = self.params
        if p["type"] == "loss":
            loss = ["-m", "statistic", "--mode", "random", "--probability", "%.4f" % (p["loss_percent"] / 100.0), "-j", "DROP"]
        elif p["type"] == "timeout":
            loss = ["-j", "DROP"]
        else:
            loss = None
        ports = sorted(set(int(x) for x in (p.get("ports") or [])))
        proto = p.get("protocol", "tcp")
        v4, v6 = _split_peers(p.get("peers"))
        peers = v4 if family == 4 else v6
        if p.get("peers") and not peers:
            return []
        flag = "-s" if direction == "in" else "-d"
        addr = [[flag, a] for a in peers] or [[]]
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
        return ns_pin_action(src, os.path.join(self.owner, "netns", self.fault_id), ino)

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
            apply.append(run_action(prefix + ["nft", "-f", "-"], stdin=text))
            revert.append(run_action(prefix + ["nft", "-f", "-"], stdin="\n".join(undo) + "\n"))
            revert.append(nft_gc_action(prefix, TABLE_FAMILY, TABLE_NAME))
            preview = script
        else:
            tag = owner_tag(self.owner)
            # the jump rule names the ledger, so another ledger's sweep spares it
            mark = ["-m", "comment", "--comment", OWNER_TAG + tag] if tag else []
            for tool, family in self.ipt_tools():
                for d in self.directions():
                    c = self.ipt_chain(d)
                    apply.append(run_action(prefix + [tool, "-w", "-N", c]))
                    preview.append("%s -N %s" % (tool, c))
                    for r in self.ipt_rules(d, family):
                        apply.append(run_action(prefix + [tool, "-w", "-A", c] + r))
                        preview.append("%s -A %s %s" % (tool, c, " ".join(r)))
                    jump = [IPT_CHAINS[d], "1"] + mark + ["-j", c]
                    apply.append(run_action(prefix + [tool, "-w", "-I"] + jump))
                    preview.append("%s -I %s" % (tool, " ".join(jump)))
                    revert.extend(ipt_remove_actions(prefix, tool, IPT_CHAINS[d], c, mark))
            for family, table in self.gc_tables:
                # deleted only when nothing but empty accept-policy chains is left
                revert.append(nft_gc_action(prefix, family, table, empty_chains_ok=True))
        if pin:
            apply.insert(0, pin)
            revert.append(ns_unpin_action(pin["dst"]))
        return dict(type=p["type"], summary=self.summary(), apply=apply, revert=revert,
                    params=dict(self.identity(), backend=backend,
                                chains=[self.chain(d) if backend == "nft" else self.ipt_chain(d)
                                        for d in self.directions()]),
                    preview="\n".join(preview))

    def ipt_tools(self):
        """[(tool, family)]: iptables and ip6tables, each only when it has rules
        to carry (with peers: only for the families of the peers)."""
        v4, v6 = _split_peers(self.params.get("peers"))
        every = not self.params.get("peers")
        tools = []
        if v4 or every:
            tools.append(("iptables", 4))
        if v6 or every:
            if shutil.which("ip6tables"):
                tools.append(("ip6tables", 6))
            elif v6:
                raise EngineError("peers %s are IPv6 but ip6tables is not installed" % ", ".join(v6))
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
        for tool, _family in self.ipt_tools():
            for d in self.directions():
                rc, _o, _e = runner(prefix + [tool, "-w", "-S", self.ipt_chain(d)], None)
                if rc != 0:
                    return False
        return True


# --------------------------------------------------------------------------
# status and orphan sweep (what `toolkit network --status` shows)
# --------------------------------------------------------------------------

_CHAIN_RE = re.compile(r'^\s*chain (\S+) \{\s*\n(?:\s*comment "([^"]*)"\s*\n)?', re.M)
_IPT_JUMP_RE = re.compile(r'^-A (?:INPUT|OUTPUT) (?:.* )?-j (FLT_\S+)\s*$')
_IPT_COMMENT_RE = re.compile(r'--comment "?%s([^" ]+)"?' % re.escape(OWNER_TAG))


def list_owned(runner, prefix=()):
    """Chains the collection owns right now: {'nft': [...], 'iptables': [...],
    'owners': {chain or 'tool:CHAIN': owner tag}}."""
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
                continue
            jump = _IPT_JUMP_RE.match(line.strip())
            tag = _IPT_COMMENT_RE.search(line) if jump else None
            if tag:
                out["owners"]["%s:%s" % (tool, jump.group(1))] = tag.group(1)
    return out


def ipt_remove_actions(prefix, tool, builtin, chain, mark=()):
    """Remove an iptables chain of ours: its jump from ``builtin`` (with the
    owner ``mark``), its rules, the chain; each step may find it gone."""
    return [run_action(prefix + [tool, "-w", "-D", builtin] + list(mark) + ["-j", chain], ok_rc="any"),
            run_action(prefix + [tool, "-w", "-F", chain], ok_rc="any"),
            run_action(prefix + [tool, "-w", "-X", chain], ok_rc="any")]


def sweep_actions(owned, keep_chains, prefix=(), owner=None):
    """Actions removing every chain of ours not in ``keep_chains`` (orphans).

    With ``owner`` (a state_dir), chains tagged as belonging to another ledger
    (another state_dir on the same host: the nft chain's comment, the comment
    of the iptables jump rule) are left alone. Untagged chains are orphans.
    """
    prefix = list(prefix)
    actions = []
    owners = owned.get("owners", {})
    tag = owner_tag(owner)

    def mine(key):
        return owner is None or owners.get(key) in (None, tag)

    orphans = [c for c in owned["nft"] if c not in keep_chains and mine(c)]
    if orphans:
        # deleting a base chain needs it flushed first; one batch per chain so
        # a chain that vanished meanwhile does not stop the others
        for c in orphans:
            actions.append(run_action(prefix + ["nft", "-f", "-"], ok_rc="any",
                                      stdin="flush chain %s %s %s\ndelete chain %s %s %s\n" % (
                                          TABLE_FAMILY, TABLE_NAME, c, TABLE_FAMILY, TABLE_NAME, c)))
    if owned.get("nft_table"):
        actions.append(nft_gc_action(prefix, TABLE_FAMILY, TABLE_NAME))
    ipt_orphans = [i for i in owned["iptables"] if i.split(":", 1)[1] not in keep_chains and mine(i)]
    for item in ipt_orphans:
        tool, chain = item.split(":", 1)
        builtin = "INPUT" if chain.endswith("_IN") else "OUTPUT"
        mark = ["-m", "comment", "--comment", OWNER_TAG + owners[item]] if owners.get(item) else []
        actions.extend(ipt_remove_actions(prefix, tool, builtin, chain, mark))
    return actions, orphans + ipt_orphans


# --------------------------------------------------------------------------
# the tables iptables-nft creates
# --------------------------------------------------------------------------

IPT_TABLES = {"iptables": ("ip", "filter"), "ip6tables": ("ip6", "filter")}
IPT_BUILTIN_CHAINS = ("INPUT", "FORWARD", "OUTPUT")


def _only_ours(items):
    """True if an iptables-nft table (``nft -j`` items) holds nothing but the
    built-in chains with policy accept, the collection's FLT_ chains and jumps
    to them: the table was made by the collection's ip(6)tables use."""
    for item in items:
        if "metainfo" in item or "table" in item:
            continue
        if "chain" in item:
            c = item["chain"]
            if c.get("name", "").startswith("FLT_"):
                continue
            if c.get("name") not in IPT_BUILTIN_CHAINS or c.get("policy", "accept") != "accept":
                return False
            continue
        if "rule" in item:
            r = item["rule"]
            if r.get("chain", "").startswith("FLT_"):
                continue
            targets = [e.get("jump", {}).get("target", "") for e in r.get("expr", []) if "jump" in e]
            if targets and all(t.startswith("FLT_") for t in targets):
                continue
        return False
    return True


def ipt_tables_to_gc(runner, tools, prefix=()):
    """The nftables tables that the iptables path may delete on revert.

    iptables-nft creates its table (``ip6 filter`` for ip6tables) and the
    built-in chain it jumps from the first time it is used, and never removes
    them. A table is claimed only when it does not exist yet, or holds only
    what the collection's own ip(6)tables use put there; a table with anything
    else in it (it was there before) is never touched. On revert the table is
    deleted only when nothing but empty accept-policy chains is left in it.
    Without nft (iptables-legacy only) nothing is claimed.
    """
    prefix = list(prefix)
    if not shutil.which("nft"):
        return []
    out = []
    for tool in tools:
        family, table = IPT_TABLES[tool]
        rc, text, _e = runner(prefix + ["nft", "-j", "list", "table", family, table], None)
        if rc != 0:
            out.append((family, table))
            continue
        try:
            items = json.loads(text).get("nftables", [])
        except ValueError:
            continue
        if _only_ours(items):
            out.append((family, table))
    return out


# --------------------------------------------------------------------------
# self-lockout guard
# --------------------------------------------------------------------------

SSHD_NAMES = ("sshd", "sshd-session", "sshd-auth")


def netns_identity(netns=None, proc="/proc"):
    """(st_dev, st_ino) of a network namespace given as the module's ``netns``
    (None: this process's own), or None when it cannot be read."""
    if netns in (None, ""):
        path = os.path.join(proc, "self", "ns", "net")
    else:
        s = str(netns)
        if s.isdigit():
            path = os.path.join(proc, s, "ns", "net")
        elif "/" in s:
            path = s
        else:
            path = os.path.join("/run/netns", s)
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _parse_ssh_connection(value):
    try:
        client_ip, client_port, server_ip, server_port = value.split()[:4]
        return dict(peer=(client_ip, int(client_port)), local=(server_ip, int(server_port)))
    except ValueError:
        return None


def controller_connections(proc="/proc", pid=None, environ=None):
    """The SSH connections this module runs through, wherever it can see them.

    Walks the process ancestry (``ppid`` in ``/proc/<pid>/stat``) up to PID 1.
    For every sshd process on the way (the session that owns this module's
    process tree) its established TCP sockets (``/proc/<pid>/fd``) are looked
    up in the TCP tables of its own network namespace
    (``/proc/<pid>/net/tcp{,6}``): local and peer address and port, and the
    namespace's identity. ``SSH_CONNECTION`` in this process's environment
    and in every ancestor's (sudo's ``env_reset`` removes it below sudo, not
    above) is another source; a connection known only from there has no
    namespace (it is guarded in every namespace).
    Returns a list of dicts: local, peer, netns, source.
    """
    conns, seen = [], set()

    def add(local, peer, netns, source):
        key = (local, peer)
        if key in seen:
            for c in conns:
                if (c["local"], c["peer"]) == key and c["netns"] is None and netns is not None:
                    c["netns"], c["source"] = netns, source
            return
        seen.add(key)
        conns.append(dict(local=local, peer=peer, netns=netns, source=source))

    env_conns = []
    env = os.environ if environ is None else environ
    if env.get("SSH_CONNECTION"):
        env_conns.append(("environment", env["SSH_CONNECTION"]))
    pid = os.getpid() if pid is None else pid
    hops = 0
    while pid and pid > 1 and hops < 64:
        hops += 1
        comm = procfs.comm(pid, proc) or ""
        value = procfs.environ(pid, proc).get("SSH_CONNECTION")
        if value:
            env_conns.append(("environment of pid %d (%s)" % (pid, comm), value))
        if comm in SSHD_NAMES:
            netns = netns_identity(str(pid), proc)
            table = dict((r["inode"], (r["local"], r["remote"])) for r in procfs.tcp_sockets(proc, pid)
                         if r["state"] == procfs.TCP_ESTABLISHED)
            for inode in sorted(procfs.socket_inodes(pid, proc)):
                if inode in table:
                    local, peer = table[inode]
                    add(local, peer, netns, "sshd pid %d" % pid)
        pid = procfs.parent_pid(pid, proc)
    for source, value in env_conns:
        parsed = _parse_ssh_connection(value)
        if parsed:
            add(parsed["local"], parsed["peer"], None, "SSH_CONNECTION in the " + source)
    return conns


def scope_error(ports, peers, all_traffic=False):
    """Why a rule scope is refused, or None. ``ports``/``peers`` are None when
    not given. An empty list is always refused (an empty variable must never
    widen a fault to everything); no ports and no peers at all (every port of
    every peer) needs ``all_traffic: true``."""
    for name, value in (("ports", ports), ("peers", peers)):
        if value is not None and len(value) == 0:
            return ("%s is an empty list, which would mean every %s; leave %s out, "
                    "or list what the fault is for" % (name, name[:-1], name))
    if not ports and not peers and not all_traffic:
        return ("neither ports nor peers given: the fault would cut every port to and from every peer; "
                "set all_traffic: true if that is really meant")
    return None


def _in_peers(ip, peers):
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return True  # cannot tell: assume it is hit
    for p in peers:
        try:
            net = ipaddress.ip_network(str(p), strict=False)
        except ValueError:
            continue
        if net.version == addr.version and addr in net:
            return True
    return False


def lockout_reason(params, connections=None, target_netns=None):
    """Why this fault would cut the controller's own SSH session, or None.

    ``connections``: from :func:`controller_connections` (looked up when
    None). ``target_netns``: identity of the namespace the rules go into
    (looked up from ``params['netns']`` when None). A connection is guarded
    when it lives in that namespace, compared by inode: ``netns: "1"``, a path
    or a pid that is in fact the sshd's own namespace is no way around it.
    """
    if params.get("protocol", "tcp") == "udp":
        return None
    if connections is None:
        connections = controller_connections()
    if target_netns is None:
        target_netns = netns_identity(params.get("netns"))
    ports = set(int(x) for x in (params.get("ports") or []))
    peers = params.get("peers") or []
    for c in connections:
        if c["netns"] is not None and target_netns is not None and c["netns"] != target_netns:
            continue
        peer_ip, peer_port = c["peer"]
        local_ip, local_port = c["local"]
        peer_hit = not peers or _in_peers(peer_ip, peers)
        port_hit = not ports or local_port in ports or peer_port in ports
        if peer_hit and port_hit:
            return ("this fault would cut the controller's SSH session %s:%d -> %s:%d (%s; %s); "
                    "narrow ports/peers or set allow_lockout: true" % (
                        peer_ip, peer_port, local_ip, local_port,
                        "port %d" % local_port if ports else "all ports", c["source"]))
    return None

"""One fault plus its revert on N lab hosts over SSH, and the lab's own up/down.

    .venv/bin/python benchmarks/hosts_bench.py --hosts 100                 # shipped settings + start_at skew
    .venv/bin/python benchmarks/hosts_bench.py --hosts 100 --variants shipped,forks5,no-pipelining,no-controlpersist
    .venv/bin/python benchmarks/hosts_bench.py --hosts 10,50,100 --lab-only --old-rev 4df7cb5

Needs root and the lab lock (it brings roles/lab_hosts up with lab_hosts_count=N
and always takes it down again, then checks nothing is left). A lab of hosts
found up (the 3-host lab other tests use) is taken down first and brought back
up with its node count at the end. Per N:

* lab up and down wall time (``playbooks/lab.yml``, components ``hosts``);
  with ``--old-rev`` also the role as it was at that commit (one ``ip``
  command per node and step, Ansible loops), same N, same run;
* per variant (a set of Ansible settings, see VARIANTS), ``hosts/fault.yml``:
  a reject rule on one port in every host, then its revert: the wall of the
  apply task, of the revert task, of both, and of the whole ansible-playbook
  process; every host's ledger must show the fault applied and reverted;
* with ``--skew`` (on by default), the same with ``start_at``: dispatched
  first, applied by each host's supervisor at the instant; from the hosts'
  journals (fetched over SSH) the spread of the actual apply times (supervisor
  wake-up and rule in place). All namespaces share this machine's clock, so
  the spread has no clock error term here; across real hosts add each host's
  error bound (``clock`` in the journal, from chronyc);
* beside the shipped variant (unless ``--no-anchor``), the anchor in the same
  run (``hosts/anchor.yml``): a ping wave (the floor of any task on N hosts),
  then the same rule change by ``ansible.builtin.command`` tasks, the nft
  scripts of the fault's plan (``task_overhead_bench.anchor_scripts``) fed to
  ``nft -f -`` inside each host, then their undo and the table deleted; the
  ratio ours / anchor. With ``--rounds R`` the fault and the anchor alternate
  (ours first in odd rounds, the anchor first in even ones); medians are
  printed. The anchor reuses the SSH masters of the run before it (the
  ControlPersist of the shipped settings), as the fault reuses its preparation's.

Measurements, not tests: nothing here fails on a number.
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from task_overhead_bench import anchor_scripts, runtime  # benchmarks/ is this script's directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks", "hosts")
LAB = os.path.join(ROOT, "playbooks", "lab.yml")
STATE = "/var/lib/faultline-lab/hosts/lab_hosts.json"
SSH_DEFAULT = "-C -o ControlMaster=auto -o ControlPersist=60s"
PORT = 7999  # the port the fault (and the anchor) rejects inside every host

# name: (what it changes, environment for ansible-playbook). "shipped" is
# ansible.cfg as it is; every other variant turns one setting back to
# ansible-core's default (or to the other choice).
VARIANTS = {
    "shipped": ("ansible.cfg as shipped (forks 100, pipelining, ControlPersist 300 s)", {}),
    "forks5": ("forks 5 (ansible-core default)", {"ANSIBLE_FORKS": "5"}),
    "forks25": ("forks 25", {"ANSIBLE_FORKS": "25"}),
    "no-pipelining": ("pipelining off (ansible-core default)", {"ANSIBLE_PIPELINING": "False"}),
    "no-controlpersist": ("no SSH connection reuse (ControlMaster=no)",
                          {"ANSIBLE_SSH_ARGS": "-o ControlMaster=no"}),
    "prep-linear": ("preparation with strategy linear instead of free", {"_prep": "linear"}),
}


def log(msg):
    print(msg, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def env_for(extra):
    env = dict(os.environ)
    env["PATH"] = os.path.join(ROOT, ".venv", "bin") + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_CONFIG"] = os.path.join(ROOT, "ansible.cfg")
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    env.update((k, v) for k, v in extra.items() if not k.startswith("_"))
    return env


def playbook(args, extra_env=None, extra_vars=None, inventory=None, timeout=600):
    cmd = ["ansible-playbook"]
    if inventory:
        cmd += ["-i", inventory]
    cmd.append(args)
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    t0 = time.monotonic()
    # its own process group: ansible-playbook's forks go with it when the run is cut short
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env_for(extra_env or {}), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        stop_group(proc)
        raise
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError("%s failed (rc %s):\n%s\n%s"
                           % (" ".join(cmd[:4]), proc.returncode, out[-4000:], err[-2000:]))
    return wall


def stop_group(proc):
    """TERM, then KILL, the process group of ``proc`` (a playbook this script started)."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            os.killpg(proc.pid, 0)  # forks of it still there?
        except ProcessLookupError:
            break
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.5)


# --------------------------------------------------------------------------
# the lab
# --------------------------------------------------------------------------

def lab(n, state, role_dir=None):
    """Wall seconds of lab hosts up/down with N nodes; ``role_dir``: an old copy of the role."""
    if role_dir is None:
        return playbook(LAB, extra_vars={"lab_components": ["hosts"], "lab_state": state, "lab_hosts_count": n})
    # the old role had no lab_hosts_count: the same nodes, given as a list
    nodes = [{"name": "node%d" % i, "address": "198.18.0.%d" % (10 + i)} for i in range(1, n + 1)]
    play = os.path.join(role_dir, "lab_old.yml")
    with open(play, "w") as f:
        f.write("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: %s/lab_hosts\n"
                % role_dir)
    return playbook(play, extra_vars={"lab_hosts_state": state, "lab_hosts_nodes": nodes},
                    inventory=os.path.join(ROOT, "inventories", "local"))


def old_role(rev, into):
    """roles/lab_hosts as it was at ``rev`` (git archive), in ``into``/lab_hosts."""
    arch = subprocess.run(["git", "archive", rev, "roles/lab_hosts"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", into, "--strip-components=1"], input=arch.stdout, check=True)
    return into


def leftovers():
    """What a lab of ours left behind (namespaces, links, sshd, files)."""
    left = []
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout.split()
    left += ["netns " + x for x in ns if x.startswith("flt-")]
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=False).stdout
    left += ["link " + w.split("@")[0] for line in links.splitlines() for w in line.split()[1:2]
             if w.startswith("fltv-") or w.startswith("flt-br0")]
    left += ["process %s %s" % (pid, cmd[:80]) for pid, cmd in lab_processes()]
    for path in ("/var/lib/faultline-lab/hosts",):
        if os.path.exists(path):
            left.append(path)
    left += ["/etc/netns/" + x for x in (os.listdir("/etc/netns") if os.path.isdir("/etc/netns") else [])
             if x.startswith("flt-")]
    return left


def lab_processes(proc="/proc"):
    """(pid, command line) of the processes that run from this machine's lab hosts directory.
    A process that sees another /var/lib (a lab in a mount namespace of its own, with
    /var/lib overlaid, as an isolated test run brings up) is not of this lab even though
    its command line names the same path; ``ip netns exec`` (the lab's sshd) keeps /var/lib."""
    try:
        own = os.stat(os.path.join(proc, "self", "root", "var", "lib"))
    except OSError:
        own = os.stat("/var/lib")
    found = []
    for pid in os.listdir(proc):
        if pid.isdigit():
            try:
                with open(os.path.join(proc, pid, "cmdline"), "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
                if "/var/lib/faultline-lab/hosts/" not in cmd:
                    continue
                seen = os.stat(os.path.join(proc, pid, "root", "var", "lib"))
            except OSError:
                continue  # gone, or its root is not readable
            if (seen.st_dev, seen.st_ino) == (own.st_dev, own.st_ino):
                found.append((pid, cmd))
    return found


def mem_mb():
    with open("/proc/meminfo") as f:
        info = dict(line.split(":", 1) for line in f)
    return int(info["MemAvailable"].split()[0]) // 1024


# --------------------------------------------------------------------------
# the fault
# --------------------------------------------------------------------------

def run_fault(inventory, variant, n, tmp, start_lead=None):
    label, env = VARIANTS[variant]
    run_id = "bench-%s-%d-%d" % (variant, n, int(time.time()))
    times_file = os.path.join(tmp, run_id + ".times.json")
    jdir = os.path.join(tmp, run_id)
    prep = playbook(os.path.join(BENCH, "prep.yml"), env, {"bench_prep_strategy": env.get("_prep", "free")},
                    inventory=inventory)
    evars = {"bench_run_id": run_id, "bench_times_file": times_file, "bench_journal_dir": jdir, "bench_port": PORT}
    if start_lead is not None:
        evars["bench_start_at"] = "%.3f" % (time.time() + start_lead)
    total = playbook(os.path.join(BENCH, "fault.yml"), env, evars, inventory=inventory)
    with open(times_file) as f:
        t = json.load(f)
    applied, reverted, events = {}, {}, {}
    for name in os.listdir(jdir):
        host = name[:-len(".jsonl")]
        with open(os.path.join(jdir, name)) as f:
            for line in f:
                ev = json.loads(line)
                if (ev.get("detail") or {}).get("run_id") not in (None, run_id):
                    continue
                events.setdefault(host, []).append(ev["event"])
                if ev["event"] == "applied" and ev["ts"] >= t["apply"] - 1:
                    applied[host] = ev["detail"]
                if ev["event"] == "reverted" and ev["ts"] >= t["apply"] - 1:
                    reverted[host] = ev["ts"]
    res = {"variant": variant, "label": label, "n": n, "prep_s": prep, "playbook_s": total,
           "apply_s": t["applied"] - t["apply"], "revert_s": t["reverted"] - t["revert"],
           "apply_revert_s": (t["applied"] - t["apply"]) + (t["reverted"] - t["revert"]),
           "hosts_reverted": len(reverted)}
    if start_lead is not None:
        res["hosts_applied"] = len(applied)
        res["missed"] = sorted(h for h, evs in events.items() if "start_missed" in evs)
        if applied:
            wake = [d["wall"] for d in applied.values()]
            done = [d["applied_wall"] for d in applied.values()]
            lag = sorted(d["applied_lag_s"] for d in applied.values())
            res.update(skew_wake_ms=(max(wake) - min(wake)) * 1000, skew_applied_ms=(max(done) - min(done)) * 1000,
                       lag_p50_ms=statistics.median(lag) * 1000, lag_max_ms=lag[-1] * 1000,
                       dispatch_s=t["applied"] - t["apply"],
                       clock_bounds=sorted(set(str((d.get("clock") or {}).get("error_bound_s")) for d in applied.values())))
    return res


def run_anchor(inventory, n, tmp):
    """``hosts/anchor.yml`` with the shipped settings: the ping wave, and the fault's rule
    change by command tasks (the nft scripts of its plan, owned by the default ledger as the
    module's are). Walls as in run_fault."""
    apply_script, revert_script = anchor_scripts(PORT, runtime.DEFAULT_STATE_DIR, delete_table=True)
    times_file = os.path.join(tmp, "anchor-%d-%d.times.json" % (n, int(time.time() * 1000)))
    total = playbook(os.path.join(BENCH, "anchor.yml"), {},
                     {"bench_apply_script": apply_script, "bench_revert_script": revert_script,
                      "bench_times_file": times_file}, inventory=inventory)
    with open(times_file) as f:
        t = json.load(f)
    return {"n": n, "playbook_s": total, "ping_s": t["apply"] - t["ping"], "apply_s": t["applied"] - t["apply"],
            "revert_s": t["reverted"] - t["revert"],
            "apply_revert_s": (t["applied"] - t["apply"]) + (t["reverted"] - t["revert"])}


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def _terminated(signum, _frame):
    # SIGTERM (e.g. from timeout) ends the run through the finally blocks: the lab still comes down
    raise SystemExit("terminated by signal %d" % signum)


def main():
    signal.signal(signal.SIGTERM, _terminated)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", default="10,50,100", help="comma-separated host counts (default 10,50,100)")
    ap.add_argument("--variants", default="shipped", help="comma-separated, of: " + ", ".join(VARIANTS))
    ap.add_argument("--skew", type=float, default=None, metavar="LEAD",
                    help="also a start_at run, start LEAD seconds after dispatch begins (default: 0.25 s per host + 5)")
    ap.add_argument("--no-skew", action="store_true", help="no start_at run")
    ap.add_argument("--no-anchor", action="store_true", help="no anchor (command tasks, ping wave) beside shipped")
    ap.add_argument("--rounds", type=int, default=1, help="rounds per variant (ours and the anchor alternate)")
    ap.add_argument("--lab-only", action="store_true", help="only lab up/down")
    ap.add_argument("--old-rev", help="also time roles/lab_hosts as it was at this git commit")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")
    counts = [int(x) for x in a.hosts.split(",")]
    variants = [v for v in a.variants.split(",") if v]
    bad = [v for v in variants if v not in VARIANTS]
    if bad or not all(1 <= n <= 244 for n in counts) or not 1 <= a.rounds <= 20:
        sys.exit("unknown variants %s, a host count outside 1-244 or rounds outside 1-20" % bad)
    tmp = tempfile.mkdtemp(prefix="hosts_bench.")
    rows, failed = [], False
    log("load average %s, MemAvailable %d MB, %d CPUs" % (loadavg(), mem_mb(), os.cpu_count()))
    found = None
    if os.path.exists(STATE):
        with open(STATE) as f:
            found = len(json.load(f)["nodes"])
        log("a lab of %d hosts is up: down for the run (%.1f s), up again at the end" % (found, lab(found, "down")))
    try:
        old = old_role(a.old_rev, tmp) if a.old_rev else None
        for n in counts:
            if old:
                up = lab(n, "up", old)
                down = lab(n, "down", old)
                log("N=%d old role (%s, ip commands): up %.1f s, down %.1f s" % (n, a.old_rev, up, down))
                rows.append(("lab up/down, old role", n, "%.1f s / %.1f s" % (up, down)))
            mem0 = mem_mb()
            up = lab(n, "up")
            mem1 = mem_mb()
            try:
                with open(STATE) as f:
                    inventory = json.load(f)["inventory"]
                if not a.lab_only:
                    for v in variants:
                        ours, anchors = [], []
                        for i in range(a.rounds):
                            # the anchor (shipped settings only) alternates with ours: after it in the 1st,
                            # 3rd.. round, before it in the 2nd, 4th..; so it always follows a fault run
                            # and uses the SSH masters that run (and its preparation) opened
                            anchor_now = v == "shipped" and not a.no_anchor
                            for what in (("ours", "anchor") if i % 2 == 0 else ("anchor", "ours")):
                                if what == "anchor" and anchor_now:
                                    r = run_anchor(inventory, n, tmp)
                                    anchors.append(r)
                                    log("N=%d anchor round %d: ping wave %.2f s; command apply %.2f s + revert %.2f s "
                                        "= %.2f s (playbook %.1f s); load %s"
                                        % (n, i + 1, r["ping_s"], r["apply_s"], r["revert_s"], r["apply_revert_s"],
                                           r["playbook_s"], loadavg()))
                                elif what == "ours":
                                    r = run_fault(inventory, v, n, tmp)
                                    ours.append(r)
                                    log("N=%d %-18s round %d: apply %.2f s + revert %.2f s = %.2f s (playbook %.1f s, "
                                        "prep %.1f s), reverted on %d hosts; load %s"
                                        % (n, v, i + 1, r["apply_s"], r["revert_s"], r["apply_revert_s"],
                                           r["playbook_s"], r["prep_s"], r["hosts_reverted"], loadavg()))
                                    failed |= r["hosts_reverted"] != n
                        row = "%.2f s (playbook %.1f s, prep %.1f s)" % (
                            median_of(ours, "apply_revert_s"), median_of(ours, "playbook_s"), median_of(ours, "prep_s"))
                        if anchors:
                            o, c = median_of(ours, "apply_revert_s"), median_of(anchors, "apply_revert_s")
                            log("N=%d %s, medians of %d round(s): ours %.2f s (apply %.2f + revert %.2f), anchor %.2f s "
                                "(apply %.2f + revert %.2f), ratio %.2f; ping wave %.2f s"
                                % (n, v, len(ours), o, median_of(ours, "apply_s"), median_of(ours, "revert_s"), c,
                                   median_of(anchors, "apply_s"), median_of(anchors, "revert_s"), o / c,
                                   median_of(anchors, "ping_s")))
                            row += "; anchor %.2f s, ratio %.2f; ping wave %.2f s" % (c, o / c, median_of(anchors, "ping_s"))
                        rows.append(("apply+revert " + v, n, row))
                    if not a.no_skew:
                        lead = a.skew if a.skew is not None else 5 + 0.25 * n
                        r = run_fault(inventory, "shipped", n, tmp, start_lead=lead)
                        log("N=%d start_at (lead %.1f s, dispatch %.1f s): applied on %d/%d, missed %s; skew "
                            "wake %.1f ms, rule in place %.1f ms; lag p50 %.1f ms max %.1f ms; clock bounds %s; "
                            "reverted on %d; load %s"
                            % (n, lead, r.get("dispatch_s", 0), r["hosts_applied"], n, r["missed"],
                               r.get("skew_wake_ms", -1), r.get("skew_applied_ms", -1), r.get("lag_p50_ms", -1),
                               r.get("lag_max_ms", -1), r.get("clock_bounds"), r["hosts_reverted"], loadavg()))
                        rows.append(("start_at skew", n, "%.1f ms (wake %.1f ms), %d/%d applied"
                                     % (r.get("skew_applied_ms", -1), r.get("skew_wake_ms", -1),
                                        r["hosts_applied"], n)))
                        failed |= r["hosts_applied"] != n
            finally:
                down = lab(n, "down")
                left = leftovers()
                log("N=%d lab up %.1f s, down %.1f s (pyroute2 role); memory while up %d MB; left after down: %s"
                    % (n, up, down, mem0 - mem1, left or "nothing"))
                rows.append(("lab up/down, pyroute2 role", n, "%.1f s / %.1f s" % (up, down)))
                failed |= bool(left)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if found:
            log("the lab of %d hosts found up is up again (%.1f s)" % (found, lab(found, "up")))
    log("\n| what | N | result |\n|---|---|---|")
    for what, n, res in rows:
        log("| %s | %d | %s |" % (what, n, res))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

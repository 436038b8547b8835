"""roles/lab_hosts at more than three hosts, and a run split across two controllers.

One module-scoped lab of 10 hosts (lab_hosts_count=10). It must come up with
node1..node10 at 198.18.0.11-20, answer ``ansible -m ping`` through the
inventory the role writes, come up a second time changing nothing, and come
down completely even when ``down`` is not told the count (the nodes the last
up recorded are taken down too). The split: two ``ansible-runner`` jobs, each
with a ``--limit`` slice of the hosts (what two controllers, or AWX job
slicing, would run), dispatch the same fault with one ``start_at``; every host
applies it at that instant and reverts it.
"""
import json
import os
import subprocess
import time

import pytest

from support.ansible import LAB_PLAYBOOK, ROOT, VENV_BIN, ansible_env
from test_netns import _leftovers, pid_alive, read_hosts_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")

STATE_FILE = "/var/lib/faultline-lab/hosts/lab_hosts.json"
COUNT = 10


def lab(run_playbook, state, **extra):
    return run_playbook(LAB_PLAYBOOK, dict({"lab_components": ["hosts"], "lab_state": state}, **extra))


@pytest.fixture(scope="module")
def ten(run_playbook):
    if os.path.exists(STATE_FILE):
        pytest.skip("%s exists: a lab is up" % STATE_FILE)
    desc, sshd_pids = None, []
    try:
        cp = lab(run_playbook, "up", lab_hosts_count=COUNT)
        assert cp.returncode == 0, cp.stdout[-4000:]
        desc = read_hosts_lab(sshd_pids)
        yield desc
    finally:
        # no count given: down must still find all ten from the recorded description
        cp = lab(run_playbook, "down")
        assert cp.returncode == 0, cp.stdout[-4000:]
        if desc:
            assert _leftovers(desc) == []
            assert [p for p in sshd_pids if pid_alive(p)] == []


def test_ten_nodes_named_and_addressed_like_the_first_three(ten):
    assert [n["name"] for n in ten["nodes"]] == ["node%d" % i for i in range(1, COUNT + 1)]
    assert [n["address"] for n in ten["nodes"]] == ["198.18.0.%d" % (10 + i) for i in range(1, COUNT + 1)]
    assert ten["nodes"][0]["netns"] == "flt-node1" and ten["nodes"][0]["veth"] == "fltv-node1"


def test_generated_inventory_reaches_every_node(ten):
    cp = subprocess.run([os.path.join(VENV_BIN, "ansible"), "-i", ten["inventory"], "all", "-m",
                         "ansible.builtin.command", "-a", "hostname"], cwd=ROOT, env=ansible_env(),
                        capture_output=True, text=True, timeout=300, check=False)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-2000:]
    # each node answers with its own hostname (its own sshd in its own namespace)
    for i in range(1, COUNT + 1):
        assert "node%d | CHANGED | rc=0 >>\nnode%d\n" % (i, i) in cp.stdout, cp.stdout[-3000:]


def test_second_up_changes_nothing(run_playbook, ten):
    cp = lab(run_playbook, "up", lab_hosts_count=COUNT)
    assert cp.returncode == 0, cp.stdout[-4000:]
    recap = cp.stdout[cp.stdout.rindex("PLAY RECAP"):]
    assert " changed=0 " in recap, recap


def _runner(pdd, limit, evars):
    """One controller's share: ansible-runner with a --limit slice."""
    os.makedirs(os.path.join(pdd, "env"))
    os.symlink(ROOT, os.path.join(pdd, "project"))
    with open(os.path.join(pdd, "env", "extravars"), "w") as f:
        json.dump(evars, f)
    return subprocess.Popen([os.path.join(VENV_BIN, "ansible-runner"), "run", pdd, "-p", "benchmarks/hosts/fault.yml",
                             "--inventory", evars["inventory"], "--limit", limit],
                            cwd=ROOT, env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_runner_jobs_split_the_hosts_and_fire_together(ten, tmp_path):
    start_at = time.time() + 25  # both jobs dispatch their 5 hosts well before it
    jobs, journals = [], {}
    for i, limit in enumerate(["lab_hosts[0:4]", "lab_hosts[5:9]"]):
        jdir = str(tmp_path / ("journals%d" % i))
        journals[i] = jdir
        jobs.append(_runner(str(tmp_path / ("job%d" % i)), limit, {
            "inventory": ten["inventory"], "bench_run_id": "split%d" % i, "bench_start_at": "%.3f" % start_at,
            "bench_times_file": str(tmp_path / ("times%d.json" % i)), "bench_journal_dir": jdir}))
    outs = [j.communicate(timeout=240)[0] for j in jobs]
    assert [j.returncode for j in jobs] == [0, 0], "\n".join(o[-3000:] for o in outs)
    hosts = [sorted(os.listdir(journals[i])) for i in (0, 1)]
    assert hosts[0] == sorted("node%d.jsonl" % i for i in range(1, 6))
    assert hosts[1] == sorted("node%d.jsonl" % i for i in range(6, 11))
    applied = {}
    for i in (0, 1):
        for name in hosts[i]:
            with open(os.path.join(journals[i], name)) as f:
                events = [json.loads(line) for line in f]
            mine = [e for e in events if e["ts"] > start_at - 30]
            ev = [e for e in mine if e["event"] == "applied"]
            assert len(ev) == 1 and abs(ev[0]["detail"]["intended"] - start_at) < 0.01, (name, mine)
            assert [e for e in mine if e["event"] == "reverted"], (name, mine)
            applied[name] = ev[0]["detail"]["applied_wall"]
    assert len(applied) == COUNT
    # one instant across both controllers' hosts (same machine clock): a loose bound, the figure is in docs/scale.md
    assert max(applied.values()) - min(applied.values()) < 0.5, applied

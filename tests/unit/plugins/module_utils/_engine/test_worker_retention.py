"""Finished probe/datagen workers' files are removed after a retention, running ones never (issue 10 item 11).

Before: meta and JSONL output of every finished worker stayed in
<state_dir>/workers (tmpfs, i.e. memory) forever.
"""
import json
import os
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background as bg
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt

HOUR = 3600.0


@pytest.fixture
def state(tmp_path):
    d = tmp_path / "state"
    (d / "workers").mkdir(parents=True, mode=0o700)
    os.chmod(str(d), 0o700)
    return d


def plant(state, name, meta, age, output=True):
    w = state / "workers"
    paths = [w / (name + ".json")]
    paths[0].write_text(json.dumps(meta))
    if output:
        paths.append(w / (name + ".jsonl"))
        paths[1].write_text('{"ok": true}\n')
    old = time.time() - age
    for p in paths:
        os.utime(str(p), (old, old))
    return paths


def names(state):
    return sorted(os.listdir(str(state / "workers")))


def test_prune_removes_only_ended_workers_older_than_the_retention(state):
    now = time.time()
    me = rt.proc_identity(os.getpid())  # a live process: "running"
    plant(state, "probe-old", dict(pid=999999999, starttime=1, finished=now - 7 * HOUR), age=7 * HOUR)
    plant(state, "probe-recent", dict(pid=999999999, starttime=1, finished=now - HOUR), age=HOUR)
    plant(state, "datagen-crashed", dict(pid=999999999, starttime=1, finished=None), age=8 * HOUR)
    plant(state, "datagen-running", dict(me, finished=None, started=now - 30 * HOUR), age=30 * HOUR)
    plant(state, "probe-late", dict(pid=999999999, starttime=1, finished=now - 7 * HOUR), age=7 * HOUR)
    os.utime(str(state / "workers" / "probe-late.jsonl"))  # output written recently: keep
    orphan = state / "workers" / "probe-lost.jsonl"
    orphan.write_text("{}\n")
    os.utime(str(orphan), (now - 9 * HOUR, now - 9 * HOUR))
    tmp = state / "workers" / "probe-old.json.tmp.123"
    tmp.write_text("{")
    os.utime(str(tmp), (now - 9 * HOUR, now - 9 * HOUR))

    removed = bg.prune(str(state), retention=6 * HOUR, now=now)

    assert sorted(removed) == ["datagen-crashed", "probe-old"]
    assert names(state) == ["datagen-running.json", "datagen-running.jsonl", "probe-late.json", "probe-late.jsonl",
                            "probe-recent.json", "probe-recent.jsonl"]


def _sleeper(params, output, flag):
    while not flag.stopped:
        output.write({"tick": time.time()})
        flag.wait(0.05)
    return {"done": True}


def test_a_running_worker_is_never_pruned_and_a_stopped_one_is(state):
    sd = str(state)
    meta = bg.start(sd, "probe", "live", _sleeper, {}, lease=30)
    try:
        deadline = time.time() + 5
        while not os.path.exists(meta["output"]) and time.time() < deadline:  # opened right after the meta
            time.sleep(0.01)
        assert bg.prune(sd, retention=0, now=time.time() + 10 * HOUR) == []
        assert names(state) == ["probe-live.json", "probe-live.jsonl"]
    finally:
        bg.stop(sd, "probe", "live", timeout=5)
    assert not rt.proc_alive(meta["pid"], meta["starttime"])
    assert bg.prune(sd, retention=HOUR) == []  # just finished: kept for verify/report
    assert bg.prune(sd, retention=HOUR, now=time.time() + 2 * HOUR) == ["probe-live"]
    assert names(state) == []


def test_starting_a_worker_prunes_the_old_ones(state, monkeypatch):
    plant(state, "datagen-old", dict(pid=999999999, starttime=1, finished=time.time() - 30 * HOUR), age=30 * HOUR)
    sd = str(state)
    bg.start(sd, "probe", "quick", lambda p, o, f: None, {}, lease=5)
    deadline = time.time() + 5
    while bg.read_meta(sd, "probe", "quick")["running"] and time.time() < deadline:
        time.sleep(0.02)
    assert "datagen-old.json" not in names(state) and "probe-quick.json" in names(state)

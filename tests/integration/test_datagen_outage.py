"""datagen against a real MariaDB source + replica: an outage in the middle
(source mariadbd killed and restarted) does not stop the writer, and every
acknowledged row reaches the replica exactly once (verify PASS)."""
import signal
import time

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_outage_in_the_middle(mariadb_pair, state_dir, run_module):
    pair = mariadb_pair
    gen_args = dict(login_port=pair.source.port, rate=40, duration=14, batch=1, write_timeout=3,
                    max_backoff=0.5, state_dir=state_dir, state="started")
    started = run_module("datagen", gen_args)
    assert started["changed"] and started["running"], started
    run_id = started["run_id"]
    time.sleep(3)
    pair.source.stop(signal.SIGKILL)          # crash the source mid-stream
    down_at = time.time()
    time.sleep(3)
    pair.source.start()
    up_at = time.time()
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        res = run_module("datagen", dict(run_id=run_id, state="started", state_dir=state_dir))
        assert not res["changed"]                 # re-running started reports, starts nothing
        if not res["running"]:
            break
        time.sleep(1)
    res = run_module("datagen", dict(run_id=run_id, state="stopped", state_dir=state_dir))
    assert not res["running"] and res["stopped_by"] == "done", res
    # the outage was seen and ridden through
    assert res["errors"], res
    assert any(e["event"] == "write_error" for e in res["events"])
    assert any(e["event"] == "recovered" for e in res["events"])
    assert res["writes_failed"] + res["writes_indeterminate"] > 0
    assert not res["failed"]  # retried writes are not a module failure
    assert any(ts > up_at for ts, _n in res["series"]), "no row acknowledged after the restart"
    acked_before = max([n for ts, n in res["series"] if ts < down_at] or [0])
    assert 0 < acked_before < res["rows_acked"]
    # nothing is left unresolved at the end of a run that recovered
    assert res["indeterminate_ranges"] == [] and res["failed_ranges"] == []

    v = run_module("verify", dict(source_port=pair.source.port, destination_port=pair.replica.port,
                                  datagen_run_id=run_id, acked_ranges=res["acked_ranges"],
                                  indeterminate_ranges=res["indeterminate_ranges"],
                                  converge_timeout=60, chunk_rows=200))
    assert v["passed"], v.get("msg")
    assert not v.get("failed")
    integ = v["integrity"]
    assert integ["source_rows"] == integ["destination_rows"] == integ["expected_rows"]
    assert integ["missing"] == integ["extra"] == integ["duplicates"] == 0
    assert v["datagen"]["rows_acked"] == res["rows_acked"] and v["datagen"]["acked_missing"] == 0
    # the replica has each acknowledged row exactly once, counted directly
    n, distinct = pair.replica.sql(
        "SELECT COUNT(*), COUNT(DISTINCT seq) FROM faultline.faultline_datagen WHERE run_id='%s'" % run_id)[0]
    assert n == distinct == res["rows_acked"]


def test_bad_input_leaves_nothing_running(mariadb_pair, state_dir, run_module):
    cases = [
        (dict(count=5, interval=0, total=5), "interval=0.0 is out of range"),
        (dict(count=0, interval=1, total=5), "count=0 is out of range"),
        (dict(total=5, lease="inf"), "lease=inf is out of range"),
        (dict(count=5, interval=30, duration=10), "shorter than one interval"),
        (dict(total=5, login_port=1), "cannot connect"),
        (dict(total=5, login_password="wrong", login_user="nobody"), "Access denied"),
        (dict(count=5, interval=1, state="present"), "set total and/or duration"),
    ]
    for args, words in cases:
        args = dict(dict(login_port=mariadb_pair.source.port, state_dir=state_dir), **args)
        res = run_module("datagen", args)
        assert res.get("failed") and words in res["msg"], (args, res)
        assert "Traceback" not in res["msg"]
    assert background.list_workers(state_dir, "datagen") == []

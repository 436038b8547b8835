"""Which fault windows a probe judges: only those overlapping its own lifetime."""
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import Ledger
from ansible_collections.faultline.chaos.plugins.module_utils._probes import runner


def test_earlier_runs_of_the_same_fault_id_are_not_judged(tmp_path):
    led = Ledger(str(tmp_path)).ensure()
    # an earlier run of the same fault (same parameters, same id), long before the probe
    led.journal("net_a", "down", {"cycle": 1}, ts=100.0)
    led.journal("net_a", "reverted", {}, ts=108.0)
    # a fault applied just before the probe started still counts
    led.journal("net_a", "down", {"cycle": 1}, ts=195.0)
    led.journal("net_a", "reverted", {}, ts=205.0)
    # and one entirely inside the probe's life
    led.journal("net_a", "down", {"cycle": 1}, ts=210.0)
    led.journal("net_a", "reverted", {}, ts=215.0)
    meta = {"started": 200.0, "finished": 230.0}
    wins = runner.fault_windows(str(tmp_path), meta, fault_ids=["net_a"])
    assert [(w["n"], w["down_at"], w["up_at"]) for w in wins] == [(1, 195.0, 205.0), (2, 210.0, 215.0)]
    # without names: only events inside the probe's life
    assert [w["down_at"] for w in runner.fault_windows(str(tmp_path), meta)] == [210.0]

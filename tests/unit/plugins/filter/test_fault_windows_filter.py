"""faultline.chaos.fault_windows: a fault host's journal -> probe windows."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.faultline.chaos.plugins.filter.fault_windows import fault_windows


def ev(ts, event, fid="f1", source="fault"):
    return {"ts": ts, "event": event, "id": fid, "source": source, "host": "node1", "detail": {}}


def test_a_flap_gives_one_window_per_down_closed_by_up_or_reverted():
    journal = [ev(10, "requested"), ev(11, "down"), ev(13, "up"), ev(15, "down"), ev(17, "reverted"),
               ev(12, "down", fid="other"), ev(14, "sample", source="probe")]
    assert fault_windows(journal, ["f1"]) == [{"n": 1, "down_at": 11.0, "up_at": 13.0},
                                              {"n": 2, "down_at": 15.0, "up_at": 17.0}]


def test_every_fault_by_default_and_an_open_window_has_no_up():
    got = fault_windows([ev(11, "down"), ev(12, "down", fid="g")])
    assert got == [{"n": 1, "down_at": 11.0, "up_at": None}, {"n": 2, "down_at": 12.0, "up_at": None}]
    assert fault_windows([ev(11, "down")], "f1") == [{"n": 1, "down_at": 11.0, "up_at": None}]


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        fault_windows("not a list")
    with pytest.raises(AnsibleFilterError):
        fault_windows([1, 2])

"""network/restore module entry points: refusals before anything is applied (no I/O)."""
import os

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import EngineError
from ansible_collections.faultline.chaos.plugins.module_utils._faults import network as net
from ansible_collections.faultline.chaos.plugins.modules import network as network_module
from ansible_collections.faultline.chaos.plugins.modules import restore as restore_module


def test_not_root_is_refused_before_anything_happens(monkeypatch, run_module, tmp_path):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    code, out = run_module(network_module, {"state": "down", "port": 3306, "state_dir": str(tmp_path)})
    assert code == 1 and out["failed"] and "needs root" in out["msg"]
    assert not (tmp_path / "faults").exists()
    code, out = run_module(restore_module, {"state_dir": str(tmp_path)})
    assert code == 1 and "needs root" in out["msg"]


def test_no_firewall_backend_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: None)
    with pytest.raises(EngineError, match="no usable firewall backend .*nft not installed.*iptables not installed"):
        net.detect_backend(lambda argv, data: (0, "", ""))


def test_backend_that_fails_is_reported_and_the_other_used(monkeypatch):
    monkeypatch.setattr(net.shutil, "which", lambda name: "/usr/sbin/" + name)
    calls = []

    def runner(argv, data):
        calls.append(argv[0])
        return (1, "", "Operation not permitted") if argv[0] == "nft" else (0, "", "")

    assert net.detect_backend(runner) == "iptables" and calls == ["nft", "iptables"]
    with pytest.raises(EngineError, match="nft unusable: Operation not permitted"):
        net.detect_backend(runner, wanted="nft")


@pytest.mark.parametrize("args,message", [
    ({"port": 0}, "port=0 is out of range: must be a port number from 1 to 65535"),
    ({"ports": [22, 65536]}, "ports[1]=65536 is out of range: must be a port number from 1 to 65535"),
    ({"duration": 0}, "duration=0.0 is out of range: must be a finite number of seconds greater than 0"),
    ({"lease": -1}, "lease=-1.0 is out of range: must be a finite number of seconds greater than 0 and at most "
                    "604800 (7 days)"),
    ({"type": "loss", "loss_percent": 101}, "loss_percent=101 is out of range: must be a whole number of percent "
                                            "from 1 to 100"),
    ({"state": "flap", "type": "service", "duration": 10, "interval": 1}, "supports type reject, timeout or loss"),
    ({"port": 1, "ports": [2]}, "mutually exclusive"),
])
def test_bad_input_messages(args, message, run_module, tmp_path):
    full = {"state": "down", "state_dir": str(tmp_path)}
    if "ports" not in args:
        full["port"] = 3306
    full.update(args)
    code, out = run_module(network_module, full)
    assert code == 1 and message in out["msg"], out["msg"]
    assert not (tmp_path / "faults").exists()

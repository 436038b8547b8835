"""probe module entry point: secrets never come back in the result (no I/O)."""
import json

import pytest
from module_args import patch_module_args

from ansible_collections.faultline.chaos.plugins.modules import probe as probe_module


def test_http_headers_are_never_returned(monkeypatch, capsys, tmp_path):
    """Issue 10 item 11: the headers (an Authorization token) came back in clear text."""
    secret = "Bearer s3cr3t-t0ken-4242"
    seen = {}

    def sample_once(p):
        seen.update(p["headers"])
        return {"ok": False, "error": "401 for Authorization: %s" % secret}

    monkeypatch.setattr(probe_module.runner, "sample_once", sample_once)
    args = {"name": "h", "kind": "http", "state": "sampled", "url": "http://127.0.0.1:9/",
            "headers": {"Authorization": secret, "X-Trace": "visible-name"}, "state_dir": str(tmp_path)}
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            probe_module.main()
    raw = capsys.readouterr().out
    out = json.loads(raw)
    assert seen["Authorization"] == secret           # the request still carries it
    assert secret not in raw and "s3cr3t" not in raw  # the result does not
    assert out["invocation"]["module_args"]["headers"]["Authorization"] == "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def test_http_headers_are_not_written_to_the_worker_meta(monkeypatch, tmp_path):
    """Issue 10 item 11: a started probe wrote its headers (a token) into the meta file in clear text."""
    runner = probe_module.runner
    captured = {}

    def start(state_dir, kind, name, target, stored, lease):
        captured.update(stored)
        return {"pid": 1}

    monkeypatch.setattr(runner.background, "start", start)
    monkeypatch.setattr(runner.background, "read_meta", lambda *a: None)
    secret = "Bearer s3cr3t-t0ken-4242"
    params = {"name": "h", "kind": "http", "url": "http://127.0.0.1:9/", "interval": 1.0,
              "headers": {"Authorization": secret}}
    runner.start(str(tmp_path), params, lease=60)
    assert secret not in json.dumps(captured) and "headers" not in captured
    # the same probe is still recognised (re-run = no change), another token is another probe
    assert runner.identity(captured) == runner.identity(params)
    other = dict(params, headers={"Authorization": "Bearer other"})
    assert runner.identity(captured) != runner.identity(other)

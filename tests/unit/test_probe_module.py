"""probe module entry point: secrets never come back in the result (no I/O)."""
import json

import pytest
from ansible.module_utils.testing import patch_module_args

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

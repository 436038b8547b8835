"""MySQL login options: one argument-spec builder (login_spec) and one doc template (the mysql fragment's sections)."""
import pytest
import yaml

from ansible_collections.faultline.chaos.plugins.doc_fragments.mysql import ModuleDocFragment
from ansible_collections.faultline.chaos.plugins.module_utils._db.mysql import (
    connect_params, login_spec, mysql_common_argument_spec,
)
from ansible_collections.faultline.chaos.plugins.modules import verify


@pytest.mark.parametrize("section,prefix", [
    ("DOCUMENTATION", "login_"), ("SOURCE", "source_"), ("DESTINATION", "destination_"), ("REPLICA", "replica_"),
])
def test_fragment_section_documents_login_spec(section, prefix):
    documented = yaml.safe_load(getattr(ModuleDocFragment, section))["options"]
    spec = login_spec(prefix)
    assert set(spec) <= set(documented)
    for name, arg in spec.items():
        assert documented[name]["type"] == arg["type"], name
        assert documented[name].get("default") == arg.get("default"), name
    assert spec[prefix + "password"]["no_log"] is True


def test_common_spec_is_login_spec_plus_connection():
    common = mysql_common_argument_spec()
    assert {k: v for k, v in common.items() if k.startswith("login_")} == login_spec("login_")
    assert set(common) - set(login_spec("login_")) == {"connect_timeout", "database"}


def test_modules_take_their_prefixed_login_options():
    v = verify.argument_spec()
    for prefix in ("source_", "destination_"):
        for name, arg in login_spec(prefix).items():
            assert v[name] == arg
    assert not any(k.startswith("login_") for k in v)


def test_prefixed_options_reach_the_connection():
    params = dict(login_spec("replica_"), connect_timeout=2.0)
    params = {k: (v.get("default") if isinstance(v, dict) else v) for k, v in params.items()}
    params.update(replica_host="198.18.0.12", replica_port=3318, replica_unix_socket="/run/r.sock")
    kw = connect_params(params, prefix="replica_")
    assert (kw["host"], kw["port"], kw["unix_socket"], kw["connect_timeout"]) == ("198.18.0.12", 3318, "/run/r.sock", 2.0)

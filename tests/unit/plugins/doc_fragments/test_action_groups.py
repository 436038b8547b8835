"""The module_defaults groups a module documents (attributes.action_group, from the
attributes fragment's sections) are exactly the groups meta/runtime.yml puts it in."""
import os
import re

import pytest
import yaml

from ansible_collections.faultline.chaos.plugins.doc_fragments import attributes

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
MODULES = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "plugins", "modules")) if f.endswith(".py"))
RUNTIME = yaml.safe_load(open(os.path.join(ROOT, "meta", "runtime.yml")))


def module_doc(name):
    src = open(os.path.join(ROOT, "plugins", "modules", name + ".py")).read()
    return yaml.safe_load(re.search(r"DOCUMENTATION = r'''(.*?)'''", src, re.S).group(1))


def documented_groups(doc):
    sections = [f.split(".", 3)[3].upper() for f in doc.get("extends_documentation_fragment", [])
                if f.startswith("faultline.chaos.attributes.")]
    assert len(sections) <= 1, "a module extends one action-group section at most: %s" % sections
    if not sections:
        return set()
    frag = yaml.safe_load(getattr(attributes.ModuleDocFragment, sections[0]))
    return {g.split(".")[-1] for g in frag["attributes"]["action_group"]["membership"]}


@pytest.mark.parametrize("module", MODULES)
def test_documented_action_groups_are_the_runtime_groups(module):
    doc = module_doc(module)
    assert "action_group" not in doc.get("attributes", {}), "action_group comes from the attributes fragment's sections"
    in_runtime = {g for g, members in RUNTIME.get("action_groups", {}).items() if module in members}
    assert documented_groups(doc) == in_runtime


def test_every_section_is_used_and_lists_real_groups():
    used = set()
    for m in MODULES:
        used |= {f for f in module_doc(m).get("extends_documentation_fragment", []) if f.startswith("faultline.chaos.attributes.")}
    sections = {n for n in dir(attributes.ModuleDocFragment) if n.isupper() and n != "DOCUMENTATION"}
    assert {"faultline.chaos.attributes." + s.lower() for s in sections} == used
    for s in sections:
        frag = yaml.safe_load(getattr(attributes.ModuleDocFragment, s))
        for g in frag["attributes"]["action_group"]["membership"]:
            assert g.split(".")[-1] in RUNTIME["action_groups"], g

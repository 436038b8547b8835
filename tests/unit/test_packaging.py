"""The collection as a user gets it: the built tarball, its execution
environment metadata, and the README's install path from an unrelated directory.

Builds from a copy of what git knows about (like scripts/sanity.sh), with the
local clutter a working tree collects added on purpose, so the build_ignore
list is what is tested, not the state of the checkout.  Needs the venv's
ansible-galaxy, ansible-doc, ansible-playbook and ansible-builder; no network,
no root, no lab.
"""
import json
import os
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import Ledger

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
VERSION = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml")))["version"]

# What a working tree collects and the tarball must not hold.
CLUTTER = [".ansible/collections/x", ".pytest_cache/v/x", ".lab/state", "reports/tc004/x/report.json",
           "benchmarks/results/x.json", ".venv-floor/bin/x", "build/old.tar.gz", "ee/context/Dockerfile",
           "tests/output/x", "plugins/modules/__pycache__/x.pyc"]
# Top-level entries of the repository that are development tooling.
NOT_SHIPPED = ["Makefile", "ansible.cfg", "pytest.ini", "requirements-dev.txt", "molecule", "scripts",
               "benchmarks", "tests", ".ansible", ".pytest_cache", ".lab", ".ci", ".venv", ".venv-floor",
               ".collections", ".gitignore", ".ansible-lint", ".yamllint", "reports", "build", "ee/context",
               "changelogs/fragments"]
SHIPPED = ["MANIFEST.json", "FILES.json", "COPYING", "README.md", "requirements.txt", "bindep.txt",
           "meta/runtime.yml", "meta/execution-environment.yml", "plugins/modules/network.py",
           "plugins/filter/checks.py", "plugins/callback/timeline.py", "roles/connection_refused/meta/argument_specs.yml",
           "playbooks/tc004_connection_refused.yml", "playbooks/restore_all.yml", "changelogs/changelog.yaml", "CHANGELOG.rst",
           "docs/architecture.md"]


def clean_env():
    """The environment of a user's shell: no ANSIBLE_* from this repository."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("ANSIBLE_"))
    env["PATH"] = BIN + os.pathsep + env.get("PATH", "")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def run(argv, cwd, env=None, check=True):
    cp = subprocess.run(argv, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=300,
                        check=False)
    if check and cp.returncode != 0:
        pytest.fail("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (" ".join(argv), cp.returncode, cp.stdout, cp.stderr))
    return cp


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    base = tmp_path_factory.mktemp("pkg")
    src = base / "src"
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if os.path.isfile(os.path.join(ROOT, rel)) and not os.path.islink(os.path.join(ROOT, rel)):
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(os.path.join(ROOT, rel), src / rel)
    for rel in CLUTTER:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("clutter\n")
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(base / "out")], cwd=src)
    path = base / "out" / ("faultline-chaos-%s.tar.gz" % VERSION)
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory):
    """The README's install command into a fresh collections path."""
    coll = tmp_path_factory.mktemp("collections")
    # --force: a faultline.chaos already in a configured collections path (e.g. ~/.ansible/collections)
    # made it print "Nothing to do" and install nothing here
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "--force", str(tarball), "-p", str(coll)],
        cwd=tmp_path_factory.mktemp("elsewhere"))
    return coll


def test_tarball_is_the_collection(tarball):
    with tarfile.open(tarball) as tar:
        names = [m.name.rstrip("/") for m in tar.getmembers()]
    leaked = sorted(n for n in names if any(n == p or n.startswith(p + "/") for p in NOT_SHIPPED)
                    or n.endswith(".pyc") or "__pycache__" in n)
    assert leaked == []
    assert [p for p in SHIPPED if p not in names] == []
    with tarfile.open(tarball) as tar:
        manifest = json.load(tar.extractfile("MANIFEST.json"))
        copying = tar.extractfile("COPYING").read().decode()
    assert manifest["collection_info"]["license_file"] == "COPYING"
    assert "GNU GENERAL PUBLIC LICENSE" in copying and "Version 3, 29 June 2007" in copying


def requirement_lines(name):
    """The requirement lines of a file (a path, or a name relative to the repository), comments dropped."""
    with open(os.path.join(ROOT, name)) as f:
        return [line.split("#")[0].strip().lower() for line in f if line.split("#")[0].strip()]


def test_requirements_are_the_collections_not_the_toolchain():
    user = [line.split("==")[0] for line in requirement_lines("requirements.txt")]
    dev = requirement_lines("requirements-dev.txt")
    tools = ("ansible-core", "ansible-lint", "ansible-builder", "antsibull-changelog", "molecule", "pytest", "yamllint")
    assert [t for t in tools if t in user] == []
    assert [t for t in tools if not any(line.startswith(t + "==") for line in dev)] == []
    assert {"pymysql", "websockets", "jmespath"} <= set(user)
    assert dev[0] == "-r requirements.txt"


def test_execution_environment_metadata_is_introspected(installed):
    """ansible-builder reads the installed collection's meta/execution-environment.yml."""
    cp = run([os.path.join(BIN, "ansible-builder"), "introspect", "--sanitize", str(installed)], cwd=str(installed))
    deps = yaml.safe_load(cp.stdout.split("---", 1)[1])
    python = [line.split("#")[0].strip() for line in deps["python"]]
    assert {"PyMySQL==1.2.4", "websockets==17.4", "jmespath==1.1.0"} <= set(python)
    assert not [p for p in python if p.split("=")[0].lower() in ("pytest", "molecule", "ansible-lint")]
    system = " ".join(deps["system"])
    assert "nftables" in system and "iptables" in system and "libmariadb-dev" in system


def test_ansible_builder_create_offline(tarball, tmp_path):
    """`make ee`: the definition in ee/ gives a build context without a network."""
    for name in ("execution-environment.yml", "requirements.yml"):
        shutil.copy(os.path.join(ROOT, "ee", name), tmp_path / name)
    shutil.copy(tarball, tmp_path / "faultline-chaos.tar.gz")
    env = clean_env()
    env.update(http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")  # any download would fail
    run([os.path.join(BIN, "ansible-builder"), "create", "-f", "execution-environment.yml", "-c", "context"],
        cwd=str(tmp_path), env=env)
    ctx = tmp_path / "context"
    dockerfile = (ctx / "Dockerfile").read_text()
    assert "ansible-galaxy collection install" in dockerfile and "introspect" in dockerfile
    assert (ctx / "_build" / "collections" / "faultline-chaos.tar.gz").read_bytes() == tarball.read_bytes()
    reqs = yaml.safe_load((ctx / "_build" / "requirements.yml").read_text())
    assert reqs["collections"][0]["name"] == "collections/faultline-chaos.tar.gz"


PLAYBOOK = """\
- name: A user's playbook with the installed collection
  hosts: localhost
  gather_facts: false
  module_defaults:
    group/faultline.chaos.ledger:
      state_dir: {state_dir}
    group/faultline.chaos.leased:
      lease: {lease}
  tasks:
    - name: Plan a reject on a loopback port, check mode changes nothing
      faultline.chaos.network:
        state: down
        type: reject
        port: 65000
      register: planned
    - name: A report with the test-case roles' default directory
      faultline.chaos.report:
        scenario: packaging_check
        report_dir: "{{{{ faultline_report_dir | default('reports') }}}}"
        checks: [{{name: installed, passed: true}}]
      check_mode: false
      register: report
    - name: Read the ledger the group points at
      faultline.chaos.fault_info:
        journal_since: 0
      register: info
    - name: The group's state_dir reached the module (the marker event is in its journal)
      ansible.builtin.assert:
        that:
          - planned.changed
          - report.path.startswith(playbook_dir ~ '/reports/packaging_check/')
          - info.journal | selectattr('id', 'equalto', 'packaging-marker') | list | length == 1
"""


def test_installed_collection_works_from_an_unrelated_directory(installed, tmp_path):
    """README 'Installing': ansible-doc, a collection playbook and module_defaults groups."""
    env = clean_env()
    env["ANSIBLE_COLLECTIONS_PATH"] = str(installed)
    cwd = tmp_path / "project"
    cwd.mkdir()
    doc = run([os.path.join(BIN, "ansible-doc"), "-t", "module", "faultline.chaos.network"], cwd=str(cwd), env=env)
    assert "faultline.chaos.network" in doc.stdout and "group/faultline.chaos.ledger" in doc.stdout
    role = run([os.path.join(BIN, "ansible-doc"), "-t", "role", "faultline.chaos.connection_refused"],
               cwd=str(cwd), env=env)
    assert "faultline_report_dir" in role.stdout
    state_dir = tmp_path / "state"
    Ledger(str(state_dir)).journal("packaging-marker", "note", source="test")
    (cwd / "play.yml").write_text(PLAYBOOK.format(state_dir=state_dir, lease=120))
    inv = ["-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=%s" % sys.executable]
    play = run([os.path.join(BIN, "ansible-playbook"), *inv, "--check", "play.yml"], cwd=str(cwd), env=env)
    assert "failed=0" in play.stdout
    # relative report directories land in the user's project, not in the installed collection
    assert [p.name for p in (cwd / "reports").iterdir()] == ["packaging_check"]
    assert not list(installed.rglob("reports"))
    # the leased group's lease reaches the fault modules: an invalid one is refused
    (cwd / "bad.yml").write_text(PLAYBOOK.format(state_dir=state_dir, lease=-5))
    bad = run([os.path.join(BIN, "ansible-playbook"), *inv, "--check", "bad.yml"], cwd=str(cwd), env=env, check=False)
    assert bad.returncode != 0 and "lease=-5" in bad.stdout and "out of range" in bad.stdout
    restore = run([os.path.join(BIN, "ansible-playbook"), *inv, "--check", "faultline.chaos.restore_all",
                   "-e", "faultline_hosts=localhost", "-e", "faultline_state_dir=%s" % state_dir],
                  cwd=str(cwd), env=env)
    assert "failed=0" in restore.stdout and "nothing to restore" in restore.stdout


REPORT_DEFAULT = "{{ faultline_report_dir | default('reports') }}"


def test_every_test_case_reports_under_faultline_report_dir_relative_to_the_users_directory():
    """One default for the reports of every test-case role and playbook: O(faultline_report_dir),
    else C(reports) in the directory ansible-playbook runs in; never the playbook's directory,
    which is inside the installed collection when a user runs faultline.chaos.<playbook>."""
    roles = []
    for role in sorted(os.listdir(os.path.join(ROOT, "roles"))):
        with open(os.path.join(ROOT, "roles", role, "defaults", "main.yml")) as f:
            defaults = yaml.safe_load(f) or {}
        key = role + "_report_dir"
        if key not in defaults:
            continue
        roles.append(role)
        assert defaults[key] == REPORT_DEFAULT, role
        with open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml")) as f:
            options = yaml.safe_load(f)["argument_specs"]["main"]["options"]
        assert options[key]["default"] == REPORT_DEFAULT, role
        assert options["faultline_report_dir"]["default"] == "reports", role
    assert len(roles) >= 6, roles
    for name in sorted(os.listdir(os.path.join(ROOT, "playbooks"))):
        if name.endswith(".yml"):
            with open(os.path.join(ROOT, "playbooks", name)) as f:
                for n, line in enumerate(f, 1):
                    assert not ("report" in line and "playbook_dir" in line), "%s:%d: %s" % (name, n, line.strip())


def _requirement_names(path):
    """The project names a requirements file installs, following its -r includes."""
    names = set()
    for line in requirement_lines(path):
        if line.startswith("-r "):
            names |= _requirement_names(os.path.join(os.path.dirname(path), line[3:].strip()))
        else:
            names.add(line.split("==")[0].split(">=")[0].strip())
    return names


def test_make_unit_needs_no_apt_and_builds_no_c_extension(tmp_path):
    """make unit's venv installs everything but mysqlclient (built from source against
    the MariaDB headers apt installs); make setup adds it after make deps."""
    venv = tmp_path / "venv"
    venv.mkdir()
    env = clean_env()
    dry = run(["make", "-n", "unit", "VENV=%s" % venv], cwd=ROOT, env=env).stdout
    assert "apt-get" not in dry and "dpkg" not in dry
    installs = []
    for line in dry.splitlines():
        if line.startswith(("grep ", "sed ")):  # the recipe's derived requirement files
            subprocess.run(["bash", "-c", line], cwd=ROOT, check=True)
        if " -m pip install " in line:
            installs.append(line.split(" -r ", 1)[1].split()[0])
    assert installs, dry
    names = set()
    for req in installs:
        names |= _requirement_names(os.path.join(ROOT, req))
    assert "mysqlclient" not in names
    assert {"pymysql", "pytest", "ansible-core", "jmespath"} <= names
    setup = run(["make", "-n", "setup", "VENV=%s" % venv], cwd=ROOT, env=env).stdout
    assert "mysqlclient==" in setup and setup.index("dpkg -s") < setup.index("mysqlclient==")

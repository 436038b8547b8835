"""The test harness itself (support/ansible.py, support/zygote.py, support/callback/).

run_module collects each host's result with a callback plugin instead of a
second "dump the result" task, and ansible-playbook runs are forked from a
zygote that has imported Ansible once.  These tests prove that both give what
the former path gave: the dict ``register`` holds, the environment of each
call, a timeout that kills the whole run, and no zygote outliving its process.
"""
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from support import ansible, zygote
from support.ansible import ROOT, run_playbook, _run_module

# differ between two runs of the same task
VOLATILE = ("start", "end", "delta", "_stderr")


def both(*args, **kwargs):
    """(new, old): run_module's result, and the former dump-task path's."""
    new = _run_module(*args, **kwargs)
    old = _run_module(*args, dump_task=True, **kwargs)
    return new, old


def stable(result):
    return {k: v for k, v in result.items() if k not in VOLATILE}


def test_changed_result_equals_the_registered_one(tmp_path):
    forked = ansible.zygotes().forked
    new, old = both("ansible.builtin.command", dict(cmd="echo hello"))
    assert new["changed"] is True and new["failed"] is False and new["stdout"] == "hello"
    assert stable(new) == stable(old)
    assert "invocation" not in new and not any(k.startswith("_ansible_") for k in new)
    assert ansible.zygotes().forked >= forked + 2, "the runs did not go through a zygote"


def test_failed_results_equal_the_registered_ones(tmp_path):
    new, old = both("ansible.builtin.command", dict(cmd="false"))
    assert new["failed"] is True and new["rc"] == 1
    assert stable(new) == stable(old)
    new, old = both("process", dict(state="nonsense"))  # a module of this collection, bad arguments
    assert new["failed"] is True and "state" in new["msg"]
    assert stable(new) == stable(old)
    new, old = both("ansible.builtin.fail", dict(msg="from the action plugin"))  # ansible.builtin.fail: an action, no module
    assert new["failed"] is True and new["msg"] == "from the action plugin"
    assert stable(new) == stable(old)


def test_skipped_and_check_mode_results_equal_the_registered_ones(tmp_path):
    # command in check mode skips (a module result with skipped: true)
    new, old = both("ansible.builtin.command", dict(cmd="touch %s" % (tmp_path / "x")), check=True)
    assert new["skipped"] is True and new["failed"] is False and not (tmp_path / "x").exists()
    assert stable(new) == stable(old)
    # check mode with diff: changed, a diff, nothing written
    dest = tmp_path / "f.txt"
    new, old = both("ansible.builtin.copy", dict(content="a\n", dest=str(dest)), check=True, diff=True)
    assert new["changed"] is True and new["diff"] and not dest.exists()
    assert stable(new) == stable(old)
    # a module of this collection in check mode
    new, old = both("fault_info", {}, check=True)
    assert new["failed"] is False and "faults" in new
    assert stable(new) == stable(old)


def test_unreachable_result_equals_the_registered_one(tmp_path):
    inv = tmp_path / "inv.ini"
    inv.write_text("gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_user=nobody\n"
                   "here ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    new = _run_module("ansible.builtin.ping", {}, inventory=str(inv), hosts="all")
    old = _run_module("ansible.builtin.ping", {}, inventory=str(inv), hosts="all", dump_task=True)
    assert set(new) == {"gone", "here"}
    assert new["gone"]["unreachable"] is True and new["gone"]["failed"] is True
    assert new["here"]["ping"] == "pong" and new["here"]["failed"] is False
    assert {h: stable(r) for h, r in new.items()} == {h: stable(r) for h, r in old.items()}


def test_delegated_and_ignored_results_equal_the_registered_ones(tmp_path):
    """A delegated task, ignore_errors, a when-skip: the callback's file against register's value."""
    cb_dir, reg_dir = tmp_path / "cb", tmp_path / "reg"
    cb_dir.mkdir()
    reg_dir.mkdir()
    book = tmp_path / "play.yml"
    cases = {
        "delegated": "ansible.builtin.command: echo delegated\n  delegate_to: localhost",
        "ignored": "ansible.builtin.command: 'false'\n  ignore_errors: true",
        "whenskip": "ansible.builtin.command: echo never\n  when: false",
    }
    tasks = ""
    for name, body in cases.items():
        tasks += "- name: %s\n  %s\n  register: r_%s\n" % (name, body, name)
    for name in cases:
        tasks += ("- name: dump %s\n  ansible.builtin.copy:\n    content: '{{ r_%s | to_json }}'\n"
                  "    dest: '%s/%s.json'\n" % (name, name, reg_dir, name))
    book.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + textwrap.indent(tasks, "    "))
    for name in cases:
        cp = run_playbook(str(book), env=dict(
            ANSIBLE_CALLBACK_PLUGINS=ansible.CALLBACK_DIR, ANSIBLE_CALLBACKS_ENABLED="faultline_result",
            FAULTLINE_RESULT_DIR=str(cb_dir / name), FAULTLINE_RESULT_TASK=name))
        assert cp.returncode == 0, cp.stdout + cp.stderr
    for name in cases:
        reg = json.loads((reg_dir / ("%s.json" % name)).read_text())
        got = json.loads((cb_dir / name / "localhost.json").read_text())
        assert stable(got) == stable(reg), name
    assert json.loads((cb_dir / "whenskip" / "localhost.json").read_text())["skipped"] is True


CONFIG_PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.copy:
        dest: "{{ out }}"
        content: "{{ seen | to_json }}"
      vars:
        seen:
          callbacks_enabled: "{{ lookup('ansible.builtin.config', 'CALLBACKS_ENABLED') }}"
          become_allow_same_user: "{{ lookup('ansible.builtin.config', 'BECOME_ALLOW_SAME_USER') }}"
          control_path_dir: "{{ lookup('ansible.builtin.config', 'control_path_dir',
                                 plugin_type='connection', plugin_name='ssh') }}"
          marker: "{{ lookup('ansible.builtin.env', 'FAULTLINE_HARNESS_MARKER') }}"
"""


def test_the_environment_of_each_call_is_honoured(tmp_path):
    """Variables Ansible reads at import (ANSIBLE_CALLBACKS_ENABLED, ...) and at run time
    (the ssh plugin's control_path_dir, a plain variable) are those of the call."""
    book = tmp_path / "config.yml"
    book.write_text(CONFIG_PLAY)
    pool = ansible.zygotes()
    forked = pool.forked
    seen = []
    for i, (cbs, same, cpdir) in enumerate([("ansible.builtin.junit", "1", "/tmp/cp-a"),
                                            ("ansible.builtin.junit", "0", "/tmp/cp-b"),
                                            ("faultline.chaos.timeline", "1", "/tmp/cp-a"),
                                            ("ansible.builtin.junit", "1", "/tmp/cp-c")]):
        out = tmp_path / ("seen%d.json" % i)
        marker = uuid.uuid4().hex
        cp = run_playbook(str(book), extra_vars=dict(out=str(out)), env=dict(
            ANSIBLE_CALLBACKS_ENABLED=cbs, ANSIBLE_BECOME_ALLOW_SAME_USER=same,
            ANSIBLE_SSH_CONTROL_PATH_DIR=cpdir, FAULTLINE_HARNESS_MARKER=marker, JUNIT_OUTPUT_DIR=str(tmp_path)))
        assert cp.returncode == 0, cp.stdout + cp.stderr
        got = json.loads(out.read_text())
        assert got == dict(callbacks_enabled=[cbs], become_allow_same_user=same == "1",
                           control_path_dir=cpdir, marker=marker), got
        seen.append(got)
    assert pool.forked == forked + 4, "the runs did not go through zygotes"
    # the junit callback really was enabled in the runs that asked for it
    assert list(tmp_path.glob("config-*.xml"))


def _pgid(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def test_timeout_kills_the_process_group(tmp_path):
    """ansible-playbook and its worker (a session of its own since ansible-core 2.19) end."""
    pids = tmp_path / "pids"
    book = tmp_path / "sleep.yml"
    book.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - ansible.builtin.copy:
                dest: %s
                content: "{{ lookup('ansible.builtin.pipe', 'ps -o ppid= -p $PPID') }} {{ lookup('ansible.builtin.pipe', 'echo $PPID') }}"
            - ansible.builtin.pause: {seconds: 300}
        """ % pids))
    pool = ansible.zygotes()
    forked = pool.forked
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired) as exc:
        run_playbook(str(book), timeout=10)
    took = time.monotonic() - start
    assert 10 <= took < 45, took
    assert "TASK [ansible.builtin.pause]" in exc.value.output
    assert pool.forked == forked  # not counted as a finished run (and not run again)
    controller, worker = [int(p) for p in pids.read_text().split()]
    assert controller != worker

    def left():
        groups = [int(p) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == controller]
        return groups + [p for p in (controller, worker) if os.path.exists("/proc/%d" % p)]

    deadline = time.monotonic() + 10
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == [], "processes of the timed-out run left"


CHILD = """\
import os, signal, sys, time
sys.path.insert(0, {support!r})
from support import ansible
r = ansible.run_module("fault_info", {{}})
assert not r["failed"], r
print(" ".join(str(p) for p in ansible.zygotes().pids()), flush=True)
print(" ".join(z.dir for z in ansible.zygotes().zygotes), flush=True)
if sys.argv[1] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)
if sys.argv[1] == "term-zygote":  # as scripts/lab-ns.sh stops what its command left: TERM
    for z in ansible.zygotes().zygotes:
        os.kill(z.pid, signal.SIGTERM)
        z.proc.wait(15)
    os._exit(0)  # no atexit: the zygotes cleaned up after themselves or nobody did
"""


@pytest.mark.parametrize("how", ["exit", "kill", "term-zygote"])
def test_no_zygote_outlives_its_process(tmp_path, how):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(support=os.path.join(ROOT, "tests", "integration")))
    cp = subprocess.run([sys.executable, str(script), how], cwd=ROOT, env=ansible.ansible_env(),
                        capture_output=True, text=True, timeout=300, check=False)
    lines = cp.stdout.splitlines()
    pids, dirs = [int(p) for p in lines[0].split()], lines[1].split()
    assert pids and dirs, cp.stdout + cp.stderr
    deadline = time.monotonic() + 15
    while any(os.path.exists("/proc/%d" % p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if os.path.exists("/proc/%d" % p)], "zygote left after its process ended"
    # nor its directory (socket, stderr log) in /tmp: SIGKILLed, the process ran no atexit
    # (before: every xdist worker's zygotes left a /tmp/faultline-zygote-* behind)
    assert [d for d in dirs if os.path.exists(d)] == [], "zygote directory left"


def test_no_zygote_outlives_pytest(tmp_path):
    test = tmp_path / "test_inner.py"
    pidfile = tmp_path / "pids"
    test.write_text(textwrap.dedent("""\
        from support import ansible
        def test_one():
            assert not ansible.run_module("fault_info", {})["failed"]
            open(%r, "w").write(" ".join(str(p) for p in ansible.zygotes().pids()))
        """ % str(pidfile)))
    env = ansible.ansible_env(PYTHONPATH=os.path.join(ROOT, "tests", "integration"))
    cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                         str(test)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    pids = [int(p) for p in pidfile.read_text().split()]
    assert pids
    deadline = time.monotonic() + 15
    while any(os.path.exists("/proc/%d" % p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids if os.path.exists("/proc/%d" % p)], "zygote left after pytest ended"


def test_a_zygote_that_cannot_start_leaves_the_run_to_a_subprocess(monkeypatch, tmp_path):
    pool = ansible.zygotes()
    monkeypatch.setattr(pool, "python", "/nonexistent/python")
    fallbacks = pool.fallbacks
    made = []
    mkdtemp = zygote.tempfile.mkdtemp
    monkeypatch.setattr(zygote.tempfile, "mkdtemp", lambda **kw: made.append(mkdtemp(**kw)) or made[-1])
    book = tmp_path / "play.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                    "    - ansible.builtin.debug: {msg: plain-subprocess-run}\n")
    # an environment no zygote serves yet: a new one is started, and fails to
    cp = run_playbook(str(book), env=dict(ANSIBLE_FAULTLINE_HARNESS=uuid.uuid4().hex))
    assert cp.returncode == 0 and "plain-subprocess-run" in cp.stdout, cp.stdout + cp.stderr
    assert pool.fallbacks == fallbacks + 1
    # its directory is gone (it was left in /tmp with the stderr file it never wrote)
    assert len(made) == 1 and not os.path.exists(made[0]), made


def test_each_run_has_its_own_local_tmp(tmp_path):
    """DEFAULT_LOCAL_TMP (made when Ansible is imported) is made anew in each forked run, where
    a fresh ansible-playbook makes it (~/.ansible/tmp/ansible-local-<pid>...): a module task
    (its AnsiballZ cache lives there) works, and nothing is made under the run's cwd (the
    unrendered default ``{{ ANSIBLE_HOME ~ "/tmp" }}`` was, before the child rendered it)."""
    book = tmp_path / "tmp.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                    "    - ansible.builtin.command: 'true'\n")
    forked = ansible.zygotes().forked
    for _i in range(2):
        cp = run_playbook(str(book))
        assert cp.returncode == 0, cp.stdout + cp.stderr
    assert ansible.zygotes().forked == forked + 2
    assert not [n for n in os.listdir(ROOT) if "{{" in n]


def test_the_tests_of_one_file_run_on_one_worker_with_make_tests_dist_mode(tmp_path):
    """scripts/test.sh's pytest-xdist mode keeps a file on one worker: a module
    fixture (a lab brought up) is set up once per parameter, on one worker.
    (With pytest 9.2, xdist 3.8's ``loadgroup`` no longer groups: it renames
    ``item._nodeid``, which pytest 9 no longer reads, so every test was its own
    unit and both workers brought up the same labs.)"""
    import re
    with open(os.path.join(ROOT, "scripts", "test.sh")) as f:
        dist = re.findall(r"--dist (\w+)", f.read())
    assert dist, "scripts/test.sh runs no --dist mode"
    log = tmp_path / "setups"
    (tmp_path / "test_a.py").write_text(textwrap.dedent('''
        import os
        import pytest

        @pytest.fixture(scope="module", params=["hosts", "loopback"])
        def lab(request):
            with open(%r, "a") as f:
                f.write("%%s %%s\\n" %% (request.param, os.environ["PYTEST_XDIST_WORKER"]))
            return request.param

        def test_1(lab): pass
        def test_2(lab): pass
        @pytest.mark.parametrize("s", ["x", "y"])
        def test_3(lab, s): pass
        ''' % str(log)))
    (tmp_path / "test_b.py").write_text("def test_b():\n    pass\n")
    (tmp_path / "test_c.py").write_text("def test_c():\n    pass\n")
    for mode in set(dist):
        log.write_text("")
        cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2",
                             "--dist", mode, "--basetemp", str(tmp_path / "bt"), str(tmp_path)],
                            cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        setups = log.read_text().split()
        # one setup of each parameter, both on the worker that ran the file
        assert sorted(setups[0::2]) == ["hosts", "loopback"], (mode, setups)
        assert len(set(setups[1::2])) == 1, (mode, setups)


def _serving(env):
    """The zygote of this process that serves runs with ``env``."""
    found = [z for z in ansible.zygotes().zygotes if z.serves(env, ROOT)]
    assert found, "no zygote serves this environment"
    return found[0]


def test_the_runs_of_a_zygote_share_the_ansiballz_payloads(tmp_path):
    """A module's payload is built by the first run of a zygote that runs it and reused, not
    rebuilt, by the next runs (ansible-playbook keeps it for one run only)."""
    book = tmp_path / "cmd.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n"
                    "    - ansible.builtin.command: 'true'\n")
    extra = dict(ANSIBLE_FAULTLINE_HARNESS=uuid.uuid4().hex)  # a zygote of its own
    cp = run_playbook(str(book), env=extra)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    payloads = os.path.join(_serving(ansible.ansible_env(**extra)).dir, "ansiballz")
    built = [n for n in os.listdir(payloads) if n.startswith("ansible.modules.command-") and not n.endswith(".lock")]
    assert len(built) == 1, os.listdir(payloads)
    path = os.path.join(payloads, built[0])
    first = os.stat(path)
    for _i in range(2):
        cp = run_playbook(str(book), env=extra)
        assert cp.returncode == 0, cp.stdout + cp.stderr
    again = os.stat(path)
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns), "the payload was built again"


def test_a_forked_run_shows_the_warnings_a_fresh_ansible_playbook_shows(tmp_path, monkeypatch):
    """The zygote imports Ansible's plugins ahead of the runs; nothing it imported may have
    used up a warning Ansible shows once per process."""
    book = tmp_path / "warn.yml"
    book.write_text("- hosts: localhost\n  gather_facts: false\n  vars:\n    environment: 1\n  tasks:\n"
                    "    - ansible.builtin.debug: {msg: hello}\n")
    forked = ansible.zygotes().forked
    outs = [run_playbook(str(book)) for _i in range(2)]
    assert ansible.zygotes().forked == forked + 2
    monkeypatch.setenv("FAULTLINE_ZYGOTE", "0")
    fresh = run_playbook(str(book))
    assert ansible.zygotes().forked == forked + 2
    for cp in outs + [fresh]:
        assert cp.returncode == 0, cp.stdout + cp.stderr
        assert "[WARNING]: Found variable using reserved name 'environment'" in cp.stdout + cp.stderr
    assert [cp.stderr for cp in outs] == [fresh.stderr] * 2


def test_module_runs_in_a_lab_instance_of_make_test_cache_ansibles_bytecode():
    """support/payload_cache.py: the venv's Python caches the module_utils Ansible ships in
    each AnsiballZ zip (``make test`` asks its lab instances for the cache directory)."""
    from support import payload_cache
    if not os.path.isdir(payload_cache.DIRECTORY):
        pytest.skip("only in make test's lab instances (FAULTLINE_PAYLOAD_CACHE=1)")
    assert not ansible.run_module("fault_info", {})["failed"]
    basic = os.path.join(payload_cache.DIRECTORY, "ansible.module_utils.basic.%s.pyc" % sys.implementation.cache_tag)
    first = os.stat(basic)
    assert not ansible.run_module("fault_info", {})["failed"]
    again = os.stat(basic)
    assert (again.st_ino, again.st_mtime_ns) == (first.st_ino, first.st_mtime_ns), "compiled again"
    # the collection's own module_utils stay with the module's finder (modcache), as users run them
    assert not [n for n in os.listdir(payload_cache.DIRECTORY) if n.startswith("ansible_collections.")]


def test_the_longest_files_are_collected_first():
    """conftest.LONGEST_FILES: the files named there exist and come first, longest first
    (xdist hands the files out in this order), each file's tests in their own order."""
    import conftest
    here = os.path.join(ROOT, "tests", "integration")
    assert [n for n in conftest.LONGEST_FILES if not os.path.exists(os.path.join(here, n))] == []
    cp = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", here],
                        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert cp.returncode == 0, cp.stdout[-3000:] + cp.stderr[-3000:]
    files = []
    for line in cp.stdout.splitlines():
        if "::" in line:
            name = os.path.basename(line.split("::")[0])
            if not files or files[-1] != name:
                files.append(name)
    assert len(files) == len(set(files)), "a file's tests are not together"
    longest = sorted(conftest.LONGEST_FILES, key=lambda n: -conftest.LONGEST_FILES[n])
    assert files[:len(longest)] == longest, files


TWO_FILES = """
import pytest
@pytest.mark.parametrize("i", range(%d))
def test_x(i):
    with open(%r, "a") as f:
        f.write("%s\\n")
"""


def test_make_tests_workers_take_the_files_in_collection_order(tmp_path):
    """xdist's loadfile hands out the files with the most tests first unless told not to
    (the first make test with LONGEST_FILES started test_lab_etcd.py after test_netns.py and
    test_harness.py, which have more tests); scripts/test.sh keeps the collection order."""
    with open(os.path.join(ROOT, "scripts", "test.sh")) as f:
        script = f.read()
    flags = ["--no-loadscope-reorder"] if "--no-loadscope-reorder" in script else []
    log = tmp_path / "order"
    for name, n in (("test_few.py", 1), ("test_many.py", 4)):
        (tmp_path / name).write_text(TWO_FILES % (n, str(log), name))
    cp = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "1", "--dist", "loadfile"]
                        + flags + ["--basetemp", str(tmp_path / "bt"), str(tmp_path / "test_few.py"),
                                   str(tmp_path / "test_many.py")],
                        cwd=str(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert log.read_text().split()[0] == "test_few.py", log.read_text()


def test_a_second_make_test_on_the_machine_runs_its_lab_steps_narrow(tmp_path):
    """scripts/test.sh: the first make test takes the mark and runs wide (3 workers, molecule
    beside integration); one started while it runs runs narrow (2 workers, molecule after);
    a mark left by a run that is gone is taken over; the owner removes its mark at exit."""
    mark = tmp_path / "mark"
    env = dict(os.environ, FAULTLINE_TEST_MARK=str(mark), FAULTLINE_TEST_PLAN="1")
    env.pop("FAULTLINE_TEST_WORKERS", None)
    env.pop("FAULTLINE_TEST_ISOLATE", None)

    def plan():
        cp = subprocess.run(["bash", os.path.join(ROOT, "scripts", "test.sh"), "integration", "molecule"], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
        assert cp.returncode == 0, cp.stdout + cp.stderr
        return cp.stdout

    assert "plan: wide=1 workers=3" in plan() and not mark.exists()
    mark.mkdir()
    (mark / "pid").write_text("%d\n" % os.getpid())  # a live make test
    out = plan()
    assert "plan: wide=0 workers=2" in out and "lab steps narrow" in out, out
    assert (mark / "pid").read_text().strip() == str(os.getpid())
    dead = subprocess.Popen(["true"])
    dead.wait()
    (mark / "pid").write_text("%d\n" % dead.pid)  # its run is gone
    assert "plan: wide=1 workers=3" in plan() and not mark.exists()

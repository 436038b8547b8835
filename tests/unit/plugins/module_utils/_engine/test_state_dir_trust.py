"""A state directory root executes from must be ours and private (issue 10 item 11).

Before: a pre-existing state_dir (or its supervisor.py) owned by another user
or writable by group/others was used as it was, so whoever could write it
chose the code root runs as the supervisor and the revert actions it replays.
"""
import json
import os
import stat

import pytest
from module_args import patch_module_args

from ansible_collections.faultline.chaos.plugins.module_utils._engine import background
from ansible_collections.faultline.chaos.plugins.module_utils._engine import runtime as rt
from ansible_collections.faultline.chaos.plugins.modules import fault_info, process


def run(module, args, capsys):
    with patch_module_args(dict(args, _ansible_check_mode=True)):
        with pytest.raises(SystemExit) as exc:
            module.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def test_a_new_state_dir_is_created_private(tmp_path):
    led = rt.Ledger(str(tmp_path / "state")).ensure()
    for d in (led.state_dir, led.faults_dir):
        assert stat.S_IMODE(os.stat(d).st_mode) == 0o700


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777, 0o720])
def test_group_or_world_writable_state_dir_is_refused(tmp_path, mode):
    d = tmp_path / "state"
    d.mkdir()
    os.chmod(str(d), mode)
    with pytest.raises(rt.EngineError, match="mode %04o: it must belong to uid 0 \\(or root\\) and not be writable "
                                             "by group or others" % mode):
        rt.Ledger(str(d)).ensure()


def test_state_dir_of_another_user_is_refused(tmp_path):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    os.chown(str(d), 4321, 4321)
    with pytest.raises(rt.EngineError, match="is owned by uid 4321"):
        rt.Ledger(str(d)).ensure()


def test_symlinked_state_dir_is_refused(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(rt.EngineError, match="is a symbolic link"):
        rt.Ledger(str(tmp_path / "link")).ensure()


def test_a_writable_parent_is_refused_unless_sticky(tmp_path):
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chmod(str(parent), 0o777)
    with pytest.raises(rt.EngineError, match="lies under .*shared, which another user can change"):
        rt.Ledger(str(parent / "state")).ensure()
    os.chmod(str(parent), 0o1777)  # like /tmp: others cannot rename our directory away
    rt.Ledger(str(parent / "state")).ensure()


def test_root_owned_dir_is_trusted_by_a_plain_user(tmp_path, monkeypatch):
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    rt.check_trusted(str(d))


@pytest.mark.parametrize("change", ["chmod", "chown", "symlink"])
def test_a_planted_supervisor_script_is_refused(tmp_path, change):
    led = rt.Ledger(str(tmp_path / "state")).ensure()
    script = rt.supervisor_script_path(led.state_dir)
    if change == "symlink":
        other = tmp_path / "elsewhere.py"
        other.write_text("print('planted')\n")
        os.symlink(str(other), script)
    else:
        rt.install_supervisor(led.state_dir)
        if change == "chmod":
            os.chmod(script, 0o766)
        else:
            os.chown(script, 4321, 4321)
    with pytest.raises(rt.EngineError, match="supervisor script .*supervisor.py"):
        rt.install_supervisor(led.state_dir)
    with pytest.raises(rt.EngineError):
        rt.spawn_supervisor(led.state_dir, "x")


def test_modules_refuse_an_untrusted_state_dir_with_a_message(tmp_path, capsys):
    d = tmp_path / "state"
    d.mkdir()
    os.chmod(str(d), 0o777)
    code, out = run(fault_info, dict(state_dir=str(d)), capsys)
    assert code == 1 and "is owned by uid 0 with mode 0777" in out["msg"], out
    code, out = run(process, dict(state="paused", pid=os.getpid(), state_dir=str(d)), capsys)
    assert code == 1 and "choose another state_dir" in out["msg"], out
    assert os.listdir(str(d)) == []


def test_workers_dir_is_checked_before_a_pid_in_it_is_signalled(tmp_path):
    d = tmp_path / "state"
    (d / "workers").mkdir(parents=True)
    os.chmod(str(d), 0o700)
    os.chmod(str(d / "workers"), 0o777)
    with pytest.raises(rt.EngineError, match="workers is owned by uid 0 with mode 0777"):
        background.stop(str(d), "probe", "x")

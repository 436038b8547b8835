"""faultline.chaos.report and the timeline callback through a real ansible-playbook run."""
import json
import os
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest

T0 = 1770724800.0


def run(run_playbook, tmp_path, task_yaml, check=False, diff=False, env=None):
    """Run a one-play playbook on localhost; returns CompletedProcess."""
    pb = tmp_path / "play.yml"
    pb.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + textwrap.indent(task_yaml, "    "))
    return run_playbook(str(pb), check=check, diff=diff, timeout=300,
                        env=dict(FAULTLINE_STATE_DIR=str(tmp_path / "state"), **(env or {})))


def report_task(tmp_path, checks, **extra):
    events = []
    for n in (1, 2):
        d = T0 + 10 + (n - 1) * 60
        events += [{"ts": d, "host": "lab", "source": "fault", "id": "net_reject_x", "event": "down", "detail": {"cycle": n}},
                   {"ts": d + 30, "host": "lab", "source": "fault", "id": "net_reject_x", "event": "up", "detail": {"cycle": n}}]
    journal = tmp_path / "fetched_journal.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in [
        {"ts": T0 + 11.5, "host": "lab", "source": "probe", "id": "replica", "event": "error",
         "detail": {"error": "Can't connect to server on '127.0.0.1' (111 \"Connection refused\")"}},
        {"ts": T0 + 41, "host": "lab", "source": "probe", "id": "replica", "event": "ok", "detail": {}},
        {"ts": T0 + 10, "host": "lab", "source": "fault", "id": "net_reject_x", "event": "down", "detail": {"cycle": 1}},
    ]))
    args = {
        "scenario": "tc007_flapping", "template": "tc007", "report_dir": str(tmp_path / "reports"),
        "started": "2026-02-10T12:00:00Z", "finished": T0 + 150, "hosts": ["lab"],
        "metadata": {"etl_tool": "MariaDB replication"}, "checks": checks,
        "configuration": {"interval": 30, "duration": 120, "type": "reject"},
        "cycles": [{"n": 1, "down_at": T0 + 10, "up_at": T0 + 40, "detected_at": T0 + 11.5, "recovered_at": T0 + 41},
                   {"n": 2, "down_at": "2026-02-10T12:01:10Z", "up_at": T0 + 100, "detected_at": None,
                    "recovered_at": None}],
        "integrity": {"expected_rows": 200, "source_rows": 200, "destination_rows": 200, "missing": 0,
                      "extra": 0, "duplicates": 0, "checksum_match": True},
        "series": {"rows_source": [[T0 + i, i] for i in range(0, 150, 10)]},
        "events": events, "event_files": [str(journal)],
    }
    args.update(extra)
    return textwrap.dedent("""\
        - name: Write the report
          faultline.chaos.report: %s
          delegate_to: localhost
          run_once: true
          register: rep
        - name: Keep the result for the test
          ansible.builtin.copy:
            content: "{{ rep | to_json }}"
            dest: %s
            mode: "0644"
          delegate_to: localhost
          when: not ansible_check_mode
        """) % (json.dumps(args), tmp_path / "result.json")


PASS_CHECKS = [{"name": "Pipeline survived flapping period", "passed": True, "detail": "replica running"},
               {"name": "Final row count matches expected", "passed": True, "detail": "200 = 200"}]


def test_report_module_writes_every_artefact(tmp_path, run_playbook):
    checks = PASS_CHECKS + [{"name": "Reconnection successful each cycle", "passed": False,
                             "detail": "cycle 2 never recovered"}]
    proc = run(run_playbook, tmp_path, report_task(tmp_path, checks))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    res = json.loads((tmp_path / "result.json").read_text())
    assert res["changed"] is True and res["result"] == "FAIL"
    assert res["path"] == str(tmp_path / "reports" / "tc007_flapping" / "20260210T120000Z")
    assert res["failed_checks"] == ["Reconnection successful each cycle"]
    assert res["summary"].startswith("tc007_flapping: FAIL (2/3 checks passed, 2 cycles)")
    assert sorted(os.listdir(res["path"])) == ["events.jsonl", "junit.xml", "report.json", "report.md", "timeline.svg"]

    data = json.loads(open(res["files"]["json"]).read())
    assert data["result"] == "FAIL" and data["events"] == "events.jsonl"
    assert data["observations"] is None and data["positions"] is None
    assert data["cycles"][1]["down_at"] == "2026-02-10T12:01:10.000Z" and data["cycles"][1]["recovered_at"] is None
    assert data["event_count"] == 6  # 4 given + 3 in the file, one of them a duplicate

    events = [json.loads(l) for l in open(res["files"]["events"])]
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)

    md = open(res["files"]["md"]).read()
    assert "| Tester |" in md and "| Result | FAIL |" in md and "| Toolkit Version | 0.1.0 |" in md
    assert "| 2 | 12:01:10.000 | not recovered |" in md
    assert "- [ ] Reconnection successful each cycle — cycle 2 never recovered" in md

    suites = ET.parse(res["files"]["junit"]).getroot()
    assert suites.get("tests") == "3" and suites.get("failures") == "1"
    assert ET.parse(res["files"]["svg"]).getroot().tag == "{http://www.w3.org/2000/svg}svg"


def test_check_mode_writes_nothing_and_rerun_is_idempotent(tmp_path, run_playbook):
    task = report_task(tmp_path, PASS_CHECKS)
    proc = run(run_playbook, tmp_path, task, check=True, diff=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "changed: [localhost]" in proc.stdout
    assert not (tmp_path / "reports").exists()

    assert run(run_playbook, tmp_path, task).returncode == 0
    first = json.loads((tmp_path / "result.json").read_text())
    assert first["changed"] is True and first["result"] == "PASS"
    md_before = open(first["files"]["md"]).read()

    proc = run(run_playbook, tmp_path, task)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    second = json.loads((tmp_path / "result.json").read_text())
    assert second["changed"] is False and second["path"] == first["path"]
    assert open(first["files"]["md"]).read() == md_before


@pytest.mark.parametrize("override, message", [
    ({"checks": [{"name": "no verdict"}]}, "checks[0] ('no verdict') has no 'passed'"),
    ({"template": "tc999"}, "value of template must be one of"),
    ({"started": "the day before"}, "started: cannot parse 'the day before'"),
])
def test_bad_input_fails_cleanly(tmp_path, override, message, run_playbook):
    override = dict(override)
    proc = run(run_playbook, tmp_path, report_task(tmp_path, override.pop("checks", PASS_CHECKS), **override))
    assert proc.returncode != 0
    assert message in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "reports").exists()


def test_timeline_callback_prints_live_while_the_task_runs(tmp_path, run_playbook):
    state = tmp_path / "state"
    writer = tmp_path / "writer.py"
    writer.write_text(textwrap.dedent("""\
        import json, os, sys, time
        sd = sys.argv[1]
        os.makedirs(sd + "/workers", exist_ok=True)
        def put(path, obj):
            with open(path, "a") as f:
                f.write(json.dumps(obj) + "\\n")
        put(sd + "/journal.jsonl", {"ts": time.time(), "host": "elsewhere", "source": "fault",
                                    "id": "f_live", "event": "down", "detail": {"cycle": 1}})
        for i in range(10):
            put(sd + "/workers/probe-p1.jsonl", {"ts": time.time(), "ok": False, "error": "refused"})
            time.sleep(0.05)
        time.sleep(2)
        """))
    task = textwrap.dedent("""\
        - name: Something long with a fault inside
          ansible.builtin.command:
            argv: ["%s", "%s", "%s"]
          changed_when: false
        - name: A quiet task
          ansible.builtin.debug:
            msg: quiet
        """) % (sys.executable, writer, state)
    proc = run(run_playbook, tmp_path, task, env={"FAULTLINE_TIMELINE_HEARTBEAT": "0"})
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    live = [l for l in out.splitlines() if l.startswith("[faultline]")]
    assert any(l.endswith("fault f_live @elsewhere down cycle 1") for l in live), out
    assert [l.split(" ", 2)[2] for l in live if " probe " in l] == ["probe p1 error: refused"]
    # printed while the task ran, i.e. before its own result line
    task_at = out.index("TASK [Something long with a fault inside]")
    assert task_at < out.index("fault f_live") < out.index("ok: [localhost]", task_at)
    assert len(live) == 2  # the quiet task printed nothing

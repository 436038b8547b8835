"""report rendering: report.md per template, junit.xml, timeline.svg, events.jsonl."""
import json
import re
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._report import markdown, svg, writer

from test_report_data import FAILING, PASSING, T0, flap_cycles, flap_events, params

NS = "{http://www.w3.org/2000/svg}"


def build(**kw):
    return writer.build(params(**kw), T0 + 500, "tester1")


def junit(texts):
    return ET.fromstring(texts["junit"].encode("utf-8"))


def svg_root(texts):
    return ET.fromstring(texts["svg"].encode("utf-8"))


# ---------------------------------------------------------------- all pass
def test_all_pass_tc004():
    obs = {"time_to_detect_s": 1.5, "retries": 4, "time_to_recover_s": 0.8,
           "error_message": "Can't connect to server on '127.0.0.1' (111 \"Connection refused\")"}
    report, texts, _w = build(checks=PASSING, observations=obs, steps=["Blocked 3317 with REJECT", "Restored"],
                              metadata={"etl_tool": "MariaDB replication"}, events=flap_events(1))
    md = texts["md"]
    assert md.startswith("# TC-004: Connection Refused Handling\n")
    assert "## Test Execution Log" in md and "### Run 1 - 2026-02-10" in md
    for row in ("| Tester | tester1 |", "| ETL Tool | MariaDB replication |", "| Toolkit Version | 0.1.0 |",
                "| Result | PASS |"):
        assert row in md
    assert "- Time to detect error: 1.50 seconds" in md
    assert "- Error message: `Can't connect to server on '127.0.0.1' (111 \"Connection refused\")`" in md
    assert "- Retry behavior: 4 retries seen" in md
    assert "1. Blocked 3317 with REJECT" in md
    assert "- [x] Error detected immediately (< 30 seconds) — 1.50 s" in md
    assert "- [ ]" not in md
    for name in ("report.json", "events.jsonl", "junit.xml", "timeline.svg"):
        assert "(%s)" % name in md
    root = junit(texts)
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "0"
    assert [c.get("name") for c in root.iter("testcase")] == [c["name"] for c in PASSING]
    assert not list(root.iter("failure"))


# ------------------------------------------------------------ failing check
def test_failing_check_is_unticked_and_a_junit_failure():
    report, texts, _w = build(checks=FAILING)
    assert report["result"] == "FAIL"
    assert "| Result | FAIL |" in texts["md"]
    assert "- [ ] No data gaps or duplicates — 3 rows missing: 17, 18, 19" in texts["md"]
    root = junit(texts)
    assert root.get("failures") == "1" and root.get("tests") == "3"
    (failure,) = list(root.iter("failure"))
    assert failure.get("message") == "3 rows missing: 17, 18, 19"
    case = [c for c in root.iter("testcase") if c.find("failure") is not None][0]
    assert case.get("name") == "No data gaps or duplicates"


def test_fail_set_by_playbook_still_shows_in_junit():
    _r, texts, _w = build(checks=PASSING, result="FAIL")
    root = junit(texts)
    assert root.get("failures") == "1"
    assert [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None] == ["result"]


# ------------------------------------------------------------ flap cycles
def test_tc007_flap_cycles_table_and_integrity():
    integ = {"expected_rows": 500, "source_rows": 500, "destination_rows": 497, "missing": 3, "extra": 0,
             "duplicates": 0, "checksum_match": False, "missing_keys": [17, 18, 19]}
    report, texts, _w = build(template="tc007", scenario="tc007_flapping", checks=FAILING,
                              configuration={"interval": 30, "duration": 300, "type": "reject"},
                              cycles=flap_cycles(3, unrecovered=(2,)), integrity=integ,
                              events=flap_events(3))
    md = texts["md"]
    assert "**Flapping Configuration:**\n- Interval: 30 seconds\n- Duration: 300 seconds (5 minutes)\n- Type: reject" in md
    assert "| Cycle | Down Time | Recovery Time | Notes |" in md
    rows = [l for l in md.splitlines() if re.match(r"\| \d+ \|", l)]
    assert len(rows) == 3
    assert rows[0].startswith("| 1 | 12:00:10.000 | 12:00:41.000 (+1.00 s) | restored 12:00:40.000; detected after 1.50 s")
    assert "| 2 | 12:01:10.000 | not recovered |" in rows[1] and "NOT recovered" in rows[1]
    assert "- Expected records: 500" in md and "- Actual records: 497 (source 500, destination 497)" in md
    assert "- Duplicates found: N" in md and "- Missing keys: 17, 18, 19" in md
    assert "- Checksums match: no" in md


def test_svg_shows_fault_windows_probe_states_and_cycles():
    _r, texts, _w = build(template="tc007", cycles=flap_cycles(3), events=flap_events(3),
                          series={"rows_source": [[T0 + i, i * 10] for i in range(0, 200, 5)],
                                  "rows_destination": [[T0 + i, i * 9] for i in range(0, 200, 5)]})
    root = svg_root(texts)
    assert root.tag == NS + "svg"
    text = " ".join(t.text or "" for t in root.iter(NS + "text")) + " " + \
        " ".join(t.text or "" for t in root.iter(NS + "tspan"))
    for label in ("fault net_reject_ab12 @ lab", "probe replica @ lab", "cycles (measured)", "verify v @ lab",
                  "#1", "#2", "#3", "rows_source (last 1950)", "rows_destination (last 1755)", "+0 s", "12:00:00"):
        assert label in text, label
    windows = [r for r in root.iter(NS + "rect") if r.get("fill") == svg.COLORS["fault_fill"]
               and r.get("stroke") == svg.COLORS["fault"]]
    assert len(windows) == 6  # 3 from the fault events + 3 from the cycles lane
    fills = [r.get("fill") for r in root.iter(NS + "rect") if r.get("height") == str(svg.LANE_H - 12)]
    assert fills.count(svg.COLORS["error"]) == 3  # three probe error runs
    assert fills.count(svg.COLORS["ok"]) >= 4
    assert len(list(root.iter(NS + "polyline"))) == 2


def test_open_fault_window_runs_to_the_end_dashed():
    ev = [{"ts": T0 + 50, "host": "h", "source": "fault", "id": "f", "event": "down", "detail": {}}]
    root = svg_root(build(events=ev)[1])
    dashed = [r for r in root.iter(NS + "rect") if r.get("stroke-dasharray")]
    assert len(dashed) == 1
    assert float(dashed[0].get("x")) + float(dashed[0].get("width")) == pytest.approx(svg.LEFT + svg.PLOT, abs=1)


# ---------------------------------------------------------------- sections
def test_tc001_one_section_per_failure_mode():
    sections = [
        {"title": "Network failure (reject)", "checks": PASSING, "observations": {"time_to_detect_s": 1.2},
         "steps": ["network down reject", "network up"], "notes": "recovered"},
        {"title": "Binlog corruption (truncate)", "checks": FAILING, "cycles": flap_cycles(1)},
    ]
    report, texts, _w = build(template="tc001", scenario="tc001_fix_now", sections=sections,
                              steps=["Ensured the pipeline runs"])
    md = texts["md"]
    assert report["result"] == "FAIL"
    assert "#### Failure mode: Network failure (reject) — PASS" in md
    assert "#### Failure mode: Binlog corruption (truncate) — FAIL" in md
    assert "| Binlog corruption (truncate) | FAIL | 2/3 |" in md
    assert md.index("Ensured the pipeline runs") < md.index("#### Failure mode: Network")
    root = junit(texts)
    suites = [s.get("name") for s in root.iter("testsuite")]
    assert suites == ["tc001_fix_now / Network failure (reject)", "tc001_fix_now / Binlog corruption (truncate)"]
    assert root.get("tests") == "5" and root.get("failures") == "1"


def test_t040_scenarios_and_ws006_criteria():
    t040 = build(template="t040", sections=[{"title": "Scenario 4: Service Restart Recovery", "checks": PASSING}])[1]
    assert "# T040.S4: Service Reconnection Test Scenarios" in t040["md"]
    assert "#### Scenario 4: Service Restart Recovery — PASS" in t040["md"]
    crit = [{"name": "No duplicate agent instances created during flapping", "passed": True, "detail": "1 process"},
            {"name": "Memory usage remains stable (no leaks)", "passed": False, "detail": "RSS +12 MiB"}]
    ws = build(template="ws006", checks=crit, extra={"leaked_processes": [{"pid": 42, "cmdline": "sleep 300"}],
                                                     "hold_ms": {"mean": 101.2, "max": 104.9}})[1]["md"]
    assert "**Success Criteria:**" in ws
    assert "- ✅ No duplicate agent instances created during flapping — 1 process" in ws
    assert "- ❌ Memory usage remains stable (no leaks) — RSS +12 MiB" in ws
    assert "- Hold ms: mean 101.2, max 104.9" in ws and "sleep 300" in ws
    assert "Verification Checklist" not in ws


# ------------------------------------------------------------------- nulls
def test_nulls_everywhere_render():
    cycles = [{"n": None, "down_at": None, "up_at": None, "detected_at": None, "recovered_at": None}]
    report, texts, _w = build(template="generic", started=None, finished=T0, cycles=cycles,
                              observations={"time_to_detect_s": None, "error_message": None,
                                            "retries": None, "time_to_recover_s": None},
                              integrity={k: None for k in ("expected_rows", "missing", "checksum_match")},
                              events=[{"ts": None}, {"event": "x"}])
    md = texts["md"]
    assert "- Time to detect error: not observed" in md and "- Error message: none seen" in md
    assert "| 1 | - | not recovered | not detected |" in md
    assert "- Checksums match: -" in md
    svg_root(texts)
    junit(texts)
    assert json.loads(texts["json"])["cycles"][0]["down_at"] is None


def test_hostile_text_stays_valid_xml_and_markdown():
    nasty = "a|b <x> & \x00\x07 `tick` ]]>"
    _r, texts, _w = build(checks=[{"name": nasty, "passed": False, "detail": nasty}],
                          metadata={"etl_tool": nasty},
                          events=[{"ts": T0 + 1, "source": "probe", "id": nasty, "event": "error",
                                   "detail": {"error": nasty}}])
    assert junit(texts).find(".//failure") is not None
    svg_root(texts)
    assert "| ETL Tool | a\\|b <x> & " in texts["md"]


# ---------------------------------------------------------------- events
def test_events_jsonl_sorted_one_per_line():
    ev = list(reversed(flap_events(2)))
    _r, texts, _w = build(events=ev)
    lines = [json.loads(l) for l in texts["events"].splitlines()]
    assert len(lines) == len(ev)
    assert [l["ts"] for l in lines] == sorted(e["ts"] for e in ev)


def test_100k_events_stay_bounded():
    ev = []
    for i in range(100000):
        ts = T0 + i * 0.01
        ev.append({"ts": ts, "host": "lab", "source": "probe", "id": "replica",
                   "event": "error" if (i // 500) % 2 else "ok", "detail": {}})
    report, texts, _w = build(events=ev, finished=T0 + 1001, series={"rows": [[T0 + i * 0.01, i] for i in range(100000)]})
    assert report["event_count"] == 100000
    assert texts["events"].count("\n") == 100000
    root = svg_root(texts)
    assert len(list(root.iter(NS + "rect"))) < 3 * svg.PLOT
    (line,) = list(root.iter(NS + "polyline"))
    assert len(line.get("points").split()) <= 3 * svg.PLOT


# ------------------------------------------------------------ across hosts
def cross_host_events():
    """A reject on the source's host (node1), the pipeline probed on the replica's host
    (node2), datagen on the application's host (node3): three journals, one run."""
    ev = [{"ts": T0 + 12, "host": "node1", "source": "fault", "id": "net_reject_3306", "event": "down", "detail": {}},
          {"ts": T0 + 32, "host": "node1", "source": "fault", "id": "net_reject_3306", "event": "reverted",
           "detail": {"by": "supervisor"}},
          {"ts": T0 + 2, "host": "node2", "source": "probe", "id": "tc004", "event": "ok", "detail": {}},
          {"ts": T0 + 13.5, "host": "node2", "source": "probe", "id": "tc004", "event": "error",
           "detail": {"error": "error reconnecting to master"}},
          {"ts": T0 + 33, "host": "node2", "source": "probe", "id": "tc004", "event": "ok", "detail": {}},
          {"ts": T0 + 60, "host": "controller", "source": "verify", "id": "v", "event": "checked",
           "detail": {"passed": True}}]
    ev += [{"ts": T0 + 1 + i, "host": "node3", "source": "datagen", "id": "tc004-run", "event": "progress",
            "detail": {"acked": 10 * (i + 1)}} for i in range(0, 50, 5)]
    return ev


def test_events_of_every_host_on_one_axis_with_a_named_group_per_host():
    written = [[T0 + i, 10.0 * i] for i in range(0, 51)]
    present = [[T0, 0], [T0 + 12, 120], [T0 + 33, 120], [T0 + 34, 330], [T0 + 51, 500]]
    report, texts, _w = build(hosts=["node3", "node1", "node2", "controller"], events=cross_host_events(),
                              host_roles={"node1": "source", "node2": "replica", "node3": "application"},
                              series={"rows written (source node1)": written,
                                      "rows present (replica node2)": present})
    lanes = report["lanes"]
    assert [lane["host"] for lane in lanes] == ["node3", "node1", "node2", "controller"]  # the play's order
    by = {lane["host"]: lane for lane in lanes}
    assert by["node1"]["role"] == "source" and by["node1"]["events"] == 2 and by["node1"]["sources"] == ["fault"]
    assert by["node2"]["first"] == "2026-02-10T12:00:02.000Z" and by["node2"]["last"] == "2026-02-10T12:00:33.000Z"
    assert by["controller"]["role"] is None
    assert json.loads(texts["json"])["lanes"] == lanes
    md = texts["md"]
    assert "| node1 | source | 2 | fault | 2026-02-10T12:00:12.000Z | 2026-02-10T12:00:32.000Z |" in md
    assert "| controller | - | 1 | verify |" in md
    # events.jsonl: every host's events, merged by time
    ts = [json.loads(line)["ts"] for line in texts["events"].splitlines()]
    assert ts == sorted(ts) and len(ts) == len(cross_host_events())
    # the timeline: one heading per host (in the play's order, with its role), its lanes below it
    root = svg_root(texts)
    labels = [t.text for t in root.iter(NS + "text") if t.get("text-anchor") == "end" or
              t.get("font-weight") == "bold" and (t.text or "").startswith("host ")]
    heads = [lab for lab in labels if lab.startswith("host ")]
    assert heads == ["host node3 — application", "host node1 — source", "host node2 — replica", "host controller"]
    order = [lab for lab in labels if lab.startswith("host ") or lab.split(" ")[0] in ("fault", "probe", "datagen",
                                                                                       "verify")]
    assert order.index("fault net_reject_3306") == order.index("host node1 — source") + 1
    assert order.index("probe tc004") == order.index("host node2 — replica") + 1
    assert not [lab for lab in labels if " @ " in lab]  # the heading names the host, once
    # the rows written on the source and the rows present on the replica, side by side
    legend = [t.text for t in root.iter(NS + "text") if (t.text or "").startswith("rows ")]
    assert "rows written (source node1) (last 500)" in legend and "rows present (replica node2) (last 500)" in legend
    assert len(list(root.iter(NS + "polyline"))) == 2


def test_one_host_keeps_the_host_in_each_lane_label_and_no_hosts_table():
    report, texts, _w = build(events=flap_events(1))
    assert [lane["host"] for lane in report["lanes"]] == ["lab"]
    assert "**Hosts:**" not in texts["md"]
    labels = [t.text for t in svg_root(texts).iter(NS + "text") if t.get("text-anchor") == "end"]
    assert "fault net_reject_ab12 @ lab" in labels and not [lab for lab in labels if lab.startswith("host ")]


@pytest.mark.parametrize("bad", [{"x": 1}, None, [], ["source", None], ["source", ["datagen"]], " "])
def test_host_roles_must_be_text_or_a_list_of_texts(bad):
    with pytest.raises(Exception) as e:
        build(host_roles={"node1": bad})
    assert "host_roles.node1" in str(e.value)


def test_a_host_with_several_roles_reads_them_once_each_in_order():
    """What the test-case roles pass: {host: [roles]} merged with combine(list_merge='append')."""
    report, texts, _w = build(hosts=["node1", "node2"], events=cross_host_events(),
                              host_roles={"node1": ["source", "datagen", "source"], "node2": ["replica", "probes"]})
    by = {lane["host"]: lane["role"] for lane in report["lanes"]}
    assert by["node1"] == "source, datagen" and by["node2"] == "replica, probes"
    assert "| node1 | source, datagen | 2 |" in texts["md"]


def test_observations_name_units_and_spell_out_missing_values():
    """Before: 'Time to new leader s: None' and a measured dict as one line of JSON."""
    lines = markdown.observation_lines({
        "time_to_new_leader_s": None, "fault_applied_in_ms": 4.5, "new_leader": None,
        "measured": {"multi_failover_s": 0.003, "single_endpoint_watch": {"events_missed": 44, "resumed": False}}})
    assert "- Time to new leader: not observed" in lines
    assert "- Fault applied in: 4.5 ms" in lines
    assert "- New leader: not observed" in lines
    i = lines.index("- Measured:")
    assert lines[i + 1:i + 5] == ["  - Multi failover: 0.003 s", "  - Single endpoint watch:",
                                  "    - Events missed: 44", "    - Resumed: no"]
    assert not any("None" in line for line in lines)

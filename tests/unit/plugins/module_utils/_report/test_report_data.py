"""Shared inputs for the report unit tests (not a test module)."""
T0 = 1770724800.0  # 2026-02-10T12:00:00Z


def flap_events(cycles=3, period=60.0, down=30.0):
    ev = [{"ts": T0 + 1, "host": "lab", "source": "probe", "id": "replica", "event": "ok", "detail": {}}]
    for n in range(1, cycles + 1):
        d = T0 + 10 + (n - 1) * period
        ev += [
            {"ts": d, "host": "lab", "source": "fault", "id": "net_reject_ab12", "event": "down", "detail": {"cycle": n}},
            {"ts": d + 1.5, "host": "lab", "source": "probe", "id": "replica", "event": "error",
             "detail": {"error": "Can't connect to server on '127.0.0.1' (111 \"Connection refused\")"}},
            {"ts": d + down, "host": "lab", "source": "fault", "id": "net_reject_ab12", "event": "up", "detail": {"cycle": n}},
            {"ts": d + down + 1.0, "host": "lab", "source": "probe", "id": "replica", "event": "ok", "detail": {}},
        ]
    ev.append({"ts": T0 + 10 + cycles * period, "host": "lab", "source": "verify", "id": "v", "event": "checked",
               "detail": {"passed": True}})
    return ev


def flap_cycles(cycles=3, period=60.0, down=30.0, unrecovered=()):
    out = []
    for n in range(1, cycles + 1):
        d = T0 + 10 + (n - 1) * period
        out.append({"n": n, "down_at": d, "up_at": d + down, "detected_at": d + 1.5,
                    "recovered_at": None if n in unrecovered else d + down + 1.0,
                    "retries": 3, "error_message": "Can't connect (111)"})
    return out


def params(**kw):
    p = dict(scenario="tc004_connection_refused", template="tc004", report_dir="reports", result="auto",
             started=T0, finished=T0 + 200, hosts=["lab"], metadata={}, checks=[], observations=None,
             cycles=None, integrity=None, positions=None, sections=[], configuration=None, steps=[],
             notes=[], series=None, events=[], event_files=[], extra=None)
    p.update(kw)
    return p


PASSING = [{"name": "Error detected immediately (< 30 seconds)", "passed": True, "detail": "1.50 s"},
           {"name": "Error message clearly indicates connection refused", "passed": True, "detail": ""}]
FAILING = PASSING + [{"name": "No data gaps or duplicates", "passed": False, "detail": "3 rows missing: 17, 18, 19"}]

"""Unit tests of the etcd and watch probe kinds: retry policy, outcomes, summaries, the watch stream parser."""
import json
import socket
import threading

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._probes import etcdgw, metrics, samplers

EPS = ["http://127.0.0.11:2379", "http://127.0.0.12:2379", "http://127.0.0.13:2379"]


def params(**kw):
    p = dict(name="kv", kind="etcd", endpoints=EPS[:1], timeout=1.0, interval=0.1, retries=3,
             backoff_initial=0.5, backoff_multiplier=2.0, backoff_max=30.0, read_back=True)
    p.update(kw)
    return p


def test_backoff_policy_of_the_seed():
    assert samplers.backoff_delays(params()) == [0.5, 1.0, 2.0]
    assert samplers.backoff_delays(params(retries=7, backoff_max=30.0)) == [0.5, 1, 2, 4, 8, 16, 30]


@pytest.mark.parametrize("kw,msg", [
    ({"endpoints": ["https://h:2379"]}, "only http:// endpoints"),
    ({"endpoints": ["h"]}, "needs host and port"),
    ({"key_prefix": "/"}, "key_prefix must not be empty"),
    ({"kind": "watch", "endpoints": []}, "kind=watch needs endpoints"),
])
def test_validate_etcd_rejects(kw, msg):
    assert msg in samplers.validate(params(**kw))


@pytest.mark.parametrize("kw", [{"retries": 21}, {"backoff_multiplier": 0.5}, {"backoff_max": float("inf")},
                                {"backoff_initial": float("nan")}, {"retries": -1}])
def test_etcd_retry_numbers_are_bounded_by_the_shared_validator(kw):
    """The probe module's BOUNDS (validate.enforce) refuse them, naming the option."""
    from ansible_collections.faultline.chaos.plugins.module_utils._engine import validate as v
    from ansible_collections.faultline.chaos.plugins.modules import probe as probe_module
    errors = v.problems(params(**kw), probe_module.BOUNDS, probe_module.argument_spec())
    (name,) = kw
    assert errors and name in errors[0] and "out of range" in errors[0], errors


def test_validate_etcd_accepts():
    assert samplers.validate(params()) is None
    assert samplers.validate(params(kind="watch", endpoints=EPS)) is None


class FakeClient(object):
    """Answers put() from a script of results per call: an exception or a revision."""

    def __init__(self, script, store=None):
        self.script = list(script)
        self.calls = []
        self.store = {} if store is None else store

    def put(self, ep, key, value):
        self.calls.append(ep)
        r = self.script.pop(0)
        if isinstance(r, Exception):
            raise r
        self.store[key] = value
        return {"header": {"revision": str(r)}}

    def get(self, ep, key):
        return self.store.get(key)

    def close(self):
        pass


def sampler(script, **kw):
    s = samplers.EtcdSampler(params(**kw))
    s.client = FakeClient(script)
    s.pauses = []
    s._pause = lambda sec: s.pauses.append(sec) or False
    return s


def test_write_retried_with_backoff_then_acked_and_read_back():
    s = sampler([etcdgw.GatewayError("Connection refused (errno 111)"), etcdgw.GatewayError("timed out", sent=True), 7])
    out = s.sample()
    d = out["detail"]
    assert out["ok"] and d["outcome"] == "acked" and d["revision"] == 7 and d["read"] == "ok"
    assert d["key"] == "faultline/probe/kv/00000001"
    assert [a["ok"] for a in d["attempts"]] == [False, False, True]
    assert [a.get("backoff_s") for a in d["attempts"]] == [0.5, 1.0, None]
    assert s.pauses == [0.5, 1.0]


def test_all_attempts_refused_is_failed_with_the_last_error_and_count():
    s = sampler([etcdgw.GatewayError("Connection refused (errno 111)")] * 4)
    out = s.sample()
    assert not out["ok"] and out["detail"]["outcome"] == "failed"
    assert out["error"] == "Connection refused (errno 111) (after 4 attempts)"
    assert s.pauses == [0.5, 1.0, 2.0]


def test_sent_without_answer_is_indeterminate_but_no_leader_is_failed():
    s = sampler([etcdgw.GatewayError("etcdserver: request timed out", sent=True, status=503)] +
                [etcdgw.GatewayError("etcdserver: no leader", sent=True, status=503)] * 3)
    assert s.sample()["detail"]["outcome"] == "indeterminate"
    s = sampler([etcdgw.GatewayError("etcdserver: no leader", sent=True, status=503)] * 4)
    assert s.sample()["detail"]["outcome"] == "failed"


def test_multi_endpoint_client_fails_over_and_stays():
    s = sampler([etcdgw.GatewayError("Connection refused (errno 111)"), 5, 6], endpoints=EPS)
    s.sample()
    s.sample()
    assert s.client.calls == [EPS[0], EPS[1], EPS[1]]


def test_single_endpoint_client_never_moves():
    s = sampler([etcdgw.GatewayError("x")] * 3 + [9])
    s.sample()
    assert s.client.calls == [EPS[0]] * 4


def test_read_back_mismatch_is_not_ok():
    s = sampler([3])
    s.client.get = lambda ep, key: "other"
    out = s.sample()
    assert not out["ok"] and out["detail"]["outcome"] == "acked" and out["error"].startswith("read back: mismatch")


def test_etcd_summary_and_window_retries():
    s = sampler([etcdgw.GatewayError("timed out", sent=True), 4, etcdgw.GatewayError("refused")] + [etcdgw.GatewayError("refused")] * 3)
    samples = [s.sample(), s.sample()]
    summ = metrics.etcd_summary(samples)
    assert summ["writes"] == {"acked": 1, "failed": 1, "indeterminate": 0}
    assert summ["keys"]["acked"] == ["faultline/probe/kv/00000001"]
    assert summ["acked_at"]["faultline/probe/kv/00000001"][1] == 4
    assert len(summ["failed_attempts"]) == 5 and summ["retried_writes"] == 2
    first = samples[0]["ts"]
    w = metrics.window_metrics(samples, {"n": 1, "down_at": first - 1, "up_at": None}, kind="etcd")
    # the first write was acked after a retry: detected there, and all 5 failed attempts are retries
    assert w["detected_at"] == first and w["retries"] == 5 and w["error_message"] == "timed out"


def line(ts, event, ok=True, error=None, **detail):
    detail["event"] = event
    return {"ts": ts, "ok": ok, "error": error, "detail": detail}


def test_watch_summary_counts_missed_events_and_failover():
    lines = [line(1.0, "connected", endpoint="a"), line(1.01, "created", revision=10),
             line(2.0, "events", keys=["k1", "k2"], revisions=[11, 12]),
             line(3.0, "broken", False, "stream closed by the server (EOF)", endpoint="a", last_revision=12),
             line(3.25, "connected", endpoint="b", start_revision=13),
             line(4.0, "events", keys=["k4"], revisions=[14]), line(5.0, "alive")]
    expected = {"k0": [0.5, 9], "k1": [1.9, 11], "k2": [1.95, 12], "k3": [3.1, 13], "k4": [3.9, 14], "k5": [6.0, 15]}
    w = metrics.watch_summary(lines, expected)
    assert w["reconnects"] == [{"ts": 3.25, "endpoint": "b", "start_revision": 13, "after_s": 0.25}]
    assert w["resumed"] and w["events_received"] == 3 and w["base_revision"] == 10
    # k0 is before the watch, k5 after its last line; k3 was never received
    assert w["events_expected"] == 4 and w["missed_keys"] == ["k3"] and w["events_missed"] == 1


def test_watch_summary_does_not_count_a_write_still_on_its_way_when_the_watch_stopped():
    # the writer acknowledged k3 0.01 s before the watch's last line: its event may still be in flight
    lines = [line(1.0, "connected", endpoint="a"), line(1.01, "created", revision=10),
             line(2.0, "events", keys=["k1"], revisions=[11]), line(3.0, "alive")]
    expected = {"k1": [1.9, 11], "k2": [2.2, 12], "k3": [2.99, 13]}
    w = metrics.watch_summary(lines, expected)
    # k2 (0.8 s before the end) was due and never came: missed; k3 is in flight, not missed
    assert w["missed_keys"] == ["k2"] and w["events_expected"] == 2 and w["events_in_flight"] == 1
    # one that did arrive counts, however late it was acknowledged
    lines.insert(3, line(2.995, "events", keys=["k3"], revisions=[13]))
    w = metrics.watch_summary(lines, expected)
    assert w["events_expected"] == 3 and w["events_in_flight"] == 0 and w["missed_keys"] == ["k2"]


def test_watch_summary_single_endpoint_gap():
    lines = [line(1.0, "connected"), line(1.0, "created", revision=3), line(2.0, "broken", False, "EOF"),
             line(2.0, "stopped", False, "gap"), line(2.1, "down", False, "not watching")]
    w = metrics.watch_summary(lines)
    assert not w["resumed"] and w["stopped"] and w["reconnects"] == [] and len(w["breaks"]) == 1


def serve_once(payload):
    """A one-shot server on a free loopback port that answers any request with ``payload``."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def run():
        c, _a = srv.accept()
        c.recv(65536)
        for part in payload:
            c.sendall(part)
        c.close()
        srv.close()
    threading.Thread(target=run, daemon=True).start()
    return "http://127.0.0.1:%d" % srv.getsockname()[1]


def chunk(doc):
    b = (json.dumps(doc) + "\n").encode()
    return b"%x\r\n%s\r\n" % (len(b), b)


def test_watch_stream_parses_split_chunks_then_reports_eof():
    created = chunk({"result": {"header": {"revision": "5"}, "created": True}})
    ev = chunk({"result": {"header": {"revision": "6"}, "events": [{"kv": {"key": etcdgw.b64("p/1"), "mod_revision": "6"}}]}})
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    ep = serve_once([head + created[:7], created[7:] + ev[:20], ev[20:]])
    st = etcdgw.WatchStream(ep, "p/", timeout=2)
    got = []
    with pytest.raises(etcdgw.GatewayError, match="EOF|ended"):
        for _i in range(20):
            got += st.messages(0.5)
    st.close()
    assert got[0]["created"] and got[1]["events"][0]["kv"]["mod_revision"] == "6"


def test_watch_stream_gateway_error_message():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    ep = serve_once([head + chunk({"error": {"grpc_code": 14, "message": "etcdserver: no leader"}})])
    st = etcdgw.WatchStream(ep, "p/", timeout=2)
    with pytest.raises(etcdgw.GatewayError, match="etcdserver: no leader"):
        for _i in range(10):
            st.messages(0.5)
    st.close()


def test_prefix_end():
    assert etcdgw.prefix_end("a/") == b"a0"
    assert etcdgw.prefix_end("") == b"\0"


def test_window_detects_a_write_in_flight_when_the_member_was_stopped():
    # the write started 0.1 s before SIGSTOP (down_at 10.0): its first attempt timed out after
    # the stop, the second too, the third went through after SIGCONT (up_at 12.0)
    def att(n, ts, ok, ms):
        a = {"n": n, "ts": ts, "endpoint": "http://m2:2379", "ok": ok, "latency_ms": ms}
        if not ok:
            a["error"] = "timed out"
        return a
    inflight = {"ts": 9.9, "ok": True, "latency_ms": 2600.0, "error": None,
                "detail": {"key": "k1", "outcome": "acked",
                           "attempts": [att(1, 9.9, False, 500.0), att(2, 10.9, False, 500.0), att(3, 12.4, True, 3.0)]}}
    after = [{"ts": 12.5 + 0.1 * i, "ok": True, "latency_ms": 2.0, "error": None,
              "detail": {"key": "k%d" % (i + 2), "outcome": "acked", "attempts": [att(1, 12.5 + 0.1 * i, True, 2.0)]}}
             for i in range(4)]
    before = [{"ts": 9.0, "ok": True, "latency_ms": 2.0, "error": None,
               "detail": {"key": "k0", "outcome": "acked", "attempts": [att(1, 9.0, True, 2.0)]}}]
    w = metrics.window_metrics(before + [inflight] + after, {"n": 1, "down_at": 10.0, "up_at": 12.0}, kind="etcd")
    assert w["detected_at"] == 10.4 and w["time_to_detect_s"] == 0.4
    assert w["retries"] == 2 and w["error_message"] == "timed out"
    assert w["recovered_at"] == 12.5 and w["time_to_recover_s"] == 0.5
    # a write that failed before the fault is not a detection of it
    w = metrics.window_metrics(before + [inflight] + after, {"n": 1, "down_at": 11.5, "up_at": 12.0}, kind="etcd")
    assert w["detected_at"] is None

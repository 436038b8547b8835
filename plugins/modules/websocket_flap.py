#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: websocket_flap
short_description: Flap a WebSocket connection and check the server for leaks (WS-RESILIENCE-006)
version_added: 0.1.0
description:
  - Connects and disconnects a WebSocket client rapidly (O(iterations) cycles of
    connect, hold O(hold_ms), close, wait O(gap_ms)) with the Python C(websockets)
    library on asyncio. Cycles start on a fixed grid of the monotonic clock, so
    lateness never accumulates; the actual hold and gap of every cycle are measured
    and returned.
  - While flapping, samples the server process on this host (found by O(server_pid),
    O(server_pidfile) or O(server_port)) from C(/proc) every O(sample_interval_ms) -
    resident memory of the server and its workers, open file descriptors, worker
    processes (descendants, and later members of the server's own session so that a
    double-forked "agent" is still found) and established TCP connections on the port.
  - Compares the samples taken before and after (after O(settle_ms)) with the
    thresholds, counts the cleanup lines the server wrote to O(log_file) during the
    run, optionally reads the server's own agent count, and finally opens one stable
    connection, sends O(final_message) and checks the reply.
  - Returns one pass/fail per success criterion of the seed in RV(criteria), the
    leaked processes by pid and command line, the measured cycles and events in the
    collection's event shape for the report timeline.
  - Every client connection is closed before the module returns, also on errors and
    timeouts. The module never signals or kills a server process.
author:
  - faultline.chaos contributors (@faultline)
requirements:
  - websockets >= 13 (Python library, on the host that runs the module)
  - Linux C(/proc) on the host that runs the server, when a server is selected
notes:
  - Run the module on (or delegate it to) the host that runs the server when
    server-side sampling is wanted; client timing is measured where the module runs.
  - A criterion that cannot be measured (no server selected, no O(log_file)) is
    returned with C(passed=null) and does not count towards RV(passed).
  - The worker process count after the run must equal the count before, so a server
    that keeps a pool of pre-started workers still passes.
extends_documentation_fragment:
  - faultline.chaos.attributes
attributes:
  check_mode:
    support: full
    details: Validates the inputs and resolves the server process; connects nothing.
  diff_mode:
    support: none
    details: Opens and closes connections only; nothing on the target changes, nothing to diff.
options:
  url:
    description: WebSocket endpoint, C(ws://) or C(wss://).
    type: str
    required: true
  iterations:
    description: Number of connect/disconnect cycles (1 to 100000).
    type: int
    default: 20
  hold_ms:
    description:
      - How long each connection is held. Connects start every O(hold_ms) + O(gap_ms)
        milliseconds on a fixed grid and the close starts O(hold_ms) after the connect
        started, so the measured hold (handshake done to close start) is this value
        minus the handshake time.
      - 0 to 3600000 milliseconds.
    type: float
    default: 100
  gap_ms:
    description:
      - Pause between the close of one connection and the next connect. The measured
        gap (close done to next connect start) is this value minus the time the close
        handshake took.
      - 0 to 3600000 milliseconds.
    type: float
    default: 50
  headers:
    description: Extra HTTP headers sent with every handshake.
    type: dict
  subprotocol:
    description: WebSocket subprotocol to request (C(Sec-WebSocket-Protocol)).
    type: str
  auth_token:
    description: 'Bearer token sent as C(Authorization: Bearer <token>).'
    type: str
  validate_certs:
    description: Verify the server certificate and host name for C(wss://).
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust for C(wss://).
    type: path
  connect_timeout:
    description: Seconds to wait for a handshake to complete (also the timeout of O(agent_count_url)); 0.1 to 600.
    type: float
    default: 5
  close_timeout:
    description: Seconds to wait for the close handshake before the socket is aborted (0.1 to 600).
    type: float
    default: 2
  server_pid:
    description: Pid of the WebSocket server on this host (2-4194304).
    type: int
  server_pidfile:
    description: Pidfile of the WebSocket server on this host.
    type: path
  server_port:
    description:
      - TCP port the server listens on; the listening process is the server. Also the
        port whose established connections are counted (default the port of O(url)).
      - 1-65535.
    type: int
  sample_interval_ms:
    description: Server sampling resolution while flapping, in milliseconds (10 to 60000).
    type: float
    default: 100
  settle_ms:
    description: Milliseconds after the last disconnect before the "after" sample is taken (0 to 600000).
    type: float
    default: 1000
  rss_tolerance_kb:
    description: Growth of the resident memory (server plus workers) in KiB that still counts as stable (0 to 2^30).
    type: int
    default: 8192
  fd_tolerance:
    description: Growth of the open file descriptors (server plus workers) that still counts as stable (0 to 2^20).
    type: int
    default: 0
  process_tolerance:
    description:
      - Extra worker processes (or extra agents of O(agent_count_command)/O(agent_count_url)) tolerated after the run.
      - 0 to 2^20.
    type: int
    default: 0
  agent_count_command:
    description:
      - Command (argv list, no shell) printing the server's own session/agent count,
        run before and after flapping. The first integer of its output (or a JSON number,
        or the C(count), C(agents), C(sessions), C(connections) or C(active) key of a
        JSON object) is the count.
    type: list
    elements: str
  agent_count_url:
    description: HTTP URL returning the server's session/agent count (same parsing as O(agent_count_command)).
    type: str
  log_file:
    description:
      - Server log on this host. Only lines appended during the run are read, and the
        lines matching O(cleanup_pattern) must equal the number of disconnects.
    type: path
  cleanup_pattern:
    description: Regular expression (Python C(re.search)) of one cleanup line in O(log_file).
    type: str
  final_check:
    description: Open one more connection after flapping and exchange a message.
    type: bool
    default: true
  final_message:
    description: Text message sent on the final connection.
    type: str
    default: faultline-ping
  final_expect:
    description: Exact reply expected (a trailing newline is ignored). Default any reply.
    type: str
  final_expect_regex:
    description: Regular expression the reply must match. Default any reply.
    type: str
  final_timeout:
    description: Seconds to wait for the reply on the final connection (0.1 to 600).
    type: float
    default: 5
  fail_on_leak:
    description: Fail the task when any criterion failed (the result is returned either way).
    type: bool
    default: false
  event_id:
    description: The C(id) of the events this run emits.
    type: str
    default: ws_flap
'''

EXAMPLES = r'''
- name: Flap the lab WebSocket server 20 times and check it for leaks
  faultline.chaos.websocket_flap:
    url: ws://127.0.0.1:8081/
    server_pidfile: /var/lib/faultline-lab/websocket/websocketd.pid
    log_file: /var/lib/faultline-lab/websocket/sessions.log
    cleanup_pattern: 'cleanup=done'
    final_message: hello
    final_expect: hello
  register: flap

- name: Flap a TLS endpoint with a token, fail the task on any leak
  faultline.chaos.websocket_flap:
    url: wss://chat.internal.example:8443/ws
    auth_token: "{{ vault_ws_token }}"
    ca_path: /etc/ssl/internal-ca.pem
    server_port: 8443
    iterations: 50
    hold_ms: 200
    gap_ms: 100
    agent_count_url: http://127.0.0.1:9100/agents
    rss_tolerance_kb: 20480
    fail_on_leak: true
'''

RETURN = r'''
passed:
  description: True when every measured criterion passed (null in check mode).
  returned: always
  type: bool
criteria:
  description: One verdict per success criterion of the seed (C(passed) is null when not measured).
  returned: always
  type: list
  elements: dict
  sample:
    - key: no_duplicate_agents
      name: No duplicate agent instances created during flapping
      passed: false
      detail: "workers before 0, after 20 (tolerance 0); leaked: pid 4242 sleep 300, ..."
      measured: {workers_before: 0, workers_after: 20, leaked: 20}
checks:
  description: The measured criteria in the shape of the report's C(checks) (name, passed, detail).
  returned: always
  type: list
  elements: dict
leaked_processes:
  description: Worker processes alive after the run that did not exist before.
  returned: always
  type: list
  elements: dict
  sample: [{pid: 4242, ppid: 1, starttime: 123456, state: S, via: session, cmdline: sleep 300}]
cycles:
  description:
    - Measured cycles. Times are unix floats; C(hold_ms) from handshake done to close
      start, C(gap_ms) from close done to the next connect start, C(down_at)/C(up_at)
      the disconnected window after the cycle.
  returned: success
  type: list
  elements: dict
timing:
  description:
    - min/max/mean of hold_ms, gap_ms, connect_ms, close_ms and start_lag_ms.
    - C(realtime) says whether the cycles ran SCHED_FIFO (as root; like a fault supervisor on a flap's
      clock, so a busy host does not push the edges off the grid), false where not allowed.
  returned: success
  type: dict
server:
  description: The server process (pid, starttime, listening ports, how it was found), or null.
  returned: always
  type: dict
before:
  description: Server sample before flapping (rss_kb, fds, processes, established ...).
  returned: success and a server was selected
  type: dict
after:
  description: Server sample after flapping and O(settle_ms).
  returned: success and a server was selected
  type: dict
samples:
  description: Samples taken while flapping (ts, rss_kb, fds, processes, established, alive).
  returned: success
  type: list
  elements: dict
series:
  description: The samples as C([ts, value]) series for the report timeline.
  returned: success
  type: dict
log:
  description: Lines appended to O(log_file) during the run and how many matched O(cleanup_pattern).
  returned: success
  type: dict
agents:
  description: Agent counts before and after from O(agent_count_command) or O(agent_count_url).
  returned: success
  type: dict
final:
  description: The final connection (ok, connect_ms, latency_ms, reply, error).
  returned: success
  type: dict
events:
  description: Events in the collection's shape (source fault up/down per cycle, probe, verify).
  returned: always
  type: list
  elements: dict
started:
  description: Unix time the flapping started.
  returned: success
  type: float
finished:
  description: Unix time the run finished.
  returned: success
  type: float
'''

import socket
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import (
    PID, PORT, Bound, count, checked_module, milliseconds,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import reap_orphans
from ansible_collections.faultline.chaos.plugins.module_utils._websocket import flap


BOUNDS = dict(iterations=count(1, 100000), hold_ms=milliseconds(0, 3600000), gap_ms=milliseconds(0, 3600000),
              connect_timeout=Bound(0.1, 600, "seconds"), close_timeout=Bound(0.1, 600, "seconds"),
              final_timeout=Bound(0.1, 600, "seconds"), sample_interval_ms=milliseconds(10, 60000),
              settle_ms=milliseconds(0, 600000), rss_tolerance_kb=count(0, 1 << 30, "KiB"),
              fd_tolerance=count(0, 1 << 20), process_tolerance=count(0, 1 << 20), server_pid=PID, server_port=PORT)


def main():
    module = checked_module(
        AnsibleModule, BOUNDS,
        argument_spec=dict(
            url=dict(type="str", required=True),
            iterations=dict(type="int", default=20),
            hold_ms=dict(type="float", default=100.0),
            gap_ms=dict(type="float", default=50.0),
            headers=dict(type="dict"),
            subprotocol=dict(type="str"),
            auth_token=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            connect_timeout=dict(type="float", default=5.0),
            close_timeout=dict(type="float", default=2.0),
            server_pid=dict(type="int"),
            server_pidfile=dict(type="path"),
            server_port=dict(type="int"),
            sample_interval_ms=dict(type="float", default=100.0),
            settle_ms=dict(type="float", default=1000.0),
            rss_tolerance_kb=dict(type="int", default=8192),
            fd_tolerance=dict(type="int", default=0),
            process_tolerance=dict(type="int", default=0),
            agent_count_command=dict(type="list", elements="str"),
            agent_count_url=dict(type="str"),
            log_file=dict(type="path"),
            cleanup_pattern=dict(type="str"),
            final_check=dict(type="bool", default=True),
            final_message=dict(type="str", default="faultline-ping"),
            final_expect=dict(type="str"),
            final_expect_regex=dict(type="str"),
            final_timeout=dict(type="float", default=5.0),
            fail_on_leak=dict(type="bool", default=False),
            event_id=dict(type="str", default="ws_flap"),
        ),
        mutually_exclusive=[
            ("server_pid", "server_pidfile"),
            ("final_expect", "final_expect_regex"),
            ("agent_count_command", "agent_count_url"),
        ],
        required_together=[("log_file", "cleanup_pattern")],
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    if not flap.HAS_WEBSOCKETS:
        module.fail_json(msg=missing_required_lib("websockets"), exception=str(flap.WEBSOCKETS_IMPORT_ERROR))

    def runner(argv):
        return module.run_command(argv, check_rc=False, environ_update={"LC_ALL": "C"})

    try:
        result = flap.run(p, runner, check_mode=module.check_mode, host=socket.gethostname())
    except flap.FlapError as e:
        module.fail_json(msg=str(e))
    except Exception as e:  # noqa: BLE001 -- never a bare traceback for the user
        module.fail_json(msg="websocket_flap failed: %s: %s" % (type(e).__name__, e),
                         exception=traceback.format_exc())
    result["changed"] = True
    if p["fail_on_leak"] and result["passed"] is False:
        failed = [c["name"] for c in result["criteria"] if c["passed"] is False]
        module.fail_json(msg="WS-RESILIENCE-006 failed: %s" % "; ".join(failed), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

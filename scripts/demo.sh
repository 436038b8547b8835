#!/usr/bin/env bash
# `make demo`: start the lab, run TC-004 (connection refused) in its short form,
# show the report, and always take the lab down again.
#   FAULT_TYPE=timeout FAULT_DURATION=20 scripts/demo.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg

FAULT_TYPE=${FAULT_TYPE:-reject}
FAULT_DURATION=${FAULT_DURATION:-10}
SCENARIO=tc004_connection_refused
REPORTS=${FAULTLINE_REPORT_DIR:-$ROOT/reports}
# TC-004 needs only the MariaDB part of the lab.
LAB_VARS='{"lab_components": ["mysql"]}'

# shellcheck disable=SC2317  # called by the EXIT trap
# (its log is kept only when it failed, like scripts/test.sh's lab_down)
lab_down() {
  local log
  log=$(mktemp /tmp/faultline-demo-lab-down.XXXXXX.log)
  echo "== lab down"
  if ansible-playbook playbooks/lab.yml -e lab_state=down -e "$LAB_VARS" >"$log" 2>&1; then
    rm -f "$log"
  else
    echo "lab down FAILED (see $log)"
  fi
}
trap lab_down EXIT

echo "== lab up (MariaDB source 127.0.0.1:3317 -> replica 127.0.0.1:3318)"
ansible-playbook playbooks/lab.yml -e lab_state=up -e "$LAB_VARS" || exit 1

echo "== TC-004: ${FAULT_TYPE} on the source port for ${FAULT_DURATION}s"
marker=$(mktemp /tmp/faultline-demo.XXXXXX)
ansible-playbook "playbooks/$SCENARIO.yml" \
  -e "fault_type=$FAULT_TYPE" -e "fault_duration=$FAULT_DURATION" \
  -e "faultline_report_dir=$REPORTS"
rc=$?

# The newest report directory written by this run.
report=$(find "$REPORTS/$SCENARIO" -mindepth 1 -maxdepth 1 -type d -newer "$marker" 2>/dev/null | sort | tail -n 1)
rm -f "$marker"
if [ -n "$report" ] && [ -f "$report/report.md" ]; then
  echo
  cat "$report/report.md"
  echo
  echo "Result: $(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["result"])' "$report/report.json" 2>/dev/null || echo unknown)"
  echo "Report: $report"
else
  echo "no report was written under $REPORTS/$SCENARIO" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"

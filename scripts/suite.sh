#!/usr/bin/env bash
# `make suite`: playbooks/suite.yml (lab up, every test case in its short form,
# the suite report, lab down), then suite.png from suite.svg and the wall time.
# Extra arguments go to ansible-playbook, e.g. scripts/suite.sh -e suite_only=TC-004,WS-006
# When the playbook stopped before its own lab down (a lab that did not come up),
# the lab is taken down here.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
REPORTS=${FAULTLINE_REPORT_DIR:-$ROOT/reports}
LOG=$(mktemp /tmp/faultline-suite.XXXXXX.log)

t0=$(date +%s.%N)
ansible-playbook playbooks/suite.yml -e "faultline_report_dir=$REPORTS" "$@" 2>&1 | tee "$LOG"
rc=${PIPESTATUS[0]}
wall=$(python3 -c "import sys; print('%.0f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")

if [ "$rc" -ne 0 ] && ! grep -q '^PLAY \[Suite - result\]' "$LOG"; then
  echo "== the suite stopped before its lab down: lab down"
  ansible-playbook playbooks/lab.yml -e lab_state=down "$@" >"$LOG.down" 2>&1 || echo "lab down FAILED (see $LOG.down)"
fi

# the suite directory this run wrote (its path is in the summary line)
suite=$(grep -o "$REPORTS/suite/[0-9TZ]*" "$LOG" | tail -n 1)
if [ -n "$suite" ] && [ -f "$suite/suite.md" ]; then
  if command -v rsvg-convert >/dev/null; then
    rsvg-convert -o "$suite/suite.png" "$suite/suite.svg" || echo "rsvg-convert failed" >&2
  fi
  echo
  cat "$suite/suite.md"
  echo "Suite: $suite (whole run ${wall} s wall, lab up and down included)"
else
  echo "no suite report was written (see $LOG)" >&2
  [ "$rc" -eq 0 ] && rc=1
fi
if [ "$rc" -eq 0 ]; then rm -f "$LOG" "$LOG.down"; else echo "log: $LOG"; fi
exit "$rc"

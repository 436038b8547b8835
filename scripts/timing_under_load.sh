#!/usr/bin/env bash
# The timing-sensitive tests, run again and again on a loaded machine (issue 12:
# "timing-sensitive tests stay reliable under load: load 4+, no flake in 5 runs").
#   scripts/timing_under_load.sh                  # 5 passes, 4 busy loops beside them
#   FAULTLINE_LOAD_PASSES=3 FAULTLINE_LOAD_LOOPS=6 scripts/timing_under_load.sh tests/integration/test_flap_timing.py
# Each pass runs the unit tests and the integration files with the tightest time
# bounds (edge lag, lease deadlines, retry schedules, heal times) in one private lab
# instance (scripts/lab-ns.sh), while LOOPS busy Python loops (started here, stopped
# by pid) keep the CPUs taken; the load average is printed before and after each
# pass, and a summary names every test that failed in any pass.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH ANSIBLE_CONFIG=$ROOT/ansible.cfg ANSIBLE_NOCOLOR=1 PY_COLORS=0
PASSES=${FAULTLINE_LOAD_PASSES:-5}
LOOPS=${FAULTLINE_LOAD_LOOPS:-4}
[[ "$PASSES" =~ ^[1-9][0-9]?$ && "$LOOPS" =~ ^[0-9][0-9]?$ ]] || { echo "passes 1-99, loops 0-99" >&2; exit 2; }
FILES=("$@")
if [ "${#FILES[@]}" -eq 0 ]; then
  FILES=(tests/unit tests/integration/test_flap_timing.py tests/integration/test_probe_etcd.py
         tests/integration/test_engine_lifecycle.py tests/integration/test_server_crash.py
         tests/integration/test_network.py tests/integration/test_tc007_flapping.py)
fi
work=$(mktemp -d /tmp/faultline-load.XXXXXX)
loops=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for pid in "${loops[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq "$LOOPS"); do
  python3 -c 'while True: pass' &
  loops+=($!)
done
declare -a failed_all=()
fails=0
for pass in $(seq "$PASSES"); do
  echo "== pass $pass/$PASSES: load $(cut -d' ' -f1-3 /proc/loadavg) ($LOOPS busy loops)"
  start=$SECONDS
  # unit and integration trees have conftests of their own: one pytest each
  rc=0
  : >"$work/pass$pass.log"
  for tree in tests/unit tests/integration; do
    sel=()
    for f in "${FILES[@]}"; do [[ "$f" == "$tree"* ]] && sel+=("$f"); done
    [ "${#sel[@]}" -gt 0 ] || continue
    scripts/lab-ns.sh python -m pytest -q -p no:cacheprovider --basetemp "$work/pass$pass-${tree#tests/}" -rf \
      "${sel[@]}" >>"$work/pass$pass.log" 2>&1 || rc=1
  done
  mapfile -t failed < <(sed -n 's/^FAILED \([^ ]*\).*/\1/p' "$work/pass$pass.log")
  echo "   rc $rc in $((SECONDS - start)) s, load after $(cut -d' ' -f1-3 /proc/loadavg); $(grep -E '(passed|failed|error)' "$work/pass$pass.log" | grep -E ' in [0-9.]+s' | tr '\n' ' ')"
  if [ "$rc" -ne 0 ]; then
    fails=$((fails + 1))
    failed_all+=("${failed[@]/#/pass $pass: }")
    tail -40 "$work/pass$pass.log"
  fi
done
echo "== $PASSES passes, $fails with a failure"
printf '   %s\n' "${failed_all[@]}"
[ "$fails" -eq 0 ]

#!/usr/bin/env bash
# `make test`: every check of the collection, against the real lab.
# Each step runs even when an earlier one failed; a summary comes last and the
# exit status is non-zero when any step failed.  When integration or molecule
# runs, the lab is always taken down at the end.
#   scripts/test.sh                 # all steps
#   scripts/test.sh unit lint       # only these steps
#   scripts/test.sh floor           # unit + sanity on the lowest declared ansible-core (.venv-floor)
# The steps that never touch the lab (unit, changelog, lint, sanity, floor) run
# one after the other in the background at nice 19 while the lab steps
# (integration, molecule) run in the foreground, so the lab tests keep the CPU
# when they need it; their output is printed when they end.  FAULTLINE_TEST_SERIAL=1
# runs every step in the foreground, in order.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
export ANSIBLE_NOCOLOR=1
export PY_COLORS=0

ALL_STEPS=(unit integration changelog lint sanity molecule floor)
# The lowest ansible-core meta/runtime.yml declares (requires_ansible); the
# floor step runs the unit tests and sanity on it in its own venv.
FLOOR_CORE=${FAULTLINE_FLOOR_CORE:-2.16.19}
FLOOR_VENV=$ROOT/.venv-floor
STEPS=("${@:-${ALL_STEPS[@]}}")

# shellcheck disable=SC2317  # called by the EXIT trap
lab_down() {
  echo "== lab down"
  ansible-playbook playbooks/lab.yml -e lab_state=down >/tmp/faultline-test-lab-down.log 2>&1 \
    || { echo "lab down FAILED (see /tmp/faultline-test-lab-down.log)"; return 1; }
}
# only steps that use the lab take it down (unit, lint, sanity, floor never touch it)
case " ${STEPS[*]} " in
  *" integration "*|*" molecule "*) trap lab_down EXIT ;;
esac

# pytest exit code 5 means "no tests collected": a failure here, not a pass.
run_pytest() {
  python -m pytest -q -p no:cacheprovider "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests in $*: counted as a failure"
  fi
  return "$rc"
}

step_unit()        { run_pytest tests/unit; }
# the 30 slowest tests are listed at the end: where the suite's time goes
step_integration() { run_pytest --durations=30 tests/integration; }
step_changelog()   { antsibull-changelog lint; }
step_lint()        { ansible-lint --profile production; }
step_sanity()      { bash scripts/sanity.sh; }
step_molecule()    { (cd "$ROOT" && molecule test --all); }
step_floor() {
  local stamp=$FLOOR_VENV/.installed-$FLOOR_CORE
  if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
    python3 -m venv "$FLOOR_VENV" || return 1
    # the collection's requirements, the floor's ansible-core, and the dev pins the unit tests use
    # shellcheck disable=SC2046
    "$FLOOR_VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt "ansible-core==$FLOOR_CORE" \
      $(grep -E '^(pytest|ansible-builder|hypothesis|pyroute2)==' requirements-dev.txt) || return 1
    touch "$stamp"
  fi
  "$FLOOR_VENV/bin/python" -c 'import ansible.release as r; print("ansible-core", r.__version__)'
  PATH=$FLOOR_VENV/bin:$PATH "$FLOOR_VENV/bin/python" -m pytest -q -p no:cacheprovider tests/unit || return 1
  FAULTLINE_VENV=$FLOOR_VENV bash scripts/sanity.sh
}

LAB_STEPS=" integration molecule "
failed=0

# run_step STEP: runs it, records RESULT/TOOK; returns its status
run_step() {
  local step=$1 start rc
  if ! declare -F "step_$step" >/dev/null; then
    echo "unknown step: $step (steps: ${ALL_STEPS[*]})" >&2
    return 127
  fi
  echo
  echo "================ $step ================"
  start=$SECONDS
  "step_$step"
  rc=$?
  echo "$rc $((SECONDS - start))" >"$RESULTS/$step"
  return "$rc"
}

RESULTS=$(mktemp -d /tmp/faultline-test.XXXXXX)
declare -a FG=() BG=()
for step in "${STEPS[@]}"; do
  if [[ "$LAB_STEPS" == *" $step "* ]]; then FG+=("$step"); else BG+=("$step"); fi
done
bg_pid=
if [ "${FAULTLINE_TEST_SERIAL:-0}" != 1 ] && [ "${#FG[@]}" -gt 0 ] && [ "${#BG[@]}" -gt 0 ]; then
  echo "steps without the lab (${BG[*]}) run in the background at nice 19; their output follows the lab steps (${FG[*]})"
  ( renice -n 19 -p "$BASHPID" >/dev/null
    for step in "${BG[@]}"; do
      run_step "$step" >"$RESULTS/$step.log" 2>&1
    done ) &
  bg_pid=$!
else
  FG=("${STEPS[@]}")
  BG=()
fi
for step in "${FG[@]}"; do
  run_step "$step"
done
if [ -n "$bg_pid" ]; then
  wait "$bg_pid"
  for step in "${BG[@]}"; do
    cat "$RESULTS/$step.log"
  done
fi

declare -a SUMMARY=()
for step in "${STEPS[@]}"; do
  if [ -f "$RESULTS/$step" ]; then
    read -r rc took <"$RESULTS/$step"
  else
    rc=127 took=0
  fi
  if [ "$rc" -eq 0 ]; then
    result=PASS
  else
    result="FAIL (rc=$rc)"
    failed=1
  fi
  SUMMARY+=("$(printf '%-12s %-12s %6ss' "$step" "$result" "$took")")
done
rm -rf "$RESULTS"

echo
echo "================ summary ================"
printf '%s\n' "${SUMMARY[@]}"
if [ "$failed" -ne 0 ]; then
  echo "make test: FAILED"
  exit 1
fi
echo "make test: all steps passed"

#!/usr/bin/env bash
# `make test`: every check of the collection, against the real lab.
# Each step runs even when an earlier one failed; a summary comes last and the
# exit status is non-zero when any step failed.  The lab is always taken down.
#   scripts/test.sh                 # all steps
#   scripts/test.sh unit lint       # only these steps
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
export ANSIBLE_NOCOLOR=1
export PY_COLORS=0

ALL_STEPS=(unit integration changelog lint sanity molecule)
STEPS=("${@:-${ALL_STEPS[@]}}")

# shellcheck disable=SC2317  # called by the EXIT trap
lab_down() {
  echo "== lab down"
  ansible-playbook playbooks/lab.yml -e lab_state=down >/tmp/faultline-test-lab-down.log 2>&1 \
    || { echo "lab down FAILED (see /tmp/faultline-test-lab-down.log)"; return 1; }
}
trap lab_down EXIT

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
step_integration() { run_pytest tests/integration; }
step_changelog()   { antsibull-changelog lint; }
step_lint()        { ansible-lint --profile production; }
step_sanity()      { bash scripts/sanity.sh; }
step_molecule()    { (cd "$ROOT" && molecule test --all); }

declare -a SUMMARY=()
failed=0
for step in "${STEPS[@]}"; do
  if ! declare -F "step_$step" >/dev/null; then
    echo "unknown step: $step (steps: ${ALL_STEPS[*]})" >&2
    SUMMARY+=("$(printf '%-12s %-12s %6ss' "$step" FAIL 0)")
    failed=1
    continue
  fi
  echo
  echo "================ $step ================"
  start=$SECONDS
  "step_$step"
  rc=$?
  took=$((SECONDS - start))
  if [ "$rc" -eq 0 ]; then
    result=PASS
  else
    result="FAIL (rc=$rc)"
    failed=1
  fi
  SUMMARY+=("$(printf '%-12s %-12s %6ss' "$step" "$result" "$took")")
done

echo
echo "================ summary ================"
printf '%s\n' "${SUMMARY[@]}"
if [ "$failed" -ne 0 ]; then
  echo "make test: FAILED"
  exit 1
fi
echo "make test: all steps passed"

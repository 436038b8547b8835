#!/usr/bin/env bash
# `make test`: every check of the collection, against the real lab.
# Each step runs even when an earlier one failed; a summary comes last and the
# exit status is non-zero when any step failed.  When integration or molecule
# runs, the lab is always taken down at the end.
#   scripts/test.sh                 # all steps
#   scripts/test.sh unit lint       # only these steps
#   scripts/test.sh floor floor-sanity  # unit tests, sanity on the lowest declared ansible-core (.venv-floor)
# Three kinds of step, run at the same time where they can:
# - timed (unit, floor): unit tests that start real supervisors and bound how
#   late they act.  They run first, side by side, at normal priority, before the
#   lab steps load the machine (at nice 19 beside the lab they were starved 18x,
#   885 s instead of 48, and failed their bounds: CI of 2026-12-02).
# - lab (integration, molecule): each with lab instances of its own, integration
#   in the foreground, molecule beside it.
# - quiet (changelog, lint, sanity, floor-sanity): no lab and no clock, one after
#   the other in the background at nice 19 from the start, so the others keep the
#   CPU when they need it.
# Output of a step that ran beside another is printed when it ends.
# FAULTLINE_TEST_SERIAL=1 runs every step in the foreground, in order.
# The lab steps run with private lab instances (scripts/lab-ns.sh: own network
# and mount namespaces), so a lab that is up on this host and another `make
# test` running at the same time are never touched: integration in
# FAULTLINE_TEST_WORKERS pytest-xdist workers (default 3: on this 2-CPU machine the workers wait on faults and servers much of the time),
# each its own instance (1: one instance, no xdist); molecule in one instance.
# FAULTLINE_TEST_ISOLATE=0 runs the lab steps the old way, on the host's lab
# (serial), taken down at the end.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH=$ROOT/.venv/bin:$PATH
export ANSIBLE_CONFIG=$ROOT/ansible.cfg
export ANSIBLE_NOCOLOR=1
export PY_COLORS=0

ALL_STEPS=(unit floor integration changelog lint sanity molecule floor-sanity)
# The lowest ansible-core meta/runtime.yml declares (requires_ansible); the
# floor steps run the unit tests and sanity on it in its own venv.
FLOOR_CORE=${FAULTLINE_FLOOR_CORE:-2.16.19}
FLOOR_VENV=$ROOT/.venv-floor
STEPS=("${@:-${ALL_STEPS[@]}}")

ISOLATE=${FAULTLINE_TEST_ISOLATE:-1}
# One make test on the machine runs its lab steps wide: 3 integration workers and
# molecule beside them (the 2 CPUs stay busy, 27 min here).  A make test started
# while another one runs finds the other's mark and runs narrow: 2 workers, molecule
# after integration.  Two wide runs at once ran at load 15-20 and T040's full form
# outlived its 15 min limit in both; one wide and one narrow load the machine about
# as two runs did before.  The mark is a directory in /run/lock holding the owner's
# pid (mkdir is atomic), removed at exit; a mark whose pid is gone is taken over.
MARK=${FAULTLINE_TEST_MARK:-/run/lock/faultline-make-test}
WIDE=0
take_mark() {
  if mkdir "$MARK" 2>/dev/null; then
    echo $$ >"$MARK/pid"
    return 0
  fi
  local owner tries=0
  # the owner writes its pid right after its mkdir: wait a moment for it
  while owner=$(cat "$MARK/pid" 2>/dev/null) || owner=; [ -z "$owner" ] && [ $tries -lt 20 ]; do
    tries=$((tries + 1))
    sleep 0.1
  done
  if [ -n "$owner" ] && [ "$owner" != $$ ] && kill -0 "$owner" 2>/dev/null; then
    return 1  # another make test runs
  fi
  echo $$ >"$MARK/pid"  # stale (its run was killed): ours now
}
case " ${STEPS[*]} " in
  *" integration "*|*" molecule "*)
    if [ "$ISOLATE" = 1 ] && take_mark; then WIDE=1; fi ;;
esac
WORKERS=${FAULTLINE_TEST_WORKERS:-$([ "$WIDE" = 1 ] && echo 3 || echo 2)}
if [ "$ISOLATE" = 1 ] && [ "$WIDE" = 0 ] && [ -d "$MARK" ]; then
  echo "another make test runs (pid $(cat "$MARK/pid" 2>/dev/null)): lab steps narrow ($WORKERS workers, molecule after integration)"
fi
[[ "$WORKERS" =~ ^[1-9][0-9]?$ ]] || { echo "FAULTLINE_TEST_WORKERS must be 1-99 (got $WORKERS)" >&2; exit 2; }

# shellcheck disable=SC2317  # called by the EXIT trap
lab_down() {
  local log
  log=$(mktemp /tmp/faultline-test-lab-down.XXXXXX.log)
  echo "== lab down"
  if ansible-playbook playbooks/lab.yml -e lab_state=down >"$log" 2>&1; then
    rm -f "$log"
  else
    echo "lab down FAILED (see $log)"
    return 1
  fi
}
# only steps that use the host's lab take it down (unit, lint, sanity, floor
# never touch it; isolated lab steps take their own instances down)
if [ "$ISOLATE" = 0 ]; then
  case " ${STEPS[*]} " in
    *" integration "*|*" molecule "*) trap lab_down EXIT ;;
  esac
elif [ "$WIDE" = 1 ]; then
  # shellcheck disable=SC2317  # the EXIT trap
  trap 'rm -rf "$MARK"' EXIT
fi
# FAULTLINE_TEST_PLAN=1: print how the lab steps would run, run nothing
if [ "${FAULTLINE_TEST_PLAN:-0}" = 1 ]; then
  echo "plan: wide=$WIDE workers=$WORKERS steps=${STEPS[*]}"
  exit 0
fi

# pytest exit code 5 means "no tests collected": a failure here, not a pass.
# PYTEST_PREFIX: a command pytest runs under (scripts/lab-ns.sh for one lab instance);
# PYTEST_PYTHON: the interpreter (the floor step's venv).
# Every pytest run gets its own --basetemp in this run's results directory:
# pytest's default, /tmp/pytest-of-<user>, keeps the last three sessions of every
# run on the machine and deletes older ones, so a second `make test` (or any
# pytest) could delete a running one's tmp_path directories.
PYTEST_PREFIX=()
PYTEST_PYTHON=$ROOT/.venv/bin/python
run_pytest() {
  local basetemp
  basetemp=$(mktemp -d "$RESULTS/pytest.XXXXXX") || return 1
  "${PYTEST_PREFIX[@]}" "$PYTEST_PYTHON" -m pytest -q -p no:cacheprovider --basetemp "$basetemp" "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests in $*: counted as a failure"
  fi
  return "$rc"
}

# The unit tests wait on real supervisors much of the time (45 s of CPU in 90 s):
# UNIT_WORKERS xdist workers each (unit and floor run side by side).
UNIT_WORKERS=${FAULTLINE_UNIT_WORKERS:-3}
[[ "$UNIT_WORKERS" =~ ^[1-9][0-9]?$ ]] || { echo "FAULTLINE_UNIT_WORKERS must be 1-99 (got $UNIT_WORKERS)" >&2; exit 2; }
unit_pytest() {
  if [ "$UNIT_WORKERS" = 1 ]; then run_pytest tests/unit; else run_pytest -n "$UNIT_WORKERS" tests/unit; fi
}
step_unit()        { unit_pytest; }
# the 30 slowest tests are listed at the end: where the suite's time goes
step_integration() {
  if [ "$ISOLATE" = 0 ]; then
    run_pytest --durations=30 tests/integration
    return
  fi
  if [ "$WORKERS" = 1 ]; then
    # one lab instance for the whole run
    local PYTEST_PREFIX=(scripts/lab-ns.sh)
    run_pytest --durations=30 tests/integration
    return
  fi
  # the tests of one file stay on one worker (--dist loadfile), so a file's module
  # fixtures (a lab brought up) are set up once, in one lab instance; the files are
  # handed out in collection order (the conftest puts the longest first), not
  # xdist's default of the files with the most tests first
  FAULTLINE_WORKER_PYTHON=$ROOT/.venv/bin/python run_pytest --durations=30 --dist loadfile --no-loadscope-reorder \
    --tx "$WORKERS*popen//python=$ROOT/tests/integration/support/worker_python.sh" tests/integration
}
step_changelog()   { antsibull-changelog lint; }
step_lint()        { ansible-lint --profile production; }
step_sanity()      { bash scripts/sanity.sh; }
step_molecule() {
  if [ "$ISOLATE" = 0 ]; then
    (cd "$ROOT" && molecule test --all)
  else
    # its own lab instance (molecule keeps its state in this clone's .ansible/)
    (cd "$ROOT" && scripts/lab-ns.sh molecule test --all)
  fi
}
# the floor venv, installed once (both floor steps may ask at the same time: a lock)
floor_venv() {
  (
    flock 9 || exit 1
    stamp=$FLOOR_VENV/.installed-$FLOOR_CORE
    if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-dev.txt -nt "$stamp" ] || [ "$0" -nt "$stamp" ]; then
      python3 -m venv "$FLOOR_VENV" || exit 1
      # the collection's requirements, the floor's ansible-core, and the dev pins the unit tests use
      # shellcheck disable=SC2046
      "$FLOOR_VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt "ansible-core==$FLOOR_CORE" \
        $(grep -E '^(pytest|pytest-xdist|execnet|ansible-builder|hypothesis|pyroute2)==' requirements-dev.txt) || exit 1
      touch "$stamp"
    fi
  ) 9>"$ROOT/.venv-floor.lock"
}
step_floor() {
  floor_venv || return 1
  "$FLOOR_VENV/bin/python" -c 'import ansible.release as r; print("ansible-core", r.__version__)'
  local PYTEST_PYTHON=$FLOOR_VENV/bin/python
  PATH=$FLOOR_VENV/bin:$PATH unit_pytest
}
step_floor_sanity() {
  floor_venv || return 1
  FAULTLINE_VENV=$FLOOR_VENV bash scripts/sanity.sh
}

LAB_STEPS=" integration molecule "
TIMED_STEPS=" unit floor "
failed=0

# run_step STEP: runs it, records RESULT/TOOK; returns its status
run_step() {
  local step=$1 start rc
  local fn=step_${step//-/_}
  if ! declare -F "$fn" >/dev/null; then
    echo "unknown step: $step (steps: ${ALL_STEPS[*]})" >&2
    return 127
  fi
  echo
  echo "================ $step ================"
  start=$SECONDS
  "$fn"
  rc=$?
  echo "$rc $((SECONDS - start))" >"$RESULTS/$step"
  return "$rc"
}

# Steps run beside the foreground: start_beside STEP... starts each in the
# background with its output in a log; finish_beside waits for them in order
# and prints their logs.
declare -a BESIDE=() beside_pids=()
# shellcheck disable=SC2317  # shellcheck takes both for unreachable; they are called below
start_beside() {
  local step
  for step in "$@"; do
    run_step "$step" >"$RESULTS/$step.log" 2>&1 &
    BESIDE+=("$step")
    beside_pids+=($!)
  done
}
# shellcheck disable=SC2317
finish_beside() {
  local i
  for i in "${!BESIDE[@]}"; do
    wait "${beside_pids[$i]}"
    cat "$RESULTS/${BESIDE[$i]}.log"
  done
  BESIDE=() beside_pids=()
}

RESULTS=$(mktemp -d /tmp/faultline-test.XXXXXX)
# The modules' bytecode cache (plugins/module_utils/_engine/modcache.py) of the
# modules the tests run on this host: in this run's directory, removed with it,
# instead of /run/faultline-pycache (inside a lab instance /run is private anyway).
export FAULTLINE_MODULE_PYCACHE=$RESULTS/module-pycache
# The lab instances of the lab steps cache the bytecode of Ansible's module_utils that
# every module task imports from its AnsiballZ zip (tests/integration/support/payload_cache.py).
export FAULTLINE_PAYLOAD_CACHE=1
declare -a FG=() BG=() TIMED=()
for step in "${STEPS[@]}"; do
  if [[ "$LAB_STEPS" == *" $step "* ]]; then FG+=("$step")
  elif [[ "$TIMED_STEPS" == *" $step "* ]]; then TIMED+=("$step")
  else BG+=("$step"); fi
done
bg_pid=
if [ "${FAULTLINE_TEST_SERIAL:-0}" != 1 ]; then
  if [ "${#BG[@]}" -gt 0 ] && [ $((${#FG[@]} + ${#TIMED[@]})) -gt 0 ]; then
    echo "steps without the lab or a clock (${BG[*]}) run in the background at nice 19; their output comes last"
    ( renice -n 19 -p "$BASHPID" >/dev/null
      for step in "${BG[@]}"; do
        run_step "$step" >"$RESULTS/$step.log" 2>&1
      done ) &
    bg_pid=$!
  else
    FG=("${FG[@]}" "${BG[@]}")
    BG=()
  fi
  # the timed steps first, side by side, before the lab steps load the machine
  if [ "${#TIMED[@]}" -gt 1 ]; then
    echo "timed steps ${TIMED[*]} run side by side before the lab steps; their output follows"
    start_beside "${TIMED[@]}"
    finish_beside
  elif [ "${#TIMED[@]}" -eq 1 ]; then
    run_step "${TIMED[0]}"
  fi
  # each lab step has lab instances of its own: molecule runs beside the integration
  # tests (their workers wait on faults and servers much of the time) instead of after them
  if [ "$ISOLATE" = 1 ] && [ "$WIDE" = 1 ] && [ "${#FG[@]}" -gt 1 ]; then
    echo "lab steps ${FG[*]:1} run beside ${FG[0]} (own lab instances); their output follows it"
    start_beside "${FG[@]:1}"
    FG=("${FG[0]}")
  fi
else
  FG=("${STEPS[@]}")
  BG=()
fi
for step in "${FG[@]}"; do
  run_step "$step"
done
finish_beside
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

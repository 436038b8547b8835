#!/usr/bin/env bash
# Runs every benchmark in benchmarks/ (what `make bench` calls) and prints its figures;
# with arguments only those (names without .py: run.sh rule_latency_bench flap_edge_bench).
# Each script starts and stops its own throwaway servers; they run one after the other.
# Exit status: non-zero if any benchmark failed (the others still run).
set -u
cd "$(dirname "$0")/.." || exit 2
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run 'make setup' first (no $PY)" >&2; exit 2; }
failed=0
scripts=(benchmarks/*.py)
if [ "$#" -gt 0 ]; then
    scripts=()
    for name in "$@"; do
        [ -f "benchmarks/${name%.py}.py" ] || { echo "no benchmark benchmarks/${name%.py}.py" >&2; exit 2; }
        scripts+=("benchmarks/${name%.py}.py")
    done
fi
for script in "${scripts[@]}"; do
    echo "=== $script ($(date -u +%H:%M:%S) UTC, load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    if ! "$PY" "$script"; then
        echo "!!! $script failed" >&2
        failed=1
    fi
    echo
done
exit "$failed"

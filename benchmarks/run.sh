#!/usr/bin/env bash
# Runs every benchmark in benchmarks/ (what `make bench` calls) and prints its figures.
# Each script starts and stops its own throwaway servers; they run one after the other.
# Exit status: non-zero if any benchmark failed (the others still run).
set -u
cd "$(dirname "$0")/.." || exit 2
PY=.venv/bin/python
[ -x "$PY" ] || { echo "run 'make setup' first (no $PY)" >&2; exit 2; }
failed=0
for script in benchmarks/*.py; do
    echo "=== $script ($(date -u +%H:%M:%S) UTC, load average: $(cut -d' ' -f1-3 /proc/loadavg))"
    if ! "$PY" "$script"; then
        echo "!!! $script failed" >&2
        failed=1
    fi
    echo
done
exit "$failed"

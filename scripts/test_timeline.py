"""Where an integration run's wall time went, from FAULTLINE_TEST_TIMELINE.

    FAULTLINE_TEST_TIMELINE=/tmp/tl.jsonl make test
    python3 scripts/test_timeline.py /tmp/tl.jsonl

Prints each test file's time (setup + call + teardown of its tests) with the
worker that ran it and when it started and ended (seconds from the run's first
test), then each worker's busy time and last stop: the gap between the workers'
last stops is time lost to an unbalanced schedule.
"""
import collections
import json
import sys


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    rows = [r for r in rows if r.get("start") is not None]
    if not rows:
        print("no timed test phases in %s" % path)
        return 1
    t0 = min(r["start"] for r in rows)
    files = collections.OrderedDict()
    for r in sorted(rows, key=lambda r: r["start"]):
        f = files.setdefault(r["nodeid"].split("::")[0], {"busy": 0.0, "first": r["start"], "last": r["stop"],
                                                          "workers": set()})
        f["busy"] += r["duration"]
        f["last"] = max(f["last"], r["stop"])
        f["workers"].add(r["worker"])
    print("%-55s %8s %8s %8s  %s" % ("file", "busy s", "from s", "to s", "worker"))
    for name, f in sorted(files.items(), key=lambda kv: -kv[1]["busy"]):
        print("%-55s %8.1f %8.1f %8.1f  %s" % (name, f["busy"], f["first"] - t0, f["last"] - t0,
                                               ",".join(sorted(f["workers"]))))
    workers = collections.defaultdict(lambda: [0.0, 0.0])
    for r in rows:
        w = workers[r["worker"]]
        w[0] += r["duration"]
        w[1] = max(w[1], r["stop"] - t0)
    print()
    for name, (busy, last) in sorted(workers.items()):
        print("worker %-6s busy %7.1f s, last stop at %7.1f s" % (name, busy, last))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"))

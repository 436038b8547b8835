#!/usr/bin/env python3
"""datagen throughput vs sysbench oltp_insert on the same throwaway server.

  .venv/bin/python benchmarks/datagen_bench.py [--seconds 10] [--bulk-rows 500000]

Starts its own MariaDB pair (ports 3347/3348, tests/integration/test_datagen_pair.py),
measures: sysbench oltp_insert 1 thread (anchor), datagen one row per transaction on one
connection, datagen bulk (batch 1000); prints rows/s and stops everything."""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from test_datagen_pair import make_pair  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._datagen import generator as gen  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._engine.background import StopFlag  # noqa: E402


class Null(object):
    def write(self, obj):
        pass


def run_datagen(port, **params):
    conn_kw = dict(host="127.0.0.1", port=port, user="root", password="", connect_timeout=5,
                   autocommit=True, charset="utf8mb4")
    p = dict(run_id="bench-%d" % time.monotonic_ns(), **params)
    gen.prepare(conn_kw, p)
    t0 = time.monotonic()
    with tempfile.NamedTemporaryFile("w") as ledger:
        class Out(object):
            def write(self, obj):
                ledger.write("%r\n" % (obj,))
        summary = gen.Writer(conn_kw, p, Out(), StopFlag()).run()
    return summary["rows_acked"], time.monotonic() - t0


def sysbench(port, seconds):
    common = ["--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=%d" % port, "--mysql-user=root",
              "--mysql-password=", "--mysql-db=sbtest", "--tables=1", "--table-size=10000", "--threads=1"]
    subprocess.run(["sysbench", "oltp_insert"] + common + ["prepare"], check=True, stdout=subprocess.DEVNULL)
    proc = subprocess.run(["sysbench", "oltp_insert"] + common + ["--time=%d" % seconds, "run"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    out = proc.stdout
    if proc.returncode:
        raise SystemExit("sysbench failed:\n" + out[-2000:])
    return float(re.search(r"queries:\s+\d+\s+\(([\d.]+) per sec", out).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--bulk-rows", type=int, default=500000)
    ap.add_argument("--batch", type=int, default=2000)
    a = ap.parse_args()
    pair = make_pair()
    try:
        pair.source.sql("CREATE DATABASE sbtest")
        sb = sysbench(pair.source.port, int(a.seconds))
        rows, secs = run_datagen(pair.source.port, duration=a.seconds, batch=1)
        bulk, bsecs = run_datagen(pair.source.port, total=a.bulk_rows, batch=a.batch)
        print("server: MariaDB %s, innodb_flush_log_at_trx_commit=2, sync_binlog=0, ROW binlog, 1 replica"
              % pair.source.sql("SELECT VERSION()")[0][0])
        print("sysbench oltp_insert, 1 thread, %ds:          %9.0f rows/s" % (a.seconds, sb))
        print("datagen batch=1 (1 row/transaction), 1 conn:  %9.0f rows/s  (%d rows in %.1fs, %.0f%% of sysbench)"
              % (rows / secs, rows, secs, 100.0 * rows / secs / sb))
        print("datagen bulk batch=%d:                      %9.0f rows/s  (%d rows in %.1fs)"
              % (a.batch, bulk / bsecs, bulk, bsecs))
    finally:
        pair.stop()


if __name__ == "__main__":
    main()

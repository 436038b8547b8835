"""datagen throughput vs sysbench oltp_insert on the same throwaway server.

  .venv/bin/python benchmarks/datagen_bench.py [--seconds 5] [--rounds 3] [--bulk-rows 500000] [--batch 2000]
                                               [--drivers auto,pymysql]

Starts its own MariaDB source + replica (ports 3347/3348, tests/integration/support/mariadb.py)
and runs, --rounds times, interleaved so that load from anything else on the machine hits both
sides alike:

  * anchor: sysbench oltp_insert, 1 thread, --seconds (one autocommit INSERT per event);
  * datagen single: batch 1 (one row per transaction, one connection), --seconds, once per
    driver in --drivers ("auto" = what the module's default picks: mysqlclient when installed);
  * datagen bulk: --bulk-rows rows, --batch rows per multi-row INSERT (first driver);
  * driver alone (first driver): the same single-row INSERTs, built before the clock starts, sent
    in a bare loop (mysqlclient ``conn.query`` / PyMySQL ``insert_once``): what the driver costs
    with none of datagen's own work, so the gap between it and datagen single is datagen's.

Both sides write to the same server with the same settings (printed), each to its own table;
datagen keeps its real JSONL ledger (background.Output).  One warm-up of each (not counted) first;
every phase starts with the replica caught up.  Besides rows/s it prints the client's CPU time
per row (user + system), which load from other processes on the machine does not skew.  Prints the per-round figures, then the
medians on one line:

  anchor sysbench oltp_insert: N rows/s | datagen single (mysqlclient): M rows/s (x.xx of anchor) |
  datagen single (pymysql): ... | datagen bulk (mysqlclient): K rows/s (target 50000)
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from support.mariadb import SERVER_OPTS, make_pair  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._datagen import generator as gen  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._engine.background import Output, StopFlag  # noqa: E402

BULK_TARGET = 50000


def _cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run_datagen(port, cpu=None, **params):
    """Run the datagen writer in this process (ledger in a temp file); returns (rows acked, seconds).
    ``cpu``: a list that receives the client's CPU seconds (user + system) for the run."""
    conn_kw = dict(host="127.0.0.1", port=port, user="root", password="", connect_timeout=5,
                   autocommit=True, charset="utf8mb4")
    p = dict(run_id="bench-%d" % time.monotonic_ns(), **params)
    gen.prepare(conn_kw, p)
    with tempfile.TemporaryDirectory(prefix="flt-bench-") as tmp:
        out = Output(os.path.join(tmp, "ledger.jsonl"))
        try:
            t0, c0 = time.monotonic(), _cpu(resource.RUSAGE_SELF)
            summary = gen.Writer(conn_kw, p, out, StopFlag()).run()
            secs = time.monotonic() - t0
            if cpu is not None:
                cpu.append(_cpu(resource.RUSAGE_SELF) - c0)
        finally:
            out.close()
    return summary["rows_acked"], secs


def run_driver_alone(port, driver, seconds, rows=200000):
    """The driver's floor: datagen's own SQL for ``rows`` rows built first, then sent one per round
    trip for ``seconds`` by the bare driver call.  Returns (rows/s, client CPU s per row)."""
    conn_kw = dict(host="127.0.0.1", port=port, user="root", password="", connect_timeout=5,
                   autocommit=True, charset="utf8mb4", database=gen.DEFAULT_DATABASE)
    p = dict(run_id="bare-%d" % time.monotonic_ns(), batch=1)
    gen.prepare(conn_kw, p)
    maker, clock = gen.RowMaker(p["run_id"], gen.DEFAULT_COLUMNS), gen.UtcClock()
    head = ("INSERT INTO %s.%s (%s) VALUES " % (
        gen.quote_ident(gen.DEFAULT_DATABASE), gen.quote_ident(gen.DEFAULT_TABLE),
        ", ".join(gen.quote_ident(c) for c in gen.DEFAULT_COLUMNS))).encode()
    sqls = [head + maker.values(seq, clock.now()) for seq in range(1, rows + 1)]
    if driver == "mysqlclient":
        conn = gen.connect_mysqlclient(conn_kw, 10)
        send = conn.query
    else:
        conn = gen.connect(conn_kw, dict_cursor=False, read_timeout=10, write_timeout=10)

        def send(sql):
            gen.insert_once(conn, sql)
    try:
        n, t0, c0 = 0, time.monotonic(), _cpu(resource.RUSAGE_SELF)
        end = t0 + seconds
        while n < rows and time.monotonic() < end:
            send(sqls[n])
            n += 1
        secs, cpu = time.monotonic() - t0, _cpu(resource.RUSAGE_SELF) - c0
    finally:
        conn.close()
    return n / secs, cpu / n


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _sysbench_args(port):
    return ["--db-driver=mysql", "--mysql-host=127.0.0.1", "--mysql-port=%d" % port, "--mysql-user=root",
            "--mysql-password=", "--mysql-db=sbtest", "--tables=1", "--table-size=10000", "--threads=1"]


def sysbench(port, seconds):
    """sysbench oltp_insert (each query is one single-row autocommit INSERT): (rows/s, client CPU s per row)."""
    c0 = _cpu(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(["sysbench", "oltp_insert"] + _sysbench_args(port) + ["--time=%d" % seconds, "run"],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)
    if proc.returncode:
        raise SystemExit("sysbench failed:\n" + proc.stdout[-2000:])
    m = re.search(r"queries:\s+(\d+)\s+\(([\d.]+) per sec", proc.stdout)
    return float(m.group(2)), (_cpu(resource.RUSAGE_CHILDREN) - c0) / int(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bulk-rows", type=int, default=500000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--drivers", default="auto,pymysql",
                    help="comma-separated datagen drivers for the single-row phase (auto, pymysql, mysqlclient)")
    a = ap.parse_args()
    drivers = []
    for d in a.drivers.split(","):
        d = gen.resolve_driver(d.strip())
        if d == "mysqlclient" and gen.MySQLdb is None:
            raise SystemExit("mysqlclient (MySQLdb) is not installed")
        if d not in drivers:
            drivers.append(d)
    pair = make_pair()
    try:
        port = pair.source.port
        pair.source.sql("CREATE DATABASE IF NOT EXISTS sbtest")
        subprocess.run(["sysbench", "oltp_insert"] + _sysbench_args(port) + ["cleanup"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # nothing to clean up on a fresh server
        subprocess.run(["sysbench", "oltp_insert"] + _sysbench_args(port) + ["prepare"], check=True,
                       stdout=subprocess.DEVNULL)
        print("server: MariaDB %s on 127.0.0.1:%d, one replica attached; same server and settings for "
              "sysbench and datagen: %s" % (pair.source.sql("SELECT VERSION()")[0][0], port, " ".join(SERVER_OPTS)))
        # warm-up (not counted): the first writes on a fresh server pay for its caches
        sysbench(port, 1)
        run_datagen(port, total=50000, batch=a.batch, driver=drivers[0])
        for d in drivers:
            run_datagen(port, total=2000, batch=1, driver=d)
        pair.wait_replica(600)
        print("datagen drivers: %s (load average %s)" % (", ".join(drivers), _loadavg()))
        anchor, bulk, bare, single = [], [], [], dict((d, []) for d in drivers)
        for n in range(1, a.rounds + 1):
            # each phase starts with the replica caught up, so none pays for the previous one's apply
            rate, sb_cpu = sysbench(port, a.seconds)
            anchor.append(rate)
            pair.wait_replica(600)
            print("round %d: sysbench %.0f rows/s (client CPU %.0f us/row)" % (n, rate, sb_cpu * 1e6), end="")
            for d in drivers:
                cpu = []
                rows, secs = run_datagen(port, cpu=cpu, duration=a.seconds, batch=1, driver=d)
                single[d].append(rows / secs)
                pair.wait_replica(600)
                print(" | datagen single (%s) %.0f rows/s (client CPU %.0f us/row)"
                      % (d, single[d][-1], cpu[0] / rows * 1e6), end="")
            rate, cpu1 = run_driver_alone(port, drivers[0], a.seconds)
            bare.append(rate)
            pair.wait_replica(600)
            print(" | driver alone (%s) %.0f rows/s (client CPU %.0f us/row)" % (drivers[0], rate, cpu1 * 1e6), end="")
            cpu = []
            rows, secs = run_datagen(port, cpu=cpu, total=a.bulk_rows, batch=a.batch, driver=drivers[0])
            bulk.append(rows / secs)
            pair.wait_replica(600)
            print(" | datagen bulk (%s) %.0f rows/s (%d rows, batch %d, %.1fs, client CPU %.1f us/row) | load %s"
                  % (drivers[0], bulk[-1], rows, a.batch, secs, cpu[0] / rows * 1e6, _loadavg()))
        sb, many = statistics.median(anchor), statistics.median(bulk)
        print("medians of %d rounds (%ds each; bulk %d rows):" % (a.rounds, a.seconds, a.bulk_rows))
        print(" | ".join(["anchor sysbench oltp_insert: %.0f rows/s" % sb] +
                         ["datagen single (%s): %.0f rows/s (%.2f of anchor)"
                          % (d, statistics.median(single[d]), statistics.median(single[d]) / sb) for d in drivers] +
                         ["driver alone (%s): %.0f rows/s (%.2f of anchor)"
                          % (drivers[0], statistics.median(bare), statistics.median(bare) / sb)] +
                         ["datagen bulk (%s): %.0f rows/s (target %d)" % (drivers[0], many, BULK_TARGET)]))
    finally:
        pair.stop()


if __name__ == "__main__":
    main()

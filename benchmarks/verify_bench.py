"""verify vs pt-table-checksum on 1,000,000 rows, same throwaway source/replica pair.

  .venv/bin/python benchmarks/verify_bench.py [--rows 1000000] [--rounds 3]

Loads the rows with datagen (bulk), plants 3 differences on the replica (deleted,
changed, extra row), then times (wall clock):
  * pt-table-checksum (recursion none) + waiting for the replica + reading the
    differing chunks from the replica's percona.checksums table (it names chunks, not keys);
  * verify (chunked CRC32 on both servers in parallel + drill-down to the keys).
--rounds times, interleaved (pt-table-checksum, verify, repeat), then the medians and the
load average.  Stops its servers at the end."""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(ROOT, ".collections"))

from support.mariadb import make_pair  # noqa: E402
from datagen_bench import _loadavg, run_datagen  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._verify.checker import Verifier  # noqa: E402
from ansible_collections.faultline.chaos.plugins.module_utils._verify.engines import MySQLSide  # noqa: E402

T = "faultline.faultline_datagen"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1000000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--chunk-rows", type=int, default=50000)
    a = ap.parse_args()
    pair = make_pair()
    try:
        rows, secs = run_datagen(pair.source.port, total=a.rows, batch=2000, driver="auto")
        pair.wait_replica(600)
        run = pair.source.sql("SELECT run_id FROM %s LIMIT 1" % T)[0][0]
        pair.replica.sql("SET SESSION sql_log_bin=0",
                         "DELETE FROM %s WHERE run_id='%s' AND seq=123457" % (T, run),
                         "UPDATE %s SET payload='x' WHERE run_id='%s' AND seq=654321" % (T, run),
                         "INSERT INTO %s VALUES ('%s', %d, 'p', 0, NOW())" % (T, run, a.rows + 10))
        print("loaded %d rows in %.1fs; planted: missing seq 123457, changed 654321, extra %d"
              % (rows, secs, a.rows + 10))

        kw = dict(host="127.0.0.1", user="root", password="", connect_timeout=5, autocommit=True, charset="utf8mb4")
        pts, vts = [], []
        for n in range(1, a.rounds + 1):
            t0 = time.monotonic()
            subprocess.run(["pt-table-checksum", "--no-check-replication-filters", "--recursion-method=none",
                            "--replicate=percona.checksums", "--databases=faultline", "--tables=faultline_datagen",
                            "h=127.0.0.1,P=%d,u=root,p=" % pair.source.port],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)  # exit status = differences found
            pair.wait_replica(600)
            diffs = pair.replica.sql(
                "SELECT chunk, lower_boundary, upper_boundary FROM percona.checksums WHERE master_cnt <> this_cnt "
                "OR master_crc <> this_crc OR ISNULL(master_crc) <> ISNULL(this_crc)")
            pts.append(time.monotonic() - t0)
            print("round %d: pt-table-checksum + replica diff query: %.2fs wall, %d differing chunks (no keys): %s"
                  % (n, pts[-1], len(diffs), "; ".join("chunk %s [%s .. %s]" % d for d in diffs)))

            t0 = time.monotonic()
            src = MySQLSide("source", dict(kw, port=pair.source.port), "faultline", "faultline_datagen")
            dst = MySQLSide("destination", dict(kw, port=pair.replica.port), "faultline", "faultline_datagen")
            res = Verifier(src, dst, dict(converge_timeout=0, chunk_rows=a.chunk_rows)).run()
            vts.append(time.monotonic() - t0)
            src.close()
            dst.close()
            print("round %d: faultline verify: %.2fs wall, %d chunks, missing %s, changed %s, extra %s | load %s"
                  % (n, vts[-1], res["chunks"], res["missing_keys"], res["changed_keys"], res["extra_keys"],
                     _loadavg()))
        pt, vt = statistics.median(pts), statistics.median(vts)
        print("medians of %d rounds: pt-table-checksum %.2fs | faultline verify %.2fs (keys named) | "
              "verify / pt-table-checksum wall time: %.2f" % (a.rounds, pt, vt, vt / pt))
    finally:
        pair.stop()


if __name__ == "__main__":
    main()

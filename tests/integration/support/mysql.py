"""SQL helpers against a lab description (lab_mysql.json: source and replica)."""
import time

import pymysql
import pymysql.cursors


class MySQL(object):
    """Queries against the lab instances with PyMySQL (autocommit, dict rows)."""

    def __init__(self, lab):
        self.lab = lab

    def connect(self, instance, database=None, **kw):
        i = self.lab[instance]
        args = dict(host=i["host"], port=int(i["port"]), user=i["user"], password=i["password"],
                    database=database, autocommit=True, connect_timeout=5, charset="utf8mb4",
                    cursorclass=pymysql.cursors.DictCursor)
        args.update(kw)
        return pymysql.connect(**args)

    def query(self, instance, sql, args=None, database=None):
        conn = self.connect(instance, database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
                return list(cur.fetchall())
        finally:
            conn.close()

    def scalar(self, instance, sql, args=None, database=None):
        rows = self.query(instance, sql, args, database)
        return list(rows[0].values())[0] if rows else None

    def replica_status(self):
        rows = self.query("replica", "SHOW SLAVE STATUS")
        return rows[0] if rows else None

    def wait_replicated(self, timeout=30.0):
        """Wait until the replica has applied everything the source has binlogged."""
        want = self.scalar("source", "SELECT @@GLOBAL.gtid_binlog_pos")
        deadline = time.monotonic() + timeout
        while True:
            got = self.scalar("replica", "SELECT MASTER_GTID_WAIT(%s, 1) AS w", (want,))
            if got == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError("replica did not reach GTID %s within %ss: %s"
                                     % (want, timeout, self.replica_status()))

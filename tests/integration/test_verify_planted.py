"""verify against a real MariaDB source + replica: PASS when equal, FAIL naming
the keys for planted faults (row deleted on the replica, changed row, duplicated
row in a keyless destination table), clear messages for bad input."""
import pytest


pytestmark = [pytest.mark.lab, pytest.mark.slow]
T = "faultline.faultline_datagen"


@pytest.fixture(scope="module")
def seeded(mariadb_pair, tmp_path_factory, run_module):
    tmp = str(tmp_path_factory.mktemp("verify"))
    res = run_module("datagen", dict(login_port=mariadb_pair.source.port, total=3000, batch=250,
                                     state_dir=tmp))
    assert res["rows_acked"] == 3000, res
    mariadb_pair.wait_replica()
    return res


def verify(run_module, pair, **args):
    base = dict(source_port=pair.source.port, destination_port=pair.replica.port, converge_timeout=2,
                poll_interval=0.5, chunk_rows=500, leaf_rows=16)
    base.update(args)
    return run_module("verify", base)


def on_replica(pair, *statements):
    return pair.replica.sql("SET SESSION sql_log_bin=0", *statements)


def test_pass_when_equal(mariadb_pair, seeded, run_module):
    v = verify(run_module, mariadb_pair, datagen_run_id=seeded["run_id"], acked_ranges=seeded["acked_ranges"])
    assert v["passed"] and not v.get("failed"), v.get("msg")
    assert v["integrity"]["destination_rows"] == v["integrity"]["source_rows"] >= 3000


def test_row_deleted_on_replica(mariadb_pair, seeded, run_module):
    run = seeded["run_id"]
    row = mariadb_pair.replica.sql("SELECT * FROM %s WHERE run_id='%s' AND seq=777" % (T, run))[0]
    on_replica(mariadb_pair, "DELETE FROM %s WHERE run_id='%s' AND seq=777" % (T, run))
    try:
        v = verify(run_module, mariadb_pair, datagen_run_id=run, acked_ranges=seeded["acked_ranges"])
        assert v.get("failed") and not v["passed"]
        assert v["missing_keys"] == [[run, 777]]
        assert v["integrity"]["missing"] == 1 and v["integrity"]["destination_rows"] == v["integrity"]["source_rows"] - 1
        assert "(%s, 777)" % run in v["msg"]
        acked = [c for c in v["checks"] if c["name"] == "Every acknowledged write present exactly once"][0]
        assert not acked["passed"] and "1 missing" in acked["detail"]
        # without fail_on_mismatch the task succeeds and still reports
        v2 = verify(run_module, mariadb_pair, fail_on_mismatch=False)
        assert not v2.get("failed") and not v2["passed"] and v2["missing_keys"] == [[run, 777]]
    finally:
        on_replica(mariadb_pair, "INSERT INTO %s VALUES ('%s', %d, '%s', %d, '%s')" % ((T,) + row))


def test_changed_row(mariadb_pair, seeded, run_module):
    run = seeded["run_id"]
    on_replica(mariadb_pair, "UPDATE %s SET payload=CONCAT('X', payload) WHERE run_id='%s' AND seq=1555" % (T, run))
    try:
        v = verify(run_module, mariadb_pair)
        assert v.get("failed") and v["changed_keys"] == [[run, 1555]]
        assert v["missing_keys"] == [] and v["extra_keys"] == []
        assert v["integrity"]["checksum_match"] is False
        assert "(%s, 1555)" % run in v["msg"]
    finally:
        on_replica(mariadb_pair, "UPDATE %s SET payload=SUBSTRING(payload, 2) WHERE run_id='%s' AND seq=1555"
                   % (T, run))
    assert verify(run_module, mariadb_pair)["passed"]


def test_duplicate_in_keyless_destination(mariadb_pair, seeded, run_module):
    run = seeded["run_id"]
    on_replica(mariadb_pair, "CREATE TABLE faultline.copy_nokey AS SELECT * FROM %s" % T,
               "INSERT INTO faultline.copy_nokey SELECT * FROM %s WHERE run_id='%s' AND seq=42" % (T, run))
    try:
        v = verify(run_module, mariadb_pair, destination_table="copy_nokey")
        assert v.get("failed")
        assert v["duplicate_keys"] == [[run, 42]] and v["integrity"]["duplicates"] == 1
        assert v["duplicate_scan"]["keys"] == [[run, 42]]
        dup = [c for c in v["checks"] if c["name"] == "No duplicate records"][0]
        assert not dup["passed"] and "(%s, 42)" % run in dup["detail"]
    finally:
        on_replica(mariadb_pair, "DROP TABLE IF EXISTS faultline.copy_nokey")


def test_bad_input(mariadb_pair, seeded, run_module):
    mariadb_pair.source.sql("CREATE TABLE IF NOT EXISTS faultline.nokey (a INT, b INT)")
    try:
        mariadb_pair.wait_replica()
        v = verify(run_module, mariadb_pair, table="nokey")
        assert v.get("failed") and "set key_columns" in v["msg"]
        assert verify(run_module, mariadb_pair, table="nokey", key_columns=["a"])["passed"]
    finally:
        mariadb_pair.source.sql("DROP TABLE IF EXISTS faultline.nokey")
    v = verify(run_module, mariadb_pair, source_user="nobody", source_password="wrong")
    assert v.get("failed") and "cannot connect to source" in v["msg"] and "Access denied" in v["msg"]
    assert "wrong" not in v["msg"]
    v = verify(run_module, mariadb_pair, destination_port=1)
    assert v.get("failed") and "cannot connect to destination" in v["msg"]
    v = verify(run_module, mariadb_pair, table="no_such_table")
    assert v.get("failed") and "does not exist" in v["msg"]
    v = verify(run_module, mariadb_pair, datagen_run_id="x", acked_ranges=[[5, 1]])
    assert v.get("failed") and "acked_ranges" in v["msg"]


@pytest.fixture
def user_table(mariadb_pair):
    """faultline.<name> created on the source (replicated), dropped afterwards."""
    made = []

    def make(name, ddl, *inserts):
        made.append(name)
        mariadb_pair.source.sql("DROP TABLE IF EXISTS faultline.%s" % name,
                                "CREATE TABLE faultline.%s (%s)" % (name, ddl), *inserts)
        mariadb_pair.wait_replica()
        return name
    yield make
    for name in made:
        mariadb_pair.source.sql("DROP TABLE IF EXISTS faultline.%s" % name)
    mariadb_pair.wait_replica()


def test_row_with_a_null_key_deleted_on_replica_fails(mariadb_pair, seeded, run_module, user_table):
    """Issue 10 item 9's recipe (scaled to 6000 rows, 5000 of them with a NULL key): PASSED before."""
    t = user_table("nullkey", "k INT NULL, v VARCHAR(20) NOT NULL, KEY (k)",
                   "INSERT INTO faultline.nullkey SELECT seq, CONCAT('v', seq) FROM faultline.seq_1_to_1000",
                   "INSERT INTO faultline.nullkey SELECT NULL, CONCAT('n', seq) FROM faultline.seq_1_to_5000")
    v = verify(run_module, mariadb_pair, table=t, key_columns=["k"])
    assert v["passed"] and not v.get("failed"), v.get("msg")
    assert v["integrity"]["source_rows"] == v["integrity"]["destination_rows"] == 6000
    assert v["integrity"]["null_key_rows"] == {"source": 5000, "destination": 5000}
    on_replica(mariadb_pair, "DELETE FROM faultline.nullkey WHERE v = 'n4242'")
    v = verify(run_module, mariadb_pair, table=t, key_columns=["k"])
    assert v.get("failed") and not v["passed"], v
    assert v["integrity"]["missing"] == 1 and v["missing_keys"] == [[None]]
    assert v["integrity"]["destination_rows"] == 5999 and v["integrity"]["source_rows"] == 6000


def test_values_that_differ_only_by_where_a_separator_sits_fail(mariadb_pair, seeded, run_module, user_table):
    """CONCAT_WS('#', ...) gave ('a#', 'b') and ('a', '#b') the same checksum."""
    t = user_table("enc", "id INT PRIMARY KEY, a VARCHAR(10), b VARCHAR(10)",
                   "INSERT INTO faultline.enc VALUES (1, 'a#', 'b'), (2, 'x', NULL), (3, 'x', '')")
    assert verify(run_module, mariadb_pair, table=t)["passed"]
    on_replica(mariadb_pair, "UPDATE faultline.enc SET a = 'a', b = '#b' WHERE id = 1")
    v = verify(run_module, mariadb_pair, table=t)
    assert v.get("failed") and v["changed_keys"] == [[1]], v
    on_replica(mariadb_pair, "UPDATE faultline.enc SET a = 'a#', b = 'b' WHERE id = 1",
               "UPDATE faultline.enc SET b = '' WHERE id = 2", "UPDATE faultline.enc SET b = NULL WHERE id = 3")
    v = verify(run_module, mariadb_pair, table=t)
    assert v.get("failed") and v["changed_keys"] == [[2], [3]], v


def test_swapped_values_fail_when_columns_leave_out_the_key(mariadb_pair, seeded, run_module, user_table):
    t = user_table("swap", "id INT PRIMARY KEY, v VARCHAR(10) NOT NULL",
                   "INSERT INTO faultline.swap VALUES (1, 'x'), (2, 'y'), (3, 'z')")
    assert verify(run_module, mariadb_pair, table=t, columns=["v"])["passed"]
    on_replica(mariadb_pair, "UPDATE faultline.swap SET v = IF(id = 1, 'y', 'x') WHERE id IN (1, 2)")
    v = verify(run_module, mariadb_pair, table=t, columns=["v"])
    assert v.get("failed") and v["changed_keys"] == [[1], [2]], v
    assert "id" in [c.lower() for c in v["key_columns"]]

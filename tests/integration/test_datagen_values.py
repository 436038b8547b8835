"""datagen against a real MariaDB: const values as bind parameters (also under
NO_BACKSLASH_ESCAPES) and a reused run_id refused (issue 10 item 11)."""
import pytest

pytestmark = pytest.mark.lab

CONST = "it's a \\ back'slash"


@pytest.fixture
def user_table(mariadb_pair):
    src = mariadb_pair.source
    src.sql("CREATE DATABASE IF NOT EXISTS faultline", "DROP TABLE IF EXISTS faultline.dg_const",
            "CREATE TABLE faultline.dg_const (run VARCHAR(64) NOT NULL, n BIGINT NOT NULL, note VARCHAR(64), "
            "PRIMARY KEY (run, n))")
    mode = src.sql("SELECT @@GLOBAL.sql_mode")[0][0]
    yield "dg_const"
    src.sql("SET GLOBAL sql_mode = '%s'" % mode, "DROP TABLE IF EXISTS faultline.dg_const")


@pytest.mark.parametrize("no_backslash_escapes", [False, True])
def test_const_values_are_stored_as_given(mariadb_pair, user_table, run_module, tmp_path, no_backslash_escapes):
    src = mariadb_pair.source
    if no_backslash_escapes:  # new sessions (the writer's) start with it
        src.sql("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')")
    res = run_module("datagen", dict(login_port=src.port, table=user_table, total=7, batch=3,
                                     columns={"run": "run_id", "n": "seq", "note": "const:" + CONST},
                                     state_dir=str(tmp_path)))
    assert not res.get("failed") and res["rows_acked"] == 7, res
    notes = src.query("SELECT note FROM faultline.dg_const WHERE run = %s", res["run_id"])
    assert [r["note"] for r in notes] == [CONST] * 7


def test_a_reused_run_id_is_refused_and_nothing_counted(mariadb_pair, user_table, run_module, tmp_path):
    src = mariadb_pair.source
    args = dict(login_port=src.port, table=user_table, total=5, run_id="dg-reused-1",
                columns={"run": "run_id", "n": "seq", "note": "const:x"})
    first = run_module("datagen", dict(args, state_dir=str(tmp_path / "a")))
    assert first["rows_acked"] == 5
    # another state dir (another host, a reboot, a cleaned /run): no meta to find the run by
    again = run_module("datagen", dict(args, total=8, state_dir=str(tmp_path / "b")))
    assert again.get("failed") and "already has 5 rows" in again["msg"], again
    assert again.get("rows_acked") in (None, 0)
    assert src.query("SELECT COUNT(*) AS c FROM faultline.dg_const")[0]["c"] == 5

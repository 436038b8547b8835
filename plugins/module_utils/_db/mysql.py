# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared MySQL/MariaDB options and connection helper (doc fragment ``mysql``)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import PORT, SECONDS

try:
    import pymysql
    import pymysql.cursors
    HAS_PYMYSQL = True
    PYMYSQL_IMPORT_ERROR = None
except ImportError:  # pragma: no cover - depends on the target
    pymysql = None
    HAS_PYMYSQL = False
    PYMYSQL_IMPORT_ERROR = traceback.format_exc()


def login_spec(prefix="login_"):
    """The login options of one server, named <prefix>host, <prefix>port, ...
    (documented by the doc fragment faultline.chaos.mysql and its sections
    .source, .destination, .replica, which use the same template)."""
    return {
        prefix + "host": dict(type="str", default="127.0.0.1"),
        prefix + "port": dict(type="int", default=3306),
        prefix + "user": dict(type="str", default="root"),
        prefix + "password": dict(type="str", default="", no_log=True),
        prefix + "unix_socket": dict(type="path"),
    }


def mysql_common_argument_spec():
    """Login options shared by every module that talks to MySQL/MariaDB."""
    spec = login_spec("login_")
    spec.update(
        connect_timeout=dict(type="float", default=5.0),
        database=dict(type="str"),
    )
    return spec


# bounds of the login options (validate.enforce)
MYSQL_BOUNDS = dict(login_port=PORT, connect_timeout=SECONDS)


def require_pymysql(module):
    if not HAS_PYMYSQL:
        from ansible.module_utils.basic import missing_required_lib
        module.fail_json(msg=missing_required_lib("PyMySQL"), exception=PYMYSQL_IMPORT_ERROR)


def connect_params(params, prefix="login_"):
    """Keyword arguments for pymysql.connect from module params (optionally prefixed)."""
    kw = dict(
        host=params.get(prefix + "host") or "127.0.0.1",
        port=int(params.get(prefix + "port") or 3306),
        user=params.get(prefix + "user") or "root",
        password=params.get(prefix + "password") or "",
        connect_timeout=float(params.get("connect_timeout") or 5.0),
        autocommit=True,
        charset="utf8mb4",
    )
    if params.get(prefix + "unix_socket"):
        kw["unix_socket"] = params[prefix + "unix_socket"]
    if params.get("database"):
        kw["database"] = params["database"]
    return kw


def connect(kw, dict_cursor=True, read_timeout=None, write_timeout=None):
    """Open a connection; raises pymysql errors to the caller."""
    args = dict(kw)
    if dict_cursor:
        args["cursorclass"] = pymysql.cursors.DictCursor
    if read_timeout:
        args["read_timeout"] = read_timeout
    if write_timeout:
        args["write_timeout"] = write_timeout
    return pymysql.connect(**args)


def error_text(exc):
    """The server's/driver's message as a user reads it, e.g.
    ``(2003, "Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")``
    becomes ``Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused)``."""
    args = getattr(exc, "args", ())
    if len(args) >= 2 and isinstance(args[0], int):
        return "%s (errno %d)" % (args[1], args[0])
    return str(exc)


def server_flavor(cur):
    """('mariadb'|'mysql', version string) from an open DictCursor."""
    cur.execute("SELECT VERSION() AS v")
    v = cur.fetchone()["v"]
    return ("mariadb" if "mariadb" in v.lower() else "mysql"), v


def _connection_lost(exc):
    """True for a client-side error (CR_* 2000-2999: server gone, lost connection,
    cannot connect) or a closed connection: the session is dead, not the statement wrong."""
    if isinstance(exc, pymysql.err.InterfaceError):
        return True
    code = exc.args[0] if exc.args else None
    return isinstance(code, int) and 2000 <= code < 3000


def _first_answer(cur, queries):
    """The first row of the first of ``queries`` the server accepts (newer and older
    spellings of one statement), or None when it accepts none or returns no row.

    A lost connection is raised, not taken for "statement refused": a caller that
    keeps its connection (a probe) must see it to reconnect.
    """
    for q in queries:
        try:
            cur.execute(q)
        except pymysql.err.MySQLError as e:
            if _connection_lost(e):
                raise
            continue
        return cur.fetchone()
    return None


def binlog_status(cur):
    """Current binlog file/position/GTID: SHOW BINARY LOG STATUS (MySQL 8.2+) or SHOW MASTER STATUS."""
    row = _first_answer(cur, ("SHOW BINARY LOG STATUS", "SHOW MASTER STATUS"))
    out = {"file": None, "position": None, "gtid": None}
    if row:
        out["file"] = row.get("File")
        out["position"] = row.get("Position")
        out["gtid"] = row.get("Executed_Gtid_Set") or None
    if not out["gtid"]:
        try:
            cur.execute("SELECT @@GLOBAL.gtid_binlog_pos AS g")
            out["gtid"] = cur.fetchone()["g"] or None
        except pymysql.err.MySQLError:
            pass
    return out


def replica_status(cur):
    """SHOW REPLICA STATUS (MySQL 8.0.22+/MariaDB 10.5+) or SHOW SLAVE STATUS as a dict, or None."""
    row = _first_answer(cur, ("SHOW REPLICA STATUS", "SHOW SLAVE STATUS"))
    if not row:
        return None

    def pick(*names):
        for n in names:
            if n in row:
                return row[n]
        return None

    return {
        "io_running": pick("Replica_IO_Running", "Slave_IO_Running"),
        "sql_running": pick("Replica_SQL_Running", "Slave_SQL_Running"),
        "io_state": pick("Replica_IO_State", "Slave_IO_State"),
        "source_host": pick("Source_Host", "Master_Host"),
        "source_port": pick("Source_Port", "Master_Port"),
        "source_log_file": pick("Source_Log_File", "Master_Log_File"),
        "read_source_log_pos": pick("Read_Source_Log_Pos", "Read_Master_Log_Pos"),
        "relay_source_log_file": pick("Relay_Source_Log_File", "Relay_Master_Log_File"),
        "exec_source_log_pos": pick("Exec_Source_Log_Pos", "Exec_Master_Log_Pos"),
        "seconds_behind": pick("Seconds_Behind_Source", "Seconds_Behind_Master"),
        "last_io_errno": pick("Last_IO_Errno"),
        "last_io_error": pick("Last_IO_Error") or None,
        "last_io_error_ts": pick("Last_IO_Error_Timestamp") or None,
        "last_sql_errno": pick("Last_SQL_Errno"),
        "last_sql_error": pick("Last_SQL_Error") or None,
        "gtid_io_pos": pick("Gtid_IO_Pos", "Retrieved_Gtid_Set") or None,
        "gtid_slave_pos": None,
        "connect_retry": pick("Connect_Retry"),
    }

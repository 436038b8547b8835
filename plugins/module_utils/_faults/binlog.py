# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Binlog faults: truncate, garbage, bitflip or delete one binary log file.

Discovery is :meth:`BinlogFault.resolve` (read-only, called by
``FaultEngine.apply`` before the plan): it finds the file (from the server or
a given directory, through the binlog index), refuses the active binlog
unless allowed, checks the file and the room for its backup, and records the
path, its sha256 and its owner/mode.  The plan is then pure:

    apply  = copy file -> <backup_dir>/<id>-<name>   (on disk; sha256 verified)
             corrupt file                                   (only if sha256 unchanged)
    revert = copy backup -> file (atomic rename, sha256 verified, owner/mode
             restored), then delete the backup -- never before.

so ``restore``, the supervisor and the lease treat it like every fault.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import stat as stat_mod
import struct

from ansible_collections.faultline.chaos.plugins.module_utils._db import mysql as db
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import Fault
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    EngineError, copy_action, corrupt_action, sha256_file,
)

BINLOG_MAGIC = b"\xfebin"
HEADER_LEN = 19  # v4 event header: ts(4) type(1) server_id(4) size(4) log_pos(4) flags(2)
TYPES = ("truncate", "garbage", "bitflip", "delete")
TARGETS = ("oldest_needed", "latest_rotated", "active")


# --------------------------------------------------------------------------
# where are the binlogs
# --------------------------------------------------------------------------

def server_binlogs(cur, binlog_status):
    """{'basename', 'index', 'dir', 'files': [names], 'active'} from an open DictCursor."""
    cur.execute("SELECT @@GLOBAL.log_bin AS on_, @@GLOBAL.log_bin_basename AS b, @@GLOBAL.log_bin_index AS i")
    row = cur.fetchone()
    if not row or not row["on_"] or not row["b"]:
        raise EngineError("binary logging is off on this server (log_bin)")
    cur.execute("SHOW BINARY LOGS")
    files = [r["Log_name"] for r in cur.fetchall()]
    active = binlog_status(cur).get("file") or (files[-1] if files else None)
    return {"basename": row["b"], "index": row["i"], "dir": os.path.dirname(row["b"]),
            "files": files, "active": active}


def index_binlogs(binlog_dir):
    """The same view from a directory alone, through its ``*.index`` file."""
    indexes = glob.glob(os.path.join(binlog_dir, "*.index"))
    indexes = [i for i in indexes if "relay" not in os.path.basename(i)]
    if len(indexes) != 1:
        return {"basename": None, "index": None, "dir": binlog_dir, "files": [], "active": None}
    with open(indexes[0], "r") as f:
        files = [os.path.basename(line.strip()) for line in f if line.strip()]
    return {"basename": None, "index": indexes[0], "dir": binlog_dir, "files": files,
            "active": files[-1] if files else None}


def ask_server(login, replica=False, module=None):
    """(binlog view, replica status or None) from the server of ``login`` (the
    module's login options; ``replica``: also the replica's, ``replica_*``)."""
    if module is not None:
        db.require_pymysql(module)
    try:
        conn = db.connect(db.connect_params(login))
        try:
            with conn.cursor() as cur:
                info = server_binlogs(cur, db.binlog_status)
        finally:
            conn.close()
        status = None
        if replica:
            conn = db.connect(db.connect_params(login, prefix="replica_"))
            try:
                with conn.cursor() as cur:
                    status = db.replica_status(cur)
            finally:
                conn.close()
    except db.pymysql.err.MySQLError as e:
        raise EngineError("cannot ask the server: %s" % db.error_text(e))
    return info, status


def locate(p, ask=None):
    """(path, binlog view, reader position) of the binlog to damage.

    ``p``: file, target, binlog_dir, allow_active. Without a target and with
    ``file`` and ``binlog_dir`` the directory's index is enough; else
    ``ask(replica)`` is :func:`ask_server`. The file must be in the binlog
    index; the active binlog (or one when the active one is unknown) needs
    ``allow_active``."""
    replica = None
    if p.get("file") and p.get("binlog_dir") and not p.get("target"):
        info = index_binlogs(p["binlog_dir"])
    else:
        info, replica = ask(p.get("target") == "oldest_needed")
        if p.get("binlog_dir"):
            info["dir"] = p["binlog_dir"]
    name = choose_file(info, p.get("file"), p.get("target"), replica)
    path = target_path(info, name, p.get("file"))
    if info["active"] == name and not p.get("allow_active"):
        raise EngineError("%s is the active binlog; set allow_active: true to damage it" % name)
    if info["active"] is None and not p.get("allow_active"):
        raise EngineError("cannot tell which binlog is active in %s; set allow_active: true "
                          "if %s may be it" % (info["dir"], name))
    after = 4
    if replica and name in (replica.get("source_log_file"), replica.get("relay_source_log_file")):
        if replica.get("source_log_file") == name and replica.get("read_source_log_pos"):
            after = int(replica["read_source_log_pos"])
        elif replica.get("exec_source_log_pos"):
            after = int(replica["exec_source_log_pos"])
    return path, info, after


def choose_file(info, file=None, target=None, replica=None):
    """Name of the binlog to damage. ``replica``: replica_status() dict."""
    files, active = info["files"], info["active"]
    if file:
        return os.path.basename(file)
    if target == "active":
        if not active:
            raise EngineError("cannot tell the active binlog")
        return active
    if target == "latest_rotated":
        rotated = [f for f in files if f != active]
        if not rotated:
            raise EngineError("there is no rotated binlog (only the active %s)" % active)
        return rotated[-1]
    if target == "oldest_needed":
        if not replica:
            raise EngineError("target oldest_needed: the replica reports no replication status")
        name = replica.get("relay_source_log_file") or replica.get("source_log_file")
        if not name:
            raise EngineError("target oldest_needed: the replica does not say which binlog it reads")
        if files and name not in files:
            raise EngineError("the replica needs %s, which the source no longer lists" % name)
        return name
    raise EngineError("give file or target")


def target_path(info, name, file=None):
    """Path of binlog ``name``: it must be listed in the server's binlog index, and a
    ``file`` given as a path must be that file in the binlog directory."""
    if name not in (info.get("files") or []):
        raise EngineError("%s is not listed in the binlog index%s: refusing to touch a file that is not "
                          "one of the server's binary logs" % (name, " (%s)" % info["index"] if info.get("index") else ""))
    path = os.path.join(info["dir"], name)
    if file and os.path.isabs(file) and os.path.normpath(file) != os.path.normpath(path):
        raise EngineError("%s is not in the binlog directory %s (set binlog_dir if the server's path "
                          "differs on this host)" % (file, info["dir"]))
    return path


# --------------------------------------------------------------------------
# where to cut
# --------------------------------------------------------------------------

def events(path):
    """[(offset, size)] of the v4 events of a binlog file (stops at the first bad header)."""
    out = []
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        if f.read(4) != BINLOG_MAGIC:
            return out
        pos = 4
        while pos + HEADER_LEN <= size:
            f.seek(pos)
            hdr = f.read(HEADER_LEN)
            ev_size = struct.unpack("<I", hdr[9:13])[0]
            if ev_size < HEADER_LEN or pos + ev_size > size:
                break
            out.append((pos, ev_size))
            pos += ev_size
    return out


def default_offset(path, after=4):
    """An offset in the *middle of an event* past ``after`` (the reader's position).

    Cutting there is what makes a reader report "binlog truncated in the middle
    of event"; a cut on an event boundary would silently shorten the file.
    """
    size = os.path.getsize(path)
    evs = [e for e in events(path) if e[0] >= after] or events(path)
    if not evs:
        return max(4, size // 2)
    mid = (max(after, 4) + size) // 2
    start, ev_size = next((e for e in evs if e[0] <= mid < e[0] + e[1]), evs[len(evs) // 2])
    return start + max(1, ev_size // 2)


# --------------------------------------------------------------------------
# refusals before any damage
# --------------------------------------------------------------------------

DEFAULT_BACKUP_DIR = "/var/lib/faultline/backups"
MIN_MARGIN = 16 * 1024 * 1024  # free space kept beyond the copies, at least


def _existing_dir(path):
    while not os.path.isdir(path):
        path = os.path.dirname(path) or "/"
    return path


def check_backup_dir(backup_dir, lstat=os.lstat, euid=None):
    """Refuse a backup directory another user could change (or a symlink to one)."""
    euid = os.geteuid() if euid is None else euid
    st = lstat(backup_dir)
    if not stat_mod.S_ISDIR(st.st_mode):
        raise EngineError("backup_dir %s is not a directory (a symlink?)" % backup_dir)
    if st.st_uid != euid or st.st_mode & 0o022:
        raise EngineError("backup_dir %s must be owned by uid %d and not writable by group or others "
                          "(owner %d, mode %o)" % (backup_dir, euid, st.st_uid, st.st_mode & 0o7777))


def preflight(path, backup_dir, min_free_bytes=None, statvfs=os.statvfs, access=os.access):
    """Refuse (EngineError) unless ``path`` is a binlog we may change and whose copies fit.

    Room is needed for the backup (in ``backup_dir``) and, at the restore, for the
    temporary copy next to the binlog; beyond both, a margin of ``min_free_bytes``
    or, by default, the size of the file (at least MIN_MARGIN) stays free."""
    try:
        st = os.lstat(path)
    except OSError:
        raise EngineError("binlog %s does not exist" % path)
    if not stat_mod.S_ISREG(st.st_mode):
        raise EngineError("%s is not a regular file (a symlink, a directory ...)" % path)
    if not access(path, os.R_OK | os.W_OK) or not access(os.path.dirname(path) or ".", os.W_OK):
        raise EngineError("no permission to change %s (read/write on the file and its directory needed)" % path)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        magic = os.pread(fd, len(BINLOG_MAGIC), 0)
    finally:
        os.close(fd)
    if magic != BINLOG_MAGIC:
        raise EngineError("%s is not a binary log (it does not start with the binlog magic \\xfebin)" % path)
    size = st.st_size
    margin = max(size, MIN_MARGIN) if min_free_bytes is None else int(min_free_bytes)
    need = {}
    for where in (_existing_dir(backup_dir), os.path.dirname(path) or "."):
        dev = os.stat(where).st_dev
        need.setdefault(dev, [where, margin])[1] += size
    for where, n in need.values():
        vfs = statvfs(where)
        free = vfs.f_bavail * vfs.f_frsize
        if free < n:
            raise EngineError("no room for the backup (and the restore's copy) of %s in %s: %d bytes free, "
                              "%d needed (copies of %d bytes + a margin of %d)" % (path, where, free, n, size, margin))
    return size


# --------------------------------------------------------------------------
# the planner
# --------------------------------------------------------------------------

class BinlogFault(Fault):
    """params: path, type, sha256, size, stat {uid,gid,mode}, backup, offset, length, bit,
    allow_active (a restore may then drop what the server wrote since the damage).

    Or, before :meth:`resolve`, what the module was given: type, file or
    target, binlog_dir, allow_active, offset, length, bit, min_free_bytes,
    backup_dir; ``login`` (kept out of ``params``, never recorded) holds the
    login options resolve asks the server with."""

    kind = "binlog"

    def __init__(self, params, fault_id=None, login=None):
        super(BinlogFault, self).__init__(params, fault_id)
        self.login = login or {}
        self.binlogs = None  # what the server (or the index) lists, after resolve
        self.renewal = False  # resolve found this fault active: its record's params are kept

    def identity(self):
        return {"path": self.params["path"], "type": self.params["type"]}

    def resolve(self, engine=None):
        """Find the binlog (:func:`locate`); a renewal keeps the active fault's
        params (its backup, sha256, owner and mode); else check the backup
        directory and the room for the copies (:func:`preflight`), choose the
        offset (mid-event past the reader) and read the file's sha256, owner
        and mode. Read-only; done once. Returns the path."""
        p = self.params
        if p.get("sha256"):
            return p["path"]
        module = engine.module if engine is not None else None
        path, self.binlogs, after = locate(p, lambda replica: ask_server(self.login, replica, module))
        p["path"] = path
        existing = engine.active(self.fault_id) if engine is not None else None
        if existing:
            self.renewal = True
            p.update(existing["params"], path=path, stat=(existing.get("revert") or [{}])[0].get("stat"))
            return path
        backup_dir = p.get("backup_dir") or DEFAULT_BACKUP_DIR
        if os.path.lexists(backup_dir):
            check_backup_dir(backup_dir)
        preflight(path, backup_dir, p.get("min_free_bytes"))
        st = os.lstat(path)
        offset = p.get("offset")
        if offset is None and p["type"] != "delete":
            offset = default_offset(path, after)
        if offset is not None and not 0 <= offset < st.st_size:
            raise EngineError("offset %d is outside %s (%d bytes)" % (offset, path, st.st_size))
        p.update(sha256=sha256_file(path), offset=offset, size=st.st_size,
                 # a restore of the active binlog drops what the server wrote since the damage
                 allow_active=bool(p.get("allow_active") and self.binlogs["active"] in (None, os.path.basename(path))),
                 stat=dict(uid=st.st_uid, gid=st.st_gid, mode=st.st_mode & 0o7777),
                 backup=os.path.join(backup_dir, "%s-%s" % (self.fault_id, os.path.basename(path))))
        return path

    def plan(self):
        p = self.params
        kind, path, sha, backup = p["type"], p["path"], p["sha256"], p["backup"]
        if kind not in TYPES:
            raise EngineError("unknown binlog fault type %r" % kind)
        where = {}
        if kind == "truncate":
            where["offset"] = int(p["offset"])
            what = "truncated to %d bytes" % where["offset"]
        elif kind == "garbage":
            where.update(offset=int(p["offset"]), length=int(p.get("length") or 64))
            what = "%d random bytes written at offset %d" % (where["length"], where["offset"])
        elif kind == "bitflip":
            where.update(offset=int(p["offset"]), bit=int(p.get("bit") or 0))
            what = "bit %d flipped at offset %d" % (where["bit"], where["offset"])
        else:
            what = "deleted"
        apply = [copy_action(path, backup, sha), corrupt_action(path, kind, sha, **where)]
        # the size the damage leaves: a file larger than that at the restore was written
        # to since (an active binlog), and the restore would drop those events
        damaged = {"truncate": where.get("offset"), "delete": None}.get(kind, p.get("size"))
        revert = [copy_action(backup, path, sha, stat=p.get("stat"), remove_src=True,
                              damaged_size=damaged, grown_ok=bool(p.get("allow_active")))]
        summary = "binlog %s %s" % (os.path.basename(path), what)
        preview = "%s: %s (backup %s, sha256 %s)" % (path, what, backup, sha)
        params = dict(self.identity(), sha256=sha, backup=backup, offset=where.get("offset"),
                      file=os.path.basename(path), size=p.get("size"), length=where.get("length"),
                      bit=where.get("bit"), allow_active=bool(p.get("allow_active")))
        return dict(type=kind, summary=summary, apply=apply, revert=revert, preview=preview, params=params)

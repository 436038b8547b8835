# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Binlog faults: truncate, garbage, bitflip or delete one binary log file.

The planner is pure: the module finds the file (from the server or a given
directory), checks it can be backed up, and hands :class:`BinlogFault` the
path, its sha256 and its owner/mode.  The plan is

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

from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import Fault
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    EngineError, copy_action, corrupt_action,
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
    allow_active (a restore may then drop what the server wrote since the damage)."""

    kind = "binlog"

    def identity(self):
        return {"path": self.params["path"], "type": self.params["type"]}

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

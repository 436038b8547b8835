#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: binlog
short_description: Corrupt a MySQL/MariaDB binary log on purpose, and restore it byte for byte
version_added: 0.1.0
description:
  - Truncates, overwrites with garbage, flips a bit in, or deletes one binary log
    file of the server, to see how a replica or a CDC pipeline reacts.
  - Before any damage the file is copied to O(backup_dir) (on disk) and its
    sha256 kept with the fault in O(state_dir); restoring puts back a byte-identical
    file (verified) and only then deletes the backup.
  - Only a file listed in the server's binlog index, in the binlog directory, that is a
    regular file starting with the binlog magic is touched. Neither the damage nor the
    restore ever follows a symbolic link.
  - The binlog directory comes from the server (C(log_bin_basename), C(SHOW BINARY LOGS))
    or from O(binlog_dir). Works with MariaDB and MySQL 8 (C(SHOW BINARY LOG STATUS)
    or C(SHOW MASTER STATUS)).
  - Refuses before damaging anything when the binlog does not exist, cannot be
    changed, or its backup would not fit.
requirements:
  - PyMySQL (Python library, on the host that runs the module), except with O(file) and O(binlog_dir)
    and no O(target) (then the binlog index is read from disk and the server is not asked)
  - Linux; root or the owner of the binary logs
author:
  - faultline.chaos contributors (@faultline)
extends_documentation_fragment:
  - faultline.chaos.attributes
  - faultline.chaos.attributes.leased_mysql
  - faultline.chaos.fault
  - faultline.chaos.mysql
  - faultline.chaos.mysql.replica
options:
  state:
    description:
      - V(corrupted) damages the file (re-running renews the lease, changed false).
      - V(restored) puts back the file named by O(file), or every damaged binlog when
        O(file) is omitted or V(all). Restoring when nothing was damaged is a no-op.
    type: str
    choices: [corrupted, restored]
    default: corrupted
  type:
    description:
      - V(truncate) cuts the file at O(offset) (default the middle of an event in the
        second half of what the reader still has to read).
      - V(garbage) overwrites O(length) bytes at O(offset) with random bytes.
      - V(bitflip) flips bit O(bit) of the byte at O(offset).
      - V(delete) removes the file (it stays listed in the index).
    type: str
    choices: [truncate, garbage, bitflip, delete]
    default: truncate
  file:
    description:
      - Name (or path) of the binlog, for example C(mysql-bin.000003).
      - With O(state=restored), the file to restore, or V(all).
    type: str
  target:
    description:
      - V(oldest_needed) is the oldest binlog the replica still needs (its executed
        source file); give the replica's login options.
      - V(latest_rotated) is the newest binlog that is no longer written to.
      - V(active) is the binlog the server writes now; needs O(allow_active=true).
    type: str
    choices: [oldest_needed, latest_rotated, active]
  allow_active:
    description:
      - Allow damaging the active binlog (the server keeps writing to it).
      - Its restore puts back the file as it was before the damage and so drops every event
        the server wrote to it since (the restore reports them); without this option a
        binlog that has grown since the damage is not restored (the restore fails and the
        backup is kept).
    type: bool
    default: false
  binlog_dir:
    description:
      - Directory of the binlog files, when the path the server reports is not the
        path on this host. With O(file) and O(binlog_dir) no server connection is needed
        (the active file is then read from the C(*.index) file there).
    type: path
  offset:
    description: Byte offset for V(truncate), V(garbage) and V(bitflip) (0 or more, inside the file).
    type: int
  length:
    description: Number of bytes V(garbage) overwrites (1 to 1073741824).
    type: int
    default: 64
  bit:
    description: Which bit V(bitflip) flips.
    type: int
    default: 0
    choices: [0, 1, 2, 3, 4, 5, 6, 7]
  min_free_bytes:
    description:
      - Space that must remain free beyond the backup (in O(backup_dir)) and the temporary copy a
        restore writes next to the binlog; refuse otherwise.
      - Default the size of the file, at least 16 MiB.
      - When given, 0 to 2^50 bytes.
    type: int
  backup_dir:
    description:
      - Directory of the backups, on disk so that a reboot (which ends the fault's lease but not
        the damage) does not lose them. Created with mode 0700; refused when it is a symlink, not
        owned by the user the module runs as, or writable by group or others.
    type: path
    default: /var/lib/faultline/backups
  duration:
    description:
      - Seconds until the supervisor restores the file (default at the O(lease) end).
      - Greater than 0 and at most 604800 (7 days); C(nan) and C(inf) are refused.
    type: float
attributes:
  check_mode:
    support: full
    details: Locates the file and plans the damage (or the restore) and changes nothing.
  diff_mode:
    support: full
    details: Shows the damage planned or applied, or the files restored with their sha256.
notes:
  - A reader that already has the file open keeps its old copy on V(delete) and
    after a restore (which renames a verified copy into place); restart its
    connection to make it read the file again.
'''

EXAMPLES = r'''
- name: Truncate the binlog the replica reads next
  faultline.chaos.binlog:
    login_port: 3317
    target: oldest_needed
    replica_port: 3318
    type: truncate
  register: damage

- name: Put every damaged binlog back
  faultline.chaos.binlog:
    state: restored

- name: Flip a bit in a named file without asking the server
  faultline.chaos.binlog:
    binlog_dir: /var/lib/mysql
    file: mysql-bin.000042
    type: bitflip
    offset: 1000
'''

RETURN = r'''
start_at:
  description: The instant (unix seconds) at which the supervisor applies the fault (O(start_at)).
  returned: when O(start_at) is set
  type: float
  sample: 1796160600.25
start_at_iso:
  description: RV(start_at) in ISO 8601, UTC.
  returned: when O(start_at) is set
  type: str
  sample: "2026-12-01T21:30:00.250000Z"
apply_journal:
  description:
    - Where the host journals its actual apply of a scheduled fault - the journal file, the fault
      id and the event name (C(applied), with intended, wall, mono, lag_s and clock).
      M(faultline.chaos.fault_info) with O(faultline.chaos.fault_info#module:journal_since) returns those events.
  returned: when O(start_at) is set
  type: dict
  sample: {path: /run/faultline/journal.jsonl, fault_id: network_3f2a9c1d, event: applied}
fault_id:
  description: Id of the damage (see M(faultline.chaos.fault_info)).
  returned: state=corrupted
  type: str
file:
  description: Path of the damaged binlog.
  returned: state=corrupted
  type: str
sha256:
  description: sha256 of the file before the damage (and after the restore).
  returned: state=corrupted
  type: str
backup:
  description: Path of the backup.
  returned: state=corrupted
  type: str
offset:
  description: Where the file was cut or changed.
  returned: state=corrupted
  type: int
binlogs:
  description: What the server (or the index) lists, and which file is active.
  returned: state=corrupted
  type: dict
restored:
  description: One entry per restored file, with file, sha256 and verified.
  returned: state=restored
  type: list
  elements: dict
summary:
  description: One line saying what was done.
  returned: always
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule

# first: the bytecode cache for the module_utils below (a no-op outside AnsiballZ)
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache  # noqa: F401 pylint: disable=unused-import
from ansible_collections.faultline.chaos.plugins.module_utils._db import mysql as db
from ansible_collections.faultline.chaos.plugins.module_utils._engine.base import (
    ENGINE_BOUNDS, FaultEngine, engine_argument_spec, reap_orphans,
)
from ansible_collections.faultline.chaos.plugins.module_utils._engine.validate import PORT, SECONDS, count, checked_module
from ansible_collections.faultline.chaos.plugins.module_utils._engine.runtime import (
    EngineError, sha256_file,
)
from ansible_collections.faultline.chaos.plugins.module_utils._faults import binlog as bl


def corrupt(module, engine, p):
    fault = bl.BinlogFault(dict((k, p[k]) for k in (
        "type", "file", "target", "allow_active", "binlog_dir", "offset", "length", "bit", "min_free_bytes",
        "backup_dir")), fault_id=p["fault_id"], login=p)
    fault.resolve(engine)  # discovery and refusals (engine.apply asks again: already done)
    if not module.check_mode and not fault.renewal:
        engine.ledger.ensure()
        if not os.path.isdir(p["backup_dir"]):
            os.makedirs(p["backup_dir"], 0o700)
        bl.check_backup_dir(p["backup_dir"])
    res = engine.apply(fault, duration=p["duration"], lease=p["lease"])
    res.pop("record", None)
    res.update(file=fault.params["path"], sha256=fault.params["sha256"], backup=fault.params["backup"],
               offset=fault.params.get("offset"), binlogs=fault.binlogs)
    return res


def restore(module, engine, p):
    want = p["file"]

    def named(rec):
        return want in (rec["params"].get("path"), rec["params"].get("file"))

    restored = []
    for out in engine.revert_where("binlog", named if want and want != "all" else None, reason="restored"):
        path, sha = out["params"]["path"], out["params"]["sha256"]
        entry = dict(fault_id=out["id"], file=path, sha256=sha, backup=out["params"].get("backup"))
        if not module.check_mode:
            entry["verified"] = os.path.exists(path) and sha256_file(path) == sha
            entry["errors"] = out.get("errors", [])
            if not entry["verified"]:
                module.fail_json(msg="%s was not restored byte for byte; its backup is kept at %s" % (
                    path, entry["backup"]), restored=restored + [entry])
        restored.append(entry)
    summary = ("restored %s" % ", ".join(os.path.basename(e["file"]) for e in restored)) if restored \
        else "nothing to restore"
    return dict(changed=bool(restored), restored=restored, summary=summary,
                diff=dict(before="".join("%s damaged\n" % e["file"] for e in restored),
                          after="".join("%s %s\n" % (e["file"], e["sha256"]) for e in restored)))


BOUNDS = dict(ENGINE_BOUNDS, offset=count(0, 1 << 62, "bytes"), length=count(1, 1 << 30, "bytes"),
              min_free_bytes=count(0, 1 << 50, "bytes"), duration=SECONDS, replica_port=PORT)


def main():
    argument_spec = engine_argument_spec()
    argument_spec.update(db.mysql_common_argument_spec())
    argument_spec.update(
        state=dict(type="str", default="corrupted", choices=["corrupted", "restored"]),
        type=dict(type="str", default="truncate", choices=list(bl.TYPES)),
        file=dict(type="str"),
        target=dict(type="str", choices=list(bl.TARGETS)),
        allow_active=dict(type="bool", default=False),
        binlog_dir=dict(type="path"),
        offset=dict(type="int"),
        length=dict(type="int", default=64),
        bit=dict(type="int", default=0, choices=list(range(8))),
        min_free_bytes=dict(type="int"),
        backup_dir=dict(type="path", default=bl.DEFAULT_BACKUP_DIR),
        duration=dict(type="float"),
    )
    argument_spec.update(db.login_spec("replica_"))
    module = checked_module(
        AnsibleModule, dict(BOUNDS, **db.MYSQL_BOUNDS),
        argument_spec=argument_spec,
        mutually_exclusive=[("file", "target")],
        required_if=[("state", "corrupted", ("file", "target"), True)],
        supports_check_mode=True,
    )
    reap_orphans(module)  # first: finish what a dead supervisor left on this host
    p = module.params
    if p["start_at"] and p["state"] == "restored":
        module.fail_json(msg="start_at schedules the damage (state=corrupted); it cannot schedule state=restored")
    if p["state"] == "corrupted" and p["file"] == "all":
        module.fail_json(msg="file: all is only meaningful with state: restored")
    engine = FaultEngine(module, state_dir=p["state_dir"])
    try:
        res = corrupt(module, engine, p) if p["state"] == "corrupted" else restore(module, engine, p)
    except EngineError as e:
        module.fail_json(msg=str(e))
    except (IOError, OSError) as e:
        module.fail_json(msg="%s: %s" % (getattr(e, "filename", "") or "binlog", e.strerror or e))
    module.exit_json(**res)


if __name__ == "__main__":
    main()

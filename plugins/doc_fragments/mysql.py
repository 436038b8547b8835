# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# One template for every set of MySQL/MariaDB login options; the argument
# spec side is module_utils/_db/mysql.py login_spec(prefix), built the same way.
# Sections: faultline.chaos.mysql (login_*, connect_timeout, database),
# faultline.chaos.mysql.source (source_*), faultline.chaos.mysql.destination
# (destination_*), faultline.chaos.mysql.replica (replica_*).


def _login_options(prefix, server, purpose=""):
    return r'''
  {p}host:
    description: Host of {s}.{purpose}
    type: str
    default: 127.0.0.1
  {p}port:
    description: TCP port of {s} (1-65535).
    type: int
    default: 3306
  {p}user:
    description: User on {s}.
    type: str
    default: root
  {p}password:
    description: Password of O({p}user). Never logged.
    type: str
    default: ''
  {p}unix_socket:
    description: Unix socket of {s} instead of TCP.
    type: path
'''.format(p=prefix, s=server, purpose=(" " + purpose) if purpose else "")


class ModuleDocFragment(object):
    """Sections DOCUMENTATION, SOURCE, DESTINATION, REPLICA: set below from one template.

    (Assigned after the class on purpose: ansible-doc and validate-modules import
    this file and read the attributes; only literal strings may stand in a doc
    fragment's class body.)
    """


ModuleDocFragment.DOCUMENTATION = "options:" + _login_options("login_", "the MySQL/MariaDB server") + r'''
  connect_timeout:
    description: Seconds to wait for a connection (greater than 0, at most 604800).
    type: float
    default: 5.0
  database:
    description: Default database of the connection.
    type: str
'''
ModuleDocFragment.SOURCE = "options:" + _login_options("source_", "the source server")
ModuleDocFragment.DESTINATION = "options:" + _login_options("destination_", "the destination server")
ModuleDocFragment.REPLICA = "options:" + _login_options(
    "replica_", "the replica", "O(target=oldest_needed) asks it which binlog it still needs.")

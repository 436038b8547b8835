# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  login_host:
    description: Host of the MySQL/MariaDB server.
    type: str
    default: 127.0.0.1
  login_port:
    description: TCP port of the server (1-65535).
    type: int
    default: 3306
  login_user:
    description: User to log in as.
    type: str
    default: root
  login_password:
    description: Password of O(login_user). Never logged.
    type: str
    default: ''
  login_unix_socket:
    description: Unix socket to connect through instead of TCP.
    type: path
  connect_timeout:
    description: Seconds to wait for a connection (greater than 0, at most 604800).
    type: float
    default: 5.0
  database:
    description: Default database of the connection.
    type: str
requirements:
  - PyMySQL (on the host that connects)
'''

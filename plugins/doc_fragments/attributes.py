# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # The attributes every module documents. A module sets C(support) and, in
    # C(details), what check and diff mode mean for it.
    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
'''

    # The module_defaults groups of meta/runtime.yml, one section per membership
    # (a module extends exactly one of them; tests/unit checks them against runtime.yml).
    LEDGER = r'''
attributes:
  action_group:
    description:
      Use C(module_defaults) with C(group/faultline.chaos.ledger) to set O(state_dir) once for
      every module of the group.
    support: full
    membership:
      - faultline.chaos.ledger
'''

    LEASED = r'''
attributes:
  action_group:
    description:
      Use C(module_defaults) with C(group/faultline.chaos.ledger) and C(group/faultline.chaos.leased)
      to set O(state_dir) and O(lease) once for every module of the group.
    support: full
    membership:
      - faultline.chaos.ledger
      - faultline.chaos.leased
'''

    LEASED_MYSQL = r'''
attributes:
  action_group:
    description:
      Use C(module_defaults) with C(group/faultline.chaos.ledger), C(group/faultline.chaos.leased)
      and C(group/faultline.chaos.mysql) to set O(state_dir), O(lease) and the login options once
      for every module of the group.
    support: full
    membership:
      - faultline.chaos.ledger
      - faultline.chaos.leased
      - faultline.chaos.mysql
'''

# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: checks
short_description: Judge pass criteria written as JMESPath expressions over a run's report data
version_added: 0.1.0
author:
  - faultline.chaos contributors (@faultline)
description:
  - Evaluates a list of checks against the report data of a test-case run
    (observations, cycles, integrity, probe metrics ...) and returns the
    verification checklist that M(faultline.chaos.report) takes as O(faultline.chaos.report#module:checks).
  - Each check is a dict with C(name), C(expr) (a JMESPath expression over the data),
    C(op) and C(value). The check passes when C(<result of expr> <op> <value>) holds.
  - A check whose expression does not compile, whose C(op) is unknown or whose
    regular expression is invalid stops the filter with a message naming the check.
    An expression that finds nothing (V(null)) or a comparison between values of
    different types fails the check (with a detail saying so), it does not stop the run.
  - The test-case roles express their own checklists this way and append
    C(<role>_extra_checks), so a user adds a criterion without copying the role.
options:
  _input:
    description: The report data (a dict) the expressions are evaluated against.
    type: dict
    required: true
  checks:
    description:
      - The checks, in order.
      - C(name) (str, required) names the checklist item.
      - C(expr) (str, required) is the JMESPath expression (U(https://jmespath.org/specification.html)).
      - C(op) (str, default V(truthy)) is one of V(==), V(!=), V(<), V(<=), V(>), V(>=),
        V(in), V(not_in), V(search) (regular expression search in the string result),
        V(truthy), V(falsy), V(null), V(not_null).
      - C(value) is the threshold or expected value, required for every C(op) but
        V(truthy), V(falsy), V(null) and V(not_null).
      - C(detail) (str, optional) replaces the generated detail (the expression, what it
        found and what was expected).
    type: list
    elements: dict
    required: true
requirements:
  - jmespath (on the controller)
'''

EXAMPLES = r'''
- name: Judge a run's data with the default checks plus one of our own
  ansible.builtin.set_fact:
    my_checks: >-
      {{ run_data | faultline.chaos.checks([
           {'name': 'Replica lag back under 1 s within 20 s', 'expr': 'observations.time_to_recover_s', 'op': '<', 'value': 20},
           {'name': 'No more than 3 retries', 'expr': 'observations.retries', 'op': '<=', 'value': 3},
           {'name': 'Every cycle reconnected', 'expr': "length(cycles[?verdict == 'not_recovered'])", 'op': '==', 'value': 0},
         ]) }}

- name: TC-004 with one more criterion, appended to the role's own checklist
  ansible.builtin.include_role:
    name: faultline.chaos.connection_refused
  vars:
    connection_refused_extra_checks:
      - name: No more than 3 retries
        expr: observations.retries
        op: "<="
        value: 3
'''

RETURN = r'''
_value:
  description: One dict per check, in order, as M(faultline.chaos.report) takes them.
  type: list
  elements: dict
  contains:
    name:
      description: The check's name.
      type: str
    passed:
      description: Whether the check holds.
      type: bool
    detail:
      description: The check's C(detail), or the expression, what it found and what was expected.
      type: str
    value:
      description: What the expression found in the data.
      type: raw
'''

import json
import operator
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_native
from ansible.module_utils.six import string_types

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - reported by the filter
    HAS_JMESPATH = False

COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
           ">": operator.gt, ">=": operator.ge}
UNARY = ("truthy", "falsy", "null", "not_null")
OPS = tuple(COMPARE) + ("in", "not_in", "search") + UNARY
ORDERED = ("<", "<=", ">", ">=")


def _show(value):
    try:
        text = json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _like(found, want):
    """A threshold given as a numeric string (older ansible-core templates to strings,
    ``-e`` values are strings) is compared as a number when the data holds a number."""
    if _number(found) and isinstance(want, string_types):
        try:
            return float(want)
        except ValueError:
            return want
    return want


def _judge(op, found, want):
    """(passed, reason-when-it-could-not-be-judged) for one comparison."""
    if op == "truthy":
        return bool(found), None
    if op == "falsy":
        return not found, None
    if op == "null":
        return found is None, None
    if op == "not_null":
        return found is not None, None
    if found is None:
        return False, "the expression found nothing (null)"
    want = _like(found, want)
    if op == "search":
        if not isinstance(found, string_types):
            return False, "search needs a string, found %s" % type(found).__name__
        return re.search(want, found) is not None, None
    if op in ("in", "not_in"):
        hit = found in want
        return (hit if op == "in" else not hit), None
    if op in ORDERED and not ((_number(found) and _number(want))
                              or (isinstance(found, string_types) and isinstance(want, string_types))):
        return False, "cannot compare %s with %s" % (type(found).__name__, type(want).__name__)
    return bool(COMPARE[op](found, want)), None


def _spec(check, index):
    """Validate one check; returns (name, compiled expression, op, value, detail)."""
    if not isinstance(check, dict):
        raise AnsibleFilterError("faultline.chaos.checks: check #%d is not a dict: %s" % (index + 1, _show(check)))
    name = check.get("name")
    if not isinstance(name, string_types) or not name.strip():
        raise AnsibleFilterError("faultline.chaos.checks: check #%d has no name" % (index + 1))
    unknown = sorted(set(check) - set(("name", "expr", "op", "value", "detail")))
    if unknown:
        raise AnsibleFilterError("faultline.chaos.checks: check %r: unknown keys %s (known: name, expr, op, value, detail)"
                                 % (name, ", ".join(unknown)))
    expr = check.get("expr")
    if not isinstance(expr, string_types) or not expr.strip():
        raise AnsibleFilterError("faultline.chaos.checks: check %r has no expr (a JMESPath expression)" % name)
    try:
        compiled = jmespath.compile(expr)
    except JMESPathError as e:
        raise AnsibleFilterError("faultline.chaos.checks: check %r: invalid JMESPath expression %r: %s"
                                 % (name, expr, to_native(e).strip()))
    op = check.get("op", "truthy")
    if op not in OPS:
        raise AnsibleFilterError("faultline.chaos.checks: check %r: unknown op %r (one of %s)" % (name, op, ", ".join(OPS)))
    value = check.get("value")
    if op not in UNARY and "value" not in check:
        raise AnsibleFilterError("faultline.chaos.checks: check %r: op %r needs a value" % (name, op))
    if op == "search":
        if not isinstance(value, string_types):
            raise AnsibleFilterError("faultline.chaos.checks: check %r: op search needs a regular expression as value" % name)
        try:
            value = re.compile(value)
        except re.error as e:
            raise AnsibleFilterError("faultline.chaos.checks: check %r: invalid regular expression %r: %s"
                                     % (name, check["value"], e))
    if op in ("in", "not_in") and not isinstance(value, (list, tuple, string_types, dict)):
        raise AnsibleFilterError("faultline.chaos.checks: check %r: op %s needs a list or string as value" % (name, op))
    detail = check.get("detail")
    if detail is not None and not isinstance(detail, string_types):
        raise AnsibleFilterError("faultline.chaos.checks: check %r: detail must be a string" % name)
    return name, compiled, op, value, detail


def checks(data, specs):
    """Evaluate every check in ``specs`` against ``data``."""
    if not HAS_JMESPATH:
        raise AnsibleFilterError("faultline.chaos.checks needs the jmespath Python library on the controller")
    if not isinstance(data, dict):
        raise AnsibleFilterError("faultline.chaos.checks: the input must be the report data (a dict), got %s"
                                 % type(data).__name__)
    if not isinstance(specs, (list, tuple)):
        raise AnsibleFilterError("faultline.chaos.checks: checks must be a list of dicts")
    parsed = [_spec(c, i) for i, c in enumerate(specs)]  # every check is validated before any is judged
    # plain JSON types only: templated values may come as Ansible's own str/dict subclasses
    data = json.loads(json.dumps(data, default=str))
    out = []
    for (name, compiled, op, value, detail), raw in zip(parsed, specs):
        reason = None
        try:
            found = compiled.search(data)
        except JMESPathError as e:
            found, passed, reason = None, False, "the expression failed on this run's data: %s" % to_native(e).strip()
        else:
            passed, reason = _judge(op, found, value)
        if detail is None:
            want = "" if op in UNARY else " " + (raw["value"] if op == "search" else _show(value))
            detail = "%s = %s (expected %s%s)" % (raw["expr"], _show(found), op, want)
            if reason:
                detail += ": " + reason
        elif reason:
            detail = "%s (%s)" % (detail, reason)
        out.append(dict(name=name, passed=bool(passed), detail=detail, value=found))
    return out


class FilterModule(object):
    def filters(self):
        return {"checks": checks}

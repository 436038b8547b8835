# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one validator for every number a user passes to a faultline module.

Ansible's ``float`` type accepts ``nan``, ``inf`` and ``1e400``; a ``<= 0``
check lets ``nan`` through (every comparison with it is false), and a fault
whose duration or lease is ``nan`` or ``inf`` is never reverted by its
supervisor.  So each module declares, next to its ``argument_spec``, a table
of :class:`Bound` per numeric option and calls :func:`enforce` right after
``AnsibleModule`` is built::

    BOUNDS = dict(ENGINE_BOUNDS, duration=SECONDS, port=PORT)
    module = AnsibleModule(argument_spec=..., ...)
    enforce(module, BOUNDS)

:func:`enforce` fails the task (``fail_json``, nothing done yet) naming the
option, the value and the allowed range.  A list value is checked element by
element (``ports[1]=70000``); a dict as bound value checks the keys of a
dict option or of every dict of a list option (``mysql[0].login_port``).
A numeric option of the ``argument_spec`` missing from the table is still
required to be finite; :func:`unbounded` lists such options so a unit test
keeps every module's table complete.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

MINUTE = 60
HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
# The longest any fault, lease, worker or wait may last: 604800 s (7 days).
MAX_SECONDS = WEEK

NUMERIC_TYPES = ("int", "float")


def _human_seconds(value):
    for size, word in ((WEEK, "week"), (DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")):
        if value >= size and value % size == 0:
            n = int(value // size)
            if word == "week":  # 7 days reads better than 1 week next to 604800
                n, word = n * 7, "day"
            return "%d %s%s" % (n, word, "" if n == 1 else "s")
    return None


def _fmt(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


class Bound(object):
    """A closed (or left-open) range of finite numbers, optionally whole numbers."""

    def __init__(self, low, high, unit="", low_open=False, integer=False, numeric_strings=False, text=None):
        self.low, self.high, self.unit, self.text = low, high, unit, text
        self.low_open, self.integer = low_open, integer
        # raw options (report started/finished): check numbers and numeric
        # strings, leave other strings (ISO 8601 dates) to the module
        self.numeric_strings = numeric_strings

    def describe(self):
        if self.text:
            return self.text
        what = "a whole number" if self.integer else "a finite number"
        if self.unit:
            what += " of %s" % self.unit
        high = _fmt(self.high)
        if self.unit == "seconds" and _human_seconds(self.high):
            high += " (%s)" % _human_seconds(self.high)
        if self.low_open:
            return "%s greater than %s and at most %s" % (what, _fmt(self.low), high)
        return "%s from %s to %s" % (what, _fmt(self.low), high)

    def problem(self, value):
        """None if ``value`` is allowed, else what is wrong with it."""
        if value is None:
            return None
        if isinstance(value, bool):
            return "is not a number"
        if isinstance(value, str):
            if not self.numeric_strings:
                return "is not a number"
            try:
                value = float(value.strip())
            except ValueError:
                return None  # not a number at all: the module's own parser decides
        if not isinstance(value, (int, float)):
            return None if self.numeric_strings else "is not a number"
        if isinstance(value, float) and not math.isfinite(value):
            return "is out of range"
        if self.integer and value != int(value):
            return "is out of range"
        if value < self.low or (self.low_open and value == self.low) or value > self.high:
            return "is out of range"
        return None


def seconds(high=MAX_SECONDS, zero=False):
    """Durations, leases, intervals, timeouts: > 0 (>= 0 with ``zero``), at most ``high``."""
    return Bound(0, high, "seconds", low_open=not zero)


def milliseconds(low, high):
    return Bound(low, high, "milliseconds")


def count(low, high, unit=""):
    """Whole numbers: counts, sizes, rows, percentages."""
    return Bound(low, high, unit, integer=True)


SECONDS = seconds()
SECONDS_OR_ZERO = seconds(zero=True)
LEASE = SECONDS
PORT = Bound(1, 65535, integer=True, text="a port number from 1 to 65535")
PERCENT = count(1, 100, "percent")
# PID_MAX_LIMIT on 64-bit Linux; 1 is init, never a target
PID = Bound(2, 4194304, integer=True, text="a process id: a whole number from 2 to 4194304 (1 is init)")
# Unix time from 1970 up to 2100-01-01 (numbers or numeric strings)
TIMESTAMP = Bound(0, 4102444800, "seconds since the epoch", numeric_strings=True)
# what an option the table forgot still has to be
FINITE = Bound(-float("inf"), float("inf"), text="a finite number")


def _walk(name, value, bound, out):
    if value is None:
        return
    if isinstance(bound, dict):
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            where = "%s[%d]" % (name, i) if isinstance(value, list) else name
            for key in sorted(bound):
                _walk("%s.%s" % (where, key), item.get(key), bound[key], out)
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _walk("%s[%d]" % (name, i), item, bound, out)
        return
    why = bound.problem(value)
    if why:
        out.append("%s=%s %s: must be %s" % (name, value, why, bound.describe()))


def unbounded(argument_spec, bounds, prefix=""):
    """Numeric options (and numeric list elements / suboptions) without a bound.

    An option with ``choices`` is bounded by them already.
    """
    missing = []
    for name in sorted(argument_spec):
        spec = argument_spec[name]
        numeric = not spec.get("choices") and (spec.get("type") in NUMERIC_TYPES or (
            spec.get("type") == "list" and spec.get("elements") in NUMERIC_TYPES))
        if numeric and name not in bounds:
            missing.append(prefix + name)
        if spec.get("options"):
            sub = bounds.get(name)
            missing.extend(unbounded(spec["options"], sub if isinstance(sub, dict) else {},
                                     prefix="%s%s." % (prefix, name)))
    return missing


def problems(params, bounds, argument_spec=None):
    """Every out-of-range number in ``params`` as a message (empty list: all fine)."""
    out = []
    table = dict(bounds)
    if argument_spec is not None:
        for path in unbounded(argument_spec, bounds):
            parts = path.split(".")
            if len(parts) == 1:
                table[path] = FINITE
            else:  # a forgotten suboption: still finite
                table[parts[0]] = dict(table.get(parts[0]) or {}, **{parts[1]: FINITE})
    for name in sorted(table):
        _walk(name, params.get(name), table[name], out)
    return out


def enforce(module, bounds):
    """Fail the task before anything happens if a number is out of range."""
    errors = problems(module.params, bounds, getattr(module, "argument_spec", None))
    if errors:
        module.fail_json(msg="; ".join(errors))


def _raw_spec(spec):
    """The same options with every type relaxed to raw (no_log and aliases kept)."""
    return dict((name, dict(type="raw", no_log=bool(opt.get("no_log")), aliases=list(opt.get("aliases") or [])))
                for name, opt in spec.items())


def _non_finite(value):
    if isinstance(value, float):
        return math.isnan(value) or math.isinf(value)
    if isinstance(value, str):
        return value.strip().lower().lstrip("+-") in ("inf", "infinity", "nan")
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(v) for v in value)
    return False


def checked_module(module_class, bounds, **kwargs):
    """Build the module (``module_class(**kwargs)``) and :func:`enforce` its bounds.

    ansible-core's own ``int`` conversion raises ``OverflowError`` on ``inf``
    (``int(Decimal('Infinity'))``) while it parses the arguments, before the
    module could say anything: the user saw a traceback.  Here that case gets
    the same ``fail_json`` as any other out-of-range number.
    """
    try:
        module = module_class(**kwargs)
    except OverflowError:
        spec = kwargs.get("argument_spec") or {}
        bare = module_class(argument_spec=_raw_spec(spec), supports_check_mode=True)
        bad = sorted(name for name in spec if _non_finite(bare.params.get(name)))
        bare.fail_json(msg="; ".join("%s=%s is out of range: must be a finite number" % (name, bare.params[name])
                                     for name in bad) or "a number in the arguments is not finite")
    enforce(module, bounds)
    return module

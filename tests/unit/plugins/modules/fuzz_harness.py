"""In-process driver and hypothesis strategies for fuzzing the modules' arguments.

``spec_of(module)`` captures a module's argument_spec (and its other
AnsibleModule keyword arguments) by running ``main()`` until it builds its
AnsibleModule.  ``run(module, args)`` runs ``main()`` in-process (check mode
by default) and returns ``(exit code, result dict)``, or raises whatever the
module raised instead of exiting: a traceback.  ``args_for(spec, tmp)`` is a
hypothesis strategy of argument dicts: every option gets a plausible value,
one of its choices, or a hostile one (wrong type, nan, inf, negative, huge,
empty, path tricks).  Whatever talks to the network is pinned to loopback and
closed ports, whatever names a file to the example's own directory.
"""
import io
import json
import math
import os
import sys
from contextlib import redirect_stdout

from hypothesis import strategies as st

from module_args import patch_module_args


class _Captured(Exception):
    pass


def spec_of(module):
    """(argument_spec, other AnsibleModule kwargs) of a module, without running it."""
    real = module.AnsibleModule
    seen = {}

    def capture(*args, **kw):
        seen.update(kw)
        raise _Captured()

    module.AnsibleModule = capture
    try:
        with patch_module_args({}):
            module.main()
    except _Captured:
        pass
    finally:
        module.AnsibleModule = real
    spec = seen.pop("argument_spec")
    return spec, seen


def run(module, args, check=True):
    """Run ``module.main()`` in-process -> (exit code, result). Raises what the module raised."""
    full = dict(args)
    full["_ansible_check_mode"] = check
    out = io.StringIO()
    code = None
    with patch_module_args(full):
        with redirect_stdout(out):
            try:
                module.main()
            except SystemExit as e:
                code = e.code
            else:
                raise AssertionError("%s.main() returned without exit_json/fail_json" % module.__name__)
    text = out.getvalue()
    try:
        result = json.loads(text)
    except ValueError:
        raise AssertionError("not one JSON document on stdout (a traceback?): %r" % text[-2000:])
    return code, result


# ---------------------------------------------------------------------------
# values
# ---------------------------------------------------------------------------

NASTY_NUMBERS = [float("nan"), float("inf"), float("-inf"), -1, 0, -0.0, 1e-9, 1e308, 2 ** 63, -2 ** 63,
                 "nan", "inf", "-inf", "1e999", "NaN", " 5 ", "0x10", "1_000"]
NASTY_SCALARS = [None, "", " ", True, False, [], {}, "x" * 300, "\u00e9\u4e2d", "../../etc/passwd", "-1",
                 "a\nb", "%s%n", "${x}", "{{ x }}", "0", "yes"]
CLOSED_PORTS = [1, 2, -1, 0, 65535, 65536, 2 ** 31, "x", None]
LOOPBACK = ["127.0.0.1", "localhost", "::1", "", "127.0.0.1; true", "0.0.0.0", None, "-h"]
SECRET = ["", "pw", None, "p\u00e9 \"'"]


def _text():
    return st.one_of(st.sampled_from(NASTY_SCALARS[1:]), st.text(max_size=20))


# float inf/nan given to an *int* option make ansible-core's type check raise
# OverflowError/ValueError (a traceback before the module runs): a known defect
# with its own test (test_non_finite_numbers_for_int_options_are_refused), kept
# out of the general fuzz so that it can find the next one.
NON_FINITE_FLOATS = [v for v in NASTY_NUMBERS if isinstance(v, float) and not math.isfinite(v)]
NON_FINITE_TEXT = ["nan", "inf", "-inf", "1e999", "NaN"]


# Likewise numbers outside [-1e7, 1e7], nan/inf and negative floats (all durations,
# intervals, timeouts): bounding every number is the shared validator's job
# (test_non_finite_and_unbounded_numbers_are_refused, test_negative_timeouts_are_refused).
def _number(kind):
    base = st.integers(-10 ** 7, 10 ** 7) if kind == "int" else st.floats(0, 1e7)
    plausible = st.integers(1, 100) if kind == "int" else st.floats(0.01, 100)
    nasty = [v for v in NASTY_NUMBERS if v not in NON_FINITE_FLOATS and v not in NON_FINITE_TEXT
             and not (isinstance(v, (int, float)) and abs(v) > 1e7)
             and not (kind == "float" and isinstance(v, (int, float)) and v < 0)]
    return st.one_of(plausible, base, st.sampled_from(nasty))


def _value(name, opt, tmp):
    """Strategy of values for one option."""
    kind = opt.get("type", "str")
    lname = name.lower()
    # never talk to anything but loopback and closed ports; never touch files outside tmp
    if lname.endswith("port") and kind == "int":
        return st.sampled_from(CLOSED_PORTS)
    if lname == "ports":
        return st.one_of(st.none(), st.lists(st.sampled_from(CLOSED_PORTS), max_size=3), st.sampled_from(["x", 5]))
    if lname == "pid":
        return st.sampled_from([None, 0, 1, -1, 2 ** 31, os.getpid(), "x"])
    if lname.endswith("host") or lname == "peers":
        return st.one_of(st.sampled_from(LOOPBACK), st.lists(st.sampled_from(LOOPBACK), max_size=2))
    if "password" in lname:
        return st.sampled_from(SECRET)
    if lname in ("url",):
        return st.sampled_from(["http://127.0.0.1:1/", "ws://127.0.0.1:1/x", "ftp://127.0.0.1:1/", "", "not a url",
                                "http://[::1]:1/", "file:///etc/passwd", None])
    if lname in ("unix_socket",) or lname.endswith("unix_socket") or lname.endswith("_socket"):
        return st.sampled_from([os.path.join(tmp, "nope.sock"), "", None])
    if kind == "path" or lname in ("file", "path", "report_dir", "event_files", "service_pidfile"):
        inside = st.sampled_from([tmp, os.path.join(tmp, "x"), os.path.join(tmp, "..", "y"),
                                  os.path.join(tmp, "a b"), "", None, os.path.join(tmp, "no", "such")])
        if kind == "list":
            return st.one_of(st.none(), st.lists(inside.filter(lambda v: v is not None), max_size=2))
        return inside
    if lname in ("command", "service_start", "argv"):
        # only ever run in check mode, where the modules do not run them
        return st.one_of(st.none(), st.lists(st.sampled_from(["false", "", "-x", "/nonexistent"]), max_size=3),
                         st.sampled_from(["false", 5]))
    if lname == "netns":
        return st.sampled_from([None, "", "1", "/proc/self/ns/net", "nosuchns", "../x", str(os.getpid()),
                                "/proc/1/ns/net", "-1"])
    choices = opt.get("choices")
    if choices:
        valid = st.sampled_from(list(choices))
        if kind == "list":
            return st.one_of(st.none(), st.lists(valid, max_size=3), st.lists(_text(), max_size=2))
        return st.one_of(valid, valid, valid, _text(), st.none())
    if kind in ("int", "float"):
        scalars = [v for v in NASTY_SCALARS if kind == "int" or v != "-1"]
        return st.one_of(_number(kind), st.sampled_from(scalars))
    if kind == "bool":
        return st.one_of(st.booleans(), st.sampled_from(["yes", "no", "maybe", 2, None, ""]))
    if kind == "list":
        el = opt.get("elements", "str")
        inner = _value(name + "_item", dict(type=el), tmp) if el != "dict" else _dict(opt, tmp)
        return st.one_of(st.none(), st.lists(inner, max_size=3), st.sampled_from(["a,b", 5, {}]))
    if kind == "dict":
        return _dict(opt, tmp)
    if kind == "raw":
        return st.one_of(_number("float"), st.sampled_from(NASTY_SCALARS + NASTY_NUMBERS), st.text(max_size=30))
    return st.one_of(_text(), _text(), st.sampled_from(NASTY_NUMBERS[:4]))


def _dict(opt, tmp):
    sub = opt.get("options")
    if sub:
        return st.one_of(st.none(), args_for(sub, tmp, fixed={}), st.sampled_from(["x", 5, [], {"bogus": 1}]))
    key = st.sampled_from(["a", "down_at", "up_at", "name", "passed", "ts", "value", "n", "kind", "reason", ""])
    leaf = st.one_of(_number("float"), st.sampled_from(NASTY_SCALARS + NASTY_NUMBERS), st.text(max_size=10))
    return st.one_of(st.none(), st.dictionaries(key, leaf, max_size=4), st.sampled_from(["x", 5, []]))


def args_for(spec, tmp, fixed=None):
    """Strategy of argument dicts over ``spec``: a random subset of options, each with a value."""
    fixed = dict(fixed or {})
    names = sorted(n for n in spec if n not in fixed)
    strategies = dict((n, _value(n, spec[n], tmp)) for n in names)

    @st.composite
    def build(draw):
        chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=min(len(names), 8))) if names else []
        args = dict(fixed)
        for n in chosen:
            args[n] = draw(strategies[n])
        # required options get a value most of the time, so that deeper code runs
        for n in names:
            if spec[n].get("required") and n not in args and draw(st.integers(0, 9)) > 0:
                args[n] = draw(strategies[n])
        return args
    return build()


def is_finite_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def python_name():
    return sys.executable

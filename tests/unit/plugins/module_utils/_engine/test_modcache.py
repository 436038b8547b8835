"""The bytecode cache of the module_utils on the target (modcache.py).

Before: AnsiballZ's zipimport compiled every module_utils file of a module on
every task (twice: its find_spec compiles for get_filename, its loader again to
run it): runtime.py, base.py, _faults/network.py cost the network module about
50 ms a task.  Each test builds a zip laid out as AnsiballZ's (the real
modcache.py and a small module_utils module) and imports from it in a fresh
interpreter, as a module does on the target.
"""
import json
import marshal
import os
import stat
import subprocess
import sys
import zipfile

import pytest

from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache

PKG = "ansible_collections/faultline/chaos/plugins/module_utils"
NAME = "ansible_collections.faultline.chaos.plugins.module_utils._engine.probe_mod"
PROBE = 'VALUE = "%s"\n\n\ndef where():\n    raise RuntimeError("probe")\n'

RUN = r"""
import json, sys, traceback
sys.path.insert(0, sys.argv[1])
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache
from ansible_collections.faultline.chaos.plugins.module_utils._engine import probe_mod
try:
    probe_mod.where()
except RuntimeError:
    tb = traceback.format_exc()
print(json.dumps(dict(value=probe_mod.VALUE, loader=type(probe_mod.__loader__).__name__,
                      file=probe_mod.__file__, source=probe_mod.__loader__.get_source(probe_mod.__name__),
                      finders=sum(isinstance(f, modcache.CacheFinder) for f in sys.meta_path), tb=tb)))
"""


def make_zip(path, value):
    with open(modcache.__file__, "rb") as f:
        real = f.read()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for d in ("ansible_collections", "ansible_collections/faultline", "ansible_collections/faultline/chaos",
                  "ansible_collections/faultline/chaos/plugins", PKG, PKG + "/_engine"):
            z.writestr(d + "/__init__.py", "")
        z.writestr(PKG + "/_engine/modcache.py", real)
        z.writestr(PKG + "/_engine/probe_mod.py", PROBE % value)
    return str(path)


def run(zip_path, cache, extra_env=None):
    env = dict(os.environ, FAULTLINE_MODULE_PYCACHE=str(cache))
    env.update(extra_env or {})
    cp = subprocess.run([sys.executable, "-c", RUN, zip_path], capture_output=True, text=True, env=env,
                        timeout=60, check=False)
    assert cp.returncode == 0, cp.stderr
    return json.loads(cp.stdout)


def pyc(cache):
    return os.path.join(str(cache), "%s.%s.pyc" % (NAME, sys.implementation.cache_tag))


def forge(cache, value):
    """Replace the cached code (keeping the header: hash of the shipped source) with other code."""
    path = pyc(cache)
    with open(path, "rb") as f:
        data = f.read()
    cut = len(modcache.HEADER) + 32 + 4
    with open(path, "wb") as f:
        f.write(data[:cut] + marshal.dumps(compile(PROBE % value, "forged", "exec")))


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def test_first_import_compiles_and_writes_a_private_cache_the_next_runs_it(tmp_path, cache):
    z = make_zip(tmp_path / "a.zip", "one")
    first = run(z, cache)
    assert first["value"] == "one" and first["loader"] == "CachedLoader" and first["finders"] == 1
    assert first["file"] == os.path.join(z, PKG, "_engine", "probe_mod.py")
    assert first["source"] == PROBE % "one"
    assert stat.S_IMODE(os.lstat(str(cache)).st_mode) == 0o700
    st = os.lstat(pyc(cache))
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert os.listdir(str(cache)) == [os.path.basename(pyc(cache))]  # modcache itself is not cached
    # the cached code is what runs next time (a forged payload under the right header shows it)
    forge(cache, "from the cache")
    assert run(z, cache)["value"] == "from the cache"


def test_a_cached_module_names_the_current_zip_in_tracebacks(tmp_path, cache):
    run(make_zip(tmp_path / "a.zip", "one"), cache)
    z2 = make_zip(tmp_path / "b.zip", "one")  # the next task's zip: same source, another path
    out = run(z2, cache)
    assert os.path.join(z2, PKG, "_engine", "probe_mod.py") in out["tb"]
    assert "a.zip" not in out["tb"]


def test_stale_bytecode_of_another_source_never_runs(tmp_path, cache):
    run(make_zip(tmp_path / "a.zip", "old"), cache)
    forge(cache, "forged old")
    out = run(make_zip(tmp_path / "b.zip", "new"), cache)  # an upgraded collection
    assert out["value"] == "new"
    assert run(make_zip(tmp_path / "c.zip", "new"), cache)["value"] == "new"  # rewritten for the new source


@pytest.mark.parametrize("spoil", ["group_writable", "other_owner", "symlink"])
def test_an_untrusted_cache_file_never_runs(tmp_path, cache, spoil):
    z = make_zip(tmp_path / "a.zip", "real")
    run(z, cache)
    forge(cache, "foreign")
    path = pyc(cache)
    if spoil == "group_writable":
        os.chmod(path, 0o620)
    elif spoil == "other_owner":
        os.chown(path, 65534, 65534)
    else:
        os.rename(path, str(tmp_path / "elsewhere.pyc"))
        os.symlink(str(tmp_path / "elsewhere.pyc"), path)
    assert run(z, cache)["value"] == "real"


@pytest.mark.parametrize("spoil", ["dir_mode_755", "dir_other_owner", "dir_symlink", "parent_world_writable"])
def test_an_untrusted_cache_directory_is_not_used(tmp_path, cache, spoil):
    z = make_zip(tmp_path / "a.zip", "real")
    target = cache
    if spoil == "parent_world_writable":
        parent = tmp_path / "open"
        parent.mkdir()
        os.chmod(str(parent), 0o777)
        target = parent / "cache"
        target.mkdir(mode=0o700)
    elif spoil == "dir_symlink":
        real = tmp_path / "real-cache"
        real.mkdir(mode=0o700)
        os.symlink(str(real), str(cache))
    else:
        cache.mkdir(mode=0o700)
        if spoil == "dir_mode_755":
            os.chmod(str(cache), 0o755)
        else:
            os.chown(str(cache), 65534, 65534)
    out = run(z, target)
    assert out["value"] == "real" and out["loader"] != "CachedLoader"
    listing = os.listdir(str(tmp_path / "real-cache" if spoil == "dir_symlink" else target))
    assert listing == []


def test_damaged_or_unwritable_cache_falls_back_silently(tmp_path, cache):
    z = make_zip(tmp_path / "a.zip", "real")
    run(z, cache)
    with open(pyc(cache), "r+b") as f:  # header intact, payload cut
        f.truncate(len(modcache.HEADER) + 32 + 4 + 3)
    assert run(z, cache)["value"] == "real"
    os.unlink(pyc(cache))
    os.mkdir(pyc(cache))  # the cache file's name is taken: nothing can be written
    out = run(z, cache)
    assert out["value"] == "real" and os.path.isdir(pyc(cache))
    assert run(z, tmp_path / "no" / "such" / "dir")["value"] == "real"  # cannot be created


def test_off_disables_the_cache(tmp_path, cache):
    out = run(make_zip(tmp_path / "a.zip", "real"), "off")
    assert out["value"] == "real" and out["finders"] == 0 and out["loader"] != "CachedLoader"


def test_outside_a_zip_nothing_is_installed():
    # this process imported modcache from files (as the tests and ansible-test do)
    assert not any(isinstance(f, modcache.CacheFinder) for f in sys.meta_path)
    assert modcache.install() is None


def test_cache_dir_defaults():
    assert modcache.cache_dir(env={}, euid=0) == "/run/faultline-pycache"
    assert modcache.cache_dir(env={"XDG_RUNTIME_DIR": "/run/user/1000"}, euid=1000) == \
        "/run/user/1000/faultline-pycache"
    assert modcache.cache_dir(env={}, euid=1000) is None
    assert modcache.cache_dir(env={modcache.ENV: "off"}, euid=0) is None
    assert modcache.cache_dir(env={modcache.ENV: "/var/cache/x"}, euid=0) == "/var/cache/x"


PKG_RUN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ansible_collections.faultline.chaos.plugins.module_utils._engine import modcache
from ansible_collections.faultline.chaos.plugins.module_utils._engine import probe_pkg
from ansible_collections.faultline.chaos.plugins.module_utils._engine.probe_pkg import sub
print(json.dumps(dict(pkg=[probe_pkg.VALUE, type(probe_pkg.__loader__).__name__, list(probe_pkg.__path__)],
                      sub=[sub.VALUE, type(sub.__loader__).__name__])))
"""


def test_a_package_and_its_modules_load_through_the_cache(tmp_path, cache):
    z = make_zip(tmp_path / "a.zip", "one")
    with zipfile.ZipFile(z, "a") as zf:
        zf.writestr(PKG + "/_engine/probe_pkg/__init__.py", 'VALUE = "package"\n')
        zf.writestr(PKG + "/_engine/probe_pkg/sub.py", 'VALUE = "sub"\n')
    env = dict(os.environ, FAULTLINE_MODULE_PYCACHE=str(cache))
    for _run in range(2):  # compiled, then from the cache
        cp = subprocess.run([sys.executable, "-c", PKG_RUN, z], capture_output=True, text=True, env=env,
                            timeout=60, check=False)
        assert cp.returncode == 0, cp.stderr
        out = json.loads(cp.stdout)
        assert out["pkg"] == ["package", "CachedLoader", [os.path.join(z, PKG, "_engine", "probe_pkg")]]
        assert out["sub"] == ["sub", "CachedLoader"]
    assert sorted(os.listdir(str(cache))) == sorted(
        "%s.%s.%s.pyc" % (NAME.rpartition(".")[0], n, sys.implementation.cache_tag)
        for n in ("probe_pkg", "probe_pkg.sub"))


PREFIX_RUN = r"""
import importlib.util, json, sys, types
spec = importlib.util.spec_from_file_location("modcache_copy", sys.argv[1])
modcache = importlib.util.module_from_spec(spec)
spec.loader.exec_module(modcache)
sys.meta_path.insert(0, modcache.CacheFinder(sys.argv[2], prefix="probe_top."))
top = types.ModuleType("probe_top")
top.__path__ = sys.argv[3:]  # as pkgutil.extend_path leaves it
sys.modules["probe_top"] = top
import probe_top.mod
print(json.dumps([probe_top.mod.VALUE, type(probe_top.mod.__loader__).__name__]))
"""


@pytest.mark.parametrize("layout, expect", [
    (["zip-without", "zip-with"], ["zipped", "CachedLoader"]),
    (["dir", "zip-with"], ["plain", "SourceFileLoader"]),
])
def test_a_package_path_is_searched_in_order_and_only_zips_are_cached(tmp_path, cache, layout, expect):
    """A prefix other than the collection's (the integration tests' Ansible module_utils cache):
    the first zip of the package path that has the module is the one loaded, as the path finder
    would; a directory ahead of it leaves the import to the usual finders."""
    paths = []
    for kind in layout:
        if kind == "dir":
            d = tmp_path / "dir"
            d.mkdir()
            (d / "mod.py").write_text('VALUE = "plain"\n')
            paths.append(str(d))
        else:
            z = str(tmp_path / (kind + ".zip"))
            with zipfile.ZipFile(z, "w") as zf:
                zf.writestr("probe_top/other.py", "")
                if kind == "zip-with":
                    zf.writestr("probe_top/mod.py", 'VALUE = "zipped"\n')
            paths.append(os.path.join(z, "probe_top"))
    os.mkdir(str(cache), 0o700)
    cp = subprocess.run([sys.executable, "-c", PREFIX_RUN, modcache.__file__, str(cache)] + paths,
                        capture_output=True, text=True, timeout=60, check=False)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout) == expect

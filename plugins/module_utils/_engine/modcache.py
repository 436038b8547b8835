# -*- coding: utf-8 -*-
# Copyright: (c) 2026, faultline.chaos contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A trusted bytecode cache for the collection's module_utils on the target.

Ansible ships a module's module_utils as ``.py`` files in the AnsiballZ zip and
``zipimport`` compiles every one of them on every task (``runtime.py`` alone
takes about 20 ms).  Importing this file (first, before the other module_utils)
puts a finder in front of ``sys.meta_path`` for this collection's
``plugins.module_utils`` modules loaded from a zip: each one's source is still
read from the zip, its SHA-256 is compared with the one recorded in the cached
bytecode, and only an exact match runs the cached code; anything else compiles
the source as ``zipimport`` would and (re)writes the cache.

Trust, as for the supervisor's bytecode in the state directory: the cache
directory must belong to the executing user, be mode 0700 and not be a
symbolic link, every directory above it must belong to that user or root and
not be writable by group or others (unless sticky); a cache file must be a
regular file of that user not writable by group or others, read through a
descriptor opened without following links.  The hash guards against a stale
file (another version of the collection); the ownership against a foreign one.
Whatever fails (no cache directory, a read-only or untrusted one, a damaged
file, another Python) falls back to the normal compile, silently.

Where: ``/run/faultline-pycache`` for root, ``$XDG_RUNTIME_DIR/faultline-pycache``
for another user; ``FAULTLINE_MODULE_PYCACHE`` (in the module's environment)
names another directory, or ``off`` disables the cache (``PYTHONDONTWRITEBYTECODE``
does not: like the supervisor's, this cache is the collection's own).  Modules loaded from
files (tests, an exploded AnsiballZ) are left to Python's own ``__pycache__``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat
import sys

PREFIX = "ansible_collections.faultline.chaos.plugins.module_utils."
ENV = "FAULTLINE_MODULE_PYCACHE"
DIRNAME = "faultline-pycache"
HEADER = b"faultline-pyc1\n"  # then the source's SHA-256 (32 bytes), Python's magic (4), marshal data


def cache_dir(env=None, euid=None):
    """The cache directory for this user (None: no cache)."""
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    path = env.get(ENV)
    if path:
        return None if path == "off" else os.path.abspath(path)
    base = "/run" if euid == 0 else env.get("XDG_RUNTIME_DIR")
    return os.path.join(base, DIRNAME) if base else None


def trusted_dir(path, create=True):
    """True when ``path`` may hold bytecode this process runs (created 0700 when missing)."""
    euid = os.geteuid()
    try:
        lst = os.lstat(path)
    except OSError:
        if not create:
            return False
        try:
            os.mkdir(path, 0o700)
            lst = os.lstat(path)
        except OSError:
            return False
    if not stat.S_ISDIR(lst.st_mode) or lst.st_uid != euid or lst.st_mode & 0o077:
        return False
    parent = os.path.dirname(path)
    while True:
        try:
            lst, st = os.lstat(parent), os.stat(parent)
        except OSError:
            return False
        if (stat.S_ISLNK(lst.st_mode) and lst.st_uid not in (0, euid)) or st.st_uid not in (0, euid) or (
                st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX):
            return False
        if parent == os.path.dirname(parent):
            return True
        parent = os.path.dirname(parent)


def _read_trusted(path):
    """The bytes of a cache file if it is a regular file of this user not writable by others, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
    finally:
        os.close(fd)


def _write(path, data):
    """Write a cache file atomically (0600); errors are ignored (the cache is an optimisation)."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
        return True
    except (OSError, IOError):
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return False


class CachedLoader(object):
    """Loads one module_utils module or package (a file of the zip) through the cache."""

    def __init__(self, zip_loader, origin, source, directory, package=False):
        self.zip_loader, self.origin, self.source, self.directory = zip_loader, origin, source, directory
        self.package = package

    def create_module(self, spec):  # pylint: disable=unused-argument
        return None  # the default module object

    def exec_module(self, module):
        exec(self.get_code(module.__name__), module.__dict__)  # pylint: disable=exec-used

    def get_code(self, fullname):
        import hashlib  # the importers' modules import it anyway
        import importlib.util
        import marshal
        digest = hashlib.sha256(self.source).digest()
        path = os.path.join(self.directory, "%s.%s.pyc" % (fullname, sys.implementation.cache_tag))
        head = HEADER + digest + importlib.util.MAGIC_NUMBER
        data = _read_trusted(path)
        if data is not None and data.startswith(head):
            try:
                code = marshal.loads(data[len(head):])
            except (EOFError, ValueError, TypeError):
                code = None
            if isinstance(code, type(cache_dir.__code__)):
                # compiled from another task's zip: tracebacks name this one (as CPython's own loader does)
                import _imp
                fix = getattr(_imp, "_fix_co_filename", None)
                if fix is not None:
                    fix(code, self.origin)
                return code
        code = compile(self.source, self.origin, "exec", dont_inherit=True)
        _write(path, head + marshal.dumps(code))
        return code

    def get_source(self, fullname):
        return self.zip_loader.get_source(fullname)  # the text zipimport gives (install_supervisor copies it)

    def get_data(self, path):
        return self.zip_loader.get_data(path)

    def get_filename(self, fullname):  # pylint: disable=unused-argument
        return self.origin

    def is_package(self, fullname):  # pylint: disable=unused-argument
        return self.package


class CacheFinder(object):
    """Finds the modules and packages named ``prefix``... (this collection's module_utils
    by default) in the zip their parent package comes from and loads them through a
    CachedLoader.

    It does not ask ``zipimport`` for the spec: its ``find_spec`` compiles the module
    (for ``get_filename``), and its loader compiles it once more to run it.
    (The integration tests put one with the prefix ``ansible.`` in front of every
    AnsiballZ run of their virtualenv's Python: tests/integration/support/payload_cache.py.)"""

    def __init__(self, directory, prefix=PREFIX):
        self.directory = directory
        self.prefix = prefix
        self.trusted = None  # checked at the first module

    def find_spec(self, fullname, path=None, target=None):  # pylint: disable=unused-argument
        if not fullname.startswith(self.prefix) or not path:
            return None
        # the package's path in order, as the path finder would search it; only zips
        # (a package whose __init__ extends its __path__ with pkgutil has more than one)
        for entry in path:
            found = self._in_zip(fullname, entry)
            if found is None:
                return None  # not a zip: the usual finders decide
            if found:
                zip_loader, origin, source, package = found
                break
        else:
            return None  # no such module here (a namespace package, another finder's): the usual finders
        if self.trusted is None:
            self.trusted = trusted_dir(self.directory)
        if not self.trusted:
            return None
        import importlib.machinery
        spec = importlib.machinery.ModuleSpec(
            fullname, CachedLoader(zip_loader, origin, source, self.directory, package), origin=origin,
            is_package=package)
        if package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        spec.has_location = True
        return spec

    @staticmethod
    def _in_zip(fullname, entry):
        """(zip loader, origin, source, is package) of ``fullname`` in the zip path ``entry``;
        () when the zip has no such module; None when ``entry`` is not a zip."""
        import zipimport
        zip_loader = sys.path_importer_cache.get(entry)
        if zip_loader is None:
            if ".zip" not in entry:
                return None
            try:
                zip_loader = zipimport.zipimporter(entry)
            except (zipimport.ZipImportError, OSError):
                return None
        if not isinstance(zip_loader, zipimport.zipimporter):
            return None
        tail = fullname.rpartition(".")[2]
        for origin, package in ((os.path.join(entry, tail, "__init__.py"), True),
                                (os.path.join(entry, tail + ".py"), False)):
            try:
                return zip_loader, origin, zip_loader.get_data(origin), package
            except OSError:
                continue
        return ()


def install():
    """Put the finder first in ``sys.meta_path`` when this file runs from a zip (AnsiballZ); once."""
    import zipimport
    if not isinstance(globals().get("__loader__"), zipimport.zipimporter):
        return None
    if any(isinstance(f, CacheFinder) for f in sys.meta_path):
        return None
    directory = cache_dir()
    if not directory or not getattr(getattr(sys, "implementation", None), "cache_tag", None):
        return None
    finder = CacheFinder(directory)
    sys.meta_path.insert(0, finder)
    return finder


install()

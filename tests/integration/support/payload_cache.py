"""A bytecode cache for Ansible's own module_utils in every AnsiballZ run of the tests.

Every module task runs a new Python that imports ``ansible.module_utils.basic`` (and
what it imports) from the task's AnsiballZ zip, and ``zipimport`` compiles each of those
files on every run: about 0.12 s of the ~0.25 s of CPU a module run costs here
(measured on kept payloads of ``command`` and ``fault_info``: 0.21-0.28 s without, 0.11-0.16 s
with).  The integration tests run some 6,000 module tasks, so that compile was about a
quarter of ``make test``'s CPU.

``make venv`` writes ``faultline_payload_cache.pth`` into the virtualenv's site-packages:
at start-up, every Python of the virtualenv (the tests' modules run with it, on
localhost and on the lab hosts) loads this file when ``/run/faultline-payload-cache``
exists, and that directory exists only inside a lab instance whose creator asked for it
(``scripts/lab-ns.sh`` with ``FAULTLINE_PAYLOAD_CACHE=1``, which ``make test`` sets;
the instance's ``/run`` is a private tmpfs, gone with it).  Elsewhere, the line costs one
``stat``.

The finder is the collection's own ``modcache.CacheFinder`` (the one every faultline
module puts in front of its module_utils), with the prefix ``ansible.``: a file's cached
code runs only if the SHA-256 of its source in the zip matches, from a directory owned by
this user and mode 0700; anything else compiles as ``zipimport`` would.  The
collection's module_utils keep going through the module's own finder: what the tests
exercise there is what users run.
"""
import importlib.util
import os
import sys

DIRECTORY = "/run/faultline-payload-cache"


PTH = "faultline_payload_cache.pth"


def install(directory=DIRECTORY):
    """Put the finder first in ``sys.meta_path``; None when the cache is off."""
    if not os.path.isdir(directory) or any(getattr(f, "prefix", None) == "ansible." for f in sys.meta_path):
        return None  # off, or installed already (site reads the .pth twice when lib64 links to lib)
    here = os.path.dirname(os.path.realpath(__file__))
    path = os.path.join(here, "..", "..", "..", "plugins", "module_utils", "_engine", "modcache.py")
    spec = importlib.util.spec_from_file_location("faultline_payload_cache_modcache", os.path.normpath(path))
    if spec is None:
        return None
    modcache = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(modcache)
    finder = modcache.CacheFinder(directory, prefix="ansible.")
    sys.meta_path.insert(0, finder)
    return finder


def pth_line(path=None):
    """The .pth line: loads this file and installs the finder when the directory exists (never raises)."""
    path = path or os.path.realpath(__file__)
    body = ("try:\n"
            " if os.path.isdir(%r):\n"
            "  import importlib.util as u\n"
            "  s = u.spec_from_file_location('faultline_payload_cache', %r)\n"
            "  m = u.module_from_spec(s)\n"
            "  s.loader.exec_module(m)\n"
            "  m.install()\n"
            "except Exception:\n"
            " pass\n") % (DIRECTORY, path)
    return "import os; exec(%r)\n" % body


if __name__ == "__main__":
    # make venv: write the .pth into this interpreter's site-packages
    import sysconfig
    target = os.path.join(sysconfig.get_paths()["purelib"], PTH)
    with open(target + ".tmp", "w") as f:
        f.write(pth_line())
    os.replace(target + ".tmp", target)

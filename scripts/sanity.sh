#!/usr/bin/env bash
# ansible-test sanity on a clean copy of the collection.
# ansible-test wants the collection at .../ansible_collections/<ns>/<name>, so
# copy what git knows about (tracked + untracked-not-ignored files) into a temp
# tree and run there.  Extra arguments go to ansible-test (e.g. --test pep8).
# Test requirements are installed by ansible-test itself (--requirements, PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# FAULTLINE_VENV: the venv whose ansible-test runs (e.g. .venv-floor for the
# lowest ansible-core the collection declares, see scripts/test.sh floor).
VENV=${FAULTLINE_VENV:-$ROOT/.venv}
VENV_BIN=$VENV/bin
PYTHON_VERSION=${FAULTLINE_SANITY_PYTHON:-3.11}

tmp=$(mktemp -d /tmp/faultline-sanity.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
dest=$tmp/ansible_collections/faultline/chaos
mkdir -p "$dest"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | rsync -a --from0 --files-from=- ./ "$dest/"

# An empty ignore file is the goal: every sanity error is fixed in the code.
mkdir -p "$dest/tests/sanity"
ignore=$dest/tests/sanity/ignore-$("$VENV_BIN/python" -c 'import ansible.release as r; print(".".join(r.__version__.split(".")[:2]))').txt
if [ -s "$ignore" ]; then
  echo "sanity: $ignore is not empty" >&2
  exit 1
fi

# ansible-test builds its test venvs without pip and then downloads a get-pip
# script from ci-files.testing.ansible.com, which is not reachable from here.
# It takes a cached script if there is one, so give it a small stand-in that
# bootstraps pip from the interpreter's own ensurepip and then installs the
# pinned pip from PyPI.  HOME is private so the cache and the test venvs live
# in .venv/ (reused between runs, removed with it) and not in ~/.ansible.
export HOME=$VENV/ansible-test-home
pip_version=$("$VENV_BIN/python" -c 'import re, ansible_test._internal.python_requirements as m, inspect; print(re.search(r"pip=.(\d[\d.]*)", inspect.getsource(m.get_venv_packages)).group(1))')
mkdir -p "$HOME/.ansible/test/cache"
cat > "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py" <<'PY'
# Stand-in for get-pip.py written by faultline scripts/sanity.sh (offline bootstrap).
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY

cd "$dest"
export PATH=$VENV_BIN:$PATH
# Tests that cannot run here (no container engine, no network beyond PyPI) are
# skipped by ansible-test itself with a message; everything else must pass.
ansible-test sanity --python "$PYTHON_VERSION" --requirements --color no "$@"

#!/bin/sh
# The Python of one pytest-xdist worker of the integration tests, run with a
# private lab instance (scripts/lab-ns.sh: own network and mount namespaces),
# so workers never collide with each other, with another run, or with a lab
# that is up on the host. scripts/test.sh passes it to xdist:
#   pytest --dist loadfile --tx 3*popen//python=tests/integration/support/worker_python.sh tests/integration
# FAULTLINE_WORKER_PYTHON: the interpreter (default: python3 on PATH).
exec "$(dirname "$0")/../../../scripts/lab-ns.sh" "${FAULTLINE_WORKER_PYTHON:-python3}" "$@"

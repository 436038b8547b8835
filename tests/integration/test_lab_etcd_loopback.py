"""The tests of test_lab_etcd.py on the etcd lab's loopback layout (three members on
127.0.0.11-13 of this host, plain Ansible on localhost).

A file of its own so that make test's workers (--dist loadfile: a file stays on one
worker) run the two layouts side by side; the tests are the same functions.
"""
import pytest

from test_lab_etcd import *  # noqa: F401,F403 pylint: disable=wildcard-import,unused-wildcard-import
from test_lab_etcd import lab_cluster


@pytest.fixture(scope="module", params=["loopback"])
def cluster(request, run_playbook):  # noqa: F811 -- this file's layout
    yield from lab_cluster(request.param, run_playbook)

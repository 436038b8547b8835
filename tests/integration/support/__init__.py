"""Shared plumbing of the integration tests (plain Python, no fixtures).

The fixtures built on it live in ``tests/integration/conftest.py``; test
modules use those fixtures and may import the plain helpers from here
(``from support.ansible import ROOT``), never from a ``conftest`` module.
"""

"""Fixtures of the deployment tests: the end-to-end stack of tests/e2e (four service processes on a database,
a bus namespace and a work root of their own), reused as it is."""

from tests.e2e.conftest import client, stack, work_root

__all__ = ["client", "stack", "work_root"]

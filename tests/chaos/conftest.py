"""Fixtures of the chaos tests: one stack of our own per session, stopped also on failure.

The short runs (marker ``chaos_short``) are part of ``make test``; the full runs (marker
``chaos_full``) only run with ``CHAOS_FULL=1`` (``make test-chaos``) and are deselected
otherwise, so that ``make test`` stays within its time.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.chaos.harness import Stack

FULL = os.environ.get("CHAOS_FULL", "") not in ("", "0", "false")


def pytest_collection_modifyitems(config, items):
    if FULL:
        return
    deselected = [item for item in items if item.get_closest_marker("chaos_full")]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not item.get_closest_marker("chaos_full")]


@pytest.fixture(scope="session")
def chaos_stack():
    missing = [tool for tool in ("redis-server", "runuser") if shutil.which(tool) is None]
    if missing or (os.geteuid() != 0 and shutil.which("pg_ctl") is None):
        pytest.skip(f"the chaos tests need PostgreSQL server binaries, redis-server and runuser ({missing})")
    stack = Stack()
    try:
        stack.start_servers()
        stack.control("setup")
        stack.start_web()
        yield stack
    finally:
        stack.shutdown()


@pytest.fixture
def stack(chaos_stack):
    """The session's stack with empty tables, a flushed broker and no worker running."""
    chaos_stack.stop_workers(hard=True)
    if not chaos_stack.redis.proc or chaos_stack.redis.proc.poll() is not None:
        chaos_stack.redis.start()
    if not chaos_stack.pg.running():
        chaos_stack.pg.start()
    chaos_stack.redis_flush()
    chaos_stack.reset()
    try:
        yield chaos_stack
    finally:
        chaos_stack.stop_workers(hard=True)  # the next scenario starts from empty tables anyway
        for name in [n for n in chaos_stack.procs if n.startswith("worker")]:
            del chaos_stack.procs[name]

"""Test-wide rules: every async test fails on leaked tasks and on exceptions left in the loop;
property tests are derandomized in CI."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import settings

# CI runs the property tests with a fixed derivation of examples (reproducible verdicts); local runs
# explore new examples every time. Set HYPOTHESIS_PROFILE=ci to reproduce a CI run.
settings.register_profile("ci", derandomize=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


@pytest.fixture
async def loop_hygiene() -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0.05)
    leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task()]
    for task in leaked:
        task.cancel()
    loop.set_exception_handler(None)
    assert not errors, f"exceptions left in the loop: {errors}"
    assert not leaked, f"leaked tasks: {leaked}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fn = getattr(item, "function", None)
        if fn is not None and inspect.iscoroutinefunction(fn):
            item.add_marker(pytest.mark.usefixtures("loop_hygiene"))

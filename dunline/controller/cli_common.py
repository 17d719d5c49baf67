"""Argument parsing shared by the subcommands, and the shape of a one-shot database command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import asyncpg

    from dunline.config.schema import Settings

D = TypeVar("D")


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings named by `--config` (default: $DUNLINE_CONFIG, else the embedded defaults)."""
    from dunline.config import loader

    return loader.load(Path(args.config) if args.config else None)


def parse_now(text: str | None) -> datetime:
    """`--now`: an ISO 8601 date-time with an offset; None -> the current time. ValueError says why."""
    if not text:
        return datetime.now(UTC)
    try:
        now = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--now {text!r} is not an ISO 8601 date-time") from None
    if now.tzinfo is None:
        raise ValueError(f"--now {text!r} needs an offset (e.g. 2026-12-01T00:00:00+00:00)")
    return now


def database_command(
    args: argparse.Namespace,
    work: Callable[[asyncpg.Pool, datetime], Awaitable[D]],
    lines: Callable[[D], Iterable[str]],
    *,
    dumps: Callable[[D], str] = json.dumps,
    status: Callable[[D], int] = lambda _doc: 0,
) -> int:
    """A command that reads `--now` and works on the database: parse `args.now` (a bad one: the
    error on stderr, exit 2), open the database of `--config`, `doc = await work(pool, now)`, print
    `dumps(doc)` with `--json`, else each of `lines(doc)`. Returns `status(doc)`, the exit code."""
    import asyncio

    from dunline.controller.app import database

    try:
        now = parse_now(args.now)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def run() -> D:
        async with database(settings_from(args)) as pool:
            return await work(pool, now)

    doc = asyncio.run(run())
    if args.json:
        print(dumps(doc))
    else:
        for line in lines(doc):
            print(line)
    return status(doc)

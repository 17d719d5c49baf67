"""Argument parsing shared by the subcommands."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dunline.config.schema import Settings


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

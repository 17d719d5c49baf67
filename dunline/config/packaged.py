"""The configuration files shipped inside the package (`dunline/config/defaults/`)."""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable


def default_path(relative: str) -> Traversable:
    """A shipped file or folder, e.g. `default_path("strategies/ladders.yaml")`."""
    return resources.files("dunline.config").joinpath("defaults").joinpath(relative)


def read_default(relative: str) -> str:
    """The text of a shipped file, e.g. `read_default("prompts.en.yaml")`."""
    return default_path(relative).read_text("utf-8")

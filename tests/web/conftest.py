"""Fixtures of the console tests: see web_stack.py."""

from web_stack import console, pg, pool  # noqa: F401

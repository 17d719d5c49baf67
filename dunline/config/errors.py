"""One way to say what is wrong with a document pydantic refused: every error as `path: reason`."""

from __future__ import annotations

from pydantic import ValidationError


def describe(exc: ValidationError) -> str:
    """'loan.balance: Input should be greater than or equal to 0; contact.country: ...'"""
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors())

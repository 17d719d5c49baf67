"""Which caller ID a call shows (pure): the trunk's own number, or one of its caller ID pool.

A debtor recognises, and calls back, a number near their own: the pick prefers a pool number in the
debtor's own area (same country and the same leading digits of the national number: the NANP area
code, a Chinese mobile prefix, a UK dialling area), then one in the same country, then the trunk's
`caller_id`. Among equally close numbers the choice is stable per account (a hash of the account's
key), so one debtor always sees the same number and a callback reaches the same line; different debtors
spread over the pool. Every number shown must be one the agency owns and answers (the Truth in Caller ID
Act, Ofcom's CLI guidance): the pool is validated as E.164 like `caller_id`, and the gate's caller_id
rule checks the number picked for each call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import phonenumbers

AREA_DIGITS = 3  # leading digits of the national number compared for "the same area"


def _split(number: str) -> tuple[int, str] | None:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code is None:
        return None
    return parsed.country_code, str(parsed.national_number)


def closeness(debtor: str, candidate: str) -> int:
    """2: same country and area, 1: same country, 0: elsewhere (or unreadable)."""
    d, c = _split(debtor), _split(candidate)
    if d is None or c is None or d[0] != c[0]:
        return 0
    return 2 if d[1][:AREA_DIGITS] == c[1][:AREA_DIGITS] else 1


def pick(default: str, pool: Sequence[str], debtor: str, account_key: str) -> str:
    """The caller ID for calling `debtor` about the account `account_key` (see the module doc)."""
    if not pool:
        return default
    scored = [(closeness(debtor, n), n) for n in pool]
    best = max(score for score, _n in scored)
    if best == 0:
        return default
    nearest = sorted(n for score, n in scored if score == best)
    digest = hashlib.sha256(account_key.encode()).digest()
    return nearest[int.from_bytes(digest[:4], "big") % len(nearest)]

"""Outbound webhooks, the pure part: which URLs are accepted, how a body is signed, when a failed
delivery is tried again.

A receiver checks a delivery by recomputing
`hex(HMAC-SHA256(secret, f"{X-Dunline-Timestamp}.{raw body}"))` and comparing it with the
`X-Dunline-Signature: sha256=<hex>` header in constant time, and refuses a timestamp more than five
minutes old (a replay). `X-Dunline-Delivery` is the delivery id: the same id can arrive twice when an
answer was lost, so a receiver keeps it to drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from typing import Final
from urllib.parse import urlsplit

EVENTS: Final = ("outcome", "promise", "opt_out", "payment_due")
MAX_TRIES: Final = 10
_BACKOFF_S: Final = (10, 30, 90, 300, 900, 1800, 3600, 7200, 14400)  # then failed: about 8 hours in all


class HookError(ValueError):
    """A webhook setting that cannot be used; the message names the field."""


def check_url(url: str) -> str:
    """An https URL (http only to this machine's loopback, for local receivers), with no credentials."""
    if len(url) > 2000:
        raise HookError("url: longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise HookError(f"url: {exc}") from None
    if parts.scheme not in ("https", "http"):
        raise HookError("url: must start with https://")
    host = parts.hostname or ""
    if not host:
        raise HookError("url: has no host")
    if parts.username or parts.password:
        raise HookError("url: must not carry a user or password (the signature authenticates us)")
    if parts.scheme == "http" and not _loopback(host):
        raise HookError("url: plain http is allowed only to 127.0.0.1, ::1 or localhost; use https")
    if port == 0:
        raise HookError("url: port 0")
    return url


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_events(text: str) -> tuple[str, ...]:
    wanted = [e.strip() for e in text.split(",") if e.strip()]
    if not wanted:
        raise HookError(f"events: none given; choose from {', '.join(EVENTS)}")
    bad = [e for e in wanted if e not in EVENTS]
    if bad:
        raise HookError(f"events: unknown {bad[0]!r}; choose from {', '.join(EVENTS)}")
    return tuple(e for e in EVENTS if e in wanted)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def retry_after(tries: int) -> float | None:
    """Seconds until the next try after `tries` failed ones; None: give up (the delivery failed)."""
    if tries >= MAX_TRIES:
        return None
    return float(_BACKOFF_S[min(tries, len(_BACKOFF_S)) - 1]) if tries >= 1 else 0.0

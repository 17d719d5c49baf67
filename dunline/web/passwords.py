"""Passwords (argon2id through argon2-cffi) and the random secrets of sessions and tokens.

Hashing costs tens of milliseconds of CPU by design, so the app calls these in a thread."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id, the library's current RFC 9106 low-memory profile
# verified against when the user name is unknown, so both answers take the same time
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))
MIN_LENGTH = 12
TOKEN_PREFIX = "dlt_"


class WeakPassword(ValueError):
    pass


def check_strength(password: str) -> None:
    """Refuse passwords a console guarding personal data should not accept; the reason names why."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_LENGTH} characters")
    if len(set(password)) < 5:
        raise WeakPassword("the password must use at least 5 different characters")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; an unknown user (None) costs the same time and is False."""
    try:
        return _HASHER.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """256 random bits, URL-safe: session ids and CSRF tokens."""
    return secrets.token_urlsafe(32)


def new_token() -> str:
    """An API token: a recognisable prefix and 256 random bits."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)

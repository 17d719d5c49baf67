"""Webhooks' pure part: URLs accepted, events parsed, signatures, the retry schedule."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dunline.web import hooks


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example.com/hooks/dunline",
        "https://10.0.0.5:8443/x",
        "http://127.0.0.1:9000/h",
        "http://[::1]/h",
        "http://localhost:8080/",
    ],
)
def test_accepted_urls(url: str) -> None:
    assert hooks.check_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "https://"),
        ("http://crm.example.com/x", "plain http"),
        ("https://user:pw@crm.example.com/x", "user or password"),
        ("https:///nohost", "no host"),
        ("https://crm.example.com:99999/x", "url:"),
        ("https://" + "a" * 2000 + ".com", "2000"),
        ("crm.example.com/hook", "https://"),
    ],
)
def test_refused_urls_name_the_field(url: str, why: str) -> None:
    with pytest.raises(hooks.HookError) as e:
        hooks.check_url(url)
    assert str(e.value).startswith("url:") and why in str(e.value)


def test_events() -> None:
    assert hooks.check_events("promise, outcome") == ("outcome", "promise")
    for bad in ("", "payments", "outcome,everything"):
        with pytest.raises(hooks.HookError, match="events"):
            hooks.check_events(bad)


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"event":"outcome"}'
    expected = hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert hooks.signature("s3cret", 1700000000, body) == "sha256=" + expected
    assert hooks.verify("s3cret", 1700000000, body, "sha256=" + expected)
    assert not hooks.verify("s3cret", 1700000001, body, "sha256=" + expected)
    assert not hooks.verify("other", 1700000000, body, "sha256=" + expected)


@given(st.integers(min_value=1, max_value=hooks.MAX_TRIES - 2))
def test_backoff_grows_then_gives_up(tries: int) -> None:
    now, later = hooks.retry_after(tries), hooks.retry_after(tries + 1)
    assert now is not None and later is not None and 0 < now <= later


def test_gives_up_after_the_last_try() -> None:
    assert hooks.retry_after(hooks.MAX_TRIES) is None
    total = sum(hooks.retry_after(n) or 0 for n in range(1, hooks.MAX_TRIES))
    assert 6 * 3600 < total < 12 * 3600  # a receiver down for a working day still gets its events

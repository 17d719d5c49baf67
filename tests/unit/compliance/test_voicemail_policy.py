"""What an answering machine gets: the strictest of the governing profiles decides."""

from __future__ import annotations

from dunline.compliance.profiles import default_profiles, voicemail_policy


def test_shipped_profiles() -> None:
    by_id = {p.id: p.voicemail for p in default_profiles()}
    assert by_id["us"] == "limited_content" and by_id["uk"] == "hang_up" and by_id["cn"] == "hang_up"
    assert by_id["baseline"] is None  # no opinion


def test_strictest_wins() -> None:
    assert voicemail_policy(["baseline", "us"]) == "limited_content"
    assert voicemail_policy(["baseline", "us", "us-ma"]) == "limited_content"  # a state without one
    assert voicemail_policy(["baseline", "us", "uk"]) == "hang_up"  # a UK address with a US number
    assert voicemail_policy(["baseline"]) == "hang_up"  # nobody allows a message: none is left
    assert voicemail_policy([]) == "hang_up"

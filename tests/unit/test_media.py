"""AudioTap against an in-memory ARI: the order of requests, the join retry, and cleanup."""

from __future__ import annotations

from typing import Any

import pytest

from dunline.ari_handlers.client import AriBadRequest, AriNotFound
from dunline.ari_handlers.media import AudioTap, is_tap_channel
from dunline.ari_handlers.rtp import PortPool


class FakeAri:
    def __init__(self, join_failures: int = 0, fail_bridge: bool = False) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.join_failures = join_failures
        self.fail_bridge = fail_bridge

    async def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, **_: Any) -> Any:
        self.calls.append((method, path, str(sorted((params or {}).items()))))
        return {}

    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> dict[str, Any]:
        self.calls.append(("bridge", bridge_id, kind))
        if self.fail_bridge:
            raise AriBadRequest(400, "POST", "/bridges", "nope")
        return {}

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        self.calls.append(("join", bridge_id, channel_id))
        if self.join_failures:
            self.join_failures -= 1
            raise AriBadRequest(422, "POST", "/addChannel", "Channel not in Stasis application")

    async def destroy_bridge(self, bridge_id: str) -> None:
        self.calls.append(("destroy", bridge_id))

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self.calls.append(("hangup", channel_id))
        raise AriNotFound(404, "DELETE", f"/channels/{channel_id}", "Channel not found")


async def test_open_snoops_the_caller_only_and_joins_after_retries() -> None:
    ari = FakeAri(join_failures=2)
    pool = PortPool(41000, 41001)
    tap = AudioTap(ari, "dunline", "call1", pool, lambda frame: None)  # type: ignore[arg-type]
    await tap.open()
    snoop = next(c for c in ari.calls if c[1] == "/channels/call1/snoop")
    assert "('spy', 'in')" in snoop[2] and "call1-snoop" in snoop[2]
    xm = next(c for c in ari.calls if c[1] == "/channels/externalMedia")
    assert "slin16" in xm[2] and f"127.0.0.1:{tap.port}" in xm[2]
    joins = [c for c in ari.calls if c[0] == "join"]
    assert [j[2] for j in joins] == ["call1-snoop"] * 3 + ["call1-xm"]
    assert pool.held == frozenset({tap.port})
    await tap.close()
    await tap.close()  # twice is harmless
    assert pool.held == frozenset()
    assert ("destroy", "call1-tap") in ari.calls and ("hangup", "call1-xm") in ari.calls


async def test_a_failed_open_releases_everything() -> None:
    ari = FakeAri(fail_bridge=True)
    pool = PortPool(41010, 41010)
    tap = AudioTap(ari, "dunline", "call2", pool, lambda frame: None)  # type: ignore[arg-type]
    with pytest.raises(AriBadRequest):
        await tap.open()
    assert pool.held == frozenset() and tap.closed
    assert ("hangup", "call2-snoop") in ari.calls


def test_tap_channel_names() -> None:
    assert is_tap_channel("abc-snoop") and is_tap_channel("abc-xm")
    assert not is_tap_channel("abc") and not is_tap_channel("abc-tap")

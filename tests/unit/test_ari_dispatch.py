"""ChannelDispatcher: per-channel order, concurrency between channels, errors, lane cleanup."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dunline.ari_handlers.dispatch import GLOBAL_LANE, ChannelDispatcher, lane_key

pytestmark = pytest.mark.timeout(20)  # a hang (e.g. a lane never cancelled) fails fast


def ev(channel: str | None, kind: str = "ChannelDtmfReceived", **extra: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, **extra}
    if channel is not None:
        event["channel"] = {"id": channel}
    return event


async def settle(pred: Any, within: float = 2.0) -> None:
    async with asyncio.timeout(within):
        while not pred():  # noqa: ASYNC110 - polling a test predicate
            await asyncio.sleep(0.002)


def test_lane_key_extraction() -> None:
    assert lane_key(ev("c1")) == "c1"
    assert lane_key({"type": "PlaybackFinished", "playback": {"id": "p", "target_uri": "channel:c7"}}) == "c7"
    assert lane_key({"type": "RecordingFinished", "recording": {"target_uri": "channel:c8"}}) == "c8"
    assert lane_key({"type": "PlaybackStarted", "playback": {"target_uri": "bridge:b1"}}) == GLOBAL_LANE
    assert lane_key({"type": "Dial", "peer": {"id": "c9"}}) == "c9"
    assert lane_key({"type": "BridgeCreated", "bridge": {"id": "b1"}}) == GLOBAL_LANE
    assert lane_key({"type": "ChannelVarset", "variable": "X"}) == GLOBAL_LANE
    assert lane_key({"type": "X", "channel": {"name": "no id"}}) == GLOBAL_LANE


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 2000)),  # (channel, handler sleep in microseconds)
        min_size=1,
        max_size=60,
    )
)
def test_order_within_a_channel_holds_under_random_interleavings(plan: list[tuple[int, int]]) -> None:
    seen: dict[str, list[int]] = {}

    async def handler(key: str, event: dict[str, Any]) -> None:
        if event["sleep_us"]:
            await asyncio.sleep(event["sleep_us"] / 1e6)
        seen.setdefault(key, []).append(event["seq"])

    async def scenario() -> None:
        next_seq: dict[str, int] = {}
        async with ChannelDispatcher(handler) as d:
            for i, (chan, sleep_us) in enumerate(plan):
                cid = f"c{chan}"
                seq = next_seq.get(cid, 0)
                next_seq[cid] = seq + 1
                d.feed(ev(cid, seq=seq, sleep_us=sleep_us))
                if i % 7 == 3:
                    await asyncio.sleep(0)  # let lanes run between feeds sometimes
        assert {k: len(v) for k, v in seen.items()} == next_seq

    asyncio.run(scenario())
    for key, seqs in seen.items():
        assert seqs == sorted(set(seqs)), key  # strictly increasing


async def test_slow_channel_does_not_delay_another() -> None:
    gate = asyncio.Event()
    handled: dict[str, float] = {}

    async def handler(key: str, event: dict[str, Any]) -> None:
        if key == "A":
            await gate.wait()
        handled[key] = time.perf_counter()

    async with ChannelDispatcher(handler) as d:
        start = time.perf_counter()
        d.feed(ev("A"))
        d.feed(ev("B"))
        await settle(lambda: "B" in handled)
        assert handled["B"] - start < 0.1 and "A" not in handled
        gate.set()
        await settle(lambda: "A" in handled)


async def test_feed_is_synchronous_and_never_runs_the_handler() -> None:
    calls: list[str] = []

    async def handler(key: str, event: dict[str, Any]) -> None:
        calls.append(key)

    async with ChannelDispatcher(handler) as d:
        for i in range(1000):
            d.feed(ev(f"c{i % 10}"))
        assert calls == []  # nothing ran inside feed()
        await settle(lambda: len(calls) == 1000)


async def test_handler_exception_is_logged_and_lane_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, "dunline.ari")
    got: list[int] = []

    async def handler(key: str, event: dict[str, Any]) -> None:
        if event["n"] == 1:
            raise ValueError("bad event")
        got.append(event["n"])

    async with ChannelDispatcher(handler) as d:
        for n in range(4):
            d.feed(ev("chan-42", n=n))
        await settle(lambda: len(got) == 3)
        assert d.handler_errors == 1
    assert got == [0, 2, 3]
    assert "chan-42" in caplog.text and "bad event" in caplog.text


async def test_lane_ends_after_channel_destroyed_and_restarts_cleanly() -> None:
    got: list[tuple[str, str]] = []

    async def handler(key: str, event: dict[str, Any]) -> None:
        got.append((key, event["type"]))

    async with ChannelDispatcher(handler, idle_timeout=60.0) as d:
        d.feed(ev("c1", "StasisStart"))
        d.feed(ev("c2", "StasisStart"))
        d.feed(ev("c1", "ChannelDestroyed"))
        await settle(lambda: len(got) == 3)
        await settle(lambda: d.active_lanes() == ["c2"])
        d.feed(ev("c1", "StasisStart"))  # an id can be reused after destroy
        await settle(lambda: len(got) == 4)
        assert sorted(d.active_lanes()) == ["c1", "c2"]


async def test_idle_lane_ends_after_idle_timeout() -> None:
    async def handler(key: str, event: dict[str, Any]) -> None:
        return None

    async with ChannelDispatcher(handler, idle_timeout=0.05) as d:
        d.feed(ev("c1", "StasisEnd"))
        await asyncio.sleep(0.01)
        assert d.active_lanes() == ["c1"]
        await settle(lambda: d.active_lanes() == [], within=1.0)


async def test_close_drains_then_cancels_and_leaks_nothing() -> None:
    before = asyncio.all_tasks()
    done: list[str] = []
    cancelled: list[str] = []

    async def handler(key: str, event: dict[str, Any]) -> None:
        if key == "stuck":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(key)
                raise
        await asyncio.sleep(0.005)
        done.append(key)

    d = ChannelDispatcher(handler, drain_timeout=0.1)
    await d.start()
    for i in range(20):
        d.feed(ev(f"c{i}"))
    d.feed(ev("stuck"))
    started = time.perf_counter()
    await d.close()
    assert time.perf_counter() - started < 1.0
    assert len(done) == 20 and cancelled == ["stuck"]
    assert d.active_lanes() == []
    assert asyncio.all_tasks() - before == set()
    d.feed(ev("c1"))  # late feed after close: dropped, no new lane, no error
    assert d.active_lanes() == [] and asyncio.all_tasks() - before == set()


async def test_feed_before_start_raises() -> None:
    async def handler(key: str, event: dict[str, Any]) -> None:
        return None

    with pytest.raises(RuntimeError):
        ChannelDispatcher(handler).feed(ev("c1"))


async def test_overhead_samples_are_recorded_and_bounded() -> None:
    async def handler(key: str, event: dict[str, Any]) -> None:
        await asyncio.sleep(0.001)

    async with ChannelDispatcher(handler) as d:
        for i in range(50):
            d.feed(ev(f"c{i % 3}", _rx=time.perf_counter()))
        d.feed(ev("c0"))  # no _rx: no sample
        await settle(lambda: d.events_handled == 51)
    start, end = d.overhead_samples, d.completion_samples
    assert len(start) == len(end) == 50
    assert all(0 <= s < 1.0 for s in start)
    assert all(e >= 0.001 for e in end)
    d._overhead.extend([0.0] * 200_000)
    assert len(d.overhead_samples) == 100_000

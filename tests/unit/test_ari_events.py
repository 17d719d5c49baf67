"""AriEvents against the fake ARI websocket: order, resync, reconnect/backoff, bad frames, close."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dunline.ari_handlers.client import AriClient, AriSettings, AriTimeout
from dunline.ari_handlers.events import AriEvents, backoff_delay

try:
    from fake_ari import FakeAri
except ImportError:  # tests/ collected as a package
    from tests.unit.fake_ari import FakeAri

pytestmark = pytest.mark.timeout(20)  # a hang (e.g. a lane never cancelled) fails fast


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = await FakeAri().start()
    yield server
    await server.stop()


async def assert_no_new_tasks(before: set[asyncio.Task[Any]], grace: float = 1.0) -> None:
    """Fail if tasks started since ``before`` are still alive after ``grace`` (the fake server's own
    request handlers need a few loop turns to notice a closed socket)."""
    current = asyncio.current_task()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while alive := {t for t in asyncio.all_tasks() - before if t is not current and not t.done()}:
        if loop.time() > deadline:
            raise AssertionError(f"leaked tasks: {sorted(t.get_name() for t in alive)}")
        await asyncio.sleep(0.01)


class Harness:
    """An AriEvents wired to lists, running in a task."""

    def __init__(self, fake: FakeAri, **kw: Any) -> None:
        opts: dict[str, Any] = {
            "base_url": fake.base_url,
            "username": fake.username,
            "password": fake.password,
            "app": "dunline",
            "request_timeout": 1.0,
            "reconnect_min": 0.01,
            "reconnect_max": 0.05,
        }
        opts.update(kw.pop("settings", {}))
        self.settings = AriSettings(**opts)
        self.client = AriClient(self.settings)
        self.events: list[dict[str, Any]] = []
        self.resyncs: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
        self.states: list[str] = []
        self.got = asyncio.Condition()
        self.ari = AriEvents(
            self.settings,
            self.client,
            on_event=self.on_event,
            on_resync=self.on_resync,
            on_state=self.states.append,
            **kw,
        )
        self.task: asyncio.Task[None] | None = None

    async def on_event(self, event: dict[str, Any]) -> None:
        async with self.got:
            self.events.append(event)
            self.got.notify_all()

    def on_resync(self, channels: list[dict[str, Any]], bridges: list[dict[str, Any]]) -> None:
        self.resyncs.append((channels, bridges))

    async def wait_events(self, n: int, within: float = 3.0) -> None:
        async with asyncio.timeout(within), self.got:
            await self.got.wait_for(lambda: len(self.events) >= n)

    async def wait_for(self, pred: Any, within: float = 3.0) -> None:
        async with asyncio.timeout(within):
            while not pred():  # noqa: ASYNC110 - polling a test predicate
                await asyncio.sleep(0.005)

    async def __aenter__(self) -> Harness:
        self.task = asyncio.create_task(self.ari.run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ari.close()
        assert self.task is not None
        await asyncio.wait_for(self.task, 2.0)
        await self.client.close()


async def test_events_arrive_in_order_with_rx_stamp(fake: FakeAri) -> None:
    async with Harness(fake) as h:
        await h.ari.wait_connected(3.0)
        await fake.wait_connections(1)
        for i in range(200):
            await fake.send({"type": "ChannelDtmfReceived", "seq": i, "channel": {"id": "c1"}})
        await h.wait_events(200)
    assert [e["seq"] for e in h.events] == list(range(200))
    rx = [e["_rx"] for e in h.events]
    assert all(isinstance(t, float) for t in rx) and rx == sorted(rx)
    assert fake.ws_queries[0] == {"app": "dunline", "subscribeAll": "false"}
    assert h.states[0] == "connected" and h.states[-1] == "closed"


async def test_drop_reconnects_and_resyncs_again(fake: FakeAri) -> None:
    fake.channels = [{"id": "c1"}]
    fake.bridges = [{"id": "b1"}]
    async with Harness(fake) as h:
        await h.ari.wait_connected(3.0)
        await h.wait_for(lambda: len(h.resyncs) == 1)
        assert h.resyncs[0] == ([{"id": "c1"}], [{"id": "b1"}])
        fake.channels = [{"id": "c1"}, {"id": "c2"}]
        await fake.drop()
        await fake.wait_connections(2)
        await h.wait_for(lambda: len(h.resyncs) == 2)
        assert h.resyncs[1] == ([{"id": "c1"}, {"id": "c2"}], [{"id": "b1"}])
        await h.ari.wait_connected(3.0)
        await fake.send({"type": "StasisStart", "channel": {"id": "c3"}})
        await h.wait_events(1)
    assert h.states[:3] == ["connected", "lost", "connected"]
    assert h.ari.connections == 2
    assert [r.path for r in fake.requests] == ["/ari/channels", "/ari/bridges"] * 2


async def test_backoff_grows_and_is_capped_live(fake: FakeAri) -> None:
    fake.close_on_connect = True
    settings = {"reconnect_min": 0.01, "reconnect_max": 0.04}
    async with Harness(fake, settings=settings, rng=random.Random(1)) as h:
        await h.wait_for(lambda: len(h.ari.reconnect_delays) >= 6)
    delays = list(h.ari.reconnect_delays)[:6]
    bases = [0.01, 0.02, 0.04, 0.04, 0.04, 0.04]
    for d, b in zip(delays, bases, strict=True):
        assert max(0.01, b / 2) <= d <= b + 1e-12
    assert delays[0] <= 0.01 + 1e-12 and max(delays) > 0.02
    assert h.states.count("lost") >= 5


def test_backoff_delay_bounds() -> None:
    rng = random.Random(7)
    for attempt in range(100):
        b = min(5.0, 0.2 * 2**attempt)
        for _ in range(20):
            d = backoff_delay(attempt, 0.2, 5.0, rng)
            assert max(0.2, b / 2) <= d <= b
    assert backoff_delay(10_000, 0.2, 5.0) <= 5.0


async def test_malformed_frames_are_skipped(fake: FakeAri, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "dunline.ari.events")
    async with Harness(fake) as h:
        await h.ari.wait_connected(3.0)
        await fake.wait_connections(1)
        await fake.send_raw("{not json")
        await fake.send_raw("[1, 2, 3]")
        await fake.send({"type": "StasisStart", "n": 1})
        await h.wait_events(1)
        await fake.send({"type": "StasisEnd", "n": 2})
        await h.wait_events(2)
    assert [e["n"] for e in h.events] == [1, 2]
    assert fake.connections == 1
    assert "malformed JSON" in caplog.text and "non-object" in caplog.text


async def test_callback_exceptions_do_not_end_stream(fake: FakeAri) -> None:
    seen: list[int] = []

    def on_event(event: dict[str, Any]) -> None:
        seen.append(event["n"])
        if event["n"] == 0:
            raise RuntimeError("handler bug")

    settings = AriSettings(base_url=fake.base_url, username=fake.username, password=fake.password, app="d")
    async with AriClient(settings) as client:
        ari = AriEvents(settings, client, on_event=on_event)
        task = asyncio.create_task(ari.run())
        await ari.wait_connected(3.0)
        await fake.wait_connections(1)
        await fake.send({"n": 0})
        await fake.send({"n": 1})
        async with asyncio.timeout(3.0):
            while len(seen) < 2:  # noqa: ASYNC110 - polling a test predicate
                await asyncio.sleep(0.005)
        await ari.close()
        await asyncio.wait_for(task, 2.0)
    assert seen == [0, 1] and fake.connections == 1


async def test_application_replaced_backs_off_and_reconnects(fake: FakeAri) -> None:
    async with Harness(fake, settings={"reconnect_min": 0.05, "reconnect_max": 0.2}) as h:
        await h.ari.wait_connected(3.0)
        await fake.wait_connections(1)
        await fake.send({"type": "ApplicationReplaced", "application": "dunline"})
        await fake.wait_connections(2)
        await h.ari.wait_connected(3.0)
    assert h.states[:3] == ["connected", "replaced", "connected"]
    assert h.events[0]["type"] == "ApplicationReplaced"
    assert h.ari.reconnect_delays[0] >= 0.05


async def test_wait_connected_times_out_when_ari_is_down(fake: FakeAri) -> None:
    await fake.stop()
    async with Harness(fake) as h:
        with pytest.raises(AriTimeout):
            await h.ari.wait_connected(0.2)
        assert len(h.ari.reconnect_delays) >= 1
        assert "connected" not in h.states


async def test_wrong_password_keeps_retrying(fake: FakeAri) -> None:
    async with Harness(fake, settings={"password": "wrong"}) as h:
        await h.wait_for(lambda: len(h.ari.reconnect_delays) >= 2)
        assert not h.ari.connected
    assert fake.connections == 0 and "connected" not in h.states


async def test_close_ends_run_without_leaked_tasks(fake: FakeAri) -> None:
    before = asyncio.all_tasks()
    h = Harness(fake)
    async with h:
        await h.ari.wait_connected(3.0)
        await fake.wait_connections(1)
        await fake.send({"type": "StasisStart"})
        await h.wait_events(1)
    assert h.task is not None and h.task.done() and h.task.exception() is None
    await assert_no_new_tasks(before)


async def test_close_during_backoff_is_prompt(fake: FakeAri) -> None:
    await fake.stop()
    before = asyncio.all_tasks()
    h = Harness(fake, settings={"reconnect_min": 5.0, "reconnect_max": 10.0})
    async with h:
        await h.wait_for(lambda: len(h.ari.reconnect_delays) >= 1)
    await assert_no_new_tasks(before)


async def test_close_from_inside_on_event(fake: FakeAri) -> None:
    settings = AriSettings(base_url=fake.base_url, username=fake.username, password=fake.password, app="d")
    async with AriClient(settings) as client:
        holder: list[AriEvents] = []

        async def on_event(event: dict[str, Any]) -> None:
            await holder[0].close()

        ari = AriEvents(settings, client, on_event=on_event)
        holder.append(ari)
        task = asyncio.create_task(ari.run())
        await ari.wait_connected(3.0)
        await fake.wait_connections(1)
        await fake.send({"type": "StasisStart"})
        await asyncio.wait_for(task, 2.0)
    assert fake.connections == 1


async def test_cancelling_run_propagates_and_cleans_up(fake: FakeAri) -> None:
    before = asyncio.all_tasks()
    settings = AriSettings(base_url=fake.base_url, username=fake.username, password=fake.password, app="d")
    async with AriClient(settings) as client:
        ari = AriEvents(settings, client, on_event=lambda e: None)
        task = asyncio.create_task(ari.run())
        await ari.wait_connected(3.0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await assert_no_new_tasks(before)

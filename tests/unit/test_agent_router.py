"""The router's agent calls (dunline/ari_handlers/router.py): an agent-mode debtor is connected to an
agent, or hears the safe-harbour message and is hung up; a hang-up while connecting is no abandon and
leaks no agent. Events are fed as the dispatcher would; the real PBX is in tests/integration."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dunline.ari_handlers.agents import AgentPool
from dunline.ari_handlers.router import CallRouter
from dunline.ari_handlers.session import CallContext
from dunline.dialer.agents import AgentBoard

try:
    from fake_agent_ari import Ari
except ImportError:  # tests/ collected as a package
    from tests.unit.fake_agent_ari import Ari

MESSAGE = "sound:/srv/pbx/sounds/safe_harbour"


class Registry:
    def __init__(self, mode: str = "agent") -> None:
        self.mode = mode
        self.log: list[tuple[str, Any]] = []
        self.done: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()

    def context_for(self, attempt_id: str) -> CallContext | None:
        if not attempt_id.startswith("att"):
            return None
        media = {"safe_harbour": MESSAGE}
        return CallContext(attempt_id, f"ACC-{attempt_id}", media, mode=self.mode, template="en.soft")

    def stasis_started(self, attempt_id: str) -> None:
        self.log.append(("stasis", attempt_id))

    def ivr_done(
        self, attempt_id: str, outcome: str | None, played: list[str], verified: bool, heard: Any = None
    ) -> None:
        self.log.append(("ivr_done", attempt_id))

    def agent_bridged(self, attempt_id: str, agent_id: str) -> None:
        self.log.append(("bridged", (attempt_id, agent_id)))

    def agent_done(self, attempt_id: str, detail: Mapping[str, Any]) -> None:
        self.log.append(("done", attempt_id))
        self.done.put_nowait({"attempt": attempt_id, **detail})


def setup(wrap_s: float = 0.05) -> tuple[CallRouter, AgentPool, Ari, Registry, list[dict[str, Any]]]:
    ari, registry, screens = Ari(), Registry(), []
    pool = AgentPool(
        ari,  # type: ignore[arg-type]
        "dunline",
        AgentBoard(),
        wrap_s=wrap_s,
        clock=lambda: datetime.now(UTC),
        on_screen=screens.append,
    )

    async def no_record(*_: Any) -> None:
        return None

    router = CallRouter(
        ari,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]  # no IVR in agent mode
        None,  # type: ignore[arg-type]
        registry,
        no_record,
        lambda event: None,
        agents=pool,
        connect_within_s=0.3,
    )
    return router, pool, ari, registry, screens


def start(channel: str, *args: str) -> dict[str, Any]:
    return {"type": "StasisStart", "channel": {"id": channel}, "args": list(args), "_rx": time.perf_counter()}


def playback(kind: str, channel: str) -> dict[str, Any]:
    event = {"type": kind, "playback": {"id": f"{channel}.safe_harbour", "target_uri": f"channel:{channel}"}}
    return {**event, "_rx": time.perf_counter()}


def end(channel: str) -> dict[str, Any]:
    return {"type": "StasisEnd", "channel": {"id": channel}}


async def log_in(router: CallRouter, pool: AgentPool, ari: Ari, agent_id: str) -> str:
    task = asyncio.create_task(pool.login(agent_id, "PJSIP/+15550001001@carrier"))
    leg = await asyncio.wait_for(ari.originated.get(), 1)
    await router.handle(leg, start(leg, "agent", agent_id))  # routed to the pool
    await asyncio.wait_for(task, 1)
    return leg


async def test_an_answered_debtor_is_bridged_and_the_call_reported() -> None:
    router, pool, ari, registry, screens = setup()
    await log_in(router, pool, ari, "a1")
    await router.handle("att1", start("att1", "att1", "HUMAN"))
    assert ("stasis", "att1") in registry.log and router.sessions == {}
    await asyncio.wait_for(router.agent_calls["att1"].task, 1)  # type: ignore[arg-type]
    assert ("bridged", ("att1", "a1")) in registry.log
    assert ari.named("join")[-1] == ("join", "agent-a1", "att1")
    assert screens == [{"attempt": "att1", "account": "ACC-att1", "script": "en.soft", "agent": "a1"}]
    assert ari.named("play") == []
    await router.handle("att1", end("att1"))
    done = await asyncio.wait_for(registry.done.get(), 1)
    assert (done["agent"], done["abandoned"], done["waited_s"]) == ("a1", False, None)
    assert pool.board.state("a1") == "wrap_up" and "att1" not in router.agent_calls
    await pool.until("a1", "ready", 1)
    await router.close()
    await pool.close()


async def test_no_agent_within_the_window_plays_the_safe_harbour_message_then_hangs_up() -> None:
    router, pool, ari, registry, _ = setup()
    await log_in(router, pool, ari, "a1")
    pool.pause("a1")
    t0 = time.perf_counter()
    await router.handle("att2", start("att2", "att2", "HUMAN"))
    await asyncio.wait_for(ari.event("play").wait(), 2)
    assert ari.named("play") == [("play", "att2", MESSAGE, "att2.safe_harbour")]
    assert 0.3 <= time.perf_counter() - t0 < 0.6  # connect_within_s, then the message at once
    await router.handle("att2", playback("PlaybackStarted", "att2"))
    assert ari.named("hangup") == []  # not before the message is over
    await router.handle("att2", playback("PlaybackFinished", "att2"))
    done = await asyncio.wait_for(registry.done.get(), 1)
    assert done["abandoned"] is True and done["agent"] is None and done["message_finished"] is True
    assert 0.3 <= done["waited_s"] <= done["message_after_s"] < 0.6
    await asyncio.wait_for(ari.event("hangup").wait(), 1)
    assert ("hangup", "att2") in ari.calls
    await router.handle("att2", end("att2"))
    assert registry.done.empty()  # reported once
    assert pool.board.state("a1") == "paused"
    await router.close()
    await pool.close()


async def test_without_any_agent_the_message_starts_at_once() -> None:
    router, _pool, ari, registry, _ = setup()
    t0 = time.perf_counter()
    await router.handle("att3", start("att3", "att3", "NOTSURE"))
    await asyncio.wait_for(ari.event("play").wait(), 1)
    assert time.perf_counter() - t0 < 0.1
    await router.handle("att3", end("att3"))  # hung up during the message
    done = await asyncio.wait_for(registry.done.get(), 1)
    assert done["abandoned"] is True and done["message_finished"] is False
    await router.close()


async def test_hanging_up_while_waiting_for_an_agent_is_no_abandon_and_leaks_no_agent() -> None:
    router, pool, ari, registry, _ = setup()
    await log_in(router, pool, ari, "a1")
    await router.handle("att4", start("att4", "att4", "HUMAN"))
    await asyncio.wait_for(router.agent_calls["att4"].task, 1)  # type: ignore[arg-type]
    await router.handle("att5", start("att5", "att5", "HUMAN"))  # waits: a1 is busy
    await router.handle("att5", end("att5"))
    done = await asyncio.wait_for(registry.done.get(), 1)
    assert done == {
        "attempt": "att5",
        "agent": None,
        "abandoned": False,
        "waited_s": None,
        "message_after_s": None,
        "message_finished": False,
    }
    assert ari.named("play") == []
    await router.handle("att4", end("att4"))
    await pool.until("a1", "ready", 1)  # a1 was not left on_call by the call that never came
    assert pool.board.snapshot(datetime.now(UTC))[0].calls == 1
    await router.close()
    await pool.close()


async def test_hanging_up_while_joining_the_bridge_releases_the_agent() -> None:
    router, pool, ari, registry, _ = setup()
    await log_in(router, pool, ari, "a1")
    ari.delay["join"] = 0.2
    ari.event("join").clear()
    await router.handle("att6", start("att6", "att6", "HUMAN"))
    await asyncio.wait_for(ari.event("join").wait(), 1)
    assert pool.board.state("a1") == "on_call"
    await router.handle("att6", end("att6"))
    done = await asyncio.wait_for(registry.done.get(), 1)
    assert (done["agent"], done["abandoned"]) == (None, False)
    assert pool.board.state("a1") == "ready" and pool.board.talk_samples == ()
    await router.close()
    await pool.close()


async def test_an_agent_leg_nobody_expects_and_an_unknown_channel_are_hung_up() -> None:
    router, _pool, ari, _, _ = setup()
    await router.handle("agent-x-1", start("agent-x-1", "agent", "x"))
    await router.handle("stray", start("stray", "nobody", "HUMAN"))
    assert ari.named("hangup") == [("hangup", "agent-x-1"), ("hangup", "stray")]
    await router.close()


async def test_close_stops_calls_in_progress() -> None:
    router, pool, ari, _registry, _ = setup()
    await log_in(router, pool, ari, "a1")
    pool.pause("a1")
    ari.delay["play"] = 5.0
    await router.handle("att7", start("att7", "att7", "HUMAN"))
    await asyncio.wait_for(ari.event("play").wait(), 2)
    await router.close()
    assert router.agent_calls["att7"].task.done()  # type: ignore[union-attr]
    await pool.close()


async def test_resync_ends_agent_legs_and_calls_that_vanished() -> None:
    router, pool, ari, _, _ = setup()
    leg = await log_in(router, pool, ari, "a1")
    fed: list[dict[str, Any]] = []
    router.feed = fed.append
    await router.resync([], [])
    assert {e["channel"]["id"] for e in fed} == {leg}
    await router.handle(leg, fed[0])
    assert pool.board.state("a1") == "offline"
    await router.close()

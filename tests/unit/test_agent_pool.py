"""AgentPool (dunline/ari_handlers/agents.py) against an in-memory ARI: logins, connections, wrap-up,
agents and debtors leaving at awkward moments, cleanup. Events are handed to the pool as the router
would; the real PBX is exercised by tests/integration/test_agents.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from dunline.ari_handlers.agents import AgentError, AgentPool, DebtorGone, LoginFailed
from dunline.ari_handlers.client import AriBadRequest, AriNotFound
from dunline.dialer.agents import AgentBoard

try:
    from fake_agent_ari import Ari
except ImportError:  # tests/ collected as a package
    from tests.unit.fake_agent_ari import Ari


SCREEN = {"attempt": "att-1", "account": "ACC-1", "script": "en.reminder.soft"}


def make_pool(ari: Ari, **kw: Any) -> tuple[AgentPool, list[dict[str, Any]]]:
    screens: list[dict[str, Any]] = []
    kw.setdefault("wrap_s", 0.05)
    pool = AgentPool(
        ari,  # type: ignore[arg-type]
        "dunline",
        AgentBoard(),
        clock=lambda: datetime.now(UTC),
        on_screen=screens.append,
        trunk="carrier",
        **kw,
    )
    return pool, screens


async def login(pool: AgentPool, ari: Ari, agent_id: str, endpoint: str | None = None) -> str:
    """Log an agent in, answering its phone (StasisStart) as Asterisk would; returns the leg's id."""
    task = asyncio.create_task(pool.login(agent_id, endpoint or f"PJSIP/+1555000100{agent_id[-1]}@carrier"))
    channel = await asyncio.wait_for(ari.originated.get(), 1)
    await pool.agent_entered(channel, agent_id)
    await asyncio.wait_for(task, 1)
    return channel


def ended(channel: str) -> dict[str, Any]:
    return {"type": "StasisEnd", "channel": {"id": channel}}


async def test_login_originates_into_stasis_and_joins_the_agent_bridge() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    leg = await login(pool, ari, "a1", "+15550001001")  # a bare number is dialled over the trunk
    assert ari.named("bridge") == [("bridge", "agent-a1", "mixing")]
    assert ari.named("originate") == [("originate", "PJSIP/+15550001001@carrier", "dunline", "agent,a1", leg)]
    assert ari.named("join") == [("join", "agent-a1", leg)]
    assert pool.board.state("a1") == "ready"
    assert pool.owns(leg) and pool.bridge_of("a1") == "agent-a1"
    with pytest.raises(AgentError, match="already logged in"):
        await pool.login("a1", "PJSIP/+15550001001@carrier")
    await pool.close()


@pytest.mark.parametrize("agent_id", ["", "a,b", "a/b", "x" * 49, "-a"])
async def test_bad_agent_ids_are_refused_before_anything_is_sent(agent_id: str) -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    with pytest.raises(AgentError, match="agent id"):
        await pool.login(agent_id, "PJSIP/+15550001001@carrier")
    assert ari.calls == []


async def test_a_phone_that_never_answers_fails_the_login_and_cleans_up() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    task = asyncio.create_task(pool.login("a1", "PJSIP/+15550001001@carrier"))
    leg = await asyncio.wait_for(ari.originated.get(), 1)
    await pool.handle(leg, {"type": "ChannelDestroyed", "channel": {"id": leg}, "cause": 17})
    with pytest.raises(LoginFailed, match="did not answer"):
        await asyncio.wait_for(task, 1)
    assert pool.board.state("a1") == "offline" and not pool.owns(leg)
    assert ("destroy", "agent-a1") in ari.calls


async def test_login_times_out_hanging_up_the_ringing_phone() -> None:
    ari = Ari()
    pool, _ = make_pool(ari, answer_timeout_s=0.05)
    with pytest.raises(LoginFailed, match="TimeoutError"):
        await pool.login("a1", "PJSIP/+15550001001@carrier")
    leg = ari.named("originate")[0][4]
    assert ("hangup", leg) in ari.calls and ("destroy", "agent-a1") in ari.calls
    await pool.agent_entered(leg, "a1")  # answering too late: nobody waits for it, it is hung up
    assert ari.named("hangup").count(("hangup", leg)) == 2
    assert pool.board.state("a1") == "offline"


async def test_an_ari_failure_at_login_is_a_login_failure() -> None:
    ari = Ari()
    ari.fail["originate"] = [AriBadRequest(400, "POST", "/channels", "Endpoint not found")]
    pool, _ = make_pool(ari)
    with pytest.raises(LoginFailed, match="Endpoint not found"):
        await pool.login("a1", "PJSIP/+15550001001@carrier")
    assert ("destroy", "agent-a1") in ari.calls and pool.board.state("a1") == "offline"


async def test_connect_wrap_up_then_ready() -> None:
    ari = Ari()
    pool, screens = make_pool(ari, wrap_s=0.1)
    await login(pool, ari, "a1")
    assert await pool.connect("debtor1", SCREEN) == "a1"
    assert ari.named("join")[-1] == ("join", "agent-a1", "debtor1")
    assert screens == [{**SCREEN, "agent": "a1"}]
    assert pool.board.state("a1") == "on_call" and pool.agent_of("debtor1") == "a1"
    bridge = {"id": "agent-a1"}
    await pool.handle(
        "debtor1", {"type": "ChannelLeftBridge", "channel": {"id": "debtor1"}, "bridge": bridge}
    )
    assert pool.board.state("a1") == "wrap_up"
    await pool.handle("debtor1", ended("debtor1"))  # the later end of the same call changes nothing
    await pool.until("a1", "ready", 1.0)
    assert len(pool.board.talk_samples) == 1 and pool.board.wrap_samples[0] >= 0.1
    await pool.close()


async def test_another_bridge_left_is_not_the_end_of_the_call() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")
    await pool.connect("debtor1", SCREEN)
    await pool.handle(
        "debtor1", {"type": "ChannelLeftBridge", "channel": {"id": "debtor1"}, "bridge": {"id": "x"}}
    )
    assert pool.board.state("a1") == "on_call"
    await pool.close()


async def test_nobody_logged_in_gives_up_at_once() -> None:
    pool, _ = make_pool(Ari())
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await pool.connect("debtor1", SCREEN, within_s=2.0) is None
    assert loop.time() - t0 < 0.1


async def test_all_busy_waits_within_s_then_none() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")
    assert await pool.connect("debtor1", SCREEN) == "a1"
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    assert await pool.connect("debtor2", SCREEN, within_s=0.3) is None
    assert 0.3 <= loop.time() - t0 < 0.5
    assert pool.board.state("a1") == "on_call" and not pool.owns("debtor2")
    await pool.close()


async def test_an_agent_freed_during_the_wait_takes_the_call() -> None:
    ari = Ari()
    pool, _ = make_pool(ari, wrap_s=0.05)
    await login(pool, ari, "a1")
    await pool.connect("debtor1", SCREEN)
    waiting = asyncio.create_task(pool.connect("debtor2", SCREEN, within_s=2.0))
    await asyncio.sleep(0)  # let it start waiting (no I/O: one loop turn)
    await pool.handle("debtor1", ended("debtor1"))
    assert await asyncio.wait_for(waiting, 1) == "a1"
    assert ari.named("join")[-1] == ("join", "agent-a1", "debtor2")
    await pool.close()


async def test_paused_agents_take_no_calls_and_resume() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")
    pool.pause("a1")
    assert await pool.connect("debtor1", SCREEN, within_s=0.05) is None
    pool.resume("a1")
    assert await pool.connect("debtor1", SCREEN) == "a1"
    await pool.close()


async def test_calls_go_to_the_agent_ready_longest() -> None:
    ari = Ari()
    pool, _ = make_pool(ari, wrap_s=0.0)
    await login(pool, ari, "a1")
    await login(pool, ari, "a2")
    assert await pool.connect("d1", SCREEN) == "a1"
    assert await pool.connect("d2", SCREEN) == "a2"
    await pool.handle("d1", ended("d1"))
    await pool.until("a1", "ready", 1.0)
    assert await pool.connect("d3", SCREEN) == "a1"
    await pool.close()


async def test_debtor_gone_before_joining_releases_the_agent() -> None:
    ari = Ari()
    ari.fail["join"] = []
    pool, screens = make_pool(ari)
    await login(pool, ari, "a1")
    ari.fail["join"] = [AriBadRequest(422, "POST", "/bridges/agent-a1/addChannel", "Channel not in Stasis")]
    with pytest.raises(DebtorGone):
        await pool.connect("debtor1", SCREEN)
    assert pool.board.state("a1") == "ready" and not pool.owns("debtor1")
    assert pool.board.snapshot(datetime.now(UTC))[0].calls == 0 and screens == []
    await pool.close()


async def test_debtor_hanging_up_while_joining_releases_the_agent() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")
    ari.delay["join"] = 0.1
    ari.event("join").clear()
    task = asyncio.create_task(pool.connect("debtor1", SCREEN))
    await ari.event("join").wait()
    assert pool.board.state("a1") == "on_call"
    await pool.handle("debtor1", ended("debtor1"))  # arrives while addChannel is in flight
    with pytest.raises(DebtorGone):
        await task
    assert pool.board.state("a1") == "ready" and pool.board.talk_samples == ()
    await pool.close()


async def test_cancelling_connect_releases_the_agent() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")
    ari.delay["join"] = 0.5
    ari.event("join").clear()
    task = asyncio.create_task(pool.connect("debtor1", SCREEN))
    await ari.event("join").wait()
    assert pool.board.state("a1") == "on_call"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert pool.board.state("a1") == "ready" and not pool.owns("debtor1")
    await pool.close()


async def test_a_broken_agent_leg_is_logged_out_and_another_agent_tried() -> None:
    ari = Ari()
    pool, screens = make_pool(ari)
    await login(pool, ari, "a1")
    await login(pool, ari, "a2")
    ari.fail["join"] = [AriNotFound(404, "POST", "/bridges/agent-a1/addChannel", "Bridge not found")]
    assert await pool.connect("debtor1", SCREEN) == "a2"
    assert pool.board.state("a1") == "offline" and pool.bridge_of("a1") is None  # at once
    await asyncio.wait_for(ari.event("destroy").wait(), 1)  # the teardown runs in the background
    assert ("destroy", "agent-a1") in ari.calls
    assert [s["agent"] for s in screens] == ["a2"]
    await pool.close()


async def test_a_slow_join_counts_as_a_broken_leg() -> None:
    ari = Ari()
    pool, _ = make_pool(ari, ari_timeout_s=0.05)
    await login(pool, ari, "a1")
    ari.delay["join"] = 0.2
    assert await pool.connect("debtor1", SCREEN, within_s=0.1) is None
    assert pool.board.state("a1") == "offline"
    await pool.close()


async def test_agent_hanging_up_mid_call_hangs_up_the_debtor() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    leg = await login(pool, ari, "a1")
    await pool.connect("debtor1", SCREEN)
    await pool.handle(leg, ended(leg))
    assert pool.board.state("a1") == "offline"
    assert ("hangup", "debtor1") in ari.calls and ("destroy", "agent-a1") in ari.calls
    assert ("hangup", leg) not in ari.calls  # it is gone already
    assert not pool.owns("debtor1") and not pool.owns(leg)
    await pool.handle("debtor1", ended("debtor1"))  # nothing left to do
    assert pool.board.state("a1") == "offline"


async def test_agent_hanging_up_in_wrap_up_stops_the_timer() -> None:
    ari = Ari()
    pool, _ = make_pool(ari, wrap_s=5.0)
    leg = await login(pool, ari, "a1")
    await pool.connect("debtor1", SCREEN)
    await pool.handle("debtor1", ended("debtor1"))
    assert pool.board.state("a1") == "wrap_up"
    await pool.handle(leg, {"type": "ChannelDestroyed", "channel": {"id": leg}})
    assert pool.board.state("a1") == "offline"  # and no wrap-up task left behind (loop hygiene)


async def test_logout_and_close_hang_up_and_destroy_everything() -> None:
    ari = Ari()
    pool, _ = make_pool(ari, wrap_s=5.0)
    leg1 = await login(pool, ari, "a1")
    leg2 = await login(pool, ari, "a2")
    await pool.logout("a1")
    assert ("hangup", leg1) in ari.calls and ("destroy", "agent-a1") in ari.calls
    with pytest.raises(AgentError, match="not logged in"):
        await pool.logout("a1")
    await pool.connect("debtor1", SCREEN)
    await pool.close()
    assert {("hangup", leg2), ("hangup", "debtor1"), ("destroy", "agent-a2")} <= set(ari.calls)
    assert pool.board.state("a2") == "offline" and pool.channels() == []
    with pytest.raises(AgentError, match="closed"):
        await pool.login("a3", "PJSIP/+15550001003@carrier")


async def test_a_leftover_bridge_is_replaced() -> None:
    from dunline.ari_handlers.client import AriConflict

    ari = Ari()
    ari.fail["bridge"] = [AriConflict(409, "POST", "/bridges/agent-a1", "exists")]
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")
    assert ari.named("bridge") == [("bridge", "agent-a1", "mixing")] * 2
    assert ari.calls.index(("destroy", "agent-a1")) < ari.calls.index(
        ("originate", *ari.named("originate")[0][1:])
    )
    await pool.close()


async def test_a_broken_screen_does_not_cost_the_call() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)

    def broken(_: dict[str, Any]) -> None:
        raise RuntimeError("console down")

    pool.on_screen = broken
    await login(pool, ari, "a1")
    assert await pool.connect("debtor1", SCREEN) == "a1"
    await pool.close()


async def test_the_client_originates_into_stasis_with_app_args() -> None:
    try:
        from fake_ari import FakeAri
    except ImportError:  # tests/ collected as a package
        from tests.unit.fake_ari import FakeAri
    from dunline.ari_handlers.client import AriClient, AriSettings, AriValueError

    fake = await FakeAri().start()
    settings = AriSettings(fake.base_url, fake.username, fake.password, "dunline")
    try:
        async with AriClient(settings) as client:
            await client.originate(
                "PJSIP/+15550001001@carrier", app="dunline", app_args=("agent", "a1"), channel_id="agent-a1-x"
            )
            with pytest.raises(AriValueError, match="must not contain ','"):
                await client.originate("PJSIP/x@y", app="dunline", app_args=("a,b",), channel_id="c")
        (rec,) = fake.calls("POST", "/ari/channels")
        assert dict(rec.query) == {
            "endpoint": "PJSIP/+15550001001@carrier",
            "app": "dunline",
            "appArgs": "agent,a1",
            "channelId": "agent-a1-x",
            "timeout": "30",
        }
    finally:
        await fake.stop()


async def test_a_call_for_one_agent_waits_for_that_agent_only() -> None:
    ari = Ari()
    pool, _ = make_pool(ari)
    await login(pool, ari, "a1")  # ready longest
    await login(pool, ari, "a2")
    assert await pool.connect("debtor1", SCREEN, only="a2") == "a2"
    assert pool.board.state("a1") == "ready"
    # a2 is busy now: a call for a2 is not given to a1; after the wait, nobody (safe harbour)
    assert await pool.connect("debtor2", SCREEN, within_s=0.2, only="a2") is None
    assert pool.board.state("a1") == "ready"
    await pool.close()

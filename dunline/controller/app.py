"""The composition root: the one place that builds concrete adapters and wires them together.

`Runtime` opens, in order: the database (embedded PostgreSQL unless `DUNLINE_DATABASE_URL`), the
migrations, AMI, the ARI client, the agent pool (no agent logged in yet), the per-channel dispatcher
and the ARI events websocket (one task in the runtime's TaskGroup); it closes them in reverse (agents'
phones are hung up and their bridges destroyed first). `run_campaign` dials a list of accounts with a
concurrency bound and a calls-per-second limit from the trunk's settings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import yaml

from dunline.ari_handlers.agents import AgentPool
from dunline.ari_handlers.client import AriClient
from dunline.ari_handlers.dispatch import ChannelDispatcher
from dunline.ari_handlers.events import AriEvents
from dunline.ari_handlers.router import CallRouter
from dunline.ari_handlers.session import CallContext, Ears
from dunline.compliance.model import Kind
from dunline.compliance.profiles import default_profiles
from dunline.config.loader import cache_dir
from dunline.config.packaged import read_default
from dunline.config.schema import Settings
from dunline.controller import asterisk, wiring
from dunline.dialer.agents import AgentBoard
from dunline.dialer.ami import Ami
from dunline.dialer.runner import AttemptSummary, Dialer, DialTarget
from dunline.ivr import engine, prompts
from dunline.ivr.flow import Flow, parse_flow
from dunline.ivr.speech.types import Lang
from dunline.ivr.tts import Renderer
from dunline.store import attempts as store
from dunline.store.accounts import AccountView
from dunline.store.db import connect_pool
from dunline.store.embedded import start_embedded
from dunline.store.migrate import migrate

log = logging.getLogger("dunline.controller")

AGENT_WRAP_S = 10.0  # an agent's wrap-up after each call unless a campaign sets its own
# The law counts an abandon from the end of the debtor's greeting: an agent must be on the line
# within 2 s of it. AMD() already waited after_greeting_silence (asterisk-conf/pbx/amd.conf.j2)
# before the call reaches the controller, so the controller has what is left.
LEGAL_CONNECT_S = 2.0
AMD_AFTER_GREETING_S = 0.8
CONNECT_WITHIN_S = LEGAL_CONNECT_S - AMD_AFTER_GREETING_S


def flow_name(settings: Settings) -> str:
    if settings.ivr.flow != "auto":
        return settings.ivr.flow
    return "collect_speech" if settings.speech.enabled else "collect_dtmf"


def load_flow(name: str = "collect_dtmf") -> Flow:
    text = read_default(f"flows/{name}.yaml")
    # the profiles that need a recording notice (UK, China) make it the first words of every call
    notice = "recording_notice" if any(p.recording_notice for p in default_profiles()) else None
    catalog = prompts.load_catalog("en")
    return parse_flow(
        yaml.safe_load(text), catalog.keys(), notice=notice, disclosing=prompts.disclosing(catalog)
    )


async def open_database(settings: Settings) -> tuple[asyncpg.Pool, str]:
    """A migrated pool: the external server when configured, else the embedded one."""
    if settings.database.url is not None:
        dsn = settings.database.url.get_secret_value()
        where = "external"
    else:
        handle = await asyncio.to_thread(start_embedded, settings.var_dir / "pg")
        dsn = handle.dsn
        where = f"embedded ({handle.data_dir})"
    pool = await connect_pool(dsn, max_size=settings.database.pool_max)
    applied = await migrate(pool)
    if applied:
        log.info("database %s: applied migrations %s", where, applied)
    return pool, where


POOL_CLOSE_S = 10.0


async def close_pool(pool: asyncpg.Pool, within: float = POOL_CLOSE_S) -> None:
    """Close the pool; connections still out after `within` seconds (a task that outlived the
    controller) are terminated rather than waited for forever."""
    try:
        await asyncio.wait_for(pool.close(), within)
    except TimeoutError:
        log.warning("database pool: connections still in use after %.0f s; terminating them", within)
        pool.terminate()


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """`async with database(settings) as pool:` a migrated pool, closed on exit (one-shot commands)."""
    pool, _where = await open_database(settings)
    try:
        yield pool
    finally:
        await pool.close()


@dataclass
class Runtime:
    settings: Settings
    pool: asyncpg.Pool
    ami: Ami
    ari: AriClient
    dispatcher: ChannelDispatcher
    events: AriEvents
    dialer: Dialer
    router: CallRouter
    agents: AgentPool[AgentBoard]
    pbx: asterisk.Instance
    renderer: Renderer
    speech: SpeechParts | None = None
    sms: Any = None  # channels.sms.SmsService when the SMS link is up (sms.enabled)


class Controller:
    """async with Controller(settings) as rt: ... — everything opened is closed on exit."""

    def __init__(
        self,
        settings: Settings,
        *,
        start_asterisk: bool = True,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.start_asterisk = start_asterisk
        self.clock = clock  # None: the real clock (tests and the demo pass a clock inside calling hours)
        self.stack = AsyncExitStack()
        self.tasks: asyncio.TaskGroup | None = None

    async def __aenter__(self) -> Runtime:
        s = self.settings
        try:
            renderer = Renderer(cache_dir() / "tts", voice=s.ivr.voice, voice_zh=s.ivr.voice_zh)
            if self.start_asterisk:
                pbx, _car, _took = await asterisk.up(s, renderer=renderer)
            else:
                binary = await asyncio.to_thread(asterisk.provision, s)
                pbx = asterisk.instances(s, binary)[0]
            pool, _where = await open_database(s)
            self.stack.push_async_callback(close_pool, pool)
            ami = Ami(wiring.ami_settings(s))
            await ami.connect()
            self.stack.push_async_callback(ami.close)
            ari_settings = wiring.ari_settings(s)
            ari = AriClient(ari_settings)
            self.stack.push_async_callback(ari.close)
            # what the debtor hears decides the consent rules: synthesized speech that listens is an
            # artificial (AI) voice, synthesized prompts with keys are prerecorded
            kind: Kind = "ai_voice" if s.speech.enabled else "prerecorded"
            dialer = Dialer(pool, ami, s, hangup=ari.hangup, kind=kind)
            if self.clock is not None:
                dialer.clock = self.clock
            self.stack.callback(dialer.close)
            flow = load_flow(flow_name(s))
            opts = engine.Options(
                digit_timeout_s=s.ivr.digit_timeout_s,
                max_retries=s.ivr.max_retries,
                min_confidence=s.speech.min_confidence,
            )
            dispatcher_box: list[ChannelDispatcher] = []

            def feed(event: dict[str, Any]) -> None:
                dispatcher_box[0].feed(event)

            ears_for = None
            parts = None
            if s.speech.enabled:
                parts = await speech_parts(s, ari, pbx, renderer, feed)
                self.stack.callback(parts.close)
                ears_for = parts.ears_for
            agents = AgentPool(
                ari,
                ari_settings.app,
                AgentBoard(),
                wrap_s=AGENT_WRAP_S,
                clock=lambda: dialer.clock(),  # the dialer's clock, also when a test replaces it
                on_screen=_log_screen,
                trunk=s.trunk.name,
            )
            router = CallRouter(
                ari,
                flow,
                opts,
                dialer,
                dialer.record,
                feed,
                ears_for,
                agents=agents,
                safe_harbour_media=f"sound:{pbx.d('sounds')}/{prompts.static_name('safe_harbour', 'en')}",
                connect_within_s=CONNECT_WITHIN_S,
            )
            dispatcher = ChannelDispatcher(router.handle)
            dispatcher_box.append(dispatcher)
            await dispatcher.start()
            self.stack.push_async_callback(dispatcher.close)
            events = AriEvents(ari_settings, ari, dispatcher.feed, on_resync=router.resync)
            self.tasks = asyncio.TaskGroup()
            await self.tasks.__aenter__()
            self.stack.push_async_callback(self._close_tasks)
            self.tasks.create_task(events.run(), name="ari-events")
            self.stack.push_async_callback(events.close)
            await events.wait_connected(10.0)
            # first out at exit: calls being connected stop, then agents' phones and bridges go
            self.stack.push_async_callback(agents.close)
            self.stack.push_async_callback(router.close)
            sms = await self._sms(pool, lambda: dialer.clock()) if s.sms.enabled else None
            return Runtime(
                s, pool, ami, ari, dispatcher, events, dialer, router, agents, pbx, renderer, parts, sms
            )
        except BaseException:
            await self.stack.aclose()
            raise

    async def _sms(self, pool: asyncpg.Pool, clock: Callable[[], datetime]) -> Any:
        """The SMS link (sms.enabled): texts handed to an earlier link that got no answer become
        `unknown` (never resent by themselves), then bind to the SMSC."""
        from dunline.channels.smpp import SmppGateway
        from dunline.channels.sms import SmsService
        from dunline.store.sms import lost_in_flight

        lost = await lost_in_flight(pool)
        if lost:
            log.warning("%d text(s) got no answer from the SMSC before the last stop: marked unknown", lost)
        from dunline.controller.planning import replan

        async def replies(accounts: list[int]) -> None:
            await replan(pool, accounts, clock())

        service = SmsService(pool, self.settings.sms, clock, on_reply=replies)
        gateway = SmppGateway(self.settings.sms, service)
        await gateway.start()
        self.stack.push_async_callback(gateway.close)
        service.link = gateway
        return service

    async def _close_tasks(self) -> None:
        if self.tasks is not None:
            await self.tasks.__aexit__(None, None, None)

    async def __aexit__(self, *exc: Any) -> None:
        await self.stack.aclose()


def _log_screen(screen: dict[str, Any]) -> None:
    """Until a console shows it: the screen an agent gets with a call (ids only, no personal data)."""
    log.info(
        "agent %s: call %s, account %s, script %s",
        screen.get("agent"),
        screen.get("attempt"),
        screen.get("account"),
        screen.get("script"),
    )


class SpeechParts:
    """What every call's ears share: one recogniser (model loaded once) and the RTP port pool."""

    def __init__(
        self, s: Settings, ari: AriClient, pbx: asterisk.Instance, renderer: Renderer, feed: Any
    ) -> None:
        from dunline.ari_handlers.rtp import PortPool
        from dunline.controller.models import model_dir

        self.s, self.ari, self.pbx, self.renderer, self.feed = s, ari, pbx, renderer, feed
        self.ports = PortPool(s.speech.rtp_port_first, s.speech.rtp_port_last)
        self.model = s.speech.model_dir or model_dir(s.speech.model_size)
        self.recogniser: Any = None
        self.opinions: dict[str, Any] = {}  # language -> semantic.Semantic (the intent second opinion)
        self.listeners: list[Any] = []  # every call's Listener, for turn-latency benchmarks

    def load(self) -> None:
        from dunline.ivr.speech.asr import Recogniser

        self.recogniser = Recogniser(
            self.model,
            workers=self.s.speech.workers,
            cpu_threads=self.s.speech.cpu_threads,
            window_s=self.s.speech.encoder_window_s,
        )
        self.recogniser.warm_up()
        if self.s.speech.second_opinion:
            from dunline.ivr.speech import semantic

            self.opinions = {
                lang: op for lang in semantic.EXAMPLES if (op := semantic.load(lang)) is not None
            }

    def close(self) -> None:
        if self.recogniser is not None:
            self.recogniser.close()

    async def ears_for(self, channel_id: str, ctx: CallContext) -> Ears:
        from zoneinfo import ZoneInfo

        from dunline.ari_handlers.listen import Listener
        from dunline.ari_handlers.media import AudioTap
        from dunline.ivr.speech.endpoint import EndpointConfig, Endpointer, webrtc_gate

        sp = self.s.speech
        endpointer = Endpointer(
            EndpointConfig(
                end_silence_ms=sp.end_silence_ms, speculative_silence_ms=sp.speculative_silence_ms
            ),
            webrtc_gate(sp.vad_aggressiveness),
        )
        lang: Lang = "zh" if ctx.lang == "zh" else "en"
        listener = Listener(
            channel_id,
            self.feed,
            endpointer,
            self.recogniser,
            lang,
            ZoneInfo(ctx.timezone),
            sp.asr_time_limit_s,
            self.opinions.get(lang),
            early_commit=sp.early_commit,
            hold_silence_ms=sp.hold_silence_ms,
        )
        self.listeners.append(listener)
        del self.listeners[:-10000]
        tap = AudioTap(self.ari, self.s.asterisk.ari.app, channel_id, self.ports, listener.on_frame)
        await tap.open()

        async def render(prompt_id: str, values: Mapping[str, str]) -> str:
            return await asyncio.to_thread(
                prompts.render_call_prompt, self.s, self.pbx, self.renderer, prompt_id, values, lang
            )

        return Ears(listener, tap, render)


async def speech_parts(
    s: Settings, ari: AriClient, pbx: asterisk.Instance, renderer: Renderer, feed: Any
) -> SpeechParts:
    parts = await asyncio.to_thread(SpeechParts, s, ari, pbx, renderer, feed)
    await asyncio.to_thread(parts.load)
    return parts


def account_values(acc: AccountView) -> dict[str, str]:
    ref = str(acc.account_ref)
    return {
        "name": acc.full_name,
        "amount": prompts.speak_amount(acc.balance, acc.currency, acc.language),
        "days": str(acc.days_overdue),
        "ref_last4": " ".join(ref[-4:]),
    }


async def prepare_targets(rt: Runtime, accounts: list[AccountView]) -> list[DialTarget]:
    """Render each account's prompts before dialling (off the event loop), so no call waits for TTS."""
    targets = []
    for acc in accounts:
        if acc.phone_id is None or acc.phone_e164 is None:
            continue  # nothing to dial
        media = await asyncio.to_thread(
            prompts.render_account_prompts,
            rt.settings,
            rt.pbx,
            rt.renderer,
            account_values(acc),
            acc.language,
        )
        targets.append(
            DialTarget(
                acc.account_id,
                acc.account_ref,
                acc.phone_id,
                acc.phone_e164,
                media,
                acc.language,
                acc.timezone or "UTC",
                acc.currency,
            )
        )
    return targets


async def run_campaign(rt: Runtime, name: str, accounts: list[AccountView]) -> list[AttemptSummary]:
    return await dial_targets(rt, name, await prepare_targets(rt, accounts))


async def dial_targets(rt: Runtime, name: str, targets: list[DialTarget]) -> list[AttemptSummary]:
    """Dial every target once, at most `calls_per_second` new calls a second and at most
    min(trunk channels, dialer.max_concurrent_calls) at a time."""
    campaign_id = await store.create_campaign(rt.pool, name)
    trunk = rt.settings.trunk
    limit = asyncio.Semaphore(min(trunk.max_channels, rt.settings.dialer.max_concurrent_calls))
    gap = 1.0 / trunk.calls_per_second
    results: dict[int, AttemptSummary] = {}

    async def one(i: int, target: DialTarget) -> None:
        async with limit:
            results[i] = await rt.dialer.call(target, campaign_id)

    async with asyncio.TaskGroup() as tg:
        for i, target in enumerate(targets):
            tg.create_task(one(i, target), name=f"attempt-{target.account_ref}")
            await asyncio.sleep(gap)
    await store.finish_campaign(rt.pool, campaign_id)
    return [results[i] for i in range(len(targets))]

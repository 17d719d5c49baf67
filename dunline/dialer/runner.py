"""Place one call attempt and follow it to a final state.

The attempt id is also the channel's uniqueid (AMI `ChannelId`), so AMI events (Newstate, UserEvent
DunlineAmd, Hangup) and ARI events (StasisStart) are correlated without guessing. Facts about an
attempt arrive on two connections; each attempt has one queue and one coroutine that applies them
in order through the lifecycle table. An Originate is never re-sent: if AMI drops while it is
pending, the attempt is reconciled from the hangup event or marked failed.

No call is placed without the compliance gate: `call()` asks `clearance.clear` first, which stores
the verdict and creates the attempt row only when the gate allows (state `blocked` otherwise).

A target's `mode` says who talks once a human answers: `ivr` (the IVR session) or `agent` (the router
hands the call to the agent pool). An agent call goes human -> bridged -> completed when an agent
took it, and human -> abandoned when none was free within 2 s (the debtor heard the safe-harbour
message); the router reports both (`agent_bridged`, `agent_done`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from dunline.ari_handlers.session import CallContext
from dunline.compliance.model import Kind
from dunline.compliance.profiles import voicemail_policy
from dunline.config.schema import Settings
from dunline.dialer import caller_ids, clearance, lifecycle
from dunline.dialer.ami import Ami, AmiError, OriginateResult
from dunline.ivr import engine
from dunline.store import attempts as store

log = logging.getLogger("dunline.dialer")

HANGUP_WAIT_S = 5.0
VM_PROMPT = "limited_content"  # the prompt an answering machine may get (prompts.<lang>.yaml)
NO_VOICEMAIL = "none"
MAX_CALL_S = 900.0
IVR_FLUSH_S = 5.0


@dataclass(frozen=True)
class DialTarget:
    account_id: int
    account_ref: str
    phone_id: int
    number: str
    media: Mapping[str, str]
    lang: str = "en"
    timezone: str = "UTC"
    currency: str = "USD"
    mode: str = "ivr"  # ivr: the IVR talks; agent: the call is connected to an agent
    agent: str | None = None  # agent mode: connect to this agent only (a preview or an own callback)
    asked_at: datetime | None = None  # a callback: when the debtor asked for it (the gate reads it)


@dataclass(frozen=True)
class Fact:
    kind: str  # ringing | amd | stasis | hangup | ivr_done | bridged | agent_done
    data: Mapping[str, Any]


@dataclass(frozen=True)
class AttemptSummary:
    attempt_id: str | None  # None: the compliance gate blocked it, nothing was dialled
    account_ref: str
    number: str
    state: str
    result: str
    outcome: str | None
    hangup_cause: int | None
    amd_status: str | None
    blocked_by: tuple[str, ...] = ()
    next_allowed_at: datetime | None = None
    agent: str | None = None  # the agent the call was connected to (agent mode)


def _now() -> datetime:
    return datetime.now(UTC)


def _cause(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class Dialer:
    def __init__(
        self,
        pool: asyncpg.Pool,
        ami: Ami,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = _now,
        hangup: Callable[[str], Awaitable[None]] | None = None,
        max_call_s: float = MAX_CALL_S,
        kind: Kind = "prerecorded",
    ) -> None:
        self.pool = pool
        self.ami = ami
        self.settings = settings
        self.clock = clock
        self.hangup = hangup
        self.max_call_s = max_call_s
        self.kind: Kind = kind  # what the called party hears: agent, prerecorded or ai_voice
        self._queues: dict[str, asyncio.Queue[Fact]] = {}
        self._contexts: dict[str, CallContext] = {}
        self._outcomes: dict[str, str | None] = {}
        self._agents: dict[str, str] = {}  # attempt -> the agent it was bridged to
        self._unsubscribe = ami.subscribe("*", self._on_ami)

    def close(self) -> None:
        self._unsubscribe()

    # ---- facts from AMI and ARI ---------------------------------------------------------------
    def _push(self, attempt_id: str, kind: str, **data: Any) -> None:
        queue = self._queues.get(attempt_id)
        if queue is not None:
            queue.put_nowait(Fact(kind, data))

    def _on_ami(self, msg: dict[str, str]) -> None:
        uid = msg.get("Uniqueid", "")
        if uid not in self._queues:
            return
        event = msg.get("Event")
        if event == "Newstate" and msg.get("ChannelStateDesc") == "Ringing":
            self._push(uid, "ringing")
        elif event == "UserEvent" and msg.get("UserEvent") == "DunlineAmd":
            self._push(uid, "amd", status=msg.get("Status", ""), cause=msg.get("Cause", ""))
        elif event == "UserEvent" and msg.get("UserEvent") == "DunlineVoicemail":
            self._push(uid, "vm_left")
        elif event == "Hangup":
            self._push(uid, "hangup", cause=_cause(msg.get("Cause")), text=msg.get("Cause-txt", ""))

    def context_for(self, attempt_id: str) -> CallContext | None:
        return self._contexts.get(attempt_id)

    def stasis_started(self, attempt_id: str) -> None:
        self._push(attempt_id, "stasis")

    def ivr_done(
        self,
        attempt_id: str,
        outcome: str | None,
        played: list[str],
        verified: bool,
        heard: list[dict[str, Any]] | None = None,
    ) -> None:
        self._note_outcome(attempt_id, outcome)
        self._push(
            attempt_id, "ivr_done", outcome=outcome, played=played, verified=verified, heard=heard or []
        )

    def agent_bridged(self, attempt_id: str, agent_id: str) -> None:
        """The router put the answered debtor in an agent's bridge."""
        if attempt_id in self._queues:
            self._agents[attempt_id] = agent_id
        self._push(attempt_id, "bridged", agent=agent_id)

    def agent_done(self, attempt_id: str, detail: Mapping[str, Any]) -> None:
        """The router is done with an agent-mode call: which agent took it, or whether it was
        abandoned (and when the safe-harbour message started and whether it finished)."""
        self._push(attempt_id, "agent_done", **detail)

    async def record(self, ctx: CallContext, rec: engine.Record) -> None:
        detail = {"node": rec.node, "verified": rec.verified, "by": rec.by, "slots": dict(rec.slots)}
        await store.record_outcome(self.pool, uuid.UUID(ctx.attempt_id), rec.outcome, detail, rec.flag)
        self._note_outcome(ctx.attempt_id, rec.outcome)

    def _note_outcome(self, attempt_id: str, outcome: str | None) -> None:
        # only while the attempt is followed: a session that ends after its attempt was finalised
        # (the call-duration guard) must not leave an entry behind for the controller's lifetime
        if attempt_id in self._queues:
            self._outcomes[attempt_id] = outcome

    # ---- one attempt ------------------------------------------------------------------------------
    def caller_id_for(self, target: DialTarget) -> str:
        """The number this call shows: the trunk's, or the nearest of its pool (dialer.caller_ids)."""
        trunk = self.settings.trunk
        return caller_ids.pick(trunk.caller_id, trunk.caller_id_pool, target.number, target.account_ref)

    async def call(
        self,
        target: DialTarget,
        campaign_id: int | None,
        *,
        kind: Kind | None = None,
        template: str | None = None,
    ) -> AttemptSummary:
        """Clear the call with the gate, dial it and follow it to its final state. `kind` (what the
        called party hears, for the gate) overrides the dialer's for this call; an agent-mode target
        is an `agent` call unless told otherwise. `template`: the plan step's script template,
        stored on the attempt and shown on the agent's screen."""
        call_kind: Kind = kind or ("agent" if target.mode == "agent" else self.kind)
        caller_id = self.caller_id_for(target)  # once: the number the gate judges is the one shown
        cleared = await clearance.clear(
            self.pool,
            account_id=target.account_id,
            phone_id=target.phone_id,
            number=target.number,
            campaign_id=campaign_id,
            kind=call_kind,
            caller_id=caller_id,
            at=self.clock(),
            template=template,
            asked_at=target.asked_at,
        )
        attempt = cleared.attempt_id
        if attempt is None:
            v = cleared.verdict
            log.info("account %s: blocked by %s", target.account_ref, ",".join(v.rules))
            return AttemptSummary(
                None, target.account_ref, target.number, "blocked", "blocked", None, None, None,
                v.rules, v.next_allowed_at,
            )  # fmt: skip
        aid = str(attempt)
        self._queues[aid] = asyncio.Queue()
        self._contexts[aid] = CallContext(
            aid,
            target.account_ref,
            target.media,
            target.lang,
            target.timezone,
            target.currency,
            mode=target.mode,
            template=template,
            agent=target.agent,
        )
        try:
            state = await self._follow(
                attempt, target, caller_id, _voicemail(cleared.verdict.profiles, target)
            )
        finally:
            self._queues.pop(aid, None)
            self._contexts.pop(aid, None)
            agent = self._agents.pop(aid, None)
        row = await self.pool.fetchrow("SELECT hangup_cause, amd_status FROM attempts WHERE id = $1", attempt)
        return AttemptSummary(
            aid,
            target.account_ref,
            target.number,
            state,
            lifecycle.result(state),
            self._outcomes.pop(aid, None),
            row["hangup_cause"],
            row["amd_status"],
            agent=agent,
        )

    async def _move(
        self,
        attempt: uuid.UUID,
        state: str,
        target: str,
        detail: Mapping[str, Any] | None = None,
        **fields: Any,
    ) -> str:
        await store.transition(self.pool, attempt, target, self.clock(), detail, **fields)
        log.info("attempt %s: %s -> %s", attempt, state, target)
        return target

    async def _follow(
        self, attempt: uuid.UUID, target: DialTarget, caller_id: str, voicemail: str = NO_VOICEMAIL
    ) -> str:
        aid = str(attempt)
        queue = self._queues[aid]
        trunk = self.settings.trunk
        ring_ms = self.settings.dialer.ring_timeout_s * 1000
        state = await self._move(
            attempt, "created", "dialing", {"trunk": trunk.name, "caller_id": caller_id}, channel_id=aid
        )
        result: OriginateResult | None = None
        error = ""
        try:
            result = await self.ami.originate(
                channel=f"PJSIP/{target.number}@{trunk.name}",
                context="dunline-outbound",
                exten="s",
                channel_id=aid,
                caller_id=f"<{caller_id}>",
                timeout_ms=ring_ms,
                variables={
                    "DUNLINE_ATTEMPT": aid,
                    "DUNLINE_VM": voicemail,
                    "DUNLINE_RECORD": "yes" if self.settings.asterisk.record_calls else "no",
                },
                account=target.account_ref,
            )
        except AmiError as exc:  # lost connection or timeout: never re-sent; reconcile below
            error = f"{type(exc).__name__}: {exc}"
            log.warning("attempt %s: originate did not complete: %s", aid, error)
        facts = _drain(queue)
        if any(f.kind == "ringing" for f in facts) and state == "dialing":
            state = await self._move(attempt, state, "ringing")
        facts = [f for f in facts if f.kind != "ringing"]
        reason = result.reason if result else None
        if result is not None and result.result == "answered":
            state = await self._move(attempt, state, "answered", {"reason": reason}, originate_reason=reason)
            return await self._answered(attempt, state, facts, queue, target.mode == "agent")
        hang = next((f for f in facts if f.kind == "hangup"), None) or await _wait_kind(
            queue, "hangup", HANGUP_WAIT_S
        )
        cause = hang.data.get("cause") if hang else None
        final, _retry = lifecycle.unanswered_state(cause)
        if reason == 3 and cause is None:
            final = "no_answer"
        detail = {"reason": reason, "cause": cause, "error": error or None}
        return await self._move(
            attempt,
            state,
            final,
            detail,
            originate_reason=reason,
            hangup_cause=cause,
            hangup_cause_text=hang.data.get("text") if hang else None,
        )

    async def _answered(
        self,
        attempt: uuid.UUID,
        state: str,
        facts: list[Fact],
        queue: asyncio.Queue[Fact],
        agent_mode: bool = False,
    ) -> str:
        call = _Progress(state, list(facts), agent_mode=agent_mode)
        try:
            await asyncio.wait_for(self._until_hangup(attempt, call, queue), self.max_call_s)
        except TimeoutError:
            # a call that never ends (lost events, a stuck far end): hang it up and say so
            log.warning("attempt %s: no hangup after %.0f s; hanging up", attempt, self.max_call_s)
            if self.hangup is not None:
                await self.hangup(str(attempt))
            return await self._move(attempt, call.state, "failed", {"error": "max call duration exceeded"})
        if call.ivr:
            # the IVR session ends on the ARI side: give it a moment, then keep what it said
            done = call.done or await _wait_kind(queue, "ivr_done", IVR_FLUSH_S)
            detail = dict(done.data) if done else {"outcome": None, "note": "IVR session did not close"}
            await store.attempt_event(self.pool, attempt, "call", "ivr.session", detail)
        if call.with_agents:
            detail = dict(call.done.data) if call.done else {"note": "the router did not report"}
            await store.attempt_event(self.pool, attempt, "call", "agent.call", detail)
        return call.state

    async def _until_hangup(self, attempt: uuid.UUID, call: _Progress, queue: asyncio.Queue[Fact]) -> None:
        while True:
            fact = call.backlog.pop(0) if call.backlog else await queue.get()
            if fact.kind == "amd":
                status = str(fact.data.get("status"))
                fields = {"amd_status": status, "amd_cause": str(fact.data.get("cause"))}
                if call.state != "answered":
                    # ARI's StasisStart overtook AMI's UserEvent (two connections, no common order):
                    # the call already went on as a human; keep the verdict on the attempt
                    await store.set_fields(self.pool, attempt, **fields)
                elif status == "MACHINE":
                    call.state = await self._move(attempt, call.state, "machine", fields, **fields)
                elif status in ("HUMAN", "NOTSURE"):
                    call.state = await self._move(attempt, call.state, "human", fields, **fields)
                else:
                    await store.set_fields(self.pool, attempt, **fields)
            elif fact.kind == "stasis" and call.state in ("answered", "human"):
                if call.state == "answered":  # Stasis is entered only after AMD said human/not sure
                    call.state = await self._move(attempt, call.state, "human", {"amd": "via stasis"})
                if call.agent_mode:
                    call.with_agents = True  # the router connects it to an agent
                else:
                    call.state = await self._move(attempt, call.state, "in_ivr")
                    call.ivr = True
            elif fact.kind == "bridged" and call.state == "human":
                agent = fact.data.get("agent")
                call.state = await self._move(attempt, call.state, "bridged", {"agent": agent})
            elif fact.kind == "vm_left":  # the dialplan played the limited-content message
                await store.attempt_event(
                    self.pool, attempt, "voicemail", "voicemail.left", {"template": VM_PROMPT}
                )
            elif fact.kind in ("ivr_done", "agent_done"):
                call.done = fact
            elif fact.kind == "hangup":
                final = "voicemail" if call.state == "machine" else "completed"
                if call.with_agents:
                    final = await self._agent_final(attempt, call, queue)
                cause = fact.data.get("cause")
                text = fact.data.get("text")
                call.state = await self._move(
                    attempt, call.state, final, {"cause": cause}, hangup_cause=cause, hangup_cause_text=text
                )
                return

    async def _agent_final(self, attempt: uuid.UUID, call: _Progress, queue: asyncio.Queue[Fact]) -> str:
        """The final state of an agent-mode call that hung up: the router's report closes it (given a
        moment: it comes over ARI, the hangup over AMI). An agent took it: completed (through bridged
        if that fact was overtaken); no agent within 2 s: abandoned; hung up while waiting: completed."""
        if call.done is None:
            call.done = await _wait_kind(queue, "agent_done", IVR_FLUSH_S)
        report = call.done.data if call.done else {}
        agent = report.get("agent")
        if agent and call.state == "human":
            self._agents[str(attempt)] = str(agent)
            call.state = await self._move(attempt, call.state, "bridged", {"agent": agent})
        if call.state == "human" and report.get("abandoned"):
            return "abandoned"
        return "completed"


@dataclass
class _Progress:
    """An answered call as facts arrive: its state, whether the IVR ran or agents took it (agent
    mode, once in Stasis), and the closing fact of either."""

    state: str
    backlog: list[Fact]
    ivr: bool = False
    done: Fact | None = None
    agent_mode: bool = False
    with_agents: bool = False


def _voicemail(governing: tuple[str, ...], target: DialTarget) -> str:
    """The sound an answering machine gets on this call (the dialplan's DUNLINE_VM): the account's
    limited-content message where every governing profile allows one, else `none` (hang up)."""
    uri = target.media.get(VM_PROMPT, "")
    if not uri.startswith("sound:") or voicemail_policy(governing) != "limited_content":
        return NO_VOICEMAIL
    return uri.removeprefix("sound:")


def _drain(queue: asyncio.Queue[Fact]) -> list[Fact]:
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out


async def _wait_kind(queue: asyncio.Queue[Fact], kind: str, within: float) -> Fact | None:
    try:
        async with asyncio.timeout(within):
            while True:
                fact = await queue.get()
                if fact.kind == kind:
                    return fact
    except TimeoutError:
        return None

"""Run one campaign: claim due accounts, decide how many to dial, dial them, settle each result.

Each tick (`tick_s`) the runner reads the campaign's status (so `dunline campaign pause|resume|stop`
act within a tick), lets the leader add newly due accounts, asks the mode how many calls to place
now, claims that many members (`SELECT ... FOR UPDATE SKIP LOCKED`) and dials each in its own task:

- `ivr`: up to `spec.max_concurrent` calls at once (and the trunk's channels);
- `progressive`: never more calls outstanding than ready agents;
- `predictive`: `dialer.pacing.decide` on a snapshot of agents, calls and abandon windows;
- `preview`: nothing on its own; an agent takes the next account (`preview_next`) and starts it.

Every call still goes through `Dialer.call`, i.e. through the compliance gate; a blocked member is
queued again at the gate's `next_allowed_at` (done when there is none) without counting a try.
Other results follow the spec's retry rules. Originations are spaced 1/cps apart.

One pacing leader per campaign (a session advisory lock): it adds due accounts, recovers members a
dead controller left claimed, and is the only one that dials in the agent modes (agents are attached
to a controller). In `ivr` mode followers dial too, sharing the queue through the claims.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, get_args

import asyncpg

from dunline.dialer import pacing
from dunline.dialer.campaign_spec import CampaignSpec, next_try
from dunline.dialer.pacing_model import Lognormal, LogStats
from dunline.dialer.runner import AttemptSummary, DialTarget
from dunline.store import attempts
from dunline.store import campaigns as store

log = logging.getLogger("dunline.campaign")

REFRESH_S = 30.0  # the leader adds newly due accounts this often
STALE_CLAIM = timedelta(minutes=20)  # a claim older than the longest call: its controller is gone
RINGING = ("created", "dialing", "ringing")  # placed, not answered yet
NONFINAL = (*RINGING, "answered", "human", "machine", "in_ivr", "bridged")


class Dials(Protocol):
    async def call(
        self, target: DialTarget, campaign_id: int | None, *, kind: Any = None, template: str | None = None
    ) -> AttemptSummary: ...


class Agents(Protocol):
    """What the runner reads of the agent pool: its board of states and durations."""

    @property
    def board(self) -> Any: ...


TargetFor = Callable[[int, str | None], Awaitable[DialTarget | None]]


@dataclass(frozen=True)
class Texted:
    """What texting a member came to: sent, blocked by the gate (queued again at `next_allowed_at`),
    or done without a text (no number, or the plan moved on)."""

    result: Literal["sent", "blocked", "no_number", "plan_moved", "no_text"]
    next_allowed_at: datetime | None = None


Texter = Callable[[store.Member], Awaitable[Texted]]


@dataclass
class RunSummary:
    campaign_id: int
    status: str
    placed: int = 0
    blocked: int = 0
    results: dict[str, int] = field(default_factory=dict)
    leader: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "campaign": self.campaign_id,
            "status": self.status,
            "placed": self.placed,
            "blocked": self.blocked,
            "results": dict(sorted(self.results.items())),
            "leader": self.leader,
        }


def default_node() -> str:
    return socket.gethostname()


class CampaignRunner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dialer: Dials,
        campaign_id: int,
        spec: CampaignSpec,
        target_for: TargetFor,
        *,
        node: str | None = None,
        agents: Agents | None = None,
        limits: pacing.Limits | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_s: float = 0.5,
        connect_within_s: float = 2.0,
        texter: Texter | None = None,
    ) -> None:
        self.pool = pool
        self.texter = texter  # sms mode: texts a member instead of dialling it
        self.dialer = dialer
        self.cid = campaign_id
        self.spec = spec
        self.target_for = target_for
        self.node = node or default_node()
        self.agents = agents
        self.limits = limits or pacing.Limits()
        self.clock = clock
        self.tick_s = tick_s
        self.connect_within_s = connect_within_s  # what the router allows before the safe-harbour message
        self.summary = RunSummary(campaign_id, "created")
        self._inflight: set[asyncio.Task[None]] = set()
        self.pacing: dict[str, Any] = {}  # the last decision of how many calls to place, and why
        self._started = clock()
        self._answer_delay = LogStats(Lognormal.from_mean(8.0, 0.5))
        self._attempts = 0.0
        self._live = 0.0
        self._machines = 0.0

    # ---- one member --------------------------------------------------------------------------------
    async def _try(self, member: store.Member, agent: str | None = None) -> None:
        """One call to `member`; `agent`: connect it to that agent only (agent modes)."""
        now = self.clock()
        target = await self.target_for(member.account_id, member.template)
        if target is not None and (agent is not None or member.asked_at is not None):
            target = dataclasses.replace(target, agent=agent, asked_at=member.asked_at)
        if target is None:  # no phone left to call
            async with self.pool.acquire() as conn:
                await store.settle(conn, member, result="no_number", counted=False, next_try_at=None)
            self._count("no_number")
            return
        summary = await self.dialer.call(target, self.cid, kind=self.spec.call_kind, template=member.template)
        if summary.attempt_id is None:  # the gate said no: not a try; queue again when it allows
            self.summary.blocked += 1
            async with self.pool.acquire() as conn:
                await store.settle(
                    conn, member, result="blocked", counted=False, next_try_at=summary.next_allowed_at
                )
            self._count("blocked")
            return
        self.summary.placed += 1
        result = "abandoned" if summary.state == "abandoned" else summary.result
        self._learn(summary)
        async with self.pool.acquire() as conn:
            delay = await conn.fetchval(
                "SELECT extract(epoch FROM t.at - a.created_at) FROM attempts a JOIN attempt_transitions t"
                " ON t.attempt_id = a.id AND t.to_state = 'answered' WHERE a.id = $1::uuid",
                summary.attempt_id,
            )
        if delay is not None:
            self._answer_delay.add(float(delay))
        later = next_try(self.spec, result, member.tries + 1, self.clock())
        async with self.pool.acquire() as conn:
            await store.settle(conn, member, result=result, counted=True, next_try_at=later)
        self._count(result)
        log.info("campaign %s: %s -> %s (%s)", self.cid, target.account_ref, result, now.isoformat())

    async def _text(self, member: store.Member) -> None:
        """sms mode: one text for the member's plan step (the texter asks the gate first)."""
        if self.texter is None:
            raise RuntimeError("an sms campaign needs the SMS link (sms.enabled in the settings)")
        done = await self.texter(member)
        if done.result == "sent":
            self.summary.placed += 1
        elif done.result == "blocked":
            self.summary.blocked += 1
        later = done.next_allowed_at if done.result == "blocked" else None
        async with self.pool.acquire() as conn:
            await store.settle(
                conn, member, result=done.result, counted=done.result == "sent", next_try_at=later
            )
        self._count(done.result)

    def _count(self, result: str) -> None:
        self.summary.results[result] = self.summary.results.get(result, 0) + 1

    def _learn(self, summary: AttemptSummary) -> None:
        self._attempts += 1
        if summary.state in ("completed", "abandoned", "bridged") and summary.amd_status != "MACHINE":
            self._live += 1
        elif summary.state == "voicemail":
            self._machines += 1

    # ---- how many now --------------------------------------------------------------------------------
    async def _outstanding(self) -> tuple[list[float], int, int]:
        """(seconds ringing of each unanswered call, answered humans waiting, channels in use)."""
        now = self.clock()
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT state, created_at FROM attempts WHERE campaign_id = $1 AND state = ANY($2::text[])",
                self.cid,
                list(NONFINAL),
            )
        ringing = [(now - r["created_at"]).total_seconds() for r in rows if r["state"] in RINGING]
        waiting = sum(1 for r in rows if r["state"] in ("answered", "human"))
        # calls this runner claimed whose attempt row is not written yet (prompts, the gate): about
        # to ring; without them the next tick would dial for the same free agents again
        unseen = max(0, len(self._inflight) - len(rows))
        return ringing + [0.0] * unseen, waiting, len(rows) + unseen

    async def _windows(self) -> tuple[pacing.Window, ...]:
        now = self.clock()
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        spans = [("30 days", now - timedelta(days=30), 30 * 86400.0), ("today", day, 86400.0)]
        if now - self._started < timedelta(hours=1):
            spans.append(("first hour", self._started, 3600.0))
        out = []
        async with self.pool.acquire() as conn:
            for name, since, span in spans:
                abandons, live = await store.abandon_counts(conn, self.cid, since)
                out.append(pacing.Window(name, abandons, live, span, (now - since).total_seconds()))
        return tuple(out)

    @property
    def in_flight(self) -> int:
        """Calls this runner placed that have not ended yet."""
        return len(self._inflight)

    async def how_many(self) -> int:
        mode = self.spec.mode
        channels = min(self.spec.max_concurrent, self.limits.channels)
        if mode == "preview":
            return 0
        if mode in ("ivr", "sms"):
            free = max(0, channels - len(self._inflight))
            self.pacing = {
                "calls": free,
                "reason": f"ivr: {len(self._inflight)} of {channels} channels in use",
            }
            return free
        board = self.agents.board if self.agents is not None else None
        if board is None:
            return 0
        now = self.clock()
        views = board.snapshot(now)
        ringing, waiting, in_use = await self._outstanding()
        if mode == "progressive":
            ready = sum(1 for a in views if a.state == "ready")
            return max(0, min(ready - len(ringing) - waiting, channels - in_use))
        talk = LogStats(Lognormal.from_mean(120.0, 0.6))
        for s in board.talk_samples:
            talk.add(s)
        wrap = LogStats(Lognormal.from_mean(max(self.spec.wrap_up_s, 1.0), 0.4))
        for s in board.wrap_samples:
            wrap.add(s)
        snap = pacing.Snapshot(
            now=(now - self._started).total_seconds(),
            agents=tuple(
                pacing.Agent(a.state, a.seconds_in_state)
                for a in views
                if a.state in get_args(pacing.AgentState)
            ),
            ringing=tuple(ringing),
            waiting=waiting,
            channels_in_use=in_use,
            observed=pacing.Observed(
                talk=talk.estimate([a.seconds_in_state for a in views if a.state == "on_call"]),
                wrap=wrap.estimate() if self.spec.wrap_up_s > 0 else None,
                answer_delay=self._answer_delay.estimate(),
                attempts=self._attempts,
                live_answers=self._live,
                machine_answers=self._machines,
            ),
            windows=await self._windows(),
            limits=self.limits,
            target=self.spec.abandon_target,
            patience_s=self.connect_within_s,
        )
        decision = pacing.decide(snap)
        self.pacing = {"calls": decision.calls, "reason": decision.reason}
        log.debug("campaign %s: pacing %s (%s)", self.cid, decision.calls, decision.reason)
        return max(0, min(decision.calls, channels - in_use))

    # ---- the loop -------------------------------------------------------------------------------------
    async def recover(self, conn: asyncpg.Connection, *, leader: bool) -> int:
        """Settle members this node (or, for the leader, a controller gone for good) left claimed."""
        now = self.clock()
        stale = await store.claimed_by(conn, self.cid, self.node)
        if leader:
            stale += await store.stale_claims(conn, self.cid, now - STALE_CLAIM, but_not=self.node)
        for member in stale:
            attempt = await store.attempt_since(conn, member)
            if attempt is None:  # claimed, never dialled: back to the queue as it was
                await store.settle(
                    conn, member, result="requeued", counted=False, next_try_at=member.next_try_at
                )
                continue
            # dialled: never again before its retry time; a call cut off by the restart counts as failed
            state = attempt["state"]
            result = {"completed": "answered", "congestion": "failed"}.get(state, state)
            if state in NONFINAL:
                result = "failed"
                detail = {"error": "controller restarted during the call"}
                await attempts.transition(self.pool, attempt["id"], "failed", now, detail)
            later = next_try(self.spec, result, member.tries + 1, now)
            await store.settle(conn, member, result=result, counted=True, next_try_at=later)
        return len(stale)

    async def run(self, *, until_idle: bool = False) -> RunSummary:
        """Dial until the campaign is stopped (or, with `until_idle`, until nothing is due and nothing
        is in flight). Calls in flight always finish before this returns."""
        lead = await self.pool.acquire()
        try:
            leader = await store.try_lead(lead, self.cid)
            self.summary.leader = leader
            if not leader and self.spec.mode != "ivr":
                self.summary.status = "follower"
                return self.summary
            await self.recover(lead, leader=leader)
            last_refresh = None
            while True:
                now = self.clock()
                status = await store.status(lead, self.cid)
                self.summary.status = status or "missing"
                if status in ("stopped", "finished", None):
                    break
                if leader and (last_refresh is None or (now - last_refresh).total_seconds() >= REFRESH_S):
                    await store.add_due(
                        lead,
                        self.cid,
                        tiers=self.spec.tiers,
                        stages=self.spec.stages,
                        channel=self.spec.step_channel,
                        now=now,
                    )
                    last_refresh = now
                if status == "running":
                    await self._dial_some(lead)
                if until_idle and not self._inflight:
                    counts = await store.pending(lead, self.cid, self.clock())
                    if counts["due"] == 0 and counts["claimed"] == 0:
                        if leader and status == "running":
                            self.summary.status = await store.move(lead, self.cid, "finish", actor=self.node)
                        break
                await asyncio.sleep(self.tick_s)
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self.pool.release(lead)
        return self.summary

    async def _dial_some(self, conn: asyncpg.Connection) -> None:
        n = await self.how_many()
        if n <= 0:
            return
        members = await store.claim(conn, self.cid, n, node=self.node, now=self.clock())
        gap = 1.0 / self.limits.cps
        for i, member in enumerate(members):
            if i:
                await asyncio.sleep(gap)
            task = asyncio.create_task(self._guarded(member), name=f"campaign-{self.cid}-{member.account_id}")
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    async def _guarded(self, member: store.Member) -> None:
        try:
            await (self._text(member) if self.spec.mode == "sms" else self._try(member))
        except Exception:  # one failed call must not end the campaign; its claim stays for recover()
            log.exception("campaign %s: account %s", self.cid, member.account_id)

    # ---- preview ----------------------------------------------------------------------------------------
    async def preview_next(self) -> store.Member | None:
        """Claim the next due account for an agent to look at before calling (preview mode)."""
        async with self.pool.acquire() as conn:
            found = await store.claim(conn, self.cid, 1, node=self.node, now=self.clock())
        return found[0] if found else None

    async def preview_call(self, member: store.Member, agent: str | None = None) -> None:
        """The agent starts the previewed call; it is connected to that agent, no other."""
        await self._try(member, agent)

    async def claim_callback(self, account_id: int, agent: str) -> store.Member | None:
        """Claim the callback `agent` booked for themself on `account_id` when it is due (None when
        there is none); the agent then dials it with `preview_call(member, agent)`."""
        async with self.pool.acquire() as conn:
            return await store.claim_own(
                conn, self.cid, account_id, agent=agent, node=self.node, now=self.clock()
            )

    async def preview_skip(self, member: store.Member) -> None:
        """The agent passes: the account goes back to the queue untouched."""
        async with self.pool.acquire() as conn:
            await store.settle(conn, member, result="skipped", counted=False, next_try_at=member.next_try_at)

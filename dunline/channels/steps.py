"""The step runner: every due plan step of a channel other than calls (texts and letters), whatever
campaign the account is in, is claimed, cleared by the gate, carried out and recorded.

Claiming: the due plans are selected `FOR UPDATE SKIP LOCKED` (another controller's claims are
skipped, not waited for) and each gets a `plan_steps` row in state `running` with this node's name,
in one short transaction; the step is then carried out outside it. Carrying a step out twice is
impossible whatever restarts: a text's and a letter's outbox rows are unique by the step key; a
`running` row older than `STALE` (its controller died) is claimed again and finds its outbox row.

Results and retries: `sent` -> done (the account is planned again at once, so its next step shows);
`blocked` -> waiting until the gate's next allowed time; `spaced` (the account had a text in the last
20 hours: the ladder may have several due at once) -> waiting until a day has passed; `no_text` /
`no_address` / `no_number` (data the account lacks) -> waiting a day, then given up after
`MAX_TRIES`; `plan_moved` -> done (the plan changed under it); an error -> waiting with backoff.
US accounts get their validation notice (Reg F) with their first step (made first; when it cannot be
made yet, it is tried again with the next step).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from dunline.channels.letters import VALIDATION, LetterService, needs_validation

log = logging.getLogger("dunline.steps")
STALE = timedelta(minutes=10)
MAX_TRIES = 5
TEXT_SPACING = timedelta(hours=20)  # one text a day at most to an account, whatever the ladder has due
DATA_RETRY = timedelta(days=1)
ERROR_RETRY = (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2), timedelta(hours=8))


class StepDone(Protocol):
    result: str
    next_allowed_at: datetime | None


TextStep = Callable[[int, str, datetime], Awaitable[StepDone]]
Replan = Callable[[list[int], datetime], Awaitable[None]]


def step_key(channel: str, account_id: int, template: str, due: datetime) -> str:
    """The key a plan step is carried out under, once (the outboxes are unique by it)."""
    return f"{channel}:{account_id}:{template}:{due.isoformat()}"


@dataclass(frozen=True)
class Due:
    account_id: int
    channel: str
    template: str
    due_at: datetime
    key: str
    tries: int
    country: str | None


async def claim(
    conn: asyncpg.Connection, channels: list[str], n: int, *, node: str, now: datetime
) -> list[Due]:
    async with conn.transaction():
        rows = await conn.fetch(
            """
            SELECT p.account_id, p.next_channel, p.next_template, p.next_at, d.country,
                   coalesce(s.tries, 0) AS tries
            FROM account_plans p
            JOIN accounts a ON a.id = p.account_id JOIN debtors d ON d.id = a.debtor_id
            LEFT JOIN plan_steps s ON s.account_id = p.account_id AND s.channel = p.next_channel
                 AND s.template = p.next_template AND s.due_at = p.next_at
            WHERE p.next_channel = ANY($1::text[]) AND p.next_at <= $2 AND a.balance > 0
              AND (s.step_key IS NULL
                   OR (s.state = 'waiting' AND s.next_try_at <= $2)
                   OR (s.state = 'running' AND s.claimed_at < $3))
            ORDER BY p.next_at, p.account_id LIMIT $4
            FOR UPDATE OF p SKIP LOCKED
            """,
            channels,
            now,
            now - STALE,
            n,
        )
        out = []
        for r in rows:
            key = step_key(r["next_channel"], r["account_id"], r["next_template"], r["next_at"])
            await conn.execute(
                "INSERT INTO plan_steps (step_key, account_id, channel, template, due_at, state, tries,"
                " node, claimed_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'running', 1, $6, $7, $7)"
                " ON CONFLICT (account_id, channel, template, due_at) DO UPDATE SET state = 'running',"
                " tries = plan_steps.tries + 1, node = $6, claimed_at = $7, updated_at = $7",
                key,
                r["account_id"],
                r["next_channel"],
                r["next_template"],
                r["next_at"],
                node,
                now,
            )
            out.append(
                Due(r["account_id"], r["next_channel"], r["next_template"], r["next_at"], key,
                    r["tries"] + 1, r["country"])
            )  # fmt: skip
        return out


async def settle(
    pool: asyncpg.Pool, key: str, result: str, now: datetime, tries: int, retry_at: datetime | None
) -> str:
    if result in ("sent", "plan_moved"):
        state = "done"
    elif result == "blocked":
        state = "waiting"
    elif tries >= MAX_TRIES:
        state, retry_at = "gave_up", None
    else:
        state = "waiting"
    await pool.execute(
        "UPDATE plan_steps SET state = $2, result = $3, next_try_at = $4, updated_at = $5"
        " WHERE step_key = $1",
        key,
        state,
        result,
        retry_at,
        now,
    )
    return state


class StepRunner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        letters: LetterService,
        clock: Callable[[], datetime],
        *,
        text: TextStep | None = None,
        replan: Replan | None = None,
        node: str | None = None,
        batch: int = 20,
        concurrency: int = 4,
    ) -> None:
        self.concurrency = concurrency
        self.replan = replan  # a step done: the account is planned again, its next step shows
        self.pool = pool
        self.letters = letters
        self.text = text
        self.clock = clock
        self.node = node or socket.gethostname()
        self.batch = batch
        self.results: Counter[str] = Counter()

    @property
    def channels(self) -> list[str]:
        return ["letter", "sms"] if self.text is not None else ["letter"]

    async def run_once(self) -> dict[str, Any]:
        """Claim and carry out the steps due now (one batch); what happened, by result."""
        now = self.clock()
        async with self.pool.acquire() as conn:
            due = await claim(conn, self.channels, self.batch, node=self.node, now=now)
        done: Counter[str] = Counter()
        lanes = asyncio.Semaphore(self.concurrency)

        async def one(step: Due) -> None:
            async with lanes:
                result, retry_at = await self._one(step, now)
                if retry_at is None and result not in ("sent", "plan_moved"):
                    wait = (
                        DATA_RETRY if "no_" in result else ERROR_RETRY[min(step.tries, len(ERROR_RETRY)) - 1]
                    )
                    retry_at = now + wait
                state = await settle(self.pool, step.key, result, now, step.tries, retry_at)
                if state == "done" and self.replan is not None:
                    await self.replan([step.account_id], now)
                done[result] += 1
                log.info("step %s: %s (%s)", step.key, result, state)

        await asyncio.gather(*(one(step) for step in due))  # one account per step: no two lock each other
        self.results.update(done)
        return {"claimed": len(due), "results": dict(done)}

    async def _one(self, step: Due, now: datetime) -> tuple[str, datetime | None]:
        try:
            if needs_validation(step.country):
                # the validation notice goes out with the account's first step; when it cannot be made
                # (no postal address yet) the step still goes, and the notice is tried again next time
                first = await self.letters.make(
                    step.account_id, VALIDATION, step_key=f"{VALIDATION}:{step.account_id}", now=now
                )
                if first.result != "sent":
                    log.warning("account %s: no validation notice yet: %s", step.account_id, first.result)
            if step.channel == "letter":
                made = await self.letters.make(step.account_id, step.template, step_key=step.key, now=now)
                nxt = made.verdict.next_allowed_at if made.verdict else None
                return made.result, nxt
            assert self.text is not None
            last = await self.pool.fetchval(
                "SELECT max(created_at) FROM sms_messages WHERE account_id = $1", step.account_id
            )
            if last is not None and now - last < TEXT_SPACING:
                return "spaced", last + TEXT_SPACING
            texted = await self.text(step.account_id, step.template, now)
            return texted.result, texted.next_allowed_at
        except Exception:
            log.exception("step %s failed", step.key)
            return "error", None

    async def run(self, poll_s: float = 30.0) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(poll_s)

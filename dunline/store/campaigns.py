"""Campaigns in the database: their spec and status, the accounts they hold, claims and results.

Claims use `SELECT ... FOR UPDATE SKIP LOCKED`, so several controllers can share a campaign and no
account is claimed twice. A claimed member is settled once its attempt ends (or the gate blocked
it): done, or queued again with its next try time. `recover` runs when a controller starts: a member
it had claimed whose attempt was never created goes back to the queue (nothing was dialled); one whose
attempt exists is settled from that attempt, never re-dialled before its retry time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from dunline.store.attempts import audit

LEADER_NAMESPACE = 0x44554F  # pg_try_advisory_lock(namespace, campaign id): the pacing leader
STATUSES = ("created", "running", "paused", "stopped", "finished")
# which status a command may move a campaign from
MOVES = {
    "start": (("created", "paused", "stopped", "finished"), "running"),
    "pause": (("running",), "paused"),
    "resume": (("paused",), "running"),
    "stop": (("created", "running", "paused"), "stopped"),
    "finish": (("running",), "finished"),
}


class CampaignError(ValueError):
    """A campaign command that cannot be carried out; the message says why."""


OWN_GRACE = timedelta(hours=1)  # a callback booked for one agent goes to anyone after this long due
_RETURNED = (
    "m.campaign_id, m.account_id, m.template, m.tries, m.next_try_at, m.claimed_at, m.agent, m.asked_at"
)


@dataclass(frozen=True)
class Member:
    campaign_id: int
    account_id: int
    template: str | None
    tries: int
    next_try_at: datetime
    claimed_at: datetime | None
    agent: str | None = None  # a callback booked for this agent only
    asked_at: datetime | None = None  # a callback: when the debtor asked for it


async def create(conn: asyncpg.Connection, spec: dict[str, Any], actor: str = "cli") -> int:
    cid: int = await conn.fetchval(
        "INSERT INTO campaigns (name, mode, status, spec) VALUES ($1, $2, 'created', $3::jsonb) RETURNING id",
        spec["name"],
        spec["mode"],
        spec,
    )
    await audit(conn, actor, "campaign.create", f"campaign:{cid}", {"spec": spec})
    return cid


async def get(conn: asyncpg.Connection, campaign_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT id, name, mode, status, spec FROM campaigns WHERE id = $1", campaign_id)
    return None if row is None else dict(row.items())


async def move(conn: asyncpg.Connection, campaign_id: int, command: str, actor: str = "cli") -> str:
    """Apply a status command (start, pause, resume, stop, finish); the new status."""
    sources, target = MOVES[command]
    async with conn.transaction():
        status = await conn.fetchval("SELECT status FROM campaigns WHERE id = $1 FOR UPDATE", campaign_id)
        if status is None:
            raise CampaignError(f"no campaign {campaign_id}")
        if status not in sources:
            raise CampaignError(f"campaign {campaign_id} is {status}; cannot {command} it")
        await conn.execute(
            "UPDATE campaigns SET status = $2, updated_at = now() WHERE id = $1", campaign_id, target
        )
        await audit(conn, actor, f"campaign.{command}", f"campaign:{campaign_id}", {"from": status})
    return target


async def status(conn: asyncpg.Connection, campaign_id: int) -> str | None:
    found: str | None = await conn.fetchval("SELECT status FROM campaigns WHERE id = $1", campaign_id)
    return found


async def add_due(
    conn: asyncpg.Connection,
    campaign_id: int,
    *,
    tiers: Sequence[str],
    stages: Sequence[str],
    channel: str,
    now: datetime,
) -> int:
    """Add every account whose plan has a `channel` step due by `now` in the tiers and stages (an
    account already in the campaign is left as it is). The number added."""
    result = await conn.execute(
        """
        INSERT INTO campaign_members (campaign_id, account_id, template, next_try_at)
        SELECT $1, p.account_id, p.next_template, p.next_at
        FROM account_plans p JOIN accounts a ON a.id = p.account_id
        WHERE p.next_channel = $2 AND p.next_at <= $3 AND a.balance > 0
          AND p.stage = ANY($4::text[]) AND (cardinality($5::text[]) = 0 OR p.tier = ANY($5::text[]))
        ON CONFLICT (campaign_id, account_id) DO NOTHING
        """,
        campaign_id,
        channel,
        now,
        list(stages),
        list(tiers),
    )
    return int(result.split()[-1])


async def claim(
    conn: asyncpg.Connection, campaign_id: int, n: int, *, node: str, now: datetime
) -> list[Member]:
    """Claim up to `n` members due by `now`, oldest due first; members other controllers hold locked
    right now are skipped, not waited for. A callback booked for one agent is left to that agent until
    it has been due for OWN_GRACE."""
    if n <= 0:
        return []
    rows = await conn.fetch(
        f"""
        WITH due AS (
            SELECT campaign_id, account_id FROM campaign_members
            WHERE campaign_id = $1 AND state = 'queued' AND next_try_at <= $2
              AND (agent IS NULL OR next_try_at <= $2 - $5::interval)
            ORDER BY next_try_at, account_id
            LIMIT $3 FOR UPDATE SKIP LOCKED)
        UPDATE campaign_members m SET state = 'claimed', claimed_by = $4, claimed_at = $2
        FROM due WHERE m.campaign_id = due.campaign_id AND m.account_id = due.account_id
        RETURNING {_RETURNED}
        """,
        campaign_id,
        now,
        n,
        node,
        OWN_GRACE,
    )
    return [Member(**dict(r.items())) for r in rows]


async def claim_own(
    conn: asyncpg.Connection, campaign_id: int, account_id: int, *, agent: str, node: str, now: datetime
) -> Member | None:
    """Claim the callback `agent` booked for themself on this account, when it is due; None when there
    is none (not theirs, not due yet, or taken already)."""
    row = await conn.fetchrow(
        f"""
        UPDATE campaign_members m SET state = 'claimed', claimed_by = $4, claimed_at = $5
        WHERE campaign_id = $1 AND account_id = $2 AND agent = $3 AND state = 'queued'
          AND next_try_at <= $5
        RETURNING {_RETURNED}
        """,
        campaign_id,
        account_id,
        agent,
        node,
        now,
    )
    return Member(**dict(row.items())) if row is not None else None


async def own_callbacks(conn: asyncpg.Connection, agent: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The callbacks `agent` booked for themself and has not tried yet, soonest first."""
    rows = await conn.fetch(
        "SELECT m.campaign_id, c.name AS campaign, m.account_id, a.account_ref, m.next_try_at"
        " FROM campaign_members m JOIN campaigns c ON c.id = m.campaign_id"
        " JOIN accounts a ON a.id = m.account_id"
        " WHERE m.agent = $1 AND m.state = 'queued' AND c.status IN ('running', 'paused')"
        " ORDER BY m.next_try_at LIMIT $2",
        agent,
        limit,
    )
    return [dict(r.items()) for r in rows]


async def settle(
    conn: asyncpg.Connection,
    member: Member,
    *,
    result: str,
    counted: bool,
    next_try_at: datetime | None,
) -> None:
    """A claimed member's try is over: queued again at `next_try_at`, or done when None. `counted`:
    whether a call was placed (a blocked try is not a try)."""
    await conn.execute(
        """
        UPDATE campaign_members SET state = CASE WHEN $3::timestamptz IS NULL THEN 'done' ELSE 'queued' END,
            next_try_at = coalesce($3, next_try_at), tries = tries + $4, last_result = $5,
            claimed_by = NULL, claimed_at = NULL, agent = CASE WHEN $4 > 0 THEN NULL ELSE agent END,
            asked_at = CASE WHEN $4 > 0 THEN NULL ELSE asked_at END
        WHERE campaign_id = $1 AND account_id = $2 AND state = 'claimed'
        """,
        member.campaign_id,
        member.account_id,
        next_try_at,
        1 if counted else 0,
        result,
    )


async def claimed_by(conn: asyncpg.Connection, campaign_id: int, node: str) -> list[Member]:
    rows = await conn.fetch(
        f"SELECT {_RETURNED} FROM campaign_members m"
        " WHERE campaign_id = $1 AND state = 'claimed' AND claimed_by = $2",
        campaign_id,
        node,
    )
    return [Member(**dict(r.items())) for r in rows]


async def stale_claims(
    conn: asyncpg.Connection, campaign_id: int, before: datetime, *, but_not: str
) -> list[Member]:
    """Members other controllers claimed before `before` (longer ago than any call lasts)."""
    rows = await conn.fetch(
        f"SELECT {_RETURNED} FROM campaign_members m"
        " WHERE campaign_id = $1 AND state = 'claimed' AND claimed_at < $2 AND claimed_by <> $3",
        campaign_id,
        before,
        but_not,
    )
    return [Member(**dict(r.items())) for r in rows]


async def attempt_since(conn: asyncpg.Connection, member: Member) -> dict[str, Any] | None:
    """The attempt placed for a claimed member since its claim, if any (the newest)."""
    row = await conn.fetchrow(
        "SELECT id, state FROM attempts WHERE campaign_id = $1 AND account_id = $2 AND created_at >= $3"
        " ORDER BY created_at DESC LIMIT 1",
        member.campaign_id,
        member.account_id,
        member.claimed_at,
    )
    return None if row is None else dict(row.items())


async def pending(conn: asyncpg.Connection, campaign_id: int, now: datetime) -> dict[str, int]:
    """Members by state, and how many queued are due by `now`."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE state = 'queued') AS queued,
               count(*) FILTER (WHERE state = 'queued' AND next_try_at <= $2) AS due,
               count(*) FILTER (WHERE state = 'claimed') AS claimed,
               count(*) FILTER (WHERE state = 'done') AS done
        FROM campaign_members WHERE campaign_id = $1
        """,
        campaign_id,
        now,
    )
    assert row is not None
    return dict(row.items())


async def results(conn: asyncpg.Connection, campaign_id: int) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT coalesce(last_result, 'untried') AS r, count(*) AS n FROM campaign_members"
        " WHERE campaign_id = $1 GROUP BY 1",
        campaign_id,
    )
    return {r["r"]: r["n"] for r in rows}


async def abandon_counts(conn: asyncpg.Connection, campaign_id: int, since: datetime) -> tuple[int, int]:
    """(abandoned calls, live human answers) of the campaign since `since`: the abandon rate's terms."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE state = 'abandoned') AS abandoned,
               count(*) FILTER (WHERE EXISTS (SELECT 1 FROM attempt_transitions t
                                              WHERE t.attempt_id = a.id AND t.to_state = 'human')) AS live
        FROM attempts a WHERE a.campaign_id = $1 AND a.created_at >= $2
        """,
        campaign_id,
        since,
    )
    assert row is not None
    return int(row["abandoned"]), int(row["live"])


async def try_lead(conn: asyncpg.Connection, campaign_id: int) -> bool:
    """Become the campaign's pacing leader for as long as `conn` stays open (session advisory lock)."""
    got: bool = await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", LEADER_NAMESPACE, campaign_id)
    return got

"""What a campaign's live monitor shows, read from the database in one round of queries.

Everything here is shared by every controller of a campaign (calls, results, outcomes, the gate's
refusals), so any process can serve the monitor. What lives only in the memory of the controller that
runs the campaign (the pacer's dial level, agents' states) is added by that process when it hosts the
runner (`dunline serve`); this module does not guess it.

Windows of the abandon rate, as the dialer counts them (answered humans as the denominator):
today = since 00:00 UTC, first hour = the first 60 minutes after today's first call of the campaign,
30 days = rolling.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

LIVE_STATES = ("created", "dialing", "ringing", "answered", "human", "in_ivr", "bridged")
UP_STATES = ("answered", "human", "in_ivr", "bridged")

_CALLS = """
SELECT count(*) FILTER (WHERE state IN ('created', 'dialing', 'ringing')) AS ringing,
       count(*) FILTER (WHERE state = ANY($3::text[])) AS up,
       count(*) FILTER (WHERE created_at >= $2) AS placed_today,
       count(*) FILTER (WHERE created_at >= $2 AND EXISTS (
           SELECT 1 FROM attempt_transitions t
           WHERE t.attempt_id = a.id AND t.to_state = 'human')) AS humans_today,
       count(*) FILTER (WHERE created_at >= $2 AND state = 'abandoned') AS abandoned_today,
       min(created_at) FILTER (WHERE created_at >= $2) AS first_today
FROM attempts a WHERE campaign_id = $1 AND created_at >= $4
"""
_WINDOW = """
SELECT count(*) FILTER (WHERE state = 'abandoned') AS abandoned,
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM attempt_transitions t
                                      WHERE t.attempt_id = a.id AND t.to_state = 'human')) AS humans
FROM attempts a WHERE campaign_id = $1 AND created_at >= $2 AND created_at < $3
"""
_RESULTS = """
SELECT coalesce(result, state) AS r, count(*) AS n FROM attempts
WHERE campaign_id = $1 AND created_at >= $2 GROUP BY 1 ORDER BY 2 DESC
"""
_OUTCOMES = """
SELECT o.outcome, count(*) AS n FROM outcomes o JOIN attempts a ON a.id = o.attempt_id
WHERE a.campaign_id = $1 AND a.created_at >= $2 GROUP BY 1 ORDER BY 2 DESC
"""
_BLOCKED = """
SELECT r AS rule, count(*) AS n
FROM verdicts v JOIN campaign_members m ON m.account_id = v.account_id AND m.campaign_id = $1,
     unnest(v.rules) AS r
WHERE NOT v.allowed AND v.at >= $2 GROUP BY 1 ORDER BY 2 DESC
"""


def _rate(abandoned: int, humans: int) -> float | None:
    return round(abandoned / humans, 4) if humans else None


async def snapshot(conn: asyncpg.Connection, campaign_id: int, now: datetime) -> dict[str, Any] | None:
    """The monitor's numbers for one campaign at `now`; None when there is no such campaign."""
    camp = await conn.fetchrow(
        "SELECT id, name, mode, status, spec, updated_at FROM campaigns WHERE id = $1", campaign_id
    )
    if camp is None:
        return None
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = now - timedelta(days=30)
    calls = await conn.fetchrow(_CALLS, campaign_id, today, list(UP_STATES), month)
    assert calls is not None
    first = calls["first_today"]
    hour = {"abandoned": 0, "humans": 0}
    if first is not None:
        row = await conn.fetchrow(_WINDOW, campaign_id, first, first + timedelta(hours=1))
        hour = dict(row.items()) if row else hour
    rolling = await conn.fetchrow(_WINDOW, campaign_id, month, now + timedelta(seconds=1))
    assert rolling is not None
    members = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE state = 'queued') AS queued,"
        " count(*) FILTER (WHERE state = 'queued' AND next_try_at <= $2) AS due,"
        " count(*) FILTER (WHERE state = 'claimed') AS claimed,"
        " count(*) FILTER (WHERE state = 'done') AS done"
        " FROM campaign_members WHERE campaign_id = $1",
        campaign_id,
        now,
    )
    assert members is not None
    spec = camp["spec"] or {}
    return {
        "campaign": camp["id"],
        "name": camp["name"],
        "mode": camp["mode"],
        "status": camp["status"],
        "at": now.isoformat(),
        "abandon_cap": float(spec.get("abandon_target", 0.03)),
        "calls": {"ringing": calls["ringing"], "up": calls["up"]},
        "today": {
            "placed": calls["placed_today"],
            "answered": calls["humans_today"],
            "abandoned": calls["abandoned_today"],
        },
        "abandon_rate": {
            "today": _rate(calls["abandoned_today"], calls["humans_today"]),
            "first_hour": _rate(hour["abandoned"], hour["humans"]),
            "rolling_30d": _rate(rolling["abandoned"], rolling["humans"]),
        },
        "members": dict(members.items()),
        "results": {r["r"]: r["n"] for r in await conn.fetch(_RESULTS, campaign_id, today)},
        "outcomes": {r["outcome"]: r["n"] for r in await conn.fetch(_OUTCOMES, campaign_id, today)},
        "blocked": {r["rule"]: r["n"] for r in await conn.fetch(_BLOCKED, campaign_id, today)},
    }


async def campaign_list(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT c.id, c.name, c.mode, c.status, c.created_at, c.updated_at,"
        " (SELECT count(*) FROM campaign_members m WHERE m.campaign_id = c.id) AS members"
        " FROM campaigns c ORDER BY c.id DESC LIMIT 500"
    )
    return [dict(r.items()) for r in rows]

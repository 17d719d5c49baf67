"""The retention purge: an account's contact records (attempts, transitions, ledger, outcomes,
verdicts) are deleted once its last contact activity is older than the longest retention period of
the profiles that govern it (US 3 years after the last collection activity, China 5 years, UK 6
years). Accounts governed by no profile with a retention period are kept. Each purge is one
transaction and leaves a row in the audit log (what was deleted, when, under which profile).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from dunline.compliance.gate import governing
from dunline.compliance.model import Account, Phone
from dunline.compliance.profiles import Profile, default_profiles
from dunline.compliance.zones import locations
from dunline.store import contacts


def retention(profiles: tuple[Profile, ...], account: Account) -> tuple[int | None, str | None]:
    """The longest retention in days among the governing profiles, and which profile sets it."""
    chosen, _ = governing(profiles, locations(account))
    best: tuple[int | None, str | None] = (None, None)
    for p in chosen:
        if p.retention_days is not None and (best[0] is None or p.retention_days > best[0]):
            best = (p.retention_days, p.id)
    return best


def _unlink_recordings(folder: Path | None, calls: list[Any]) -> int:
    gone = 0
    if folder is None:
        return 0
    for call in calls:
        path = folder / f"{call}.wav"
        if path.is_file():
            path.unlink()
            gone += 1
    return gone


async def purge(
    pool: asyncpg.Pool,
    now: datetime,
    *,
    dry_run: bool = False,
    profiles: tuple[Profile, ...] | None = None,
    recordings: Path | None = None,
) -> dict[str, Any]:
    """Purge every account past its retention; `recordings`: the PBX's recordings folder, whose files
    of the purged calls are deleted after their records are."""
    profiles = profiles or default_profiles()
    purged: list[dict[str, Any]] = []
    kept = 0
    for row in await contacts.purge_candidates(pool):
        async with pool.acquire() as conn:
            facts = await contacts.account_facts(conn, row["id"])
        phones = tuple(Phone(p["number_e164"]) for p in (facts or {}).get("phones", []))
        account = Account(
            str(row["account_ref"]), str(row["country"]), row["region"], row["city"], None, phones
        )
        days, profile = retention(profiles, account)
        if days is None or row["last_activity"] >= now - timedelta(days=days):
            kept += 1
            continue
        entry: dict[str, Any] = {
            "account": row["account_ref"],
            "last_activity": row["last_activity"].isoformat(),
            "retention_days": days,
            "profile": profile,
        }
        if not dry_run:
            calls = [
                r["id"] for r in await pool.fetch("SELECT id FROM attempts WHERE account_id = $1", row["id"])
            ]
            entry["deleted"] = await contacts.purge_account_history(
                pool, row["id"], reason={k: entry[k] for k in ("last_activity", "retention_days", "profile")}
            )
            entry["deleted"]["recordings"] = _unlink_recordings(recordings, calls)
        purged.append(entry)
    return {"now": now.isoformat(), "dry_run": dry_run, "purged": purged, "kept": kept}

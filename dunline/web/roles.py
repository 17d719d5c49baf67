"""Who may do what in the console and the API (pure): one table, read by the app and by the tests.

Console roles, from most to least power:

    admin        everything, users and trunks included
    supervisor   portfolio, debtor pages (may unmask), campaigns (create, control, watch), the compliance
                 views (read)
    agent        the portfolio and debtor pages (masked), the agent desktop (also open to admin and
                 supervisor)
    compliance   portfolio, debtor pages (may unmask), audit, holds, profiles, the purge preview, campaigns
                 (watch)
    viewer       the portfolio and debtor pages, masked, and the campaign monitors, read only

`CONSOLE` maps each route name to the roles allowed on it; a route missing from it is refused to all
(the app checks at start-up that every named route has a row). API tokens carry scopes instead of
roles: `API` maps each `/api/v1` route name to the one scope it needs.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Role = Literal["admin", "supervisor", "agent", "compliance", "viewer"]
ROLES: Final[tuple[Role, ...]] = get_args(Role)
Scope = Literal[
    "accounts:read", "accounts:write", "payments:write", "campaigns:read", "campaigns:write", "audit:read"
]
SCOPES: Final[tuple[Scope, ...]] = get_args(Scope)

_ALL: Final[frozenset[Role]] = frozenset(ROLES)
_UNMASK: Final[frozenset[Role]] = frozenset({"admin", "supervisor", "compliance"})
_COMPLIANCE_READ: Final[frozenset[Role]] = frozenset({"admin", "supervisor", "compliance"})
_WATCH: Final[frozenset[Role]] = frozenset({"admin", "supervisor", "compliance", "viewer"})
_STEER: Final[frozenset[Role]] = frozenset({"admin", "supervisor"})
_DESK: Final[frozenset[Role]] = frozenset({"admin", "supervisor", "agent"})
_COMPLIANCE_WRITE: Final[frozenset[Role]] = frozenset({"admin", "compliance"})

CONSOLE: Final[dict[str, frozenset[Role]]] = {
    "home": _ALL,
    "accounts": _ALL,
    "account": _ALL,
    "account.unmask": _UNMASK,
    "account.audit": _COMPLIANCE_READ,
    "account.hold": _COMPLIANCE_WRITE,
    "account.evidence": _COMPLIANCE_READ,
    "replies": _DESK,
    "reply.handled": _DESK,
    "compliance.profiles": _COMPLIANCE_READ,
    "compliance.purge": _COMPLIANCE_READ,
    "compliance.abandon": _COMPLIANCE_READ,
    "users": frozenset({"admin"}),
    **{name: frozenset({"admin"}) for name in ("trunks", "trunks.add", "trunk", "trunk.edit", "trunk.test")},
    "campaigns": _WATCH,
    "campaign": _WATCH,
    "campaign.events": _WATCH,
    "campaign.create": _STEER,
    "campaign.control": _STEER,
    **{
        f"desk{suffix}": _DESK
        for suffix in (
            "",
            ".events",
            ".login",
            ".logout",
            ".pause",
            ".ready",
            ".disposition",
            ".plan",
            ".preview",
            ".dial",
            ".callback",
            ".skip",
        )
    },
}

# Routes anyone may reach, logged in or not (the login page itself, static files, the health check).
PUBLIC: Final[frozenset[str]] = frozenset(
    {"login", "login.post", "logout", "static", "health", "api.openapi"}
)

API: Final[dict[str, Scope]] = {
    "api.accounts.upsert": "accounts:write",
    "api.account": "accounts:read",
    "api.account.plan": "accounts:read",
    "api.account.timeline": "accounts:read",
    "api.account.audit": "audit:read",
    "api.payments": "payments:write",
    "api.campaigns.create": "campaigns:write",
    "api.campaign": "campaigns:read",
    "api.campaign.command": "campaigns:write",
}


def allowed(route: str, role: str) -> bool:
    """May a user of `role` use the console route `route`? Unknown routes and roles: no."""
    return role in CONSOLE.get(route, frozenset())


def may_unmask(role: str) -> bool:
    return role in _UNMASK


def parse_scopes(text: str) -> tuple[Scope, ...]:
    """`accounts:write,payments:write` -> the scopes, sorted; ValueError names an unknown one."""
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    if not wanted:
        raise ValueError(f"no scope given; choose from {', '.join(SCOPES)}")
    bad = [s for s in wanted if s not in SCOPES]
    if bad:
        raise ValueError(f"unknown scope {bad[0]!r}; choose from {', '.join(SCOPES)}")
    return tuple(s for s in SCOPES if s in wanted)

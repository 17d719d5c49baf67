"""The agent desktop: an agent logs in with a phone, goes ready or paused with a code, gets the debtor's
screen the moment the debtor joins their bridge (pushed over SSE), records the disposition, and in a
preview campaign sees the next account with the gate's verdict before pressing Dial.

`Desk` links the pages to this process's controller (`AgentPool`, `CampaignHost`); a console without
a controller (`dunline serve --console-only`) has none and the desk says so. Agent id = user name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import phonenumbers
from aiohttp import web

from dunline.store import console as console_store
from dunline.web import debtor
from dunline.web.sse import event, open_stream

log = logging.getLogger("dunline.web.desk")
PAUSE_CODES = ("break", "lunch", "training", "meeting", "admin", "other")
_SIP = re.compile(r"^PJSIP/[A-Za-z0-9_.+-]{1,64}(@[A-Za-z0-9_.-]{1,64})?$")
STATE_EVERY_S = 1.0


def phone_endpoint(text: str) -> str:
    """An E.164 number (dialled over the trunk) or a PBX endpoint `PJSIP/name`; ValueError says why."""
    value = text.strip()
    if _SIP.match(value):
        return value
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("phone: an E.164 number (+14155550123) or a PBX endpoint (PJSIP/name)") from None
    if not phonenumbers.is_possible_number(parsed):
        raise ValueError("phone: not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@dataclass
class Seat:
    """One agent's desk: the open screen (attempt, account) and who is watching."""

    pause_code: str | None = None
    screen: dict[str, Any] | None = None
    version: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    preview: tuple[int, Any] | None = None  # (campaign id, claimed member)


class Desk:
    def __init__(
        self,
        pool: asyncpg.Pool,
        agents: Any,
        host: Any,
        clock: Callable[[], datetime],
        render: Callable[[str, dict[str, Any]], str],
        caller_id: str | None = None,
    ) -> None:
        self.caller_id = caller_id  # the trunk's caller id: the gate checks it
        self.pool = pool
        self.agents = agents
        self.host = host
        self.clock = clock
        self.render = render
        self.seats: dict[str, Seat] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def seat(self, agent: str) -> Seat:
        return self.seats.setdefault(agent, Seat())

    def state(self, agent: str) -> dict[str, Any]:
        views = {v.id: v for v in self.agents.board.snapshot(self.clock())}
        v = views.get(agent)
        seat = self.seat(agent)
        if v is None:
            return {"state": "offline", "seconds": 0, "calls": 0, "pause_code": None}
        paused = v.state == "paused" or v.pause_pending
        code = seat.pause_code if paused else None
        return {"state": v.state, "seconds": int(v.seconds_in_state), "calls": v.calls, "pause_code": code}

    # ---- the screen pop --------------------------------------------------------------------------------
    def on_screen(self, event: dict[str, Any]) -> None:
        """The agent pool's callback when a debtor joins an agent's bridge (sync: schedules the load)."""
        task = asyncio.get_running_loop().create_task(self._pop(event), name=f"pop-{event.get('agent')}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pop(self, event: dict[str, Any]) -> None:
        agent = str(event.get("agent"))
        ref = event.get("account")
        try:
            found = await console_store.debtor_360(self.pool, str(ref), now=self.clock()) if ref else None
        except Exception:  # the call goes on; the agent sees the ids at least
            log.exception("agent %s: screen pop for %s failed", agent, ref)
            found = None
        view = debtor.build(found, self.clock(), unmasked=False) if found is not None else None
        banners, items = await self._compliance(found)
        seat = self.seat(agent)
        seat.screen = {"attempt": event.get("attempt"), "account": ref, "script": self._script(event, view),
                       "view": view, "at": self.clock(), "banners": banners, "checklist": items}  # fmt: skip
        seat.version += 1
        seat.changed.set()

    async def _compliance(self, found: Any) -> tuple[list[str], list[str]]:
        """Banners from the same gate the dialer uses (local time, what another call now would meet,
        holds) and the disclosures checklist of the debtor's profiles."""
        if found is None:
            return [], checklist([], False)
        from dunline.compliance.profiles import default_profiles
        from dunline.dialer.clearance import preview

        banners: list[str] = []
        phones = found.document.get("contact", {}).get("phones", [])
        zone = found.document.get("contact", {}).get("timezone")
        now = self.clock()
        if zone:
            with contextlib.suppress(KeyError, ValueError):
                from zoneinfo import ZoneInfo

                banners.append(f"Debtor's local time: {now.astimezone(ZoneInfo(zone)):%a %H:%M} ({zone})")
        flags = found.document.get("contact", {}).get("flags", [])
        if flags:
            banners.append("Holds and flags: " + ", ".join(flags))
        profiles: tuple[str, ...] = ()
        if phones:
            verdict = await preview(
                self.pool, account_id=found.account_id, number=phones[0]["number"], kind="agent",
                caller_id=self.caller_id, at=now,
            )  # fmt: skip
            profiles = tuple(verdict.profiles)
            if not verdict.allowed:
                when = (
                    verdict.next_allowed_at.isoformat(timespec="minutes")
                    if verdict.next_allowed_at
                    else "never"
                )
                banners.append(
                    f"Another call now would be blocked: {'; '.join(verdict.reasons)} (next {when})"
                )
        recording = any(p.recording_notice for p in default_profiles() if p.id in profiles)
        return banners, checklist(profiles, recording)

    @staticmethod
    def _script(event: dict[str, Any], view: dict[str, Any] | None) -> dict[str, Any] | None:
        from dunline.strategies.scripts import ScriptError, load_scripts

        template = event.get("script")
        lang = (view or {}).get("identity", {}).get("language") or "en"
        try:
            found = load_scripts(lang if lang in ("en", "zh") else "en").get(str(template))
        except ScriptError:
            found = None
        return {"id": template, "text": found.text if found else None}

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Own a task started for an agent (a preview call): cancelled at close, never orphaned."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close_screen(self, agent: str) -> None:
        seat = self.seat(agent)
        seat.screen = None
        seat.version += 1
        seat.changed.set()

    async def close(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await t

    # ---- the event stream -----------------------------------------------------------------------------
    async def stream(self, request: web.Request, agent: str, csrf: str) -> web.StreamResponse:
        response = await open_stream(request)
        seat = self.seat(agent)
        seen = -1
        try:
            while True:
                if seat.version != seen:
                    seen = seat.version
                    html = self.render(
                        "desk_screen.html", {"screen": seat.screen, "csrf": csrf, "agent": agent}
                    )
                    await response.write(event("screen", html))
                state = self.render(
                    "desk_state.html", {"st": self.state(agent), "codes": PAUSE_CODES, "csrf": csrf}
                )
                await response.write(event("state", state))
                seat.changed.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(seat.changed.wait(), STATE_EVERY_S)
        except (ConnectionResetError, ConnectionError):
            pass
        return response


def attempt_id(text: str) -> uuid.UUID:
    try:
        return uuid.UUID(text)
    except ValueError:
        raise ValueError("attempt: not a call id") from None


DESK = web.AppKey("desk", Desk)


def checklist(profiles: tuple[str, ...] | list[str], recording: bool) -> list[str]:
    """What the agent must say, ticked off on the screen: from the profiles that govern the debtor."""
    items = ["Right-party check: confirm you speak to the debtor before any detail of the debt"]
    if recording:
        items.append("Recording notice: tell the debtor the call is recorded")
    if any(p == "us" or p.startswith("us-") for p in profiles):
        items.append(
            "Mini-Miranda: this is an attempt to collect a debt; information obtained will be used for it"
        )
    if "cn" in profiles:
        items.append("表明身份与机构名称，不得冒充公检法或使用威胁性语言")
    if "uk" in profiles:
        items.append("Treat the customer fairly: offer time and signpost free debt advice if struggling")
    return items

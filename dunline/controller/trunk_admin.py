"""The telecom admin's trunk changes on a running controller: apply the stored trunks to the PBX, read
the far ends' qualify state, place a test call over one trunk.

How a change reaches the running PBX without dropping calls: the PBX's pjsip.conf is rendered from the
enabled trunks of the `trunks` table and replaced atomically (written beside it, then renamed), then
`module reload res_pjsip.so` runs through the PBX's control socket. A PJSIP reload re-reads the
configuration objects (endpoints, AORs, auths, registrations, identifies); a channel already up holds
a reference to the endpoint it was made with, so calls in progress carry on (the live test keeps a call
up across an edit, an add and a disable); a registration whose settings changed registers again, a
removed one unregisters. Transports are never reloaded (Asterisk's default): UDP and TCP are both bound
when the PBX starts, and a trunk picks one.

The dialer follows at once: its next call goes over the first enabled trunk with that trunk's caller
ID. A trunk's channel limit and calls per second bound campaigns started (or resumed on another
controller) after the change: a running campaign keeps the limits it started with.

Errors: `TrunkApplyError` (the PBX refused the reload; its answer is in the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dunline.config.schema import Settings
from dunline.controller import asterisk
from dunline.controller.app import Runtime
from dunline.dialer.ami import AmiError
from dunline.dialer.lifecycle import unanswered_state
from dunline.store import trunks as store

log = logging.getLogger("dunline.trunks")

# `pjsip show contacts`:  "  Contact:  carrier/sip:127.0.0.1:5170    0b6c5e1a2f Avail   1.203"
_CONTACT = re.compile(r"^\s*Contact:\s+([^/\s]+)/(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")
TEST_HOLD_S = 2


class TrunkApplyError(RuntimeError):
    """The PBX did not take the new trunk configuration."""


def parse_contacts(text: str) -> list[dict[str, Any]]:
    """The contact lines of `pjsip show contacts` (the header's own "Contact:" line is skipped)."""
    out = []
    for line in text.splitlines():
        m = _CONTACT.match(line)
        if not m or m.group(1) == "<Aor":
            continue
        aor, uri, _hash, status, rtt = m.groups()
        try:
            rtt_ms: float | None = float(rtt)
        except ValueError:
            rtt_ms = None
        if rtt_ms is not None and not math.isfinite(rtt_ms):  # "nan": not qualified
            rtt_ms = None
        out.append({"Aor": aor, "Uri": uri, "Status": status, "RoundtripMs": rtt_ms})
    return out


@dataclass
class TestCall:
    trunk: str
    result: str  # answered, busy, no_answer, congestion, failed ... (the dialer's attempt states)
    reason: int  # the OriginateResponse's reason
    cause: int | None  # the hangup cause of a call not answered (17 busy, 34 congestion ...)
    cause_text: str
    took_ms: int


class TrunkAdmin:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = asyncio.Lock()
        self.on_apply: list[Callable[[Settings], None]] = []  # e.g. the agent desktop's caller ID

    async def start(self) -> None:
        """Seed the table from the settings the first time, then make the PBX match the table."""
        await store.seed(self.rt.pool, self.rt.settings.trunks)
        await self.apply()

    async def apply(self) -> dict[str, Any]:
        async with self._lock:
            t0 = time.monotonic()
            on = store.enabled(await store.load(self.rt.pool))
            settings = self.rt.settings.model_copy(update={"trunks": on})
            text = asterisk.render_pjsip(settings, self.rt.pbx)
            await asyncio.to_thread(asterisk.write_conf, self.rt.pbx, {"pjsip.conf": text})
            answer = await asyncio.to_thread(self.rt.pbx.rx, "module reload res_pjsip.so", 15.0)
            if "reloaded" not in answer.lower():
                raise TrunkApplyError(f"the PBX did not reload PJSIP: {answer.strip() or 'no answer'}")
            self.rt.settings = settings
            self.rt.dialer.settings = settings
            self.rt.agents.trunk = settings.trunk.name
            for follow in self.on_apply:
                follow(settings)
            took = round((time.monotonic() - t0) * 1000)
            log.info("trunks applied to the PBX in %d ms: %s", took, ", ".join(t.name for t in on))
            return {"trunks": [t.name for t in on], "took_ms": took}

    async def contacts(self) -> list[dict[str, Any]]:
        return parse_contacts(await asyncio.to_thread(self.rt.pbx.rx, "pjsip show contacts", 10.0))

    async def test_call(self, trunk: str, number: str, *, hold_s: int = TEST_HOLD_S) -> TestCall:
        """Dial `number` (E.164, checked by the caller) over `trunk`; the answered leg holds `hold_s`
        seconds in the PBX's dunline-testcall context and hangs up. An unanswered call's result comes
        from its hangup cause (busy, no_answer, congestion ...), as for the dialer's calls."""
        found = next((t for t in self.rt.settings.trunks if t.name == trunk), None)
        if found is None:
            raise ValueError(f"trunk {trunk!r} is not enabled on the PBX")
        channel_id = f"testcall-{uuid.uuid4().hex[:16]}"
        hung = asyncio.get_running_loop().create_future()

        def on_hangup(msg: dict[str, str]) -> None:
            if msg.get("Uniqueid") == channel_id and not hung.done():
                hung.set_result((_cause(msg.get("Cause")), msg.get("Cause-txt", "")))

        unsubscribe = self.rt.ami.subscribe("Hangup", on_hangup)
        t0 = time.monotonic()
        try:
            res = await self.rt.ami.originate(
                channel=f"PJSIP/{number}@{trunk}",
                context="dunline-testcall",
                exten="s",
                channel_id=channel_id,
                caller_id=f"<{found.caller_id}>",
                timeout_ms=self.rt.settings.dialer.ring_timeout_s * 1000,
                variables={"DUNLINE_HOLD": str(hold_s)},
            )
            took = round((time.monotonic() - t0) * 1000)
            if res.result == "answered":
                return TestCall(trunk, "answered", res.reason, None, "", took)
            cause, text = (None, "")
            with contextlib.suppress(TimeoutError):
                cause, text = await asyncio.wait_for(hung, 3.0)
            state = "no_answer" if res.reason == 3 and cause is None else unanswered_state(cause)[0]
            return TestCall(trunk, state, res.reason, cause, text, took)
        except AmiError as exc:
            took = round((time.monotonic() - t0) * 1000)
            return TestCall(trunk, "failed", 0, None, f"AMI: {exc}", took)
        finally:
            unsubscribe()


def _cause(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None

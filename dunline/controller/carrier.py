"""The carrier simulator's scenario table -> Asterisk dialplan (pure), and its audio list.

The carrier simulator is a second Asterisk instance behind the PBX's SIP trunk. Each dialled number
behaves as its scenario says (a human pressing keys or speaking, a human who just talks (to an agent),
busy, no answer, voicemail, congestion, or an agent's phone that answers and stays on the line). Tests
and `dunline demo` both use it; its files live in `tests/fixtures/carrier/`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KINDS = (
    "human_dtmf",
    "human_speech",
    "human_hangup",
    "human_talk",
    "busy",
    "no_answer",
    "voicemail",
    "congestion",
    "agent",
)
MAX_HOLD_S = 600.0
MAX_AGENT_HOLD_S = 4 * 3600.0  # an agent's phone stays up for a whole shift
AGENT_HOLD_S = 3600.0  # an agent's phone, unless told otherwise
TALK_PAUSE_S = 2.0  # human_talk: silence after the greeting, for the caller's AMD to say "human"
_NUMBER = re.compile(r"^\+[1-9][0-9]{6,14}$")
_PATTERN = re.compile(r"^_\+[0-9X]{7,15}$")
_DIGIT = re.compile(r"^[0-9*#]$")
_SOUND = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


class ScenarioError(ValueError):
    """A scenario entry that cannot be rendered; the message names the number and the field."""


@dataclass(frozen=True)
class Scenario:
    kind: str
    greeting: str | None = None
    digits: tuple[str, ...] = ()
    say: tuple[str, ...] = ()
    hold_s: float = 30.0
    sounds_used: tuple[str, ...] = field(default=())


def parse_scenario(where: str, raw: Mapping[str, Any]) -> Scenario:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: a scenario must be a mapping with `kind`, not {raw!r}")
    kind = raw.get("kind")
    if kind not in KINDS:
        raise ScenarioError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    unknown = set(raw) - {"kind", "greeting", "digits", "say", "hold_s"}
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    greeting = str(raw["greeting"]) if raw.get("greeting") is not None else None
    digits = tuple(str(d) for d in raw.get("digits") or ())
    say = tuple(str(s) for s in raw.get("say") or ())
    for d in digits:
        if not _DIGIT.match(d):
            raise ScenarioError(f"{where}: digit {d!r} is not one of 0-9 * #")
    for s in (*say, *([greeting] if greeting else [])):
        if not _SOUND.match(s):
            raise ScenarioError(f"{where}: sound name {s!r} must be lower-case letters, digits, '_'")
    if kind in ("human_dtmf", "human_speech", "human_hangup", "human_talk", "voicemail") and not greeting:
        raise ScenarioError(f"{where}: a {kind} scenario needs a greeting")
    try:
        hold = float(raw.get("hold_s", AGENT_HOLD_S if kind == "agent" else 30.0))
    except (TypeError, ValueError):
        raise ScenarioError(f"{where}: hold_s must be a number of seconds") from None
    longest = MAX_AGENT_HOLD_S if kind == "agent" else MAX_HOLD_S
    if not 0 < hold <= longest:
        raise ScenarioError(f"{where}: hold_s must be in (0, {longest:g}]")
    used = tuple(dict.fromkeys([*([greeting] if greeting else []), *say]))
    return Scenario(kind, greeting, digits, say, hold, used)


def load_table(path: Path) -> dict[str, Scenario]:
    data = yaml.safe_load(path.read_text("utf-8")) or {}
    out: dict[str, Scenario] = {}
    for number, raw in (data.get("numbers") or {}).items():
        if not _NUMBER.match(str(number)):
            raise ScenarioError(f"{path}: {number!r} is not an E.164 number")
        out[str(number)] = parse_scenario(f"{path}: {number}", raw)
    for pattern, raw in (data.get("patterns") or {}).items():
        if not _PATTERN.match(str(pattern)):
            raise ScenarioError(f"{path}: {pattern!r} is not a pattern like _+1415556XXXX")
        out[str(pattern)] = parse_scenario(f"{path}: {pattern}", raw)
    return out


def dialplan(number: str, s: Scenario, sounds: str) -> list[str]:
    """Dialplan lines for one number. `sounds` is the carrier's sound directory (as Asterisk sees it)."""
    first = f"exten => {number},1,NoOp(scenario {s.kind})"
    lines = [first]

    def add(app: str) -> None:
        lines.append(f" same => n,{app}")

    def after_prompt() -> None:
        # wait for the IVR's prompt to start, then for it to end (1.2 s of silence)
        add("WaitForNoise(300,1,20)")
        add("WaitForSilence(1200,1,30)")

    if s.kind == "busy":
        add("Busy(5)")
    elif s.kind == "congestion":
        add("Congestion(5)")
    elif s.kind == "no_answer":
        add("Ringing()")
        add("Wait(300)")
    elif s.kind == "agent":
        # an agent's phone: picks up and stays on the line (silence) until hung up, or hold_s
        add("Answer()")
        add(f"Wait({s.hold_s:g})")
    elif s.kind == "voicemail":
        add("Answer()")
        add("Wait(0.3)")
        add(f"Playback({sounds}/{s.greeting})")
        add("Playback(beep)")
        add(f"Wait({s.hold_s:g})")
    else:
        add("Answer()")
        add("Wait(0.3)")
        add(f"Playback({sounds}/{s.greeting})")
        if s.kind == "human_dtmf":
            for d in s.digits:
                after_prompt()
                add(f"SendDTMF({d},250)")
        elif s.kind == "human_speech":
            for name in s.say:
                after_prompt()
                add(f"Playback({sounds}/{name})")
        elif s.kind == "human_talk":
            # talks to whoever is there (an agent): no waiting for prompts, just the lines in turn
            add(f"Wait({TALK_PAUSE_S:g})")
            for name in s.say:
                add(f"Playback({sounds}/{name})")
        add(f"Wait({s.hold_s:g})")
    add("Hangup()")
    return lines


def render_dialplan(table: Mapping[str, Scenario], sounds: str) -> str:
    blocks = ["\n".join(dialplan(number, s, sounds)) for number, s in table.items()]
    return "\n\n".join(blocks)

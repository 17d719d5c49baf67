"""The life of one dial attempt: every legal transition in one table (pure).

    created -> dialing -> ringing -> answered -> human -> in_ivr -> completed
                  |          |           |          |-> bridged -> completed (agent campaigns)
                  |          |           |          |-> abandoned (no agent within 2 s: safe-harbour message)
                  |          |           |          `-> completed (hung up before the IVR or an agent)
                  |          |           `-> machine -> voicemail
                  `----------+-> busy | no_answer | congestion | failed

`bridged`: an answered human connected to an agent. `abandoned`: an answered human for whom no agent
was free within 2 s; they heard the safe-harbour message (identity, callback number, opt-out) and
count against the campaign's abandon rate.

An illegal transition raises `IllegalTransition`; final states accept nothing. `result()` maps a
final state to the coarse result the operator sees (answered, abandoned, busy, no_answer, voicemail,
failed).
"""

from __future__ import annotations

from typing import Final, Literal

State = Literal[
    "created",
    "dialing",
    "ringing",
    "answered",
    "human",
    "machine",
    "in_ivr",
    "bridged",
    "completed",
    "abandoned",
    "voicemail",
    "busy",
    "no_answer",
    "congestion",
    "failed",
]

_FAILURES: Final = ("busy", "no_answer", "congestion", "failed")

TRANSITIONS: Final[dict[str, frozenset[str]]] = {
    "created": frozenset({"dialing", "failed"}),
    "dialing": frozenset({"ringing", "answered", *_FAILURES}),
    "ringing": frozenset({"answered", *_FAILURES}),
    "answered": frozenset({"human", "machine", "completed", "failed"}),
    "human": frozenset({"in_ivr", "bridged", "abandoned", "completed", "failed"}),
    "machine": frozenset({"voicemail", "failed"}),
    "in_ivr": frozenset({"completed", "failed"}),
    "bridged": frozenset({"completed", "failed"}),
    "completed": frozenset(),
    "abandoned": frozenset(),
    "voicemail": frozenset(),
    "busy": frozenset(),
    "no_answer": frozenset(),
    "congestion": frozenset(),
    "failed": frozenset(),
}

FINAL: Final = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)

RESULTS: Final[dict[str, str]] = {
    "completed": "answered",
    "abandoned": "abandoned",
    "voicemail": "voicemail",
    "busy": "busy",
    "no_answer": "no_answer",
    "congestion": "failed",
    "failed": "failed",
}


class IllegalTransition(ValueError):
    def __init__(self, attempt: str, current: str, target: str) -> None:
        self.current, self.target = current, target
        super().__init__(f"attempt {attempt}: illegal transition {current} -> {target}")


def check(attempt: str, current: str, target: str) -> None:
    if target not in TRANSITIONS.get(current, frozenset()):
        raise IllegalTransition(attempt, current, target)


def result(state: str) -> str:
    """The operator-facing result of a final state."""
    if state not in FINAL:
        raise ValueError(f"{state!r} is not a final state")
    return RESULTS[state]


# Hangup causes (Q.850) -> (attempt state for a call that never answered, retryable?)
HANGUP_CAUSES: Final[dict[int, tuple[str, bool]]] = {
    1: ("failed", False),  # unallocated number
    3: ("failed", False),  # no route to destination
    16: ("no_answer", True),  # normal clearing before answer
    17: ("busy", True),  # user busy
    18: ("no_answer", True),  # no user responding
    19: ("no_answer", True),  # no answer
    21: ("failed", False),  # call rejected
    22: ("failed", False),  # number changed
    27: ("failed", True),  # destination out of order
    28: ("failed", False),  # invalid number format
    34: ("congestion", True),  # no circuit available
    38: ("congestion", True),  # network out of order
    41: ("congestion", True),  # temporary failure
    42: ("congestion", True),  # switching equipment congestion
    127: ("failed", True),  # interworking
}


def unanswered_state(cause: int | None) -> tuple[str, bool]:
    """The final state and retryability of an attempt that ended before answer with `cause`."""
    if cause is None:
        return ("failed", True)
    return HANGUP_CAUSES.get(cause, ("failed", True))

"""The attempt lifecycle table and the hangup-cause table (dunline/dialer/lifecycle.py)."""

from __future__ import annotations

import itertools
from collections import deque
from typing import get_args

import pytest

from dunline.dialer.lifecycle import (
    FINAL,
    HANGUP_CAUSES,
    RESULTS,
    TRANSITIONS,
    IllegalTransition,
    State,
    check,
    result,
    unanswered_state,
)

ALL_STATES = set(get_args(State))
OPERATOR_RESULTS = {"answered", "abandoned", "busy", "no_answer", "voicemail", "failed"}


def test_table_covers_exactly_the_declared_states() -> None:
    assert set(TRANSITIONS) == ALL_STATES
    for source, targets in TRANSITIONS.items():
        assert targets <= ALL_STATES, source
        assert source not in targets, f"{source} loops on itself"


def test_final_states() -> None:
    assert {"completed", "abandoned", "voicemail", "busy", "no_answer", "congestion", "failed"} == FINAL
    for state in FINAL:
        assert TRANSITIONS[state] == frozenset()


def test_every_non_final_state_has_an_exit_and_can_fail() -> None:
    for state in ALL_STATES - FINAL:
        assert TRANSITIONS[state], state
        assert "failed" in TRANSITIONS[state], f"{state} cannot fail"


def test_every_state_is_reachable_from_created() -> None:
    seen = {"created"}
    queue = deque(["created"])
    while queue:
        for nxt in TRANSITIONS[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert seen == ALL_STATES


def test_every_state_leads_to_a_final_state() -> None:
    for state in ALL_STATES:
        seen, stack = {state}, [state]
        while stack:
            for nxt in TRANSITIONS[stack.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        assert seen & FINAL, state


@pytest.mark.parametrize(
    "path",
    [
        ["created", "dialing", "ringing", "answered", "human", "in_ivr", "completed"],
        ["created", "dialing", "answered", "human", "completed"],
        ["created", "dialing", "ringing", "answered", "machine", "voicemail"],
        ["created", "dialing", "ringing", "busy"],
        ["created", "dialing", "no_answer"],
        ["created", "dialing", "ringing", "congestion"],
        ["created", "failed"],
        ["created", "dialing", "ringing", "answered", "human", "in_ivr", "failed"],
        ["created", "dialing", "ringing", "answered", "human", "bridged", "completed"],
        ["created", "dialing", "answered", "human", "abandoned"],
        ["created", "dialing", "answered", "human", "bridged", "failed"],
    ],
)
def test_legal_paths(path: list[str]) -> None:
    for current, target in itertools.pairwise(path):
        check("a1", current, target)  # raises if illegal


def test_every_illegal_pair_raises_naming_both_states() -> None:
    count = 0
    for current, target in itertools.product(sorted(ALL_STATES), repeat=2):
        if target in TRANSITIONS[current]:
            check("a7", current, target)
            continue
        count += 1
        with pytest.raises(IllegalTransition) as info:
            check("a7", current, target)
        err = info.value
        assert (err.current, err.target) == (current, target)
        assert f"{current} -> {target}" in str(err)
        assert "a7" in str(err)
    assert count > 100  # the table is sparse: most pairs are illegal


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("completed", "dialing"),
        ("created", "answered"),
        ("ringing", "human"),
        ("machine", "completed"),
        ("human", "voicemail"),
        ("busy", "failed"),
        ("answered", "bridged"),  # only a human (AMD said so) is connected to an agent
        ("answered", "abandoned"),
        ("machine", "abandoned"),  # a machine is never an abandoned call
        ("in_ivr", "bridged"),
        ("bridged", "abandoned"),  # once an agent took the call it cannot be abandoned
        ("abandoned", "completed"),
    ],
)
def test_specific_illegal_transitions(current: str, target: str) -> None:
    with pytest.raises(IllegalTransition, match=f"{current} -> {target}"):
        check("x", current, target)


def test_agent_paths_end_as_the_abandon_rate_counts_them() -> None:
    # the abandon rate's two terms: abandoned calls and live human answers (bridged or not)
    assert TRANSITIONS["bridged"] == {"completed", "failed"}
    assert result("abandoned") == "abandoned"
    assert "abandoned" in FINAL and "bridged" not in FINAL
    assert {s for s, nxt in TRANSITIONS.items() if "abandoned" in nxt} == {"human"}
    assert {s for s, nxt in TRANSITIONS.items() if "bridged" in nxt} == {"human"}


def test_unknown_states_are_illegal() -> None:
    with pytest.raises(IllegalTransition):
        check("x", "nonsense", "dialing")
    with pytest.raises(IllegalTransition):
        check("x", "created", "nonsense")


def test_illegal_transition_is_a_value_error() -> None:
    assert issubclass(IllegalTransition, ValueError)


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("completed", "answered"),
        ("abandoned", "abandoned"),
        ("voicemail", "voicemail"),
        ("busy", "busy"),
        ("no_answer", "no_answer"),
        ("congestion", "failed"),
        ("failed", "failed"),
    ],
)
def test_result_mapping(state: str, expected: str) -> None:
    assert result(state) == expected


def test_results_cover_every_final_state() -> None:
    assert set(RESULTS) == FINAL
    assert set(RESULTS.values()) <= OPERATOR_RESULTS


@pytest.mark.parametrize("state", [*sorted(ALL_STATES - FINAL), "nonsense"])
def test_result_of_a_non_final_state_raises(state: str) -> None:
    with pytest.raises(ValueError, match="not a final state"):
        result(state)


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (17, ("busy", True)),
        (19, ("no_answer", True)),
        (34, ("congestion", True)),
        (1, ("failed", False)),
        (28, ("failed", False)),
        (999, ("failed", True)),
        (0, ("failed", True)),
        (None, ("failed", True)),
    ],
)
def test_unanswered_state(cause: int | None, expected: tuple[str, bool]) -> None:
    assert unanswered_state(cause) == expected


def test_every_mapped_cause_is_a_legal_end_of_a_dial() -> None:
    for cause, (state, retryable) in HANGUP_CAUSES.items():
        assert state in FINAL, cause
        assert isinstance(retryable, bool)
        check("a1", "dialing", state)
        check("a1", "ringing", state)

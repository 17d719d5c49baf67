"""The agents of one controller and their states (pure: no I/O, every clock reading passed in).

    offline --login--> ready --take_ready--> on_call --call_ended--> wrap_up --wrap_done--> ready
                        | ^                     |                                    (or paused if a
                  pause | | resume              `--release--> ready                   pause is pending)
                        v |                        (the call never reached the agent)
                       paused                   logout: any state --> offline

A pause asked for while on a call or in wrap-up is kept pending and taken when the wrap-up ends, so
a call in progress is never cut. `take_ready` hands out the agent that has been ready longest (ties by
id), which spreads calls evenly. The board also keeps the talk and wrap-up durations it observed (the
pacer's samples). Every move from a state that does not allow it raises `AgentStateError`, naming the
agent, its state and the states the move is allowed from.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

AgentState = Literal["ready", "on_call", "wrap_up", "paused", "offline"]

SAMPLES_KEPT: Final = 1000  # the latest talk / wrap-up durations kept for the pacer


class AgentStateError(ValueError):
    """A move the agent's state does not allow (or an unknown agent)."""

    def __init__(self, agent: str, state: str, action: str, allowed: Iterable[str]) -> None:
        self.agent, self.state, self.action = agent, state, action
        self.allowed = tuple(allowed)
        super().__init__(
            f"agent {agent}: cannot {action} while {state} (allowed from {', '.join(self.allowed)})"
        )


@dataclass(frozen=True)
class AgentView:
    """One agent as a console or the pacer sees it."""

    id: str
    state: AgentState
    seconds_in_state: float
    calls: int  # calls taken since the board started
    pause_pending: bool = False


@dataclass
class _Agent:
    state: AgentState
    since: datetime
    calls: int = 0
    pause_pending: bool = False
    ready_since: datetime | None = None  # when it became ready before its current call (for release)


def _seconds(now: datetime, since: datetime) -> float:
    return max(0.0, (now - since).total_seconds())


class AgentBoard:
    def __init__(self) -> None:
        self._agents: dict[str, _Agent] = {}
        self._talk: deque[float] = deque(maxlen=SAMPLES_KEPT)
        self._wrap: deque[float] = deque(maxlen=SAMPLES_KEPT)

    # ---- reading ----------------------------------------------------------------------------------
    def state(self, agent_id: str) -> AgentState:
        """The agent's state; an agent the board never saw is offline."""
        agent = self._agents.get(agent_id)
        return agent.state if agent else "offline"

    def count(self, *states: AgentState) -> int:
        return sum(1 for a in self._agents.values() if a.state in states)

    def snapshot(self, now: datetime) -> list[AgentView]:
        """Every agent the board knows (offline ones too), by id."""
        return [
            AgentView(aid, a.state, _seconds(now, a.since), a.calls, a.pause_pending)
            for aid, a in sorted(self._agents.items())
        ]

    @property
    def talk_samples(self) -> tuple[float, ...]:
        """Seconds each finished call kept its agent on the line (latest SAMPLES_KEPT)."""
        return tuple(self._talk)

    @property
    def wrap_samples(self) -> tuple[float, ...]:
        """Seconds each finished wrap-up took (latest SAMPLES_KEPT; wrap-ups ended by logout not kept)."""
        return tuple(self._wrap)

    # ---- moves ------------------------------------------------------------------------------------
    def _get(self, agent_id: str, action: str, allowed: tuple[AgentState, ...]) -> _Agent:
        agent = self._agents.get(agent_id)
        state = agent.state if agent else "offline"
        if agent is None or state not in allowed:
            raise AgentStateError(agent_id, state, action, allowed)
        return agent

    def _enter(self, agent: _Agent, state: AgentState, now: datetime) -> None:
        agent.state, agent.since = state, now

    def login(self, agent_id: str, now: datetime) -> None:
        """offline (or never seen) -> ready."""
        if not agent_id:
            raise ValueError("an agent id must not be empty")
        agent = self._agents.get(agent_id)
        if agent is not None and agent.state != "offline":
            raise AgentStateError(agent_id, agent.state, "log in", ("offline",))
        if agent is None:
            self._agents[agent_id] = _Agent("ready", now)
        else:
            self._enter(agent, "ready", now)

    def logout(self, agent_id: str, now: datetime) -> None:
        """Any state but offline -> offline (a pending pause is forgotten)."""
        agent = self._get(agent_id, "log out", ("ready", "on_call", "wrap_up", "paused"))
        agent.pause_pending = False
        agent.ready_since = None
        self._enter(agent, "offline", now)

    def pause(self, agent_id: str, now: datetime) -> None:
        """ready -> paused; on a call or in wrap-up the pause waits for the wrap-up to end."""
        agent = self._get(agent_id, "pause", ("ready", "on_call", "wrap_up"))
        if agent.state == "ready":
            self._enter(agent, "paused", now)
        elif agent.pause_pending:
            raise AgentStateError(agent_id, f"{agent.state} with a pause pending", "pause", ("ready",))
        else:
            agent.pause_pending = True

    def resume(self, agent_id: str, now: datetime) -> None:
        """paused -> ready; on a call or in wrap-up, cancels the pending pause."""
        agent = self._get(agent_id, "resume", ("paused", "on_call", "wrap_up"))
        if agent.state == "paused":
            self._enter(agent, "ready", now)
        elif agent.pause_pending:
            agent.pause_pending = False
        else:
            raise AgentStateError(agent_id, f"{agent.state} with no pause pending", "resume", ("paused",))

    def take_ready(self, now: datetime, only: str | None = None) -> str | None:
        """The agent ready longest (ties by id), now on_call; None when nobody is ready. `only`: that
        agent or nobody (a call the agent dialled from a preview or an own callback)."""
        ready = [
            (a.since, aid)
            for aid, a in self._agents.items()
            if a.state == "ready" and (only is None or aid == only)
        ]
        if not ready:
            return None
        since, agent_id = min(ready)
        agent = self._agents[agent_id]
        agent.ready_since = since
        agent.calls += 1
        self._enter(agent, "on_call", now)
        return agent_id

    def release(self, agent_id: str, now: datetime) -> None:
        """on_call -> ready when the call never reached the agent (the debtor hung up while being
        connected): not a call, no samples, and the agent keeps its place in the ready queue."""
        agent = self._get(agent_id, "release", ("on_call",))
        agent.calls -= 1
        since, agent.ready_since = agent.ready_since or now, None
        if agent.pause_pending:
            agent.pause_pending = False
            self._enter(agent, "paused", now)
        else:
            self._enter(agent, "ready", since)

    def call_ended(self, agent_id: str, now: datetime) -> None:
        """on_call -> wrap_up; the call's duration is a talk sample."""
        agent = self._get(agent_id, "end a call", ("on_call",))
        self._talk.append(_seconds(now, agent.since))
        agent.ready_since = None
        self._enter(agent, "wrap_up", now)

    def wrap_done(self, agent_id: str, now: datetime) -> None:
        """wrap_up -> ready (paused if a pause was asked for meanwhile); a wrap-up sample."""
        agent = self._get(agent_id, "finish wrap-up", ("wrap_up",))
        self._wrap.append(_seconds(now, agent.since))
        if agent.pause_pending:
            agent.pause_pending = False
            self._enter(agent, "paused", now)
        else:
            self._enter(agent, "ready", now)

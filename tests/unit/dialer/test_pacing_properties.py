"""Invariants of Dunline's pacer for any state (hypothesis): never negative, never above the channels
or the cps of one tick, nothing without an agent to talk to, and deterministic."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from dunline.dialer.pacing import Agent, Limits, Observed, Snapshot, Window, decide
from dunline.dialer.pacing_stats import Lognormal

agents = st.lists(
    st.builds(
        Agent,
        st.sampled_from(["ready", "on_call", "wrap_up", "paused"]),
        st.floats(0.0, 2000.0, allow_nan=False),
    ),
    max_size=40,
).map(tuple)

observed = st.builds(
    lambda talk, wrap, attempts, share, machines: Observed(
        talk=Lognormal.from_mean(talk, 0.7),
        wrap=Lognormal.from_mean(wrap, 0.5) if wrap > 0 else None,
        answer_delay=Lognormal(math.log(8.0), 0.4),
        attempts=attempts,
        live_answers=attempts * share,
        machine_answers=attempts * (1 - share) * machines,
    ),
    st.floats(20.0, 600.0),
    st.sampled_from([0.0, 5.0, 15.0, 40.0]),
    st.floats(0.0, 5000.0),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)

windows = st.lists(
    st.builds(
        lambda name, live, share, span, elapsed: Window(name, math.floor(live * share), live, span, elapsed),
        st.sampled_from(["rolling_30_days", "today", "first_hour", "rolling_hour"]),
        st.floats(0.0, 3000.0),
        st.floats(0.0, 0.1),
        st.sampled_from([3600.0, 43200.0, 2592000.0]),
        st.floats(0.0, 7200.0),
    ),
    max_size=4,
).map(tuple)

limits = st.builds(
    Limits,
    channels=st.integers(0, 300),
    cps=st.floats(0.1, 50.0),
    max_ring_s=st.sampled_from([15.0, 25.0, 40.0]),
    tick_s=st.sampled_from([0.5, 1.0, 2.5]),
)


@settings(max_examples=150, deadline=None)
@given(
    agents=agents,
    ringing=st.lists(st.floats(0.0, 60.0), max_size=60).map(tuple),
    waiting=st.integers(0, 6),
    in_use=st.integers(0, 320),
    observed=observed,
    windows=windows,
    limits=limits,
    now=st.floats(0.0, 40000.0),
)
def test_pacing_invariants(
    agents: tuple[Agent, ...],
    ringing: tuple[float, ...],
    waiting: int,
    in_use: int,
    observed: Observed,
    windows: tuple[Window, ...],
    limits: Limits,
    now: float,
) -> None:
    s = Snapshot(now, agents, ringing, waiting, in_use, observed, windows, limits)
    d = decide(s)
    assert d.calls >= 0
    assert d.calls <= max(0, limits.channels - in_use)
    assert d.calls <= math.floor(limits.cps * limits.tick_s + 1e-9)
    if all(a.state == "paused" for a in agents):
        assert d.calls == 0 and d.mode == "idle"
    assert d.mode in ("idle", "progressive", "predictive")
    assert d.expected_abandons >= 0.0 and d.expected_answers >= 0.0
    assert decide(s) == d

"""Campaigns on a running controller: build the runner's parts and run a stored campaign.

`run_stored` logs the given agents in (agent modes), builds each member's dial target (its account's
prompts rendered before the call, as for any call) and runs `dialer.campaign.CampaignRunner`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dunline.controller.app import CONNECT_WITHIN_S, Runtime, prepare_targets
from dunline.dialer import pacing
from dunline.dialer.campaign import CampaignRunner, RunSummary
from dunline.dialer.campaign_spec import CampaignSpec, CampaignSpecError, parse_spec
from dunline.dialer.runner import DialTarget
from dunline.store import campaigns as store
from dunline.store.accounts import load_account


def limits_for(rt: Runtime, spec: CampaignSpec) -> pacing.Limits:
    trunk = rt.settings.trunk
    channels = min(trunk.max_channels, rt.settings.dialer.max_concurrent_calls, spec.max_concurrent)
    return pacing.Limits(
        channels=channels, cps=trunk.calls_per_second, max_ring_s=rt.settings.dialer.ring_timeout_s
    )


def runner_for(rt: Runtime, campaign_id: int, spec: CampaignSpec, **kw: Any) -> CampaignRunner:
    agent_mode = spec.mode != "ivr"

    async def target_for(account_id: int, template: str | None) -> DialTarget | None:
        acc = await load_account(rt.pool, account_id)
        if acc is None:
            return None
        found = await prepare_targets(rt, [acc])
        if not found:
            return None
        return dataclasses.replace(found[0], mode="agent") if agent_mode else found[0]

    agents = rt.agents if agent_mode else None
    if agents is not None:
        agents.wrap_s = spec.wrap_up_s
    clock = rt.dialer.clock
    if spec.mode == "sms":
        from dunline.controller.texts import texter_for

        if rt.sms is None and "texter" not in kw:
            raise CampaignSpecError(f"campaign {campaign_id} texts: set sms.enabled (and the SMSC) first")
        kw.setdefault("texter", texter_for(rt))
    return CampaignRunner(
        rt.pool,
        rt.dialer,
        campaign_id,
        spec,
        target_for,
        agents=agents,
        limits=limits_for(rt, spec),
        clock=clock,
        connect_within_s=CONNECT_WITHIN_S,
        **kw,
    )


async def load_spec(rt: Runtime, campaign_id: int) -> CampaignSpec:
    async with rt.pool.acquire() as conn:
        found = await store.get(conn, campaign_id)
    if found is None:
        raise store.CampaignError(f"no campaign {campaign_id}")
    return parse_spec(found["spec"])


async def run_stored(
    rt: Runtime, campaign_id: int, *, until_idle: bool = False, agents: list[str] | None = None, **kw: Any
) -> RunSummary:
    spec = await load_spec(rt, campaign_id)
    for i, number in enumerate(agents or []):
        await rt.agents.login(f"agent-{i + 1}", number)
    async with rt.pool.acquire() as conn:
        if await store.status(conn, campaign_id) in ("created", "paused", "stopped"):
            await store.move(conn, campaign_id, "start")
    return await runner_for(rt, campaign_id, spec, **kw).run(until_idle=until_idle)

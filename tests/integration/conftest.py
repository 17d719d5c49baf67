"""The real stack for integration tests: Asterisk 22 PBX + carrier simulator on their own ports,
embedded PostgreSQL in a temporary var dir. Started once per session, stopped at the end."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time
from pathlib import Path

import pytest

from dunline.config import loader
from dunline.config.schema import Settings
from dunline.controller import asterisk
from dunline.controller.clocks import next_weekday_at, starting_at
from dunline.store.embedded import stop_embedded

# DUNLINE_TEST_PORT_OFFSET moves every port of the test stack, so two test runs (two developers'
# sessions on one machine) do not collide; CI leaves it at 0.
PORT_OFFSET = int(os.environ.get("DUNLINE_TEST_PORT_OFFSET", "0"))
TEST_CONFIG = f"""
asterisk:
  pbx:     {{sip_port: {5260 + PORT_OFFSET}, rtp_start: {22000 + PORT_OFFSET}, rtp_end: {22999 + PORT_OFFSET},
            ami_port: {5138 + PORT_OFFSET}, http_port: {8188 + PORT_OFFSET}}}
  carrier: {{sip_port: {5270 + PORT_OFFSET}, rtp_start: {23000 + PORT_OFFSET}, rtp_end: {23999 + PORT_OFFSET},
            ami_port: {5139 + PORT_OFFSET}, http_port: {8189 + PORT_OFFSET}}}
trunks:
  - name: carrier
    host: 127.0.0.1
    port: {5270 + PORT_OFFSET}
    username: dunline
    from_user: dunline
    caller_id: "+14155550100"
ivr:
  digit_timeout_s: 3
  max_retries: 1
speech:
  enabled: false   # keypad flow here; test_speech_calls.py turns speech on
  rtp_port_first: {40000 + PORT_OFFSET}
  rtp_port_last: {40999 + PORT_OFFSET}
"""


@dataclass(frozen=True)
class Stack:
    settings: Settings
    pbx: asterisk.Instance
    carrier: asterisk.Instance
    config_file: Path
    ready_after: dict[str, float]
    clock: Callable[[], datetime]  # inside calling hours for every test debtor, whatever the real time

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run `dunline ARGS` against this stack's config and var dir."""
        env = {
            **os.environ,
            "DUNLINE_CONFIG": str(self.config_file),
            "DUNLINE_VAR_DIR": str(self.settings.var_dir),
        }
        cmd = [sys.executable, "-m", "dunline.controller.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def calling_hours_start() -> datetime:
    """Next Tuesday 11:00 in California (14:00 in New York): inside every US window the tests meet."""
    return next_weekday_at(1, time(11, 0), "America/Los_Angeles")


def make_settings(var_dir: Path) -> tuple[Settings, Path]:
    cfg = var_dir / "dunline-test.yaml"
    cfg.write_text(textwrap.dedent(TEST_CONFIG), "utf-8")
    return loader.load(cfg, environ={"DUNLINE_VAR_DIR": str(var_dir), "HOME": str(Path.home())}), cfg


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    var_dir = tmp_path_factory.mktemp("var")
    settings, cfg = make_settings(var_dir)
    asterisk.down(settings)  # a stack left over by an interrupted run
    pbx, car, took = asyncio.run(asterisk.up(settings))
    try:
        yield Stack(settings, pbx, car, cfg, took, starting_at(calling_hours_start()))
    finally:
        asterisk.down(settings)
        stop_embedded(var_dir / "pg")

"""The rendered configuration in the real Asterisk 22: loads cleanly, least privilege, idempotent up."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dunline.controller import asterisk, wiring
from dunline.dialer.ami import Ami, AmiActionError, AmiValueError

if TYPE_CHECKING:
    from conftest import Stack

pytestmark = pytest.mark.integration


def _modules(inst: asterisk.Instance) -> list[str]:
    conf = (inst.host / "etc" / "modules.conf").read_text()
    return re.findall(r"^load => (\S+)\.so$", conf, flags=re.M)


@pytest.mark.parametrize("which", ["pbx", "carrier"])
def test_config_loads_every_module_without_error_lines(stack: Stack, which: str) -> None:
    inst = stack.pbx if which == "pbx" else stack.carrier
    log = (inst.host / "log" / "messages.log").read_text(errors="replace")
    boot = log.split("Asterisk Ready.")[0] if "Asterisk Ready." in log else log
    errors = [line for line in boot.splitlines() if "ERROR[" in line]
    assert not errors, "\n".join(errors)
    shown = inst.rx("module show")
    for module in _modules(inst):
        line = next((x for x in shown.splitlines() if x.startswith(module + ".so")), "")
        assert "Running" in line, f"{which}: {module} is not running: {line!r}"


def test_pbx_listens_on_loopback_only(stack: Stack) -> None:
    http = stack.pbx.rx("http show status")
    assert "127.0.0.1:" + str(stack.settings.asterisk.pbx.http_port) in http
    manager = stack.pbx.rx("manager show settings")
    assert re.search(r"Manager \(AMI\):\s+Yes", manager)
    assert "127.0.0.1" in manager


def test_second_up_reuses_the_running_instances(stack: Stack) -> None:
    pids = (asterisk.running_pid(stack.pbx), asterisk.running_pid(stack.carrier))
    assert None not in pids
    pbx, car, _took = asyncio.run(asterisk.up(stack.settings))
    assert (asterisk.running_pid(pbx), asterisk.running_pid(car)) == pids
    status = asterisk.status(stack.settings)
    assert status["pbx"]["pid"] == pids[0] and status["carrier"]["pid"] == pids[1]


def _ami(stack: Stack) -> Ami:
    return Ami(wiring.ami_settings(stack.settings, reconnect=False))


async def test_ami_user_has_least_privilege_and_injection_never_reaches_asterisk(stack: Stack) -> None:
    ami = _ami(stack)
    await ami.connect()
    try:
        assert await ami.ping() < 1.0
        # no 'command' or 'config' write rights: a shell command or a config edit is refused
        with pytest.raises(AmiActionError):
            await ami.action("Command", {"Command": "core show version"})
        with pytest.raises(AmiActionError):
            await ami.action("GetConfig", {"Filename": "manager.conf"})
        channel_id = f"inj-{uuid.uuid4().hex[:8]}"
        with pytest.raises(AmiValueError):
            await ami.originate(
                channel="PJSIP/+14155550101@carrier\r\nApplication: System",
                context="dunline-outbound",
                exten="s",
                channel_id=channel_id,
                timeout_ms=15000,
            )
        await asyncio.sleep(0.5)
        assert channel_id not in stack.pbx.rx("core show channels concise")
    finally:
        await ami.close()


def test_mandarin_prompts_are_rendered_for_the_pbx(stack: Stack, tmp_path: Path) -> None:
    """`asterisk up` renders the static prompts in both languages; a Mandarin debtor's account
    prompts are rendered with espeak-ng and published where the PBX plays them."""
    from dunline.ivr.prompts import render_account_prompts
    from dunline.ivr.speech.audio import read_wav
    from dunline.ivr.tts import Renderer

    sounds = stack.pbx.host / "sounds"
    assert (sounds / "zh_menu.wav").stat().st_size > 8000 and (sounds / "menu.wav").exists()
    values = {"name": "王芳", "amount": "2500元", "days": "30", "ref_last4": "2 0 0 1"}
    media = render_account_prompts(stack.settings, stack.pbx, Renderer(tmp_path), values, "zh")
    assert media["menu"].endswith("/sounds/zh_menu")
    rpc = media["rpc_question"]
    assert rpc.startswith("sound:") and "/sounds/acct/" in rpc
    wav = stack.pbx.host / "sounds" / "acct" / (rpc.rsplit("/", 1)[1] + ".wav")
    samples, rate = read_wav(wav)
    assert rate == 8000 and samples.size > rate  # over a second of 8 kHz speech

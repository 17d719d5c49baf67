"""Provision, render, start, probe and stop the two Asterisk instances (PBX and carrier simulator).

`up()` is idempotent: an instance whose pid file names a live asterisk is reused. Each instance gets
its own directories (etc, var/lib with its own astdb, spool, run with the control socket, log, sounds),
so two instances never share state. With the Debian sid chroot, the directories live inside the
chroot (`/srv/dunline/<instance>` there), since the chroot's asterisk sees only its own tree; with a
system asterisk they live under `<var_dir>/asterisk/<instance>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jinja2

from dunline.config.loader import cache_dir
from dunline.config.schema import InstancePorts, Settings, TrunkSettings
from dunline.controller import carrier
from dunline.controller.paths import REPO_ROOT
from dunline.ivr.tts import Renderer

log = logging.getLogger("dunline.asterisk")

CONF_DIR = REPO_ROOT / "asterisk-conf"
CARRIER_DIR = REPO_ROOT / "tests" / "fixtures" / "carrier"
PROVISION = REPO_ROOT / "scripts" / "provision-asterisk.sh"
_MODDIRS = (
    "/usr/lib/x86_64-linux-gnu/asterisk/modules",
    "/usr/lib/aarch64-linux-gnu/asterisk/modules",
    "/usr/lib/asterisk/modules",
)


COMMON_FILES = (
    "asterisk",
    "logger",
    "rtp",
    "indications",
    "cdr",
    "cel",
    "features",
    "acl",
    "udptl",
    "ccss",
    "pjproject",
    "websocket_client",
)


class AsteriskError(RuntimeError):
    """Asterisk could not be provisioned, started or reached; the message says which instance and why."""


@dataclass(frozen=True)
class Binary:
    """How to run asterisk: `root` is the chroot (None for a system asterisk)."""

    root: Path | None

    def argv(self, *args: str) -> list[str]:
        return (["chroot", str(self.root), "asterisk"] if self.root else ["asterisk"]) + list(args)

    def host_path(self, inner: str) -> Path:
        return Path(str(self.root) + inner) if self.root else Path(inner)

    def moddir(self) -> str:
        for d in _MODDIRS:
            if self.host_path(d).is_dir():
                return d
        raise AsteriskError("no asterisk module directory found")


@dataclass(frozen=True)
class Instance:
    name: str  # "pbx" or "carrier"
    inner: str  # the instance directory as asterisk sees it
    binary: Binary
    ports: InstancePorts

    @property
    def host(self) -> Path:
        return self.binary.host_path(self.inner)

    def d(self, sub: str) -> str:
        return f"{self.inner}/{sub}"

    @property
    def conf(self) -> str:
        return self.d("etc/asterisk.conf")

    @property
    def recordings(self) -> Path:
        """Where MixMonitor writes the calls' recordings (<attempt id>.wav), as this host sees it."""
        return self.host / "spool" / "monitor"

    @property
    def pid_file(self) -> Path:
        return self.host / "dunline.pid"

    def rx(self, command: str, timeout: float = 10.0) -> str:
        """Run one CLI command through the instance's control socket."""
        proc = subprocess.run(
            self.binary.argv("-C", self.conf, "-rx", command), capture_output=True, timeout=timeout
        )
        return proc.stdout.decode(errors="replace")


def provision(settings: Settings) -> Binary:
    env = dict(os.environ)
    if settings.asterisk.cache_dir:
        env["DUNLINE_CACHE"] = str(settings.asterisk.cache_dir)
    if settings.asterisk.mode == "system":
        return Binary(None)
    if settings.asterisk.mode == "chroot":
        env["PATH"] = "/usr/sbin:/sbin:/usr/bin:/bin"  # hide a system asterisk
    proc = subprocess.run(["bash", str(PROVISION)], capture_output=True, env=env, timeout=1800)
    if proc.returncode != 0:
        raise AsteriskError(f"provisioning failed: {proc.stderr.decode(errors='replace')[-800:]}")
    out = proc.stdout.decode().strip().splitlines()[-1]
    if out == "system":
        return Binary(None)
    if out.startswith("chroot:"):
        return Binary(Path(out.split(":", 1)[1]))
    raise AsteriskError(f"provisioning printed {out!r}")


def instances(settings: Settings, binary: Binary) -> tuple[Instance, Instance]:
    base = "/srv/dunline" if binary.root else str(settings.var_dir / "asterisk")
    a = settings.asterisk
    # the SIP port names the directory: stacks on other ports (tests) never share files or pid files
    return (
        Instance("pbx", f"{base}/pbx-{a.pbx.sip_port}", binary, a.pbx),
        Instance("carrier", f"{base}/carrier-{a.carrier.sip_port}", binary, a.carrier),
    )


def recordings_dir(settings: Settings) -> Path:
    """Where the PBX of these settings keeps call recordings (provisioning is a no-op once done)."""
    return instances(settings, provision(settings))[0].recordings


def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(CONF_DIR), str(CARRIER_DIR)]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _write_all(inst: Instance, files: Mapping[str, str]) -> None:
    etc = inst.host / "etc"
    for sub in ("etc", "varlib", "spool", "run", "log", "sounds"):
        (inst.host / sub).mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        tmp = etc / (name + ".tmp")
        tmp.write_text(text, "utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(etc / name)


def _common(env: jinja2.Environment, inst: Instance) -> dict[str, str]:
    ctx: dict[str, Any] = {
        "instance": inst.name,
        "ports": inst.ports,
        "moddir": inst.binary.moddir(),
        "dirs": {k: inst.d(k) for k in ("etc", "varlib", "spool", "run", "log")},
    }
    out = {}
    for name in COMMON_FILES:
        out[f"{name}.conf"] = env.get_template(f"common/{name}.conf.j2").render(ctx)
    return out


def _trunk_ctx(trunks: tuple[TrunkSettings, ...]) -> list[dict[str, Any]]:
    return [
        {**t.model_dump(), "password": t.password.get_secret_value() if t.password else ""} for t in trunks
    ]


def render_pjsip(settings: Settings, inst: Instance) -> str:
    """The PBX's pjsip.conf for `settings.trunks` (the console re-renders it when a trunk changes)."""
    ctx = {"ports": inst.ports, "trunks": _trunk_ctx(settings.trunks)}
    return _env().get_template("pbx/pjsip.conf.j2").render(ctx)


def write_conf(inst: Instance, files: Mapping[str, str]) -> None:
    """Replace configuration files of a running instance, each atomically (write, then rename)."""
    _write_all(inst, files)


def render_pbx(settings: Settings, inst: Instance) -> None:
    env = _env()
    a = settings.asterisk
    ctx = {
        "ports": inst.ports,
        "ami": {
            "username": a.ami.username,
            "secret": a.ami.secret.get_secret_value() if a.ami.secret else "",
        },
        "ari": {
            "username": a.ari.username,
            "password": a.ari.password.get_secret_value() if a.ari.password else "",
            "app": a.ari.app,
        },
        "trunks": _trunk_ctx(settings.trunks),
        "prompts_dir": inst.d("sounds"),
    }
    files = _common(env, inst)
    for name in ("modules", "manager", "http", "ari", "amd", "pjsip", "extensions"):
        files[f"{name}.conf"] = env.get_template(f"pbx/{name}.conf.j2").render(ctx)
    _write_all(inst, files)


def render_carrier(settings: Settings, inst: Instance) -> None:
    env = _env()
    table = carrier.load_table(CARRIER_DIR / "scenarios.yaml")
    trunk = settings.trunk
    ctx = {
        "ports": inst.ports,
        "trunk": {
            "username": trunk.username,
            "password": trunk.password.get_secret_value() if trunk.password else "",
        },
        "dialplan": carrier.render_dialplan(table, inst.d("sounds")),
    }
    files = _common(env, inst)
    for name in ("modules", "pjsip", "extensions"):
        files[f"{name}.conf"] = env.get_template(f"{name}.conf.j2").render(ctx)
    files["http.conf"] = env.get_template("common/http-disabled.conf.j2").render(ctx)
    _write_all(inst, files)


def render_audio(
    inst: Instance, renderer: Renderer, items: Mapping[str, tuple[str, str] | tuple[str, str, str | None]]
) -> None:
    """Render named prompts {name: (lang, text[, Mandarin speaker])} into the instance's sounds folder."""
    sounds = inst.host / "sounds"
    for name, item in items.items():
        lang, text = item[0], item[1]
        speaker = item[2] if len(item) > 2 else None
        target = sounds / f"{name}.wav"
        src = renderer.render(text, "zh" if lang == "zh" else "en", speaker=speaker)
        if not target.exists() or target.stat().st_mtime < src.stat().st_mtime:
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(src.read_bytes())
            tmp.replace(target)


def carrier_audio() -> dict[str, tuple[str, str, str | None]]:
    """The simulated debtors' lines: {name: (lang, text, Mandarin voice or None)}."""
    import yaml

    data = yaml.safe_load((CARRIER_DIR / "audio.yaml").read_text("utf-8")) or {}
    return {name: (v["lang"], v["text"], v.get("voice")) for name, v in data.items()}


def running_pid(inst: Instance) -> int | None:
    try:
        pid = int(inst.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read().split(b"\0")
    except OSError:
        return None
    if any(b"asterisk" in c for c in cmd) and inst.conf.encode() in cmd:
        return pid
    return None


def start(inst: Instance) -> int:
    pid = running_pid(inst)
    if pid is not None:
        log.info("%s: reusing running asterisk pid %d", inst.name, pid)
        return pid
    for name in ("messages.log", "console.log"):  # each start gets a fresh log to check
        old = inst.host / "log" / name
        if old.exists():
            old.replace(old.with_suffix(".log.1"))
    logf = open(inst.host / "log" / "console.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        inst.binary.argv("-f", "-n", "-C", inst.conf),
        stdin=subprocess.DEVNULL,
        stdout=logf,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    logf.close()
    inst.pid_file.write_text(str(proc.pid))
    log.info("%s: started asterisk pid %d", inst.name, proc.pid)
    return proc.pid


def stop(inst: Instance, timeout: float = 10.0) -> bool:
    pid = running_pid(inst)
    if pid is None:
        inst.pid_file.unlink(missing_ok=True)
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(inst) == pid:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.05)
    if running_pid(inst) == pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    inst.pid_file.unlink(missing_ok=True)
    return True


async def _until(what: str, probe: Any, deadline: float, interval: float = 0.25) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if await probe():
                return
        except Exception as exc:  # probing: any failure means "not yet"
            last = exc
        await asyncio.sleep(interval)
    raise AsteriskError(f"timed out waiting for {what}" + (f": {last}" if last else ""))


async def wait_ready(settings: Settings, pbx: Instance, carrier_inst: Instance) -> dict[str, float]:
    """Wait until both control sockets answer, AMI logs in, the ARI websocket opens and every
    registering trunk shows Registered. Returns the seconds each took."""
    from dunline.controller import wiring
    from dunline.dialer.ami import Ami

    a = settings.asterisk
    t0 = time.monotonic()
    deadline = t0 + a.start_timeout_s
    took: dict[str, float] = {}

    async def fully_booted(inst: Instance) -> bool:
        out = await asyncio.to_thread(inst.rx, "core waitfullybooted", 5.0)
        return "fully booted" in out.lower()

    await _until("the PBX to boot", lambda: fully_booted(pbx), deadline)
    await _until("the carrier simulator to boot", lambda: fully_booted(carrier_inst), deadline)
    took["boot"] = time.monotonic() - t0

    async def ami_login() -> bool:
        ami = Ami(wiring.ami_settings(settings, connect_timeout=5.0, reconnect=False))
        try:
            await ami.connect()
            await ami.ping()
            return True
        finally:
            await ami.close()

    await _until("AMI login", ami_login, deadline)
    took["ami"] = time.monotonic() - t0

    async def ari_ws() -> bool:
        headers = wiring.ari_settings(settings, app="dunline-probe").auth_headers
        url = f"http://127.0.0.1:{a.pbx.http_port}/ari/events?app=dunline-probe"
        async with (
            aiohttp.ClientSession(headers=headers) as s,
            s.ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=2)),
        ):
            return True

    await _until("the ARI websocket", ari_ws, deadline)
    took["ari"] = time.monotonic() - t0

    async def registered() -> bool:
        out = await asyncio.to_thread(pbx.rx, "pjsip show registrations", 5.0)
        names = [t.name for t in settings.trunks if t.registration]
        return all(
            any(f"{n}-reg/" in line and "Registered" in line for line in out.splitlines()) for n in names
        )

    await _until("trunk registration", registered, deadline, interval=0.5)
    took["registration"] = time.monotonic() - t0
    return took


async def up(
    settings: Settings, *, renderer: Renderer | None = None
) -> tuple[Instance, Instance, dict[str, float]]:
    binary = await asyncio.to_thread(provision, settings)
    pbx, car = instances(settings, binary)
    rend = renderer or Renderer(cache_dir() / "tts", voice=settings.ivr.voice, voice_zh=settings.ivr.voice_zh)
    if running_pid(pbx) is None:
        render_pbx(settings, pbx)
    if running_pid(car) is None:
        render_carrier(settings, car)
        await asyncio.to_thread(render_audio, car, rend, carrier_audio())
    from dunline.ivr.prompts import render_static_prompts

    await asyncio.to_thread(render_static_prompts, settings, pbx, rend)
    start(car)
    start(pbx)
    took = await wait_ready(settings, pbx, car)
    return pbx, car, took


def down(settings: Settings) -> dict[str, bool]:
    binary = provision(settings)
    return {inst.name: stop(inst) for inst in instances(settings, binary)}


def status(settings: Settings) -> dict[str, Any]:
    binary = provision(settings)
    out: dict[str, Any] = {"binary": str(binary.root) if binary.root else "system"}
    for inst in instances(settings, binary):
        pid = running_pid(inst)
        out[inst.name] = {"pid": pid, "running": pid is not None, "dir": str(inst.host)}
    return out

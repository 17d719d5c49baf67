"""Texts through a real Jasmin 0.11.0 SMS gateway, as an operator puts one between Dunline and its SMSC:
Dunline's SMPP client (aiosmpplib) binds to Jasmin's SMPP server; Jasmin routes the text through an SMPP
client connector to the upstream SMSC simulator (test_sms.Smsc, the smpp34 server), takes its receipt
back, matches it to its own message id (DLR lookup) and throws it to Dunline; a reply ("STOP") from the
upstream comes to Dunline through Jasmin's MO route. Real PostgreSQL (the session stack).

Slow (RabbitMQ takes several seconds to start). Needs `scripts/setup-jasmin.sh` (Redis and RabbitMQ from
Debian, Jasmin 0.11.0 in its own virtualenv); skipped, with the reason, when any of it is missing.
Redis, epmd, RabbitMQ and jasmind run on loopback only, on free ports, with their data and logs under
the test's tmp path; Jasmin is configured through jCli at every start (its `persist` hangs)."""

from __future__ import annotations

import asyncio
import configparser
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from helpers_wait import eventually
from pydantic import SecretStr

from dunline.channels.smpp import SmppGateway, SmsLinkError
from dunline.channels.sms import SmsService
from dunline.config.schema import SmsSettings
from dunline.controller.app import open_database

if TYPE_CHECKING:
    from conftest import Stack

JASMIN_VENV = Path(os.environ.get("DUNLINE_CACHE") or Path.home() / ".cache" / "dunline") / "jasmin-venv"
JASMIND = JASMIN_VENV / "bin" / "jasmind.py"
JASMIN_SHARE = JASMIN_VENV / "share" / "jasmin"  # the sdist's misc/config, copied by setup-jasmin.sh
RABBITMQ = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # the server script itself, not /usr/sbin's wrapper
SETUP = "run scripts/setup-jasmin.sh (as root)"


def _missing() -> str | None:
    if not (JASMIND.is_file() and (JASMIN_SHARE / "resource" / "amqp0-9-1.xml").is_file()):
        return f"Jasmin 0.11.0 is not installed in {JASMIN_VENV}: {SETUP}"
    if shutil.which("redis-server") is None:
        return f"redis-server is not installed: {SETUP}"
    if not RABBITMQ.is_file() or shutil.which("epmd") is None:
        return f"rabbitmq-server is not installed: {SETUP}"
    return None


MISSING = _missing()
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
    pytest.mark.timeout(600),  # the session stack (PostgreSQL, Asterisk) may be started by this test
]

if MISSING is None:  # test_sms skips itself without smpp34 (the upstream SMSC simulator)
    from test_sms import Smsc, _account

NUMBER = "+14155553041"  # the debtor texted through Jasmin; answers STOP
JCLI_USER, JCLI_PASSWORD = "jcliadmin", "jclipwd"  # Jasmin's built-in jCli admin
SMPP_USER, SMPP_PASSWORD = "dunline", "jas8chrs"  # Dunline's account on Jasmin: SMPP 3.4, 8 characters
PORTS = ("redis", "amqp", "dist", "epmd", "smpp", "smpp_pb", "cm", "router", "http", "jcli")


def _free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """Distinct free loopback ports (held together while chosen, so no two are the same)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in names]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return {n: int(s.getsockname()[1]) for n, s in zip(names, socks, strict=True)}


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


@dataclass
class Jasmin:
    """The gateway and what it needs, started on loopback: stop() ends every process it started."""

    dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> Proc:
        log = self.dir / f"{name}.out"
        with log.open("wb") as out:
            # its own session: stop() ends the whole group (erl's helpers, the rabbitmq script's child)
            popen = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                cwd=self.dir, start_new_session=True,
            )  # fmt: skip
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def wait_port(self, proc: Proc, port: int, within: float) -> float:
        """Seconds until `port` takes connections; a clear failure if the process died or took too long."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < within:
            if proc.popen.poll() is not None:
                raise AssertionError(f"{proc.name} exited ({proc.popen.returncode}):\n{tail(proc.log)}")
            if _listening(port):
                return time.monotonic() - t0
            time.sleep(0.1)
        raise AssertionError(f"{proc.name}: port {port} not open within {within} s:\n{tail(proc.log)}")

    def stop(self) -> None:
        for proc in reversed(self.procs):  # jasmind first, redis last
            _end(proc.popen)

    def logs(self) -> str:
        files = [p.log for p in self.procs] + sorted((self.dir / "log").glob("*.log"))
        return "\n".join(f"==== {f.name}\n{tail(f)}" for f in files if f.is_file())


def _end(popen: subprocess.Popen[bytes]) -> None:
    if popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(15)
    # whatever is left of its group (a child that outlived its parent) goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(5)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError as e:
        return f"({e})"


def _jasmin_config(run: Path, ports: dict[str, int]) -> Path:
    """The sdist's jasmin.cfg (every value commented out) with what this run needs set."""
    cfg = configparser.RawConfigParser()
    cfg.read(JASMIN_SHARE / "jasmin.cfg", encoding="utf-8")
    store = run / "etc" / "store"
    store.mkdir(parents=True, exist_ok=True)
    values: dict[str, dict[str, object]] = {
        "smpp-server": {"id": "smpps_01", "bind": "127.0.0.1", "port": ports["smpp"]},
        "smpp-server-pb": {"bind": "127.0.0.1", "port": ports["smpp_pb"]},
        "client-management": {"bind": "127.0.0.1", "port": ports["cm"], "store_path": store},
        "router": {"bind": "127.0.0.1", "port": ports["router"], "store_path": store},
        "http-api": {"bind": "127.0.0.1", "port": ports["http"]},
        "jcli": {"bind": "127.0.0.1", "port": ports["jcli"]},
        "amqp-broker": {
            "host": "127.0.0.1",
            "port": ports["amqp"],
            "spec": JASMIN_SHARE / "resource" / "amqp0-9-1.xml",  # else: unknown url type //etc/jasmin/...
            "connection_loss_retry_delay": 2,
            "connection_loss_failure_delay": 2,
        },
        "redis-client": {"host": "127.0.0.1", "port": ports["redis"]},
    }
    for section, options in values.items():
        if not cfg.has_section(section):
            cfg.add_section(section)
        for key, value in options.items():
            cfg.set(section, key, str(value))
    path = run / "jasmin.cfg"
    with path.open("w", encoding="utf-8") as f:
        cfg.write(f)
    return path


# jasmind takes a lock at the fixed path /tmp/jasmind (one instance a machine, and a killed one blocks the
# next): this run's lock lives in its own folder instead, so test runs side by side do not collide
_JASMIND_WRAPPER = """
import os, runpy, sys
import lockfile
_FileLock = lockfile.FileLock
lockfile.FileLock = lambda path, *a, **k: _FileLock(os.environ["DUNLINE_JASMIN_LOCK"], *a, **k)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.fixture
def jasmin(tmp_path: Path) -> Iterator[Jasmin]:
    run = tmp_path / "jasmin"
    (run / "log").mkdir(parents=True)
    gw = Jasmin(run, _free_ports(PORTS))
    p = gw.ports
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(run)}
    try:
        redis = gw.start(
            "redis",
            ["redis-server", "--bind", "127.0.0.1", "--port", str(p["redis"]), "--save", "",
             "--appendonly", "no", "--dir", str(run), "--daemonize", "no", "--protected-mode", "yes"],
            base,
        )  # fmt: skip
        # epmd as our own child (rabbit would start a daemon that outlives it), on loopback
        epmd = gw.start("epmd", ["epmd", "-address", "127.0.0.1", "-port", str(p["epmd"])], base)
        gw.wait_port(redis, p["redis"], 10)
        gw.wait_port(epmd, p["epmd"], 10)
        rabbit_home = run / "rabbit"
        rabbit_home.mkdir()
        (rabbit_home / "enabled_plugins").write_text("[].\n")
        (rabbit_home / "rabbitmq-env.conf").write_text("")
        rabbit_env = {
            **base,
            "HOME": str(rabbit_home),  # the Erlang cookie
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "ERL_EPMD_PORT": str(p["epmd"]),
            "RABBITMQ_NODENAME": f"dunline-{p['amqp']}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(p["amqp"]),
            "RABBITMQ_DIST_PORT": str(p["dist"]),
            "RABBITMQ_SERVER_START_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_CONF_ENV_FILE": str(rabbit_home / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(rabbit_home / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(rabbit_home / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(rabbit_home / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(rabbit_home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(run / "log"),
            "RABBITMQ_LOGS": str(run / "log" / "rabbitmq.log"),
            "RABBITMQ_PID_FILE": str(rabbit_home / "rabbit.pid"),
        }
        rabbit = gw.start("rabbitmq", ["sh", str(RABBITMQ)], rabbit_env)
        took = gw.wait_port(rabbit, p["amqp"], 60)
        print(f"rabbitmq up in {took:.1f} s")
        cfg = _jasmin_config(run, p)
        jasmin_env = {
            **base,
            "ROOT_PATH": str(run),  # the defaults under /etc/jasmin and /var/log/jasmin move here
            "LOG_PATH": str(run / "log"),
            "CONFIG_PATH": str(run / "etc"),
            "STORE_PATH": str(run / "etc" / "store"),
            "RESOURCE_PATH": str(JASMIN_SHARE / "resource"),
            "DUNLINE_JASMIN_LOCK": str(run / "jasmind"),
        }
        py = str(JASMIN_VENV / "bin" / "python")
        jasmind = gw.start(
            "jasmind",
            [py, "-c", _JASMIND_WRAPPER, str(JASMIND), "-c", str(cfg),
             "--enable-dlr-thrower", "--enable-dlr-lookup"],
            jasmin_env,
        )  # fmt: skip
        took = gw.wait_port(jasmind, p["jcli"], 30)
        print(f"jasmind's jCli up in {took:.1f} s")
        yield gw
    finally:
        gw.stop()
        print(gw.logs())  # shown with a failure only


class JCli:
    """Jasmin's console over telnet: options refused, echo and terminal codes stripped, a command's
    output read up to the next prompt."""

    PROMPT = re.compile(r"(jcli : |> |Username: |Password: )$")
    IAC, DONT, DO, WONT, WILL, SB, SE = 255, 254, 253, 252, 251, 250, 240
    ECHO, SGA, NAWS = 1, 3, 31

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.transcript: list[str] = []

    @classmethod
    @contextlib.asynccontextmanager
    async def session(cls, port: int) -> AsyncIterator[JCli]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        cli = cls(reader, writer)
        try:
            await cli.read()
            await cli.send(JCLI_USER)
            out = await cli.send(JCLI_PASSWORD)
            assert out.endswith("jcli : "), f"jCli login failed:\n{cli.log()}"
            yield cli
        finally:
            with contextlib.suppress(Exception):
                writer.write(b"quit\n")
                await writer.drain()
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _negotiate(self, verb: int, opt: int) -> None:
        """The window size is told (jCli draws its first prompt only then), the server's echo and
        suppress-go-ahead are taken, anything else (LINEMODE) refused."""
        iac = self.IAC
        if verb == self.DO and opt == self.NAWS:
            self.writer.write(bytes([iac, self.WILL, opt, iac, self.SB, opt, 0, 200, 0, 50, iac, self.SE]))
        elif verb == self.DO:
            self.writer.write(bytes([iac, self.WILL if opt == self.SGA else self.WONT, opt]))
        elif verb == self.WILL:
            self.writer.write(bytes([iac, self.DO if opt in (self.ECHO, self.SGA) else self.DONT, opt]))

    def _telnet(self, data: bytes) -> bytes:
        """The text in `data`, telnet's commands taken out (and answered)."""
        out = bytearray()
        i = 0
        while i < len(data):
            b = data[i]
            if b != self.IAC:
                out.append(b)
                i += 1
            elif i + 1 < len(data) and data[i + 1] in (self.DO, self.DONT, self.WILL, self.WONT):
                if i + 2 < len(data):
                    self._negotiate(data[i + 1], data[i + 2])
                i += 3
            elif i + 1 < len(data) and data[i + 1] == self.SB:
                end = data.find(bytes([self.IAC, self.SE]), i)
                i = len(data) if end < 0 else end + 2
            else:
                i += 2
        return bytes(out)

    async def read(self, within: float = 15.0) -> str:
        buf = ""
        async with asyncio.timeout(within):
            while not self.PROMPT.search(buf):
                chunk = await self.reader.read(4096)
                if not chunk:
                    raise AssertionError(f"jCli closed the connection:\n{self.log()}{buf}")
                text = self._telnet(chunk).decode("utf-8", "replace")
                buf += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
        self.transcript.append(buf)
        return buf

    async def send(self, line: str, within: float = 15.0) -> str:
        self.writer.write(line.encode() + b"\n")
        await self.writer.drain()
        try:
            return await self.read(within)
        except TimeoutError:
            raise AssertionError(f"jCli: no prompt after {line!r} within {within} s:\n{self.log()}") from None

    async def add(self, command: str, **values: object) -> str:
        """`command` (e.g. `user -a`), one `key value` line each, then `ok`: Jasmin's answer, which
        must say it succeeded."""
        await self.send(command)
        for key, value in values.items():
            out = await self.send(f"{key} {value}")
            assert "Error" not in out and "Unknown" not in out, f"jCli {command} {key}: {out}"
        out = await self.send("ok")
        assert "Successfully" in out, f"jCli {command}: {out!r}\n{self.log()}"
        return out

    def log(self) -> str:
        return "".join(self.transcript)[-4000:]


async def _configure(port: int, upstream: int) -> None:
    """A group and Dunline's user, the connector to the upstream SMSC (started), an MT route to it and
    an MO route to Dunline: at every start (`persist` hangs in 0.11.0)."""
    async with JCli.session(port) as cli:
        await cli.add("group -a", gid="dunline")
        await cli.add("user -a", username=SMPP_USER, password=SMPP_PASSWORD, gid="dunline", uid=SMPP_USER)
        await cli.add(
            "smppccm -a", cid="upstream", host="127.0.0.1", port=upstream, username="jasmin",
            password="upstrm", bind="transceiver", submit_throughput=0, con_fail_delay=1, con_loss_delay=1,
        )  # fmt: skip
        out = await cli.send("smppccm -1 upstream")
        assert "Successfully started" in out, out
        await cli.add("mtrouter -a", type="defaultroute", connector="smppc(upstream)", rate="0.00")
        await cli.add("morouter -a", type="defaultroute", connector=f"smpps({SMPP_USER})")


async def test_a_text_its_receipt_and_a_stop_reply_through_jasmin(stack: Stack, jasmin: Jasmin) -> None:
    pool, _ = await open_database(stack.settings)
    smsc = Smsc()  # the operator's SMSC, upstream of Jasmin
    runner: asyncio.Task[None] | None = None
    settings = SmsSettings(
        port=jasmin.ports["smpp"], system_id=SMPP_USER, password=SecretStr(SMPP_PASSWORD), source="Dunline"
    )
    service = SmsService(pool, settings, stack.clock)
    gateway: SmppGateway | None = None
    t0 = time.monotonic()
    try:
        await smsc.server.start()
        runner = asyncio.create_task(smsc.run())
        account = await _account(pool, "JAS-1", NUMBER, "US", True)
        await _configure(jasmin.ports["jcli"], smsc.port)
        # the connector's bind to the upstream: Jasmin retries by itself, so look at the simulator
        await eventually("Jasmin's connector bound to the upstream SMSC", lambda: _bound(smsc), within=20)
        gateway = SmppGateway(settings, service)
        try:
            await gateway.start(within_s=10.0)  # a refused bind only loops in aiosmpplib's log
        except SmsLinkError as e:
            raise AssertionError(f"Dunline not bound to Jasmin's SMPP server: {e}\n{jasmin.logs()}") from e
        service.link = gateway

        sent = await service.send(account, NUMBER, "Your payment of $320 is due.", step_key="jas-1")
        assert sent.verdict.allowed and sent.new and sent.parts == 1
        await eventually("the text reached the upstream SMSC", lambda: _to(smsc, NUMBER), within=20)
        [submit] = [s for s in smsc.submits if s["to"] == NUMBER]
        from aiosmpplib.codec import GSM7BitCodec

        body = GSM7BitCodec().decode(submit["text"])[0]
        assert body == "Your payment of $320 is due. Reply STOP to opt out.", body

        async def state() -> Any:
            return await pool.fetchrow(
                "SELECT state, smsc_id FROM sms_messages WHERE id = $1", sent.message_id
            )

        row = await eventually(
            "the receipt through Jasmin: delivered",
            lambda: _where(state, lambda r: r["state"] == "delivered"),
            within=30,
        )
        # the id Dunline keys receipts on is Jasmin's (from its submit_sm_resp), not the upstream's
        jasmin_id = row["smsc_id"]
        assert jasmin_id and not jasmin_id.upper().startswith(smsc.prefix.upper()), jasmin_id
        uuid.UUID(jasmin_id)  # Jasmin's ids are UUIDs
        receipts = await pool.fetch(
            "SELECT smsc_id, state FROM sms_receipts WHERE message_id = $1", sent.message_id
        )
        assert [(r["smsc_id"], r["state"]) for r in receipts] == [(jasmin_id, "DELIVRD")]

        await smsc.reply(NUMBER, "STOP")

        async def opted_out() -> bool:
            flags = await pool.fetchval("SELECT flags FROM accounts WHERE id = $1", account)
            return "sms_opt_out" in flags

        await eventually("the STOP reply through Jasmin sets the opt-out", opted_out, within=30)
        reply = await pool.fetchrow(
            "SELECT body, intent, opt_out FROM sms_inbound WHERE number_e164 = $1", NUMBER
        )
        assert (reply["body"], reply["intent"], reply["opt_out"]) == ("STOP", "opt_out", True)
        after = await service.send(account, NUMBER, "A reminder.", step_key="jas-2")
        assert not after.verdict.allowed and after.verdict.rules == ("opt-out-sms",)
        print(f"submit, receipt and reply through Jasmin in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    finally:
        if gateway is not None:
            await gateway.close()
        if runner is not None:
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        with contextlib.suppress(Exception):
            await smsc.server.stop()
        await pool.close()


async def _bound(smsc: Any) -> bool:
    return smsc.esme is not None


async def _to(smsc: Any, number: str) -> bool:
    return any(s["to"] == number for s in smsc.submits)


async def _where(probe: Any, ok: Any) -> Any:
    row = await probe()
    return row if row is not None and ok(row) else None

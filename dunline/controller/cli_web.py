"""`dunline serve`, `dunline user ...`, `dunline token ...`, `dunline webhook ...`: the console, its
users, the API's tokens, the outbound webhooks.

    dunline serve [--listen HOST:PORT] [--console-only]
                                                the controller (PBX, campaigns), the console, /api/v1 and
                                                the webhook sender, until Ctrl-C
    dunline user add NAME --role ROLE           password prompted twice, or one line on stdin
    dunline user password NAME                  set a new password (ends the user's sessions)
    dunline token create NAME --scopes a,b      prints the token once; only its hash is stored
    dunline token revoke NAME
    dunline webhook add NAME URL --events a,b   prints the signing secret once
    dunline webhook list | remove NAME
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import re
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2
T = TypeVar("T")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,39}$")


def _settings(args: argparse.Namespace) -> Any:
    from dunline.controller.cli_common import settings_from

    return settings_from(args)


def _out(args: argparse.Namespace, doc: Any, text: str) -> None:
    print(json.dumps(doc, default=str) if args.json else text)


def _read_password(args: argparse.Namespace) -> str | None:
    """Prompted twice on a terminal; else the first line of stdin. None (message printed) when unusable."""
    from dunline.web.passwords import WeakPassword, check_strength

    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            print("error: the two passwords differ", file=sys.stderr)
            return None
    else:
        first = sys.stdin.readline().rstrip("\r\n")
    try:
        check_strength(first)
    except WeakPassword as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    return first


def cmd_serve(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    settings = _settings(args)
    if args.listen:
        try:
            console = settings.console.model_validate(
                {**settings.console.model_dump(), "listen": args.listen}
            )
        except ValidationError as exc:
            print(f"error: --listen: {exc.errors()[0]['msg']}", file=sys.stderr)
            return EXIT_INPUT
        settings = settings.model_copy(update={"console": console})
    asyncio.run(_serve(settings, controller=not args.console_only))
    return EXIT_OK


async def _serve(settings: Any, *, controller: bool = True) -> None:
    """The console and API and the webhook sender, and unless `controller` is False the controller
    too (PBX, AMI, ARI, every running campaign), until cancelled (Ctrl-C)."""
    from dunline.controller.app import Controller, close_pool, open_database
    from dunline.controller.host import CampaignHost
    from dunline.controller.trunk_admin import TrunkAdmin
    from dunline.web import hook_sender
    from dunline.web.app import build_app, serve
    from dunline.web.trunks import live_status

    def ready(url: str) -> None:
        what = "console, API and controller" if controller else "console and API (no controller)"
        print(f"{what} on {url}", flush=True)

    async with contextlib.AsyncExitStack() as stack:
        work = []
        if controller:
            rt = await stack.enter_async_context(Controller(settings))
            host = CampaignHost(rt)
            pool, clock = rt.pool, rt.dialer.clock
            trunk_admin = TrunkAdmin(rt)
            await trunk_admin.start()  # the PBX's trunks are the stored ones from here on
            status = live_status(rt.ami, trunk_admin.contacts)
            desk = attach_desk(rt, host)
            trunk_admin.on_apply.append(lambda s: setattr(desk, "caller_id", s.trunk.caller_id))
            app = build_app(
                settings,
                pool,
                clock=clock,
                live=host.live,
                desk=desk,
                trunk_status=status,
                trunk_pbx=trunk_admin,
            )
            work.append(("campaigns", host.run()))
            if settings.steps.enabled:
                renderer = letter_renderer()
                stack.callback(renderer.shutdown, cancel_futures=True)
                work.append(("steps", step_runner(rt, renderer).run(settings.steps.poll_s)))
        else:
            pool, _where = await open_database(settings)
            stack.push_async_callback(close_pool, pool)
            clock = _utcnow
            app = build_app(settings, pool)
        work += [("webhooks", hook_sender.run(pool, clock)), ("console", serve(app, settings, ready=ready))]
        async with asyncio.TaskGroup() as tg:
            for name, coro in work:
                tg.create_task(coro, name=name)


def letter_renderer() -> Any:
    """Processes that make letters' PDFs (one per core, started by a fork server: the controller's
    threads and sockets are not copied into them)."""
    import multiprocessing
    import os
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(os.cpu_count() or 1, mp_context=multiprocessing.get_context("forkserver"))


def step_runner(rt: Any, renderer: Any = None) -> Any:
    """The plans' text and letter steps on this controller (texts only when the SMS link is up)."""
    from dunline.channels.letters import LetterService
    from dunline.channels.steps import StepRunner
    from dunline.controller.planning import replan
    from dunline.controller.texts import text_step

    async def text(account_id: int, template: str, now: Any) -> Any:
        return await text_step(rt, account_id, template, now)

    return StepRunner(
        rt.pool,
        LetterService(rt.pool, rt.settings, renderer),
        rt.dialer.clock,
        text=text if rt.sms is not None else None,
        replan=lambda accounts, now: replan(rt.pool, accounts, now),
        batch=rt.settings.steps.batch,
    )


def attach_desk(rt: Any, host: Any) -> Any:
    """The agent desktop on this controller: screen pops go to it (and to the log, ids only)."""
    from dunline.controller.app import _log_screen
    from dunline.web.desk import Desk

    desk = Desk(
        rt.pool,
        rt.agents,
        host,
        rt.dialer.clock,
        render=lambda _n, _c: "",
        caller_id=rt.settings.trunk.caller_id,
    )

    def on_screen(event: dict[str, Any]) -> None:
        _log_screen(event)
        desk.on_screen(event)

    rt.agents.on_screen = on_screen
    return desk


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def serve_demo(settings: Any) -> None:
    """After `dunline demo --serve`: a `demo` admin (a new random password, printed here once), then
    the console on the demo's database until Ctrl-C. Asterisk and PostgreSQL stay up (`make down`)."""
    from dunline.web.passwords import new_secret

    password = new_secret()[:20]

    async def prepare() -> None:
        from dunline.controller.app import database
        from dunline.store.users import add_user, find_user, set_password
        from dunline.web.passwords import hash_password

        hashed = await asyncio.to_thread(hash_password, password)
        async with database(settings) as pool:
            if await find_user(pool, "demo") is None:
                await add_user(pool, "demo", "admin", hashed, actor="demo")
            else:
                await set_password(pool, "demo", hashed, actor="demo")

    asyncio.run(prepare())
    print(
        f"console: log in as demo / {password} (admin); Ctrl-C stops it;"
        " `make down` stops Asterisk and PostgreSQL"
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(settings))


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_INPUT


def _bad_name(name: str) -> bool:
    if _NAME.match(name):
        return False
    _fail("NAME must start with a letter and hold letters, digits, . _ - (max 40)")
    return True


def _on_db(args: argparse.Namespace, work: Callable[[Any], Awaitable[T]]) -> T:
    """`await work(pool)` on the database of `--config`, opened for this one command."""
    from dunline.controller.app import database

    async def run() -> T:
        async with database(_settings(args)) as pool:
            return await work(pool)

    return asyncio.run(run())


def cmd_user_add(args: argparse.Namespace) -> int:
    from dunline.store.db import UniqueViolation
    from dunline.store.users import add_user
    from dunline.web.passwords import hash_password
    from dunline.web.roles import ROLES

    if _bad_name(args.name):
        return EXIT_INPUT
    if args.role not in ROLES:
        return _fail(f"--role must be one of {', '.join(ROLES)}")
    password = _read_password(args)
    if password is None:
        return EXIT_INPUT
    hashed = hash_password(password)
    try:
        _on_db(args, lambda pool: add_user(pool, args.name, args.role, hashed, actor="cli"))
    except UniqueViolation as exc:
        return _fail(str(exc))
    _out(args, {"user": args.name, "role": args.role}, f"user {args.name} added ({args.role})")
    return EXIT_OK


def cmd_user_password(args: argparse.Namespace) -> int:
    from dunline.store.users import set_password
    from dunline.web.passwords import hash_password

    password = _read_password(args)
    if password is None:
        return EXIT_INPUT
    hashed = hash_password(password)
    if not _on_db(args, lambda pool: set_password(pool, args.name, hashed, actor="cli")):
        return _fail(f"no user {args.name!r}")
    _out(args, {"user": args.name}, f"password of {args.name} changed; their sessions ended")
    return EXIT_OK


def cmd_token_create(args: argparse.Namespace) -> int:
    from dunline.store.db import UniqueViolation
    from dunline.store.users import add_token
    from dunline.web.passwords import new_token
    from dunline.web.roles import parse_scopes

    if _bad_name(args.name):
        return EXIT_INPUT
    try:
        scopes = parse_scopes(args.scopes)
    except ValueError as exc:
        return _fail(f"--scopes: {exc}")
    token = new_token()
    try:
        _on_db(args, lambda pool: add_token(pool, args.name, token, scopes, actor="cli"))
    except UniqueViolation as exc:
        return _fail(str(exc))
    doc = {"name": args.name, "scopes": list(scopes), "token": token}
    _out(args, doc, f"token {args.name} ({', '.join(scopes)}); shown once, keep it secret:\n{token}")
    return EXIT_OK


def cmd_token_revoke(args: argparse.Namespace) -> int:
    from dunline.store.users import revoke_token

    if not _on_db(args, lambda pool: revoke_token(pool, args.name, actor="cli")):
        return _fail(f"no live token {args.name!r}")
    _out(args, {"name": args.name, "revoked": True}, f"token {args.name} revoked")
    return EXIT_OK


def cmd_webhook_add(args: argparse.Namespace) -> int:
    from dunline.store import webhooks
    from dunline.store.db import UniqueViolation
    from dunline.web.hooks import HookError, check_events, check_url
    from dunline.web.passwords import new_secret

    if _bad_name(args.name):
        return EXIT_INPUT
    try:
        url, events = check_url(args.url), check_events(args.events)
    except HookError as exc:
        return _fail(str(exc))
    secret = new_secret()
    try:
        _on_db(args, lambda pool: webhooks.add(pool, args.name, url, secret, events, actor="cli"))
    except UniqueViolation as exc:
        return _fail(str(exc))
    doc = {"name": args.name, "url": url, "events": list(events), "secret": secret}
    text = f"webhook {args.name} -> {url} ({', '.join(events)}); signing secret, shown once:\n{secret}"
    _out(args, doc, text)
    return EXIT_OK


def cmd_webhook_list(args: argparse.Namespace) -> int:
    from dunline.store import webhooks

    found = _on_db(args, webhooks.listing)
    lines = [
        f"{h['name']}: {h['url']} ({', '.join(h['events'])}){' disabled' if h['disabled'] else ''};"
        f" delivered {h['delivered']}, pending {h['pending']}, failed {h['failed']}"
        for h in found
    ]
    _out(args, found, "\n".join(lines) or "no webhook")
    return EXIT_OK


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    from dunline.store import webhooks

    if not _on_db(args, lambda pool: webhooks.remove(pool, args.name, actor="cli")):
        return _fail(f"no active webhook {args.name!r}")
    _out(args, {"name": args.name, "disabled": True}, f"webhook {args.name} disabled")
    return EXIT_OK


def add_web_commands(sub: Any) -> None:
    def leaf(parent: Any, name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        sp.set_defaults(fn=fn)
        return sp

    serve = leaf(sub, "serve", cmd_serve, "the web console and the /api/v1 HTTP API")
    serve.add_argument("--listen", help="HOST:PORT (default: console.listen, 127.0.0.1:8080)")
    serve.add_argument(
        "--console-only",
        action="store_true",
        help="serve the console and API without the controller (no PBX here; campaigns run elsewhere)",
    )
    user = sub.add_parser("user", help="console users").add_subparsers(dest="sub", required=True)
    add = leaf(user, "add", cmd_user_add, "add a console user (password prompted, or one line on stdin)")
    add.add_argument("name")
    add.add_argument("--role", required=True, help="admin, supervisor, agent, compliance or viewer")
    leaf(user, "password", cmd_user_password, "set a user's password").add_argument("name")
    tok = sub.add_parser("token", help="API tokens").add_subparsers(dest="sub", required=True)
    create = leaf(tok, "create", cmd_token_create, "create an integration's API token (printed once)")
    create.add_argument("name")
    create.add_argument("--scopes", required=True, help="comma-separated, e.g. accounts:write,payments:write")
    leaf(tok, "revoke", cmd_token_revoke, "revoke a token").add_argument("name")
    hook = sub.add_parser("webhook", help="outbound webhooks").add_subparsers(dest="sub", required=True)
    add_hook = leaf(
        hook, "add", cmd_webhook_add, "send events to a URL, HMAC-SHA256 signed (secret printed once)"
    )
    add_hook.add_argument("name")
    add_hook.add_argument("url")
    add_hook.add_argument(
        "--events", required=True, help="comma-separated: outcome, promise, opt_out, payment_due"
    )
    leaf(hook, "list", cmd_webhook_list, "webhooks and their deliveries")
    leaf(hook, "remove", cmd_webhook_remove, "stop sending to a webhook").add_argument("name")

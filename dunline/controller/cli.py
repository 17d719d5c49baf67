"""The `dunline` command line: the operator's interface.

Every reporting subcommand prints text by default and one JSON document with `--json`.
Exit codes: 0 success, 1 runtime failure (a service could not be reached), 2 bad input (config,
CSV rows, arguments).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from pathlib import Path
from typing import Any

from dunline.config import loader
from dunline.config.schema import Settings

EXIT_OK, EXIT_FAIL, EXIT_INPUT = 0, 1, 2


def _print(args: argparse.Namespace, doc: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(doc, indent=None, default=str))
    else:
        print(text)


def _settings(args: argparse.Namespace) -> Settings:
    from dunline.controller.cli_common import settings_from

    return settings_from(args)


# ---- config -------------------------------------------------------------------------------------
def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        loader.check_file(Path(args.file))
    except loader.ConfigError as exc:
        doc = {"ok": False, "file": exc.source, "errors": [{"path": p, "reason": r} for p, r in exc.problems]}
        text = "\n".join([f"{exc.source}: invalid"] + [f"  {p}: {r}" for p, r in exc.problems])
        _print(args, doc, text)
        return EXIT_INPUT
    _print(args, {"ok": True, "file": args.file, "errors": []}, f"{args.file}: ok")
    return EXIT_OK


# ---- db -----------------------------------------------------------------------------------------
async def _db_migrate(settings: Settings) -> dict[str, Any]:
    from dunline.controller.app import open_database
    from dunline.store.migrate import migrate

    pool, where = await open_database(settings)
    try:
        applied = await migrate(pool)  # open_database already migrated: this reports the state
        version = await pool.fetchval("SELECT max(version) FROM schema_migrations")
    finally:
        await pool.close()
    return {"database": where, "applied": applied, "version": version}


def cmd_db_migrate(args: argparse.Namespace) -> int:
    doc = asyncio.run(_db_migrate(_settings(args)))
    _print(args, doc, f"database {doc['database']}: schema version {doc['version']}")
    return EXIT_OK


def cmd_db_stop(args: argparse.Namespace) -> int:
    from dunline.store.embedded import stop_embedded

    stopped = stop_embedded(_settings(args).var_dir / "pg")
    _print(args, {"stopped": stopped}, "embedded PostgreSQL stopped" if stopped else "not running")
    return EXIT_OK


# ---- import -------------------------------------------------------------------------------------
async def _import(settings: Settings, path: Path, upsert: bool, progress: bool) -> Any:
    from dunline.controller.app import database
    from dunline.portfolio.report import import_file

    async with database(settings) as pool:
        return await import_file(
            pool, path, default_region=settings.dialer.default_region, progress=progress, upsert=upsert
        )


def cmd_import_accounts(args: argparse.Namespace) -> int:
    from dunline.portfolio.report import PortfolioInvalid, format_errors
    from dunline.store.db import StoreError

    settings = _settings(args)
    try:
        summary = asyncio.run(_import(settings, Path(args.file), args.upsert, not args.json))
    except PortfolioInvalid as exc:
        doc = {
            "ok": False,
            "imported": 0,
            "errors": [dataclasses.asdict(e) for e in exc.errors],  # row, column, value_masked, reason
        }
        _print(args, doc, f"{args.file}: nothing imported\n{format_errors(exc.errors, json=exc.json)}")
        return EXIT_INPUT
    except StoreError as exc:
        _print(args, {"ok": False, "imported": 0, "errors": [str(exc)]}, f"{args.file}: {exc}")
        return EXIT_INPUT
    doc = {"ok": True, **summary.as_dict()}
    _print(args, doc, f"{args.file}: imported {summary.rows} account(s) in one transaction")
    return EXIT_OK


async def _import_payments(settings: Settings, path: Path) -> Any:
    from dunline.controller.app import database
    from dunline.portfolio.csv_schema import RowError
    from dunline.portfolio.payments_csv import parse_payments
    from dunline.portfolio.report import PortfolioInvalid
    from dunline.store.payments import import_payments

    try:
        text = await asyncio.to_thread(path.read_text, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PortfolioInvalid([RowError(0, "(file)", "", f"cannot be read: {exc}")]) from None
    rows, errors = parse_payments(text.splitlines())
    if errors or not rows:
        raise PortfolioInvalid(errors or [RowError(0, "(file)", "", "has no data rows")])
    async with database(settings) as pool:
        return await import_payments(pool, rows, source=path.name)


def cmd_import_payments(args: argparse.Namespace) -> int:
    from dunline.portfolio.report import PortfolioInvalid, format_errors
    from dunline.store.payments import UnknownAccounts

    try:
        result = asyncio.run(_import_payments(_settings(args), Path(args.file)))
    except (PortfolioInvalid, UnknownAccounts) as exc:
        doc = {"ok": False, "imported": 0, "errors": [dataclasses.asdict(e) for e in exc.errors]}
        _print(args, doc, f"{args.file}: nothing imported\n{format_errors(exc.errors)}")
        return EXIT_INPUT
    doc = {"ok": True, **result.as_dict()}
    text = f"{args.file}: {result.inserted} payment(s) stored, {result.already_stored} already there"
    _print(args, doc, text)
    return EXIT_OK


# ---- asterisk -----------------------------------------------------------------------------------
def cmd_asterisk(args: argparse.Namespace) -> int:
    from dunline.controller import asterisk

    settings = _settings(args)
    if args.action == "up":
        pbx, car, took = asyncio.run(asterisk.up(settings))
        doc = {
            "pbx": str(pbx.host),
            "carrier": str(car.host),
            "ready_after_s": took,
            **asterisk.status(settings),
        }
        _print(args, doc, f"asterisk up: PBX and carrier simulator ready in {max(took.values()):.1f} s")
    elif args.action == "down":
        doc = asterisk.down(settings)
        _print(args, doc, ", ".join(f"{k}: {'stopped' if v else 'not running'}" for k, v in doc.items()))
    else:
        doc = asterisk.status(settings)
        lines = [f"asterisk: {doc['binary']}"] + [
            f"  {n}: {'running pid ' + str(doc[n]['pid']) if doc[n]['running'] else 'stopped'}"
            for n in ("pbx", "carrier")
        ]
        _print(args, doc, "\n".join(lines))
    return EXIT_OK


# ---- demo ---------------------------------------------------------------------------------------
def cmd_demo(args: argparse.Namespace) -> int:
    from dunline.controller.demo import render_table, run_demo

    settings = _settings(args)
    doc = asyncio.run(run_demo(settings, keep=args.keep or args.serve))
    _print(args, doc, render_table(doc))
    if args.serve:
        from dunline.controller.cli_web import serve_demo

        serve_demo(settings)
    return EXIT_OK if doc["calls"] else EXIT_FAIL


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dunline", description="Outbound collections telephony server")
    p.add_argument("--config", help="YAML settings file (default: $DUNLINE_CONFIG, else embedded defaults)")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level to stderr")
    sub = p.add_subparsers(dest="command", required=True)

    def leaf(parent: Any, name: str, fn: Any, help_: str) -> argparse.ArgumentParser:
        sp: argparse.ArgumentParser = parent.add_parser(name, help=help_)
        sp.add_argument("--json", action="store_true", help="print one JSON document")
        sp.set_defaults(fn=fn)
        return sp

    cfg = sub.add_parser("config", help="settings").add_subparsers(dest="sub", required=True)
    leaf(cfg, "check", cmd_config_check, "validate a YAML settings file").add_argument("file")

    db = sub.add_parser("db", help="database").add_subparsers(dest="sub", required=True)
    leaf(db, "migrate", cmd_db_migrate, "apply pending migrations")
    leaf(db, "stop", cmd_db_stop, "stop the embedded PostgreSQL")

    imp = sub.add_parser("import", help="import data").add_subparsers(dest="sub", required=True)
    acc = leaf(
        imp, "accounts", cmd_import_accounts, "import a portfolio: CSV or JSON documents (all or none)"
    )
    acc.add_argument("file")
    acc.add_argument("--upsert", action="store_true", help="update accounts that already exist")
    pay = leaf(imp, "payments", cmd_import_payments, "import payments received (all rows or none)")
    pay.add_argument("file")

    ast = leaf(sub, "asterisk", cmd_asterisk, "provision/start/stop the PBX and carrier simulator")
    ast.add_argument("action", choices=["up", "down", "status"])

    demo = leaf(sub, "demo", cmd_demo, "a short real campaign on the embedded defaults")
    demo.add_argument("--keep", action="store_true", help="leave Asterisk and PostgreSQL running")
    demo.add_argument(
        "--serve", action="store_true", help="then serve the console on the demo's data (implies --keep)"
    )

    from dunline.controller.cli_asr import add_asr_commands
    from dunline.controller.cli_campaign import add_campaign_commands
    from dunline.controller.cli_channels import add_channel_commands
    from dunline.controller.cli_compliance import add_compliance_commands
    from dunline.controller.cli_simulate import add_simulate_commands
    from dunline.controller.cli_speech import add_intent_command
    from dunline.controller.cli_strategy import add_strategy_commands
    from dunline.controller.cli_web import add_web_commands

    add_intent_command(sub)
    add_asr_commands(sub)
    add_compliance_commands(sub)
    add_strategy_commands(sub)
    add_campaign_commands(sub)
    add_simulate_commands(sub)
    add_web_commands(sub)
    add_channel_commands(sub)
    return p


def _service_errors() -> tuple[type[BaseException], ...]:
    """Failures of a service Dunline depends on: reported in one line, exit 1."""
    from dunline.ari_handlers.client import AriError
    from dunline.controller.asterisk import AsteriskError
    from dunline.dialer.ami import AmiError
    from dunline.store.db import StoreError

    return (AsteriskError, AmiError, AriError, StoreError, OSError)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.fn(args))
    except loader.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except _service_errors() as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

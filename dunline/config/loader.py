"""Load settings: embedded defaults < YAML file < environment.

Environment variables: `DUNLINE_DATABASE_URL` (the external PostgreSQL) and, for any other field,
`DUNLINE_<SECTION>__<FIELD>` with `__` between levels, e.g. `DUNLINE_ASTERISK__AMI__SECRET`.
This is the only module of Dunline that reads `os.environ`.

Errors: `ConfigError` carries every problem as `(path, reason)`, e.g. `("trunks.0.caller_id", "not a
valid phone number")`, so `dunline config check` can print them all at once.

Secrets that are not configured (AMI secret, ARI password, trunk passwords) are generated once per
installation and kept in `<var_dir>/secrets.yaml` (mode 0600), never in the repository.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dunline.config.packaged import read_default
from dunline.config.schema import Settings

ENV_PREFIX = "DUNLINE_"


class ConfigError(Exception):
    """A configuration that cannot be used; `problems` lists (path, reason) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {path}: {reason}" for path, reason in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _defaults() -> dict[str, Any]:
    text = read_default("server.yaml")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError("defaults/server.yaml", [("", "top level must be a mapping")])
    return data


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [("", f"cannot read: {exc}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        raise ConfigError(str(path), [(where, f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(path), [("", "top level must be a mapping of sections")])
    return data


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        current = out.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            out[key] = _merge(current, value)
        elif isinstance(value, Mapping) and isinstance(current, list) and _indexes(value, len(current)):
            # `DUNLINE_TRUNKS__0__PASSWORD`: the environment addresses list items by index
            items = list(current)
            for index, item in value.items():
                i = int(index)
                items[i] = (
                    _merge(items[i], item)
                    if isinstance(item, Mapping) and isinstance(items[i], dict)
                    else item
                )
            out[key] = items
        else:
            out[key] = value
    return out


def _indexes(over: Mapping[str, Any], length: int) -> bool:
    return bool(over) and all(str(k).isdigit() and int(k) < length for k in over)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        if name == "DUNLINE_DATABASE_URL":
            tree.setdefault("database", {})["url"] = value
            continue
        if "__" not in name and name[len(ENV_PREFIX) :].lower() not in ("var_dir", "log_level"):
            continue  # DUNLINE_CONFIG, DUNLINE_CACHE and other non-setting variables
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        node = tree
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return tree


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top)"
        out.append((path, err["msg"]))
    return out


def validate(data: Mapping[str, Any], source: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, _problems(exc)) from None


def check_file(path: Path) -> Settings:
    """Validate one YAML file on top of the defaults (no environment, no secrets)."""
    return validate(_merge(_defaults(), _read_yaml(path)), str(path))


_SECRET_KEYS = ("ami_secret", "ari_password", "trunk_password")


def _secrets(var_dir: Path) -> dict[str, str]:
    path = var_dir / "secrets.yaml"
    kept: dict[str, str] = {}
    if path.exists():
        data = yaml.safe_load(path.read_text("utf-8")) or {}
        if isinstance(data, dict):
            kept = {k: v for k, v in data.items() if k in _SECRET_KEYS and isinstance(v, str) and v}
        if len(kept) == len(_SECRET_KEYS):
            return kept
    # generate what is missing, keep what an earlier run generated
    data = {k: kept.get(k) or secrets.token_urlsafe(18) for k in _SECRET_KEYS}
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a stale .tmp keeps its old mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh)
    tmp.replace(path)
    return data


def _fill_secrets(data: dict[str, Any], var_dir: Path) -> dict[str, Any]:
    """Fill unset (absent, null or empty) secrets from the generated file. Sections of the wrong
    shape are left alone: validation reports them with their path."""
    ast = data.setdefault("asterisk", {})
    if not isinstance(ast, dict):
        return data
    ami = ast.setdefault("ami", {})
    ari = ast.setdefault("ari", {})
    trunks = data.get("trunks") or [{}]
    if not isinstance(ami, dict) or not isinstance(ari, dict) or not isinstance(trunks, list):
        return data
    if not all(isinstance(t, dict) for t in trunks):
        return data
    missing = not ami.get("secret") or not ari.get("password") or any(not t.get("password") for t in trunks)
    if not missing:
        return data
    gen = _secrets(var_dir)
    ami["secret"] = ami.get("secret") or gen["ami_secret"]
    ari["password"] = ari.get("password") or gen["ari_password"]
    data["trunks"] = [{**t, "password": t.get("password") or gen["trunk_password"]} for t in trunks]
    return data


def load(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings in force: defaults, then `path` (or `$DUNLINE_CONFIG`), then the environment."""
    env = os.environ if environ is None else environ
    if path is None and env.get("DUNLINE_CONFIG"):
        path = Path(env["DUNLINE_CONFIG"])
    data = _defaults()
    source = "defaults"
    if path is not None:
        data = _merge(data, _read_yaml(path))
        source = str(path)
    data = _merge(data, _env_overrides(env))
    var_dir = Path(data.get("var_dir") or "var")
    if not var_dir.is_absolute():
        var_dir = Path.cwd() / var_dir
    data["var_dir"] = str(var_dir)
    return validate(_fill_secrets(data, var_dir), source)


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where provisioned artefacts (the Asterisk chroot, models) are cached, outside the repository."""
    env = os.environ if environ is None else environ
    if env.get("DUNLINE_CACHE"):
        return Path(env["DUNLINE_CACHE"])
    return Path(env.get("HOME", "/root")) / ".cache" / "dunline"

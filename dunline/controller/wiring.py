"""Settings -> adapter settings: the one place that turns the config tree into AMI and ARI client
settings (secrets unwrapped only here)."""

from __future__ import annotations

from typing import Any

from dunline.ari_handlers.client import AriSettings
from dunline.config.schema import Settings
from dunline.dialer.ami import AmiSettings


def ami_settings(s: Settings, **overrides: Any) -> AmiSettings:
    a = s.asterisk
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": a.pbx.ami_port,
        "username": a.ami.username,
        "secret": a.ami.secret.get_secret_value() if a.ami.secret else "",
        "action_timeout": a.ami.action_timeout_s,
        "ping_interval": a.ami.ping_interval_s,
        "events": "call,user,system",
    }
    return AmiSettings(**{**base, **overrides})


def ari_settings(s: Settings, **overrides: Any) -> AriSettings:
    a = s.asterisk
    base: dict[str, Any] = {
        "base_url": f"http://127.0.0.1:{a.pbx.http_port}",
        "username": a.ari.username,
        "password": a.ari.password.get_secret_value() if a.ari.password else "",
        "app": a.ari.app,
        "request_timeout": a.ari.request_timeout_s,
    }
    return AriSettings(**{**base, **overrides})

"""`dunline user add`, `dunline token create` and `dunline serve` as an operator runs them."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from dunline.store.embedded import stop_embedded


@pytest.fixture(scope="module")
def var(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("clivar")
    yield path
    stop_embedded(path / "pg")


def dunline(var: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DUNLINE_VAR_DIR": str(var)}
    env.pop("DUNLINE_CONFIG", None)
    cmd = [sys.executable, "-m", "dunline.controller.cli", *args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, timeout=120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_user_add_checks_name_role_and_password(var: Path) -> None:
    bad_role = dunline(var, "user", "add", "ops", "--role", "root", stdin="long enough password\n")
    assert bad_role.returncode == 2 and "--role" in bad_role.stderr
    weak = dunline(var, "user", "add", "ops", "--role", "admin", stdin="short\n")
    assert weak.returncode == 2 and "at least 12" in weak.stderr
    ok = dunline(var, "user", "add", "ops", "--role", "admin", "--json", stdin="a long enough password\n")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"user": "ops", "role": "admin"}
    again = dunline(var, "user", "add", "ops", "--role", "viewer", stdin="a long enough password\n")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_token_create_prints_once_and_stores_a_hash(var: Path) -> None:
    bad = dunline(var, "token", "create", "crm", "--scopes", "accounts:write,everything")
    assert bad.returncode == 2 and "everything" in bad.stderr
    ok = dunline(var, "token", "create", "crm", "--scopes", "accounts:write,accounts:read", "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["token"].startswith("dlt_") and doc["scopes"] == ["accounts:read", "accounts:write"]


def test_serve_answers_on_its_port(var: Path) -> None:
    made = dunline(var, "token", "create", "reader", "--scopes", "accounts:read", "--json")
    token = json.loads(made.stdout)["token"]
    port = free_port()
    env = {**os.environ, "DUNLINE_VAR_DIR": str(var)}
    cmd = [
        sys.executable,
        "-m",
        "dunline.controller.cli",
        "serve",
        "--console-only",
        "--listen",
        f"127.0.0.1:{port}",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as r:
                    assert json.load(r) == {"ok": True}
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "dunline serve did not answer within 60 s"
                time.sleep(0.3)
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{base}/api/v1/accounts/ACC-1", timeout=5)
        assert denied.value.code == 401
        req = urllib.request.Request(
            f"{base}/api/v1/accounts/NOPE", headers={"Authorization": f"Bearer {token}"}
        )
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(req, timeout=5)
        assert missing.value.code == 404  # the token is valid: the request got past the gate
        with urllib.request.urlopen(f"{base}/login", timeout=5) as r:
            assert "Log in" in r.read().decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_bad_listen_is_refused(var: Path) -> None:
    r = dunline(var, "serve", "--listen", "localhost")
    assert r.returncode == 2 and "HOST:PORT" in r.stderr


def test_webhook_add_validates_url_and_events(var: Path) -> None:
    r = dunline(var, "webhook", "add", "crm", "http://crm.example.com/hook", "--events", "outcome")
    assert r.returncode == 2 and "url: plain http" in r.stderr
    r = dunline(var, "webhook", "add", "crm", "https://crm.example.com/hook", "--events", "outcomes")
    assert r.returncode == 2 and "events: unknown 'outcomes'" in r.stderr
    ok = dunline(
        var, "webhook", "add", "crm", "https://crm.example.com/hook", "--events", "promise,opt_out", "--json"
    )
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["events"] == ["promise", "opt_out"] and len(doc["secret"]) >= 40
    listed = json.loads(dunline(var, "webhook", "list", "--json").stdout)
    assert [h["name"] for h in listed] == ["crm"] and "secret" not in listed[0]

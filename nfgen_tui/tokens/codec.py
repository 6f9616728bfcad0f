"""Fields ⇄ tokens: the learned codebook(s), encoding weights to code ids and decoding ids back to weights.

`scalar`: one shared sorted codebook [K]; every weight is one token (ids ordered by value).
`neuron`: one codebook [K_l, d_l] per layer; each neuron's incoming weights (+ bias) is one token, layer l owning
ids `offset_l … offset_l + K_l - 1`. Both read their flat positions from the field layout, never from constants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors.torch import save_file

from ..errors import UserError
from ..fields.layout import Layout
from ..workspace import atomic_path, read_json, read_tensors
from .group import check_file_mode
from .kmeans import KMeansResult, kmeans, nearest
from .kmeans1d import encode_scalar, kmeans1d
from .modes import extra_mode
from .vocab import Vocabulary, neuron_vocabulary, scalar_vocabulary

CODEBOOK_FILE = "codebook.safetensors"
REPORT_FILE = "report.json"


class Tokenizer:
    def __init__(self, mode: str, layout: Layout, codebooks: list[torch.Tensor], n_classes: int):
        if mode not in ("scalar", "neuron"):
            raise UserError(f"unknown codebook mode {mode!r} for this tokenizer (scalar | neuron)")
        self.mode = mode
        self.layout = layout
        self.codebooks = [c.float() for c in codebooks]
        if mode == "scalar":
            if len(self.codebooks) != 1 or self.codebooks[0].ndim != 1:
                raise UserError("a scalar codebook is one vector of codes")
            self.vocab = scalar_vocabulary(layout, self.codebooks[0].numel(), n_classes)
        else:
            self._index = [torch.from_numpy(i) for i in layout.neuron_index()]
            if len(self.codebooks) != len(self._index) or any(
                    c.ndim != 2 or c.shape[1] != i.shape[1] for c, i in zip(self.codebooks, self._index)):
                raise UserError("neuron codebooks do not match the field layout (one [K, n_in(+1)] per layer)")
            self.vocab = neuron_vocabulary(layout, [c.shape[0] for c in self.codebooks], n_classes)
        sizes = [c.shape[0] for c in self.codebooks]
        self.offsets = [int(o) for o in np.cumsum([0, *sizes[:-1]])]  # first id of each codebook

    def to(self, device: torch.device | str) -> "Tokenizer":
        self.codebooks = [c.to(device) for c in self.codebooks]
        return self

    # weights ⇄ code ids ------------------------------------------------------------------------------------
    def encode(self, weights: torch.Tensor) -> torch.Tensor:
        """Weights [N, P] → weight-token ids [N, T] (T = P scalar, number of neurons in neuron mode)."""
        if weights.ndim != 2 or weights.shape[1] != self.layout.n_params:
            raise UserError(f"weights must be [N, {self.layout.n_params}], got {list(weights.shape)}")
        w = weights.float().to(self.codebooks[0].device)
        if self.mode == "scalar":
            return encode_scalar(w, self.codebooks[0])
        parts = []
        for book, idx, off in zip(self.codebooks, self._index, self.offsets):
            vecs = w[:, idx.to(w.device)]  # [N, n_out, d]
            ids, _ = nearest(vecs.reshape(-1, vecs.shape[-1]), book)
            parts.append(ids.reshape(w.shape[0], -1) + off)
        return torch.cat(parts, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Weight-token ids [N, T] (validated against the vocabulary) → weights [N, P] float32."""
        codes = self.vocab.weight_codes(torch.as_tensor(codes)).to(self.codebooks[0].device)
        if self.mode == "scalar":
            return self.codebooks[0][codes]
        n = codes.shape[0]
        out = torch.empty(n, self.layout.n_params, device=codes.device)
        col = 0
        for book, idx, off in zip(self.codebooks, self._index, self.offsets):
            n_out = idx.shape[0]
            vecs = book[codes[:, col:col + n_out] - off]  # [N, n_out, d]
            out[:, idx.flatten().to(out.device)] = vecs.reshape(n, -1)
            col += n_out
        return out

    def tokenize(self, weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Full sequences [N, L]: SOS, class, weight tokens."""
        return self.vocab.sequences(self.encode(weights), torch.as_tensor(labels))

    # files ---------------------------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        if self.mode == "scalar":
            return {"codebook": self.codebooks[0].detach().cpu().contiguous()}
        return {f"layer{i}": c.detach().cpu().contiguous() for i, c in enumerate(self.codebooks)}

    def save(self, folder: Path) -> None:
        with atomic_path(Path(folder) / CODEBOOK_FILE) as tmp:
            save_file(self.tensors(), str(tmp), metadata={"mode": self.mode})

    def report(self) -> dict:
        """The vocabulary and layout part of report.json (what `load` needs besides the tensors)."""
        return {**self.vocab.to_dict(), "code_offsets": self.offsets, "layout": self.layout.to_dict()}

    @classmethod
    def load(cls, folder: Path) -> "Tokenizer":
        folder = Path(folder)
        fix = f"rerun `nfgen codebook {folder.parent.name} --force`"  # folder is runs/RUN/codebook
        rep = read_json(folder / REPORT_FILE, fix)
        if rep.get("mode") not in ("scalar", "neuron"):
            return extra_mode(str(rep.get("mode")))[0].load(folder)
        vocab = Vocabulary.from_dict(rep, str(folder / REPORT_FILE), fix)
        check_file_mode(folder / CODEBOOK_FILE, vocab.mode)
        tensors = read_tensors(folder / CODEBOOK_FILE, fix)
        layout = Layout.from_dict(rep.get("layout", {}))
        if vocab.mode == "scalar":
            books = [tensors["codebook"]]
        else:
            books = [tensors[f"layer{i}"] for i in range(len(layout.layers))]
        tok = cls(vocab.mode, layout, books, vocab.n_classes)
        tok.vocab = tok.vocab.matching(vocab, str(folder / CODEBOOK_FILE), fix)
        return tok


def fit_tokenizer(weights: torch.Tensor, layout: Layout, cc, n_classes: int, seed: int,
                  on_iter: Callable[[int, int, float], None] | None = None, run=None
                  ) -> tuple[Tokenizer, list[KMeansResult]]:
    """Learn the codebook(s) from training weights [N, P] with the `codebook` config section `cc`.

    `on_iter(codebook_index, iteration, distortion)` reports progress. Codes per codebook are capped by the number of
    training rows (a tiny run cannot seed more distinct codes than it has values).
    """
    if cc.mode not in ("scalar", "neuron"):
        return extra_mode(cc.mode)[1](weights, layout, cc, n_classes, seed, on_iter, run=run)
    opts = dict(tol=cc.tol, dead_threshold=cc.dead_threshold, init=cc.init, init_sample=cc.sample)

    def cb(i):
        return None if on_iter is None else (lambda it, d: on_iter(i, it, d))

    if cc.mode == "scalar":
        res = kmeans1d(weights, cc.size, cc.iters, seed=seed, on_iter=cb(0), **opts)
        return Tokenizer("scalar", layout, [res.centers], n_classes), [res]
    results = []
    for i, idx in enumerate(layout.neuron_index()):
        vecs = weights[:, torch.from_numpy(idx).to(weights.device)].reshape(-1, idx.shape[1])
        results.append(kmeans(vecs, cc.size, cc.iters, seed=seed + i, on_iter=cb(i), **opts))
    return Tokenizer("neuron", layout, [r.centers for r in results], n_classes), results


def encode_fields(tok, weights: torch.Tensor, batches, progress=None) -> torch.Tensor:
    """Code ids [N, T] of the run's fields: quantization-aware where the mode can use the fitting targets
    (`batches()` → `batch(step)` of every field, `Modality.batches`; called only then), else `encode`."""
    if hasattr(tok, "encode_targets"):
        return tok.encode_targets(weights, batches(), progress)
    return tok.encode(weights)


def perplexity(counts: torch.Tensor) -> float:
    """exp(entropy) of code usage: the effective number of codes in use."""
    p = counts.double() / counts.sum().clamp_min(1)
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))

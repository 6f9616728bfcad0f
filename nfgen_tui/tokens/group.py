"""`group:G` (`pair` = `group:2`) codebook mode: one token per G consecutive weights of a layer, joint codes.

Groups run through each layer's flat block (W row-major, then b), so with an even fan-in a pair is two incoming
weights of the same neuron; a layer whose block does not split evenly pads its last group (the pad is not a weight:
decoding drops it). Each layer has its own codebook and id range (`allowed`), like neuron mode.

What is quantized is not the raw weight but `(w − centre) · scale` per position: `centre` is the mean training
field (the deltas from it are centred for every position, which a codebook pooled over positions needs) and `scale`
is √ of the mean pixel sensitivity of that position (`fields.sensitivity`), so the Euclidean k-means spends its
codes where an error shows in the image. Decoding inverts exactly: w = centre + code / scale.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import UserError
from ..fields.layout import Layout
from ..fields.sensitivity import pixel_sensitivity
from ..workspace import atomic_path, read_json, read_tensors
from .kmeans import KMeansResult
from .kmeans_graph import kmeans_graph, nearest_full
from .vocab import Vocabulary

CODEBOOK_FILE = "codebook.safetensors"
REPORT_FILE = "report.json"
MAX_GROUP = 8
# relative to the mean scale. A position no pixel feels (the weights of a ReLU unit that is off everywhere in every
# field) has scale ~0, and decoding divides the code's error by the scale: at 1e-3 that error came back ×1000, revived
# the dead unit and emptied most quick3d shapes at seeds 1 and 2 (quantized IoU 0.27 and 0.38 instead of ~0.59).
# 0.1 and 0.3 both fixed it; 0.3 had the lower weight error on all three seeds, and on 2D fields the two floors and
# 1e-3 gave the same PSNR within 0.05 dB (docs/results.md, 2026-11-30, "3D").
_SCALE_FLOOR = 0.3


def group_size(mode: str) -> int | None:
    """`pair` → 2, `group:G` → G (2 ≤ G ≤ 8), anything else → None."""
    if mode == "pair":
        return 2
    m = re.fullmatch(r"group:(\d+)", mode)
    if m and 2 <= int(m.group(1)) <= MAX_GROUP:
        return int(m.group(1))
    return None


def group_index(layout: Layout, g: int) -> list[np.ndarray]:
    """Per layer an int array [n_groups, g] of flat positions, -1 where the layer's last group is padded."""
    out = []
    for w0, _, end in layout.offsets():
        pos = np.arange(w0, end)
        n_groups = -(-len(pos) // g)
        padded = np.full(n_groups * g, -1, dtype=np.int64)
        padded[:len(pos)] = pos
        out.append(padded.reshape(n_groups, g))
    return out


def group_vocabulary(mode: str, layout: Layout, index: list[np.ndarray], codes_per_layer: list[int],
                     n_classes: int) -> Vocabulary:
    kinds_of = layout.position_kinds()
    allowed, kinds, off = [], [], 0
    for idx, k in zip(index, codes_per_layer):
        allowed += [(off, off + k)] * idx.shape[0]
        kinds += [int(kinds_of[row[0]]) for row in idx]  # the kind (W or b) of the group's first weight
        off += k
    return Vocabulary(mode, off, n_classes, allowed, kinds)


class GroupTokenizer:
    """Same surface as `codec.Tokenizer` (encode, decode, tokenize, save, report, load)."""

    def __init__(self, mode: str, layout: Layout, codebooks: list[torch.Tensor], centre: torch.Tensor,
                 scale: torch.Tensor, n_classes: int):
        g = group_size(mode)
        if g is None:
            raise UserError(f"unknown group mode {mode!r} (pair | group:G with 2 ≤ G ≤ {MAX_GROUP})")
        self.mode, self.g, self.layout = mode, g, layout
        self.codebooks = [c.float() for c in codebooks]
        self.centre, self.scale = centre.float().flatten(), scale.float().flatten()
        self._index = group_index(layout, g)
        if len(self.codebooks) != len(self._index) or any(c.ndim != 2 or c.shape[1] != g for c in self.codebooks) \
                or self.centre.numel() != layout.n_params or self.scale.numel() != layout.n_params:
            raise UserError(f"{mode} codebooks do not match the field layout (one [K, {g}] per layer, "
                            f"centre and scale of {layout.n_params})")
        self.vocab = group_vocabulary(mode, layout, self._index, [c.shape[0] for c in self.codebooks], n_classes)
        sizes = [c.shape[0] for c in self.codebooks]
        self.offsets = [int(o) for o in np.cumsum([0, *sizes[:-1]])]

    def to(self, device) -> "GroupTokenizer":
        self.codebooks = [c.to(device) for c in self.codebooks]
        self.centre, self.scale = self.centre.to(device), self.scale.to(device)
        return self

    # weights ⇄ groups ⇄ code ids -----------------------------------------------------------------------------
    def groups(self, weights: torch.Tensor) -> list[torch.Tensor]:
        """Weights [N, P] → per layer the scaled deltas [N · n_groups, g] (pads 0)."""
        x = (weights.float().to(self.centre.device) - self.centre) * self.scale
        x = torch.cat([x, x.new_zeros(x.shape[0], 1)], 1)  # column P: the pad's value
        out = []
        for idx in self._index:
            i = torch.from_numpy(np.where(idx < 0, self.layout.n_params, idx)).to(x.device)
            out.append(x[:, i].reshape(-1, self.g))
        return out

    def encode(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.ndim != 2 or weights.shape[1] != self.layout.n_params:
            raise UserError(f"weights must be [N, {self.layout.n_params}], got {list(weights.shape)}")
        n = weights.shape[0]
        parts = []
        for vecs, book, off in zip(self.groups(weights), self.codebooks, self.offsets):
            ids, _ = nearest_full(vecs, book)
            parts.append(ids.reshape(n, -1) + off)
        return torch.cat(parts, 1)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = self.vocab.weight_codes(torch.as_tensor(codes)).to(self.centre.device)
        n = codes.shape[0]
        out = torch.empty(n, self.layout.n_params + 1, device=codes.device)
        col = 0
        for book, idx, off in zip(self.codebooks, self._index, self.offsets):
            vecs = book[codes[:, col:col + idx.shape[0]] - off]  # [N, n_groups, g]
            i = torch.from_numpy(np.where(idx < 0, self.layout.n_params, idx)).flatten().to(out.device)
            out[:, i] = vecs.reshape(n, -1)  # pads all land in the spare column P, dropped below
            col += idx.shape[0]
        return out[:, :-1] / self.scale + self.centre

    def tokenize(self, weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.vocab.sequences(self.encode(weights), torch.as_tensor(labels))

    # files ---------------------------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        t = {f"layer{i}": c.detach().cpu().contiguous() for i, c in enumerate(self.codebooks)}
        t["centre"], t["scale"] = self.centre.cpu().contiguous(), self.scale.cpu().contiguous()
        return t

    def save(self, folder: Path) -> None:
        with atomic_path(Path(folder) / CODEBOOK_FILE) as tmp:
            save_file(self.tensors(), str(tmp), metadata={"mode": self.mode})

    def report(self) -> dict:
        return {**self.vocab.to_dict(), "code_offsets": self.offsets, "layout": self.layout.to_dict(),
                "group_size": self.g}

    @classmethod
    def load(cls, folder: Path) -> "GroupTokenizer":
        folder = Path(folder)
        rep, vocab, layout, t = read_codebook(folder)
        try:
            books = [t[f"layer{i}"] for i in range(len(layout.layers))]
            tok = cls(vocab.mode, layout, books, t["centre"], t["scale"], vocab.n_classes)
        except KeyError as e:
            raise UserError(f"{folder / CODEBOOK_FILE} lacks {e}: {codebook_fix(folder)}") from None
        tok.vocab = tok.vocab.matching(vocab, str(folder / CODEBOOK_FILE), codebook_fix(folder))
        return tok


def codebook_fix(folder: Path) -> str:
    """The way out of a refused codebook folder (runs/RUN/codebook)."""
    return f"rerun `nfgen codebook {Path(folder).parent.name} --force`"


def read_codebook(folder: Path) -> tuple[dict, Vocabulary, Layout, dict[str, torch.Tensor]]:
    """report.json, its vocabulary and field layout, and the codebook tensors of an extra mode's codebook folder,
    the file's mode checked against the report's."""
    folder = Path(folder)
    rep = read_json(folder / REPORT_FILE, codebook_fix(folder))
    vocab = Vocabulary.from_dict(rep, str(folder / REPORT_FILE), codebook_fix(folder))
    layout = Layout.from_dict(rep.get("layout", {}))
    check_file_mode(folder / CODEBOOK_FILE, vocab.mode)
    return rep, vocab, layout, read_tensors(folder / CODEBOOK_FILE, codebook_fix(folder))


def check_file_mode(path: Path, mode: str, what: str = "codebook",
                    fix: str = "rerun `nfgen codebook RUN --force`") -> None:
    """Refuse a codebook or token file written by another mode than report.json's, naming both modes."""
    try:
        with safe_open(str(path), framework="pt") as f:
            stored = (f.metadata() or {}).get("mode")
    except Exception:  # missing or unreadable: read_tensors reports it with its own message
        return
    if stored is not None and stored != mode:
        raise UserError(f"{path} holds {stored!r} {what} but {path.parent / REPORT_FILE} says mode {mode!r}: {fix}")


def fit_group_tokenizer(weights: torch.Tensor, layout: Layout, cc, n_classes: int, seed: int,
                        on_iter: Callable[[int, int, float], None] | None = None, *, run=None, size: int = 28,
                        weighted: bool = True) -> tuple[GroupTokenizer, list[KMeansResult]]:
    """Learn the per-layer joint codebooks from training weights [N, P] (`weighted=False`: plain weight error)."""
    g = group_size(cc.mode)
    if g is None:
        raise UserError(f"unknown group mode {cc.mode!r} (pair | group:G with 2 ≤ G ≤ {MAX_GROUP})")
    w = weights.float()
    centre = w.mean(0)
    if weighted:
        sens = pixel_sensitivity(w, layout, size).mean(0).sqrt()
        scale = (sens / sens.mean()).clamp_min(_SCALE_FLOOR)
    else:
        scale = torch.ones_like(centre)
    shell = GroupTokenizer(cc.mode, layout, [torch.zeros(1, g) for _ in layout.layers], centre, scale, n_classes)
    results = []
    for i, vecs in enumerate(shell.groups(w)):
        cb = None if on_iter is None else (lambda it, d, i=i: on_iter(i, it, d))
        results.append(kmeans_graph(vecs, cc.size, cc.iters, tol=cc.tol, dead_threshold=cc.dead_threshold,
                                    init=cc.init, init_sample=cc.sample, seed=seed + i, on_iter=cb))
    tok = GroupTokenizer(cc.mode, layout, [r.centers for r in results], centre, scale, n_classes)
    return tok, results

"""`subspace` codebook mode: one token per coordinate c_j of fields fitted with `fields.subspace = k`.

A field's weights are w0 + μ + B·c (`fields.subspace`); only c is tokenized, k tokens per field. Each coordinate is
standardised by its spread over the training fields and quantized with one shared sorted scalar codebook
(`codebook.size` codes, ids ordered by value, every position allowed every code), so the vocabulary stays small.

Quantization-aware encoding: quantizing all k coordinates at once adds every rounding error up. When the fitting
targets are at hand (the tokens stage: `Modality.batches`, images or shapes' samples), `encode_targets` quantizes the
coordinates in `ROUNDS` blocks, largest spread first, and after each block refits the still-free coordinates to the
targets for `codebook.refine_steps` steps (B, μ and the quantized coordinates frozen), so the later coordinates
absorb the earlier rounding. Decoding is exact either way:
weights = w0 + μ + B·(codebook[ids] · std).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch
from safetensors.torch import save_file

from ..errors import UserError
from ..fields.layout import Layout
from ..fields.subspace import fit_coordinates, flat_weights, load_subspace
from ..workspace import atomic_path
from .group import codebook_fix, read_codebook
from .kmeans import KMeansResult
from .kmeans1d import encode_scalar, kmeans1d
from .vocab import Vocabulary

CODEBOOK_FILE = "codebook.safetensors"
REPORT_FILE = "report.json"
ROUNDS = 4
KIND = 0  # every token is a subspace coordinate: one layout-independent kind


class SubspaceTokenizer:
    """Same surface as `codec.Tokenizer`, plus `encode_targets` (quantization-aware)."""

    mode = "subspace"

    def __init__(self, layout: Layout, codebook: torch.Tensor, basis: torch.Tensor, mu: torch.Tensor,
                 w0: torch.Tensor, std: torch.Tensor, n_classes: int, refine_steps: int = 0, lr: float = 2e-2):
        self.layout = layout
        self.codebooks = [codebook.float().flatten()]
        self.basis, self.mu, self.w0, self.std = basis.float(), mu.float().flatten(), w0.float().flatten(), \
            std.float().flatten()
        k = self.basis.shape[1]
        if self.basis.shape[0] != layout.n_params or self.mu.numel() != layout.n_params \
                or self.w0.numel() != layout.n_params or self.std.numel() != k:
            raise UserError(f"subspace codebook does not match the field layout (B [{layout.n_params}, k], μ and w0 "
                            f"of {layout.n_params}, std of k)")
        n = self.codebooks[0].numel()
        self.vocab = Vocabulary("subspace", n, n_classes, [(0, n)] * k, [KIND] * k)
        self.offsets = [0]
        self.refine_steps, self.lr = refine_steps, lr

    @property
    def k(self) -> int:
        return self.basis.shape[1]

    def to(self, device) -> "SubspaceTokenizer":
        self.codebooks = [self.codebooks[0].to(device)]
        for name in ("basis", "mu", "w0", "std"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    # weights ⇄ coordinates ⇄ code ids ----------------------------------------------------------------------------
    def coordinates(self, weights: torch.Tensor) -> torch.Tensor:
        """Weights [N, P] → c [N, k]: least squares in the subspace (exact for weights that lie in it)."""
        d = (weights.float().to(self.basis.device) - self.w0 - self.mu).T  # [P, N]
        return torch.linalg.lstsq(self.basis.double(), d.double()).solution.T.float()

    def quantize(self, c: torch.Tensor) -> torch.Tensor:
        return encode_scalar((c / self.std).contiguous(), self.codebooks[0])

    def encode(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.ndim != 2 or weights.shape[1] != self.layout.n_params:
            raise UserError(f"weights must be [N, {self.layout.n_params}], got {list(weights.shape)}")
        return self.quantize(self.coordinates(weights))

    def encode_targets(self, weights: torch.Tensor, batch, progress: Callable[[int, int], None] | None = None
                       ) -> torch.Tensor:
        """Quantization-aware encoding of N fields with `batch(step)` of their targets (`Modality.batches`; see the
        module's docstring)."""
        c = self.coordinates(weights)
        if self.refine_steps <= 0:
            return self.quantize(c)
        order = torch.argsort(self.std, descending=True)
        blocks = torch.tensor_split(order, ROUNDS)
        frozen = torch.zeros_like(c, dtype=torch.bool)
        for r, block in enumerate(blocks):
            ids = encode_scalar((c[:, block] / self.std[block]).contiguous(), self.codebooks[0])
            c[:, block] = self.codebooks[0][ids] * self.std[block]
            frozen[:, block] = True
            if progress is not None:
                progress(r + 1, ROUNDS)
            if r + 1 < ROUNDS:
                tick = None if progress is None else (lambda step, r=r: progress(r + 1 + step / self.refine_steps,
                                                                                  ROUNDS))
                c = fit_coordinates(batch, c, self.basis, self.mu, self.w0, self.layout, steps=self.refine_steps,
                                    lr=self.lr, frozen=frozen, on_step=tick)
        return self.quantize(c)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        codes = self.vocab.weight_codes(torch.as_tensor(codes)).to(self.basis.device)
        return flat_weights(self.codebooks[0][codes] * self.std, self.basis, self.mu, self.w0)

    def tokenize(self, weights: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.vocab.sequences(self.encode(weights), torch.as_tensor(labels))

    # files -------------------------------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        return {"codebook": self.codebooks[0].cpu().contiguous(), "basis": self.basis.cpu().contiguous(),
                "mu": self.mu.cpu().contiguous(), "w0": self.w0.cpu().contiguous(), "std": self.std.cpu().contiguous()}

    def save(self, folder: Path) -> None:
        with atomic_path(Path(folder) / CODEBOOK_FILE) as tmp:
            save_file(self.tensors(), str(tmp), metadata={"mode": self.mode})

    def report(self) -> dict:
        return {**self.vocab.to_dict(), "code_offsets": self.offsets, "layout": self.layout.to_dict(),
                "subspace": self.k, "refine_steps": self.refine_steps, "refine_rounds": ROUNDS}

    @classmethod
    def load(cls, folder: Path) -> "SubspaceTokenizer":
        folder = Path(folder)
        rep, vocab, layout, t = read_codebook(folder)
        try:
            tok = cls(layout, t["codebook"], t["basis"], t["mu"], t["w0"], t["std"], vocab.n_classes,
                      int(rep.get("refine_steps", 0)))
        except KeyError as e:
            raise UserError(f"{folder / CODEBOOK_FILE} lacks {e}: {codebook_fix(folder)}") from None
        tok.vocab = tok.vocab.matching(vocab, str(folder / CODEBOOK_FILE), codebook_fix(folder))
        return tok


def fit_subspace_tokenizer(weights: torch.Tensor, layout: Layout, cc, n_classes: int, seed: int,
                           on_iter: Callable[[int, int, float], None] | None = None, *, run=None
                           ) -> tuple[SubspaceTokenizer, list[KMeansResult]]:
    """The shared scalar codebook over the training fields' standardised coordinates (B, μ, w0 from `run`)."""
    if run is None:
        raise UserError("codebook.mode subspace needs the run's subspace (fields fitted with fields.subspace > 0)")
    sub = load_subspace(run)
    lr = run.config().fields.lr
    dev = weights.device
    shell = SubspaceTokenizer(layout, torch.zeros(2), sub["basis"], sub["mu"], sub["w0"],
                              torch.ones(sub["basis"].shape[1]), n_classes).to(dev)
    c = shell.coordinates(weights)
    std = c.std(0).clamp_min(1e-8) if c.shape[0] > 1 else torch.ones(c.shape[1], device=dev)
    cb = None if on_iter is None else (lambda it, d: on_iter(0, it, d))
    res = kmeans1d(c / std, cc.size, cc.iters, tol=cc.tol, dead_threshold=cc.dead_threshold, init=cc.init,
                   init_sample=cc.sample, seed=seed, on_iter=cb)
    tok = SubspaceTokenizer(layout, res.centers, sub["basis"], sub["mu"], sub["w0"], std.cpu(), n_classes,
                            cc.refine_steps, lr).to(dev)
    return tok, [res]


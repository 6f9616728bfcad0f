"""What a continuous generator models (`diffusion.target`, `ar.target`): a field's flat weights, or its code c over
the shared base. Shared by the denoiser (model/diffusion/) and the autoregressive generator (model/ar_diffusion/).

A code run's fields are w = w0 + μ + B·c (`fields.subspace = k`, fields/subspace.py): the k numbers of c are all that
differ between fields, so generating c and decoding it is generating the field in k numbers instead of P. Both
spaces give the training stage the same thing — vectors [N, D] with labels, a train mask, per-coordinate mean and
std — and the sampler one `decode` to flat weights, which every later stage (render, export, eval) reads as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..errors import UserError
from ..fields.subspace import SUBSPACE_FILE, flat_weights, load_subspace
from ..tokens.stage import load_fields
from ..workspace import Run, file_sha256


@dataclass
class Space:
    target: str  # weights | codes
    x: torch.Tensor  # [N, D] the vectors denoised, one per fitted field
    labels: torch.Tensor  # [N]
    train: torch.Tensor  # [N] bool, the training fields
    mean: torch.Tensor  # [D] over the training fields
    std: torch.Tensor  # [D]
    n_classes: int
    sha: str  # digest of the file the vectors came from: a checkpoint trained on other fields is refused
    decode: Callable[[torch.Tensor], torch.Tensor]  # [B, D] → flat field weights [B, P]


def load_space(run: Run, target: str) -> Space:
    """The run's fields in the space `target`, with the training fields' statistics."""
    weights, labels, split, layout = load_fields(run)
    train = split == 0
    if not bool(train.any()):
        raise UserError("no training fields (every field is held out): lower data.holdout")
    if target == "codes":
        sub = load_subspace(run)
        x, sha = sub["c"].float(), file_sha256(run.stage_dir("fit") / SUBSPACE_FILE)
        decode = code_decoder(sub)
    else:
        x, sha = weights, file_sha256(run.stage_dir("fit") / "weights.safetensors")
        decode = _identity
    t = x[train]
    return Space(target, x, labels, train, t.mean(0), t.std(0, unbiased=False).clamp_min(1e-5),
                 int(labels.max()) + 1, sha, decode)


def code_decoder(sub: dict[str, torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    basis, mu, w0 = sub["basis"].float(), sub["mu"].float(), sub["w0"].float()
    return lambda c: flat_weights(c.float().cpu(), basis, mu, w0)


def decoder(run: Run, target: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Only the decode of `load_space` (sampling needs no training data)."""
    return code_decoder(load_subspace(run)) if target == "codes" else _identity


def _identity(w: torch.Tensor) -> torch.Tensor:
    return w

"""MMD, COV and 1-NNA between a generated set S_g and a reference set S_r, exactly as the reference defined them.

With D(X, Y) = (1 − SSIM(X, Y)) / 2:
- MMD   = mean over Y ∈ S_r of min over X ∈ S_g of D(X, Y)                              (lower is better)
- COV   = |{argmin_{Y ∈ S_r} D(X, Y) : X ∈ S_g}| / |S_r|                                (higher is better)
- 1-NNA = share of S_g ∪ S_r whose nearest neighbour (never itself) lies in its own set   (0.5 is ideal)

Ties: COV takes the lowest reference index. 1-NNA counts a sample whose nearest distance is shared by neighbours in
both sets by the share of those neighbours in its own set — the expectation of a random tie-break, but
deterministic and independent of set order (exact duplicates, e.g. memorized training images, make such ties real).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from .ssim import MODES, ssim_distance_matrix, window


@dataclass
class Distances:
    """All pairwise distances needed by the three metrics."""

    gg: torch.Tensor  # [n_g, n_g]
    rr: torch.Tensor  # [n_r, n_r]
    gr: torch.Tensor  # [n_g, n_r]

    def subset(self, g: np.ndarray, r: np.ndarray) -> "Distances":
        g, r = torch.as_tensor(g, dtype=torch.long), torch.as_tensor(r, dtype=torch.long)
        return Distances(self.gg[g][:, g], self.rr[r][:, r], self.gr[g][:, r])


def distances(gen, ref, mode: str = "gaussian", device=None, rr: torch.Tensor | None = None) -> Distances:
    """SSIM distances within and between the sets (pass `rr` to reuse the reference's own matrix)."""
    return Distances(ssim_distance_matrix(gen, None, mode, device),
                     rr if rr is not None else ssim_distance_matrix(ref, None, mode, device),
                     ssim_distance_matrix(gen, ref, mode, device))


def mmd(gr: torch.Tensor) -> float:
    """Mean over reference items of the distance to the closest generated item."""
    return float(gr.min(dim=0).values.double().mean())


def cov(gr: torch.Tensor) -> float:
    """Share of reference items that are the nearest reference of at least one generated item."""
    nearest = torch.argmin(gr, dim=1)  # first (lowest) index on ties
    return len(torch.unique(nearest)) / gr.shape[1]


def _own_share(own: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """Per row: share of the nearest neighbours (all at the minimum distance) that lie in the row's own set.
    `own` must already have the item itself masked out (+inf)."""
    best = torch.minimum(own.min(dim=1).values, other.min(dim=1).values)[:, None]
    n_own = (own == best).sum(dim=1).double()
    n_other = (other == best).sum(dim=1).double()
    return n_own / (n_own + n_other)


def nna(d: Distances) -> float:
    """1-nearest-neighbour accuracy of telling S_g from S_r (leave-one-out)."""
    inf = torch.tensor(float("inf"), dtype=d.gg.dtype)
    gg = torch.where(torch.eye(len(d.gg), dtype=torch.bool), inf, d.gg)
    rr = torch.where(torch.eye(len(d.rr), dtype=torch.bool), inf, d.rr)
    correct = _own_share(gg, d.gr).sum() + _own_share(rr, d.gr.T).sum()
    return float(correct / (len(gg) + len(rr)))


def set_metrics(d: Distances) -> dict:
    n_g, n_r = d.gr.shape
    if n_g < 2 or n_r < 2:
        raise UserError(f"set metrics need at least 2 images per set (got {n_g} generated, {n_r} reference)")
    return {"mmd": mmd(d.gr), "cov": cov(d.gr), "nna": nna(d), "n_generated": int(n_g), "n_reference": int(n_r)}


def equal_draw(n_gen: int, n_ref: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Equal-size index sets, min(n_gen, n_ref) items each, drawn without replacement (sorted)."""
    n = min(n_gen, n_ref)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_gen, n, replace=False)), np.sort(rng.choice(n_ref, n, replace=False))


# ---------------------------------------------------------------------------------------------------------------
# `nfgen metrics GEN.npy REF.npy`

def load_images(path: Path | str, what: str) -> np.ndarray:
    """An N×H×W float array in [0, 1] from a .npy file, or a UserError that says what is wrong with it."""
    path = Path(path)
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{what} file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} path {str(path)!r} is a directory, not a .npy file") from None
    except (ValueError, OSError, EOFError) as e:
        raise UserError(f"{what} file {str(path)!r} is not a readable .npy array ({e})") from None
    if not isinstance(arr, np.ndarray):
        raise UserError(f"{what} file {str(path)!r} holds several arrays (.npz); save one N×H×W array with np.save")
    if arr.ndim != 3:
        raise UserError(f"{what} array has shape {arr.shape}; expected N×H×W (one grayscale image per row)")
    if not np.issubdtype(arr.dtype, np.floating):
        hint = " (divide 8-bit images by 255)" if np.issubdtype(arr.dtype, np.integer) else ""
        raise UserError(f"{what} array has dtype {arr.dtype}; expected floats in [0, 1]{hint}")
    if not np.isfinite(arr).all():
        raise UserError(f"{what} array contains NaN or infinite values")
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if lo < 0.0 or hi > 1.0:
        raise UserError(f"{what} array has values in [{lo:.4g}, {hi:.4g}]; expected [0, 1]")
    return arr.astype(np.float32, copy=False)


def compare_files(gen_path: Path | str, ref_path: Path | str, ssim: str = "gaussian", device=None,
                  seed: int = 0) -> dict:
    """MMD / COV / 1-NNA of two image arrays; the larger set is subsampled (without replacement) to the smaller."""
    if ssim not in MODES:
        raise UserError(f"unknown SSIM mode {ssim!r}: choose {' or '.join(MODES)}")
    t0 = time.perf_counter()
    gen = load_images(gen_path, "generated")
    ref = load_images(ref_path, "reference")
    if gen.shape[1:] != ref.shape[1:]:
        raise UserError(f"image sizes differ: generated {gen.shape[1]}×{gen.shape[2]}, "
                        f"reference {ref.shape[1]}×{ref.shape[2]}")
    side = window(ssim).size
    if min(gen.shape[1:]) < side:
        raise UserError(f"images of {gen.shape[1]}×{gen.shape[2]} are smaller than the {side}×{side} SSIM window")
    if min(len(gen), len(ref)) < 2:
        raise UserError(f"need at least 2 images in each file (got {len(gen)} generated, {len(ref)} reference)")
    gi, ri = equal_draw(len(gen), len(ref), seed)
    result = set_metrics(distances(gen[gi], ref[ri], ssim, device))
    result.update(n_generated_file=len(gen), n_reference_file=len(ref), ssim=ssim, seed=seed,
                  seconds=round(time.perf_counter() - t0, 3))
    return result


def per_class_rows(d: Distances, gen_l: torch.Tensor, ref_l: torch.Tensor, classes: list[str], scores) -> dict:
    """The overall sets restricted to one class at a time (equal sizes: the smaller count of the two); `scores(g)`
    adds the class score and memorization of the generated indices g (images or shapes, each modality its own)."""
    out = {}
    for c in sorted(set(gen_l.tolist()) & set(ref_l.tolist())):
        g = np.flatnonzero(gen_l.numpy() == c)
        r = np.flatnonzero(ref_l.numpy() == c)
        k = min(len(g), len(r))
        if k < 2:
            continue
        g, r = g[:k], r[:k]
        name = classes[c] if c < len(classes) else str(c)
        out[name] = {**set_metrics(d.subset(g, r)), **scores(g)}
    return out

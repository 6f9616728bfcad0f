"""All-pairs Chamfer distance between two sets of point clouds, batched and chunked (CPU or CUDA).

Convention (PointFlow's `distChamfer`, which HyperDiffusion's MMD / COV / 1-NNA use unchanged): for clouds X and Y,
CD(X, Y) = mean over x of min_y |x - y|^2  +  mean over y of min_x |x - y|^2 — squared Euclidean distances, no
square root, the two directional means summed (not averaged). Normalise clouds first with
`geometry.surface.normalize_points` to match their numbers.

Two ways to the same numbers, picked by device and cloud size:
- "brute" (CUDA; small clouds on a CPU): one matrix product gives every point-to-point squared distance of a block of pairs
  ([x, |x|^2, 1] . [-2y, 1, |y|^2]), blocks sized so the distances held at once stay under a fixed element budget.
- "kdtree" (large clouds on a CPU): one scipy k-d tree per cloud, built once and queried for every pair it takes part in.
On a CPU "auto" picks by cloud size (measured on 2 cores, `benchmarks/chamfer_pairs.py --points N`): brute force in
cache-sized blocks (~1 M distances, 4 MB: larger blocks were 5x slower, memory-bound) wins for clouds up to ~1,024
points, where a tree query costs more in Python than the distances themselves (a pair of 128-point clouds: 0.02 ms
against 1.0 ms; 512: 0.2 against 1.6 ms; 1,024: 0.9 against 2.9 ms); at 2,048 points the trees win (3.3 against
11.5 ms)."""

from __future__ import annotations

import contextlib
import math
from typing import Iterator

import numpy as np
import torch
from scipy.spatial import cKDTree

from ...progress import ProgressFn, null_progress

# point-to-point distances held at once: 1 M float32 (4 MB, cache-sized) on a CPU, 256 M (1 GB) on a GPU
BUDGET_CPU = 1 << 20
BUDGET_CUDA = 1 << 28
CPU_BRUTE_MAX = 1024 * 1024  # points_a x points_b up to which "auto" uses brute force on a CPU


@contextlib.contextmanager
def _exact_float32_products() -> Iterator[None]:
    """TF32 (which GPT training may switch on globally) would leave ~1e-3 relative error in every distance."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _as_clouds(x, device: torch.device) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 3 or t.shape[-1] != 3 or t.shape[1] == 0:
        raise ValueError(f"point clouds must be [n, S, 3] with S >= 1, got shape {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.float32)


def pairs_per_block(points_a: int, points_b: int, device: torch.device) -> int:
    budget = BUDGET_CUDA if device.type == "cuda" else BUDGET_CPU
    return max(1, budget // (points_a * points_b))


def auto_method(points_a: int, points_b: int, device: torch.device) -> str:
    return "brute" if device.type != "cpu" or points_a * points_b <= CPU_BRUTE_MAX else "kdtree"


def chamfer_block(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """CD of every pair of a block: a [i, S, 3], b [j, T, 3] on one device -> [i, j]."""
    (i, s, _), (j, t, _) = a.shape, b.shape
    lift_a = torch.cat([a, a.square().sum(-1, keepdim=True), a.new_ones(i, s, 1)], dim=-1).reshape(-1, 5)
    lift_b = torch.cat([-2 * b, b.new_ones(j, t, 1), b.square().sum(-1, keepdim=True)], dim=-1).reshape(-1, 5)
    sq = (lift_a @ lift_b.T).view(i, s, j, t)  # |x - y|^2, up to rounding (clamped after the min)
    a_to_b = sq.amin(dim=3).clamp_(min=0).mean(dim=1)  # [i, j]: each point of a to its nearest in b
    b_to_a = sq.amin(dim=1).clamp_(min=0).mean(dim=2)  # [i, j]: each point of b to its nearest in a
    return a_to_b + b_to_a


def _kdtree_pairs(xa: np.ndarray, xb: np.ndarray, symmetric: bool, progress: ProgressFn) -> torch.Tensor:
    trees_a = [cKDTree(c) for c in xa]
    trees_b = trees_a if symmetric else [cKDTree(c) for c in xb]
    workers = max(1, torch.get_num_threads())
    out = torch.zeros(len(xa), len(xb), dtype=torch.float32)
    for i, cloud_a in enumerate(xa):
        for j in range(i + 1 if symmetric else 0, len(xb)):
            to_b, _ = trees_b[j].query(cloud_a, workers=workers)
            to_a, _ = trees_a[i].query(xb[j], workers=workers)
            out[i, j] = float(np.square(to_b).mean() + np.square(to_a).mean())
        progress(i + 1, len(xa))
    return out


def chamfer_pairs(a, b=None, device: torch.device | str | None = None, chunk: int | None = None,
                  method: str = "auto", progress: ProgressFn = null_progress) -> torch.Tensor:
    """Chamfer distance of every pair (a[i], b[j]): float32 [len(a), len(b)] on the CPU.

    a [n, S, 3], b [m, T, 3] (arrays or tensors; S and T may differ). b = None compares a with itself: only half the
    pairs are computed, the matrix is exactly symmetric and its diagonal exactly zero. `method`: "brute", "kdtree"
    (CPU only) or "auto" (brute on CUDA and for small clouds on the CPU, kdtree for large ones on the CPU). `chunk` caps the pairs per brute-force block
    (default: as many as the device's distance budget allows). `progress(done, total)` follows rows of a (kdtree) or
    blocks of pairs (brute): hundreds of clouds take minutes on a CPU."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    xa = _as_clouds(a, device)
    xb = xa if b is None else _as_clouds(b, device)
    if method == "auto":
        method = auto_method(xa.shape[1], xb.shape[1], device)
    if method not in ("brute", "kdtree") or (method == "kdtree" and device.type != "cpu"):
        raise ValueError(f"chamfer method {method!r} on {device.type}: use auto, brute, or kdtree (CPU only)")
    n, m = len(xa), len(xb)
    out = torch.zeros(n, m, dtype=torch.float32)
    if n == 0 or m == 0:
        return out
    if method == "kdtree":
        out = _kdtree_pairs(xa.double().numpy(), xb.double().numpy(), b is None, progress)
        return out + out.T if b is None else out
    per_block = chunk or pairs_per_block(xa.shape[1], xb.shape[1], device)
    side_a = max(1, min(n, math.isqrt(per_block)))
    side_b = max(1, min(m, per_block // side_a))
    # blocks wholly below the diagonal of a self-comparison are skipped: mirrored from their transposes
    blocks = [(r0, c0) for r0 in range(0, n, side_a) for c0 in range(0, m, side_b)
              if b is not None or c0 + side_b > r0]
    with torch.no_grad(), _exact_float32_products():
        for k, (r0, c0) in enumerate(blocks):
            block = chamfer_block(xa[r0:r0 + side_a], xb[c0:c0 + side_b]).cpu()
            out[r0:r0 + block.shape[0], c0:c0 + block.shape[1]] = block
            progress(k + 1, len(blocks))
    if b is None:
        upper = torch.triu(out, diagonal=1)
        out = upper + upper.T  # exact symmetry; the diagonal (a cloud against itself) is exactly zero
    return out

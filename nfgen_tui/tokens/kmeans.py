"""Lloyd k-means over many vectors: k-means++ init, nearest-code assignment, mean update, dead-code reassignment.

Chunked so that a million rows times hundreds of codes never materialise as one distance matrix; everything runs on
the device the rows live on. Neuron mode uses it per layer; scalar mode uses the sorted 1-D path in `kmeans1d`, which
this module's plain Lloyd iteration also checks (same init, same answer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

# elements of one [chunk, K] distance block: bounds memory whatever the number of rows
_BLOCK = 1 << 22


@dataclass
class KMeansResult:
    centers: torch.Tensor  # [K, d] (vector) or [K] (1-D, sorted ascending)
    counts: torch.Tensor  # [K] rows assigned to each code by the final assignment
    distortion: float  # mean squared distance of a row to its code, final assignment
    history: list[float] = field(default_factory=list)  # distortion after each assignment
    iters: int = 0  # Lloyd updates done
    reassigned: int = 0  # codes moved onto data rows because fewer than `dead_threshold` rows chose them
    seconds: float = 0.0

    @property
    def dead(self) -> int:
        return int((self.counts == 0).sum())


def sample_rows(n: int, k: int, gen: torch.Generator) -> torch.Tensor:
    """`min(k, n)` distinct row indices drawn uniformly from all `n` rows (on CPU, seeded)."""
    if k >= n:
        return torch.arange(n)
    return torch.randperm(n, generator=gen)[:k]


def sq_dist_to(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """Squared distance of every row of `x` [M, d] to one point `c` [d] (1-D data skips a slow size-1 reduction)."""
    if x.shape[1] == 1:
        return (x[:, 0] - c[0]).square()
    return (x - c).square().sum(1)


def kmeans_pp(x: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k-means++ seeding on rows `x` [M, d]: each new code is a row drawn with probability ∝ squared distance
    to the nearest code so far (inverse-CDF draw: one cumsum + searchsorted per code)."""
    m = x.shape[0]
    if k > m:
        raise ValueError(f"k-means++ needs at least k={k} rows, got {m}")
    u = torch.rand(k, generator=gen, dtype=torch.float64).tolist()
    xd = x.double()  # a sample of at most `init_sample` rows: float64 keeps the cumulative sum exact enough
    picks = [int(u[0] * m)]
    d2 = sq_dist_to(xd, xd[picks[0]])
    for i in range(1, k):
        cdf = d2.cumsum(0)
        total = float(cdf[-1])
        if total <= 0.0:  # every row already sits on a code: any further pick is a duplicate
            pick = int(u[i] * m)
        else:
            target = torch.full((1,), u[i] * total, dtype=torch.float64, device=cdf.device)
            pick = min(int(torch.searchsorted(cdf, target)), m - 1)
        picks.append(pick)
        torch.minimum(d2, sq_dist_to(xd, xd[pick]), out=d2)
    return x[torch.tensor(picks, device=x.device)].clone()


def nearest(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest code for every row, and its squared distance; chunked.

    The fast |x|² − 2x·c + |c|² form picks two candidates; their exact distances decide, so a row equal to a code
    always maps to that code (rounding in the expanded form alone can flip near-ties).
    """
    m, k = x.shape[0], centers.shape[0]
    c2 = (centers * centers).sum(1)
    idx = torch.empty(m, dtype=torch.int64, device=x.device)
    dist = torch.empty(m, dtype=x.dtype, device=x.device)
    chunk = max(1, _BLOCK // max(k, 1))
    top = min(2, k)
    for s in range(0, m, chunk):
        xc = x[s:s + chunk]
        approx = c2[None, :] - 2.0 * (xc @ centers.T)
        cand = approx.topk(top, dim=1, largest=False).indices  # [c, top]
        exact = ((xc[:, None, :] - centers[cand]) ** 2).sum(-1)  # [c, top]
        best = exact.argmin(1, keepdim=True)
        idx[s:s + chunk] = cand.gather(1, best).squeeze(1)
        dist[s:s + chunk] = exact.gather(1, best).squeeze(1)
    return idx, dist


def reassign_dead(centers: torch.Tensor, counts: torch.Tensor, x: torch.Tensor, threshold: int,
                  gen: torch.Generator) -> int:
    """Move codes chosen by fewer than `threshold` rows onto distinct random rows (in place); how many moved."""
    dead = torch.nonzero(counts < threshold).flatten()
    n = int(dead.numel())
    if n:
        rows = sample_rows(x.shape[0], n, gen).to(x.device)
        centers[dead[: rows.numel()]] = x[rows]
    return n


def initial_centers(x: torch.Tensor, k: int, init, init_sample: int, gen: torch.Generator,
                    seeder: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]) -> torch.Tensor:
    """The starting codes: explicit centers, `seeder` (a k-means++) on a sample of rows, or random rows."""
    m = x.shape[0]
    if isinstance(init, torch.Tensor):
        return init.to(x.device, torch.float32).reshape(k, -1).clone()
    k = min(k, m)
    if init == "kmeans++":
        return seeder(x[sample_rows(m, init_sample, gen).to(x.device)], k, gen)
    if init == "random":
        return x[sample_rows(m, k, gen).to(x.device)].clone()
    raise ValueError(f"unknown init {init!r}")


def lloyd_update(centers: torch.Tensor, x: torch.Tensor, idx: torch.Tensor, dead_threshold: int,
                 gen: torch.Generator) -> int:
    """One Lloyd step in place: every used code moves to the mean of its rows, dead ones onto random rows.

    Shared by the plain and the neighbour-search k-means, so both update the same way; returns how many moved."""
    counts = torch.bincount(idx, minlength=centers.shape[0])
    sums = torch.zeros_like(centers).index_put_((idx,), x, accumulate=True)  # sort-based: deterministic on CUDA
    used = counts > 0
    centers[used] = sums[used] / counts[used, None].to(x.dtype)
    return reassign_dead(centers, counts, x, dead_threshold, gen)


def kmeans(x: torch.Tensor, k: int, iters: int, *, tol: float = 1e-4, dead_threshold: int = 1,
           init: str | torch.Tensor = "kmeans++", init_sample: int = 200_000, seed: int = 0,
           on_iter: Callable[[int, float], None] | None = None) -> KMeansResult:
    """Lloyd's algorithm on rows `x` [M, d]; stops after `iters` updates or when distortion improves by < `tol`
    (relative) in an iteration that moved no dead code. `init`: "kmeans++" | "random" | explicit centers [k, d]."""
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    x = x.float()
    centers = initial_centers(x, k, init, init_sample, gen, kmeans_pp)
    history: list[float] = []
    reassigned = 0
    done = 0
    for it in range(iters):
        idx, dist = nearest(x, centers)
        history.append(float(dist.double().mean()))
        moved = lloyd_update(centers, x, idx, dead_threshold, gen)
        reassigned += moved
        done = it + 1
        if on_iter is not None:
            on_iter(done, history[-1])
        if len(history) >= 2 and moved == 0 and history[-2] - history[-1] <= tol * history[-2]:
            break
    idx, dist = nearest(x, centers)
    history.append(float(dist.double().mean()))
    counts = torch.bincount(idx, minlength=centers.shape[0])
    return KMeansResult(centers, counts, history[-1], history, done, reassigned, time.perf_counter() - t0)

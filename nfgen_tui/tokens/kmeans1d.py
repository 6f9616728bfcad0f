"""Lloyd k-means on scalars, fast: sort the values once, then every iteration costs O(K log M) instead of O(M K).

In 1-D the nearest code of a value is decided by the midpoints between sorted codes, so each code owns one contiguous
slice of the sorted values. `searchsorted` finds the slice ends; prefix sums of x and x² give every slice's count,
sum and squared error at once. Same iteration, init and dead-code rule as `kmeans.kmeans`, with identical results.
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from .kmeans import KMeansResult, kmeans_pp, sample_rows


def boundaries(centers: torch.Tensor) -> torch.Tensor:
    """Midpoints between consecutive sorted codes: value v belongs to code `bucketize(v, boundaries)`."""
    return (centers[:-1] + centers[1:]) * 0.5


def encode_scalar(values: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code (codes sorted ascending) for every value; ties go to the lower code."""
    return torch.bucketize(values.contiguous(), boundaries(centers).to(values.dtype), right=False)


class _Sorted:
    """The sorted values with float64 prefix sums of x and x²."""

    def __init__(self, x: torch.Tensor):
        self.x, _ = torch.sort(x.flatten().float())
        xd = self.x.double()
        zero = torch.zeros(1, dtype=torch.float64, device=xd.device)
        self.s1 = torch.cat([zero, xd.cumsum(0)])
        self.s2 = torch.cat([zero, (xd * xd).cumsum(0)])

    def stats(self, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float]:
        """Counts and sums of the slice each code owns, and the mean squared error (codes sorted ascending)."""
        m = self.x.numel()
        ends = torch.searchsorted(self.x, boundaries(centers), right=True)  # values <= midpoint go to the lower code
        edges = torch.cat([ends.new_zeros(1), ends, ends.new_full((1,), m)])
        lo, hi = edges[:-1], edges[1:]
        counts = hi - lo
        s1 = self.s1[hi] - self.s1[lo]
        s2 = self.s2[hi] - self.s2[lo]
        c = centers.double()
        sse = (s2 - 2.0 * c * s1 + counts.double() * c * c).clamp_min(0.0).sum()
        return counts, s1, float(sse) / max(m, 1)


def kmeans1d(x: torch.Tensor, k: int, iters: int, *, tol: float = 1e-4, dead_threshold: int = 1,
             init: str | torch.Tensor = "kmeans++", init_sample: int = 200_000, seed: int = 0,
             on_iter: Callable[[int, float], None] | None = None) -> KMeansResult:
    """Scalar Lloyd over all values of `x` (any shape). Returns codes sorted ascending, so code ids follow value."""
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    flat = x.flatten().float()
    m = flat.numel()
    if isinstance(init, torch.Tensor):
        centers = init.to(flat.device, torch.float32).flatten().clone()
    else:
        k = min(k, m)
        if init == "kmeans++":
            centers = kmeans_pp(flat[sample_rows(m, init_sample, gen).to(flat.device)][:, None], k, gen).flatten()
        elif init == "random":
            centers = flat[sample_rows(m, k, gen).to(flat.device)].clone()
        else:
            raise ValueError(f"unknown init {init!r}")
    data = _Sorted(flat)
    centers, _ = torch.sort(centers)
    history: list[float] = []
    reassigned = 0
    done = 0
    for it in range(iters):
        counts, s1, mse = data.stats(centers)
        history.append(mse)
        used = counts > 0
        centers[used] = (s1[used] / counts[used].double()).float()
        dead = torch.nonzero(counts < dead_threshold).flatten()
        moved = int(dead.numel())
        if moved:  # same rule as the vector path: distinct random actual values
            rows = sample_rows(m, moved, gen).to(flat.device)
            centers[dead[: rows.numel()]] = flat[rows]
        reassigned += moved
        centers, _ = torch.sort(centers)
        done = it + 1
        if on_iter is not None:
            on_iter(done, mse)
        if len(history) >= 2 and moved == 0 and history[-2] - history[-1] <= tol * history[-2]:
            break
    counts, _, mse = data.stats(centers)
    history.append(mse)
    return KMeansResult(centers, counts, mse, history, done, reassigned, time.perf_counter() - t0)

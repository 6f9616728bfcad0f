"""Lloyd k-means with thousands of codes on short vectors, fast on a CPU: search only the codes near the last code.

With K = 4,096 codes and vectors of 2–8 numbers, the full search costs M·K distances per iteration and is memory
bound (a [chunk, K] block per chunk of rows). Lloyd moves codes a little per iteration, so a row's new nearest code is
almost always among the few codes nearest to its previous one (from k-means++ codes the result equals the full
search's; from codes drawn at random, early updates move some codes far and an iteration may miss a row's best code): after the first full search, each iteration builds the
code-to-code neighbour lists (K·K, small) and every row compares itself with the `neighbours` codes of its last code
only (M·n distances, n ≪ K). A code moved onto a row because it went dead is the nearest code of that row's last code,
so the row finds it. The final assignment is a full search again, so the returned counts and distortion are exact.
Same dead-code rule, stopping rule and result type as `kmeans.kmeans`; the k-means++ seeding draws its codes in
rounds (`kmeans_pp_rounds`).
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from .kmeans import KMeansResult, initial_centers, lloyd_update

_BLOCK = 1 << 22  # elements of one distance block


def nearest_full(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact nearest code of every row (argmin of |x|² − 2x·c + |c|², then the exact distance of that code); chunked."""
    m, k = x.shape[0], centers.shape[0]
    c2 = (centers * centers).sum(1)
    idx = torch.empty(m, dtype=torch.int64, device=x.device)
    chunk = max(1, _BLOCK // max(k, 1))
    ct = centers.T.contiguous()
    for s in range(0, m, chunk):
        idx[s:s + chunk] = torch.addmm(c2[None, :], x[s:s + chunk], ct, alpha=-2.0).argmin(1)
    return idx, (x - centers[idx]).square().sum(1)


def code_neighbours(centers: torch.Tensor, n: int) -> torch.Tensor:
    """[K, n] ids of every code's n nearest codes (itself first)."""
    n = min(n, centers.shape[0])
    c2 = (centers * centers).sum(1)
    out = []
    step = max(1, _BLOCK // max(centers.shape[0], 1))
    for s in range(0, centers.shape[0], step):
        d = c2[s:s + step, None] + c2[None, :] - 2.0 * (centers[s:s + step] @ centers.T)
        d[torch.arange(d.shape[0]), torch.arange(s, s + d.shape[0])] = -1.0  # itself first, whatever the rounding
        out.append(d.topk(n, dim=1, largest=False).indices)
    return torch.cat(out)


def nearest_among(x: torch.Tensor, centers: torch.Tensor, cand: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest code of every row among its candidate ids `cand` [M, n]; chunked."""
    m, n = cand.shape
    idx = torch.empty(m, dtype=torch.int64, device=x.device)
    dist = torch.empty(m, dtype=x.dtype, device=x.device)
    chunk = max(1, _BLOCK // max(n * x.shape[1], 1))
    for s in range(0, m, chunk):
        c = cand[s:s + chunk]
        d = (x[s:s + chunk, None, :] - centers[c]).square().sum(-1)
        best = d.argmin(1, keepdim=True)
        idx[s:s + chunk] = c.gather(1, best).squeeze(1)
        dist[s:s + chunk] = d.gather(1, best).squeeze(1)
    return idx, dist


def kmeans_pp_rounds(x: torch.Tensor, k: int, gen: torch.Generator, rounds: int = 32) -> torch.Tensor:
    """k-means++ seeding drawn `k / rounds` codes at a time: each round draws rows ∝ squared distance to the nearest
    code so far (without replacement) and then updates those distances once. One-at-a-time seeding of 4,096 codes
    is 4,096 sequential passes over the sample; this is `rounds` passes, with the same spread-out codes."""
    m = x.shape[0]
    if k > m:
        raise ValueError(f"k-means++ needs at least k={k} rows, got {m}")
    first = int(torch.randint(m, (1,), generator=gen))
    centers = [x[first:first + 1]]
    d2 = (x - x[first]).square().sum(1).double()
    per = max(1, -(-(k - 1) // rounds))
    n = 1
    while n < k:
        b = min(per, k - n)
        weights = d2.clamp_min(0).cpu()
        if float(weights.sum()) <= 0.0:
            weights = torch.ones(m, dtype=torch.float64)
        picks = torch.multinomial(weights, b, replacement=False, generator=gen).to(x.device)
        new = x[picks]
        centers.append(new)
        d2 = torch.minimum(d2, nearest_full(x, new)[1].double())
        n += b
    return torch.cat(centers).clone()


def kmeans_graph(x: torch.Tensor, k: int, iters: int, *, tol: float = 1e-4, dead_threshold: int = 1,
                 init: str | torch.Tensor = "kmeans++", init_sample: int = 200_000, seed: int = 0,
                 neighbours: int = 32, on_iter: Callable[[int, float], None] | None = None) -> KMeansResult:
    """Lloyd's algorithm on rows `x` [M, d] searching `neighbours` codes per row after the first iteration."""
    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    x = x.float().contiguous()
    centers = initial_centers(x, k, init, init_sample, gen, kmeans_pp_rounds)
    history: list[float] = []
    reassigned = done = 0
    idx = None
    for it in range(iters):
        if idx is None:
            idx, dist = nearest_full(x, centers)
        else:
            idx, dist = nearest_among(x, centers, code_neighbours(centers, neighbours)[idx])
        history.append(float(dist.double().mean()))
        moved = lloyd_update(centers, x, idx, dead_threshold, gen)
        reassigned += moved
        done = it + 1
        if on_iter is not None:
            on_iter(done, history[-1])
        if len(history) >= 2 and moved == 0 and history[-2] - history[-1] <= tol * history[-2]:
            break
    idx, dist = nearest_full(x, centers)
    history.append(float(dist.double().mean()))
    counts = torch.bincount(idx, minlength=centers.shape[0])
    return KMeansResult(centers, counts, history[-1], history, done, reassigned, time.perf_counter() - t0)

"""Joint codes (pair mode): neighbour-search Lloyd against plain full-search Lloyd, and seeding in rounds against
one-at-a-time k-means++, in one run.

Usage: python benchmarks/codebook_groups.py [--rows 1000000] [--codes 4096] [--iters 8] [--seed-sample 20000]
Synthetic heavy-tailed 2-D rows (like pairs of weight deltas). Both Lloyd variants start from the same codes and run
the same iterations; prints seconds, the ratio, and both distortions (equal when the search is exact).
"""

from __future__ import annotations

import argparse
import time

import torch

from nfgen_tui.tokens.kmeans import kmeans, kmeans_pp
from nfgen_tui.tokens.kmeans_graph import kmeans_graph, kmeans_pp_rounds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--codes", type=int, default=4096)
    ap.add_argument("--iters", type=int, default=8)
    ap.add_argument("--seed-sample", type=int, default=20_000)
    a = ap.parse_args()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(a.rows, 2, generator=g) ** 3
    sample = x[: a.seed_sample]
    k_seed = min(a.codes, a.seed_sample // 4)
    t = time.perf_counter()
    kmeans_pp(sample, k_seed, torch.Generator().manual_seed(1))
    t_pp = time.perf_counter() - t
    t = time.perf_counter()
    kmeans_pp_rounds(sample, k_seed, torch.Generator().manual_seed(1))
    t_rounds = time.perf_counter() - t
    print(f"seeding {k_seed} codes from {a.seed_sample} rows: one at a time {t_pp:.2f} s, in rounds {t_rounds:.2f} s "
          f"({t_pp / t_rounds:.1f}x)")
    init = kmeans_pp_rounds(x[torch.randperm(a.rows, generator=g)[:200_000]], a.codes, g)
    t = time.perf_counter()
    fast = kmeans_graph(x, a.codes, a.iters, init=init.clone(), tol=0.0)
    t_fast = time.perf_counter() - t  # both include the final full assignment
    t = time.perf_counter()
    plain = kmeans(x, a.codes, a.iters, init=init.clone(), tol=0.0)
    t_plain = time.perf_counter() - t
    print(f"Lloyd, {a.rows} rows x {a.codes} codes, {a.iters} iterations: plain {t_plain:.1f} s, "
          f"neighbour search {t_fast:.1f} s ({t_plain / t_fast:.1f}x); distortion {plain.distortion:.6g} vs "
          f"{fast.distortion:.6g}")


if __name__ == "__main__":
    main()

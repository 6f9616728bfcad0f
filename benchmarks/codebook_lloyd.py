"""Scalar codebook: sorted 1-D Lloyd (O(K log M) per iteration) against plain chunked Lloyd (O(M K)) in one run.

Usage: python benchmarks/codebook_lloyd.py [RUN] [--fields 5000]   (RUN's fitted weights from the workspace;
default: 5,000 synthetic fields of 561 heavy-tailed weights). Both start from the same k-means++ codes and run the same iterations;
prints seconds, the speed-up ratio and that both reach the same distortion.
"""

from __future__ import annotations

import argparse
import time

import torch

from nfgen_tui.tokens.kmeans import kmeans, kmeans_pp, sample_rows
from nfgen_tui.tokens.kmeans1d import kmeans1d

K, ITERS = 245, 5


def weights(run: str | None, fields: int) -> torch.Tensor:
    if run:
        from nfgen_tui.tokens.stage import load_fields
        from nfgen_tui.workspace import Workspace

        w, _, split, _ = load_fields(Workspace().run(run).require())
        return w[split == 0].flatten()
    g = torch.Generator().manual_seed(0)
    return (torch.randn(fields * 561, generator=g) * 0.4) ** 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", nargs="?", help="a run whose fitted weights to use (default: synthetic weights)")
    ap.add_argument("--fields", type=int, default=5000, help="synthetic fields of 561 weights (without RUN)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    x = weights(args.run, args.fields).to(device)
    g = torch.Generator().manual_seed(0)
    init = kmeans_pp(x[sample_rows(x.numel(), 200_000, g).to(device)][:, None], K, g).flatten()
    t = time.perf_counter()
    fast = kmeans1d(x, K, ITERS, init=init, tol=0.0)
    t_fast = time.perf_counter() - t
    t = time.perf_counter()
    plain = kmeans(x[:, None], K, ITERS, init=init[:, None], tol=0.0)
    t_plain = time.perf_counter() - t
    print(f"{x.numel():,} weights, {K} codes, {ITERS} iterations, {device}, {torch.get_num_threads()} threads")
    print(f"plain chunked Lloyd: {t_plain:.2f} s   distortion {plain.distortion:.6g}")
    print(f"sorted 1-D Lloyd:    {t_fast:.2f} s   distortion {fast.distortion:.6g}")
    print(f"speed-up: {t_plain / t_fast:.1f}x")


if __name__ == "__main__":
    main()

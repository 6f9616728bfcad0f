"""All-pairs SSIM distance of 1,000 × 1,000 MNIST digits: nfgen's batched SSIM vs a loop over scikit-image.

Same run, same float32 images. scikit-image's `structural_similarity` is timed on a subset and extrapolated to pairs/s;
the two are timed alternately for a few rounds and each side's best counts (the CPU is shared). The max absolute
difference is taken over that subset against scikit-image on float64 copies (its most exact answer).
Usage: .venv/bin/python benchmarks/ssim_pairs.py [--n 1000] [--subset 40] [--mode gaussian|uniform] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from skimage.metrics import structural_similarity

from nfgen_tui.data import load_dataset
from nfgen_tui.device import resolve
from nfgen_tui.metrics.ssim import ssim_distance_matrix

SKIMAGE = {"gaussian": dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False), "uniform": {}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--subset", type=int, default=40, help="scikit-image loop runs on subset × subset pairs")
    ap.add_argument("--mode", default="gaussian", choices=list(SKIMAGE))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds; the best of each side counts")
    ap.add_argument("--threads", type=int, default=0, help="torch threads = SSIM worker threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = resolve(args.device)
    ds = load_dataset("mnist-5k")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(ds.labels))
    x, y = ds.images[idx[:args.n]], ds.images[idx[args.n:2 * args.n]]
    load0 = os.getloadavg()[0]

    k = args.subset
    ours_s, sk_s = [], []
    for _ in range(args.rounds):  # alternate, keep each side's best: the shared CPU's load changes by the second
        sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
        ssim_distance_matrix(x[:64], y[:64], args.mode, dev)  # warm-up (allocator, kernels)
        sync()
        t = time.perf_counter()
        d = ssim_distance_matrix(x, y, args.mode, dev)
        sync()
        ours_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        for a in x[:k]:
            for b in y[:k]:
                structural_similarity(a, b, data_range=1, **SKIMAGE[args.mode])
        sk_s.append(time.perf_counter() - t)
    ours_rate, sk_rate = args.n * args.n / min(ours_s), k * k / min(sk_s)
    # exactness: scikit-image on float64 copies of the same images, the most exact answer it gives
    xs, ys = x[:k].astype(np.float64), y[:k].astype(np.float64)
    ref = np.array([[structural_similarity(a, b, data_range=1, **SKIMAGE[args.mode]) for b in ys] for a in xs])
    diff_ssim = float(np.abs((1 - 2 * d[:k, :k].double().numpy()) - ref).max())

    print(f"all-pairs SSIM ({args.mode}) of {args.n} x {args.n} MNIST digits on {dev} "
          f"(torch threads {torch.get_num_threads()}, load average {load0:.1f} -> {os.getloadavg()[0]:.1f})")
    print(f"  nfgen batched : {ours_rate:12,.0f} pairs/s  (best {min(ours_s):.2f} s of {args.rounds} for "
          f"{args.n * args.n:,} pairs)")
    print(f"  skimage loop  : {sk_rate:12,.0f} pairs/s  (best {min(sk_s):.2f} s of {args.rounds} for {k * k:,} pairs; "
          f"extrapolated {args.n * args.n / sk_rate:.0f} s)")
    print(f"  ratio         : {ours_rate / sk_rate:12,.1f} x   (target >= 200 x)")
    print(f"  max |SSIM diff| on the {k * k:,} shared pairs: {diff_ssim:.2e}   (target <= 1e-5)")


if __name__ == "__main__":
    main()

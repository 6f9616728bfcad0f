"""All-pairs Chamfer distance of n × n point clouds (2,048 points each, HyperDiffusion's size): nfgen's
`chamfer_pairs` (on the CPU k-d trees built once per cloud for large clouds and chunked batched brute force for
small ones; brute force on CUDA) vs a loop over pairs
(torch.cdist per pair, the straightforward way to write it).

Same clouds, same device. The loop is timed on a subset of pairs and extrapolated to pairs/s; the two are timed
alternately for a few rounds and each side's best counts (the CPU is shared). The max absolute difference is taken
over that subset against scipy's k-d tree in float64 (an independent, exact nearest-neighbour search).
Usage: .venv/bin/python benchmarks/chamfer_pairs.py [--n 64] [--points 2048] [--subset 8] [--device cpu]
       [--method auto|brute|kdtree]   (auto: what nfgen picks for that cloud size and device)
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from scipy.spatial import cKDTree

from nfgen_tui.device import resolve
from nfgen_tui.modality.occupancy3d.chamfer import auto_method, chamfer_pairs


def loop_chamfer(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    out = torch.empty(len(x), len(y))
    for i, a in enumerate(x):
        for j, b in enumerate(y):
            sq = torch.cdist(a, b).square()
            out[i, j] = sq.amin(dim=1).mean() + sq.amin(dim=0).mean()
    return out


def kdtree_chamfer(a: np.ndarray, b: np.ndarray) -> float:
    da, _ = cKDTree(b).query(a)
    db, _ = cKDTree(a).query(b)
    return float((da ** 2).mean() + (db ** 2).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64, help="clouds per set: n × n pairs")
    ap.add_argument("--points", type=int, default=2048)
    ap.add_argument("--subset", type=int, default=8, help="the per-pair loop runs on subset × subset pairs")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--method", default="auto", choices=("auto", "brute", "kdtree"))
    ap.add_argument("--rounds", type=int, default=3, help="alternating timing rounds; the best of each side counts")
    args = ap.parse_args()
    dev = resolve(args.device)
    rng = np.random.default_rng(0)
    shape = (args.n, args.points, 3)
    x = (rng.normal(size=shape) * rng.uniform(0.3, 1.0, size=(args.n, 1, 3))).astype(np.float32)
    y = (rng.normal(size=shape) * rng.uniform(0.3, 1.0, size=(args.n, 1, 3))).astype(np.float32)
    k = min(args.subset, args.n)
    xt, yt = torch.from_numpy(x).to(dev), torch.from_numpy(y).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    load0 = os.getloadavg()[0]

    ours_s, loop_s = [], []
    for _ in range(args.rounds):  # alternate, keep each side's best: the shared CPU's load changes by the second
        chamfer_pairs(xt[:2], yt[:2], dev, method=args.method)  # warm-up (allocator, kernels)
        sync()
        t = time.perf_counter()
        d = chamfer_pairs(xt, yt, dev, method=args.method)
        sync()
        ours_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        loop = loop_chamfer(xt[:k], yt[:k])
        sync()
        loop_s.append(time.perf_counter() - t)
    ours_rate, loop_rate = args.n * args.n / min(ours_s), k * k / min(loop_s)
    ref = np.array([[kdtree_chamfer(a, b) for b in y[:k].astype(np.float64)] for a in x[:k].astype(np.float64)])
    diff = float(np.abs(d[:k, :k].double().numpy() - ref).max())
    diff_loop = float(np.abs(loop.double().numpy() - ref).max())

    print(f"all-pairs Chamfer of {args.n} x {args.n} clouds of {args.points} points on {dev} "
          f"(torch threads {torch.get_num_threads()}, load average {load0:.1f} -> {os.getloadavg()[0]:.1f})")
    method = auto_method(args.points, args.points, dev) if args.method == "auto" else args.method
    print(f"  nfgen {method:<8} : {ours_rate:10,.1f} pairs/s  (best {min(ours_s):.2f} s of {args.rounds} for "
          f"{args.n * args.n:,} pairs)")
    print(f"  per-pair loop  : {loop_rate:10,.1f} pairs/s  (best {min(loop_s):.2f} s of {args.rounds} for {k * k:,} "
          f"pairs; extrapolated {args.n * args.n / loop_rate:.0f} s)")
    print(f"  ratio          : {ours_rate / loop_rate:10,.1f} x")
    print(f"  max |Chamfer diff| vs scipy k-d tree (float64) on the {k * k:,} shared pairs: nfgen {diff:.2e}, "
          f"loop {diff_loop:.2e}")


if __name__ == "__main__":
    main()

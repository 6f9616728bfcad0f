"""Batched 3D occupancy fitting vs a per-shape loop, on the same built-in `shapes`, in one run.

(a) per-shape loop: one nn.Module per shape, autograd, the same steps, learning rate, points per step and
    positional encoding as nfgen — timed on --ref-shapes shapes; (b) nfgen's batched fitter (`modality.occupancy3d.fields`,
    hand-written gradient, one Adam over all stacked weights) on --shapes shapes, the same `first` shared init as the
    fit stage. Prints shapes/s of each, the ratio, and the mean IoU on each shape's held-out occupancy samples.

    .venv/bin/python benchmarks/fit_fields3d.py                     # 240 shapes batched, 6 in the loop, quick3d sizes
    .venv/bin/python benchmarks/fit_fields3d.py --per-class 2 --ref-shapes 2 --steps 20    # shorter
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from nfgen_tui.config import preset
from nfgen_tui.data.shapeset import load_shapes
from nfgen_tui.fields import layout_from_config
from nfgen_tui.fields.functional import encode
from nfgen_tui.fields.init import seeded_init
from nfgen_tui.modality.occupancy3d.fields import ShapeTargets, fit_occupancy, iou, score, select_shapes


def per_shape_loop(data, lay, init: torch.Tensor, fc, seed: int) -> torch.Tensor:
    """IoU [n] of shapes fitted one at a time: an nn.Sequential per shape, autograd, the same point subsets."""
    cols = data.fit_columns()
    test = data.test_columns()
    out = []
    for i in range(len(data)):
        dims = [lay.layers[0].n_in, *fc.hidden, 1]
        mods = []
        for j, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            mods.append(torch.nn.Linear(a, b, bias=fc.bias))
            if j < len(dims) - 2:
                mods.append(torch.nn.ReLU())
        net = torch.nn.Sequential(*mods)
        with torch.no_grad():  # the same start as the batched fitter
            for lin, (w, b) in zip([m for m in mods if isinstance(m, torch.nn.Linear)], lay.unflatten(init[i])):
                lin.weight.copy_(w)
                if b is not None:
                    lin.bias.copy_(b)
        opt = torch.optim.Adam(net.parameters(), lr=fc.lr)
        pts, occ = data.points[i, cols], data.occupancy[i, cols].float()
        m = pts.shape[0]
        k = fc.points_per_step if 0 < fc.points_per_step < m else m
        for step in range(fc.steps):
            idx = torch.randperm(m, generator=torch.Generator().manual_seed(seed * 1_000_003 + step))[:k]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(encode(pts[idx], lay)).squeeze(-1),
                                                                        occ[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits = net(encode(data.points[i, test], lay)).squeeze(-1)
        out.append(iou(logits[None], data.occupancy[i, test][None].float())[0])
    return torch.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=20, help="shapes per class of `shapes` (12 classes)")
    ap.add_argument("--ref-shapes", type=int, default=6, help="shapes fitted by the per-shape loop (0 skips it)")
    ap.add_argument("--steps", type=int, default=None, help="Adam steps (default: the quick3d preset's)")
    ap.add_argument("--chunk", type=int, default=None, help="shapes per chunk (default: the preset's)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fc = preset("quick3d").fields
    if args.steps:
        fc.steps = args.steps
    chunk = args.chunk or fc.chunk_size
    device = torch.device(args.device)
    data = select_shapes(load_shapes("shapes", None, per_class=args.per_class), 0, 0.0, 0)
    lay = layout_from_config(fc, 3, "occupancy")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; shapes, {len(data)} shapes of "
          f"{data.points.shape[1]} samples; fields {fc.hidden}, {fc.steps} steps, {fc.points_per_step} points/step")
    cols = data.fit_columns()

    def batched(rows, init):
        return fit_occupancy(data.points[rows][:, cols], data.occupancy[rows][:, cols], init, lay, steps=fc.steps,
                             lr=fc.lr, schedule=fc.schedule, points_per_step=fc.points_per_step, seed=0,
                             device=device)[0]

    t = time.perf_counter()
    first = batched(slice(0, 1), seeded_init(lay, 0)[None])[0]
    weights = torch.cat([batched(slice(s, min(s + chunk, len(data))), first.repeat(min(chunk, len(data) - s), 1))
                         for s in range(0, len(data), chunk)])
    seconds = time.perf_counter() - t
    q = score(weights, lay, data, device)
    rate = len(data) / seconds
    print(f"(b) batched fitter   : {rate:8.3f} shapes/s  mean IoU {q.mean():.3f} (p10 {q.quantile(0.1):.3f}); "
          f"chunks of {chunk}, {len(data)} shapes in {seconds:.1f} s, the first shape's fit included")
    if args.ref_shapes > 0:
        n = min(args.ref_shapes, len(data))
        sub = ShapeTargets(data.points[:n], data.occupancy[:n], data.surface[:n], data.labels[:n], data.split[:n],
                           data.classes)
        t = time.perf_counter()
        ref_q = per_shape_loop(sub, lay, first.repeat(n, 1), fc, 0)
        ref_rate = n / (time.perf_counter() - t)
        print(f"(a) per-shape loop   : {ref_rate:8.3f} shapes/s  mean IoU {ref_q.mean():.3f} ({n} shapes, nn.Module "
              f"+ autograd, same steps and points; the batched fitter's IoU on these {n}: {q[:n].mean():.3f})")
        print(f"speed-up (b)/(a)     : {rate / ref_rate:8.1f}x")
    if not math.isfinite(rate):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

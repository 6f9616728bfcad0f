"""Batched field fitting vs the reference's per-field loop, on the same mnist-5k digits, in one run.

(a) reference: one nn.Module per image, Adam lr 4e-3, shuffled 64-pixel minibatches, 250 epochs — timed on a small
    subset and extrapolated per field; (b) nfgen's batched fitter with the quick preset's settings (`first` shared
    init, chunks) on --fields digits. Prints fields/s of each, the ratio, and the mean PSNR of each.

    .venv/bin/python benchmarks/fit_fields.py                 # 1,000 digits batched, 5 with the reference loop
    .venv/bin/python benchmarks/fit_fields.py --fields 250 --ref-fields 2 --ref-epochs 100   # shorter
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from nfgen_tui.config import FieldsConfig
from nfgen_tui.data import load_dataset, select
from nfgen_tui.fields import fit_fields, layout_from_config
from nfgen_tui.fields.functional import inputs, psnr
from nfgen_tui.fields.init import seeded_init


class ReferenceField(torch.nn.Module):
    """The reference's field: PE features → 16 → 16 → 1 with ReLU (the PE is the same as nfgen's)."""

    def __init__(self, d_in: int, hidden: list[int]):
        super().__init__()
        dims = [d_in, *hidden, 1]
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, x):
        for i, lin in enumerate(self.layers):
            x = lin(x)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x.squeeze(-1)


def reference_loop(images: torch.Tensor, fc: FieldsConfig, epochs: int, batch: int = 64, lr: float = 4e-3):
    lay = layout_from_config(fc)
    feats = inputs(lay, 28)
    out = []
    for i, img in enumerate(images):
        torch.manual_seed(i)
        net = ReferenceField(feats.shape[1], fc.hidden)
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        target = img.reshape(-1)
        for _ in range(epochs):
            for idx in torch.randperm(target.numel()).split(batch):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(net(feats[idx]), target[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        with torch.no_grad():
            out.append(psnr(torch.sigmoid(net(feats))[None], target[None])[0])
    return torch.stack(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=1000, help="digits fitted by the batched fitter")
    ap.add_argument("--ref-fields", type=int, default=5, help="digits fitted by the reference loop (extrapolated)")
    ap.add_argument("--ref-epochs", type=int, default=250)
    ap.add_argument("--steps", type=int, default=None, help="batched steps (default: the quick preset's)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--chunk", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fc = FieldsConfig()
    steps, lr, chunk = args.steps or fc.steps, args.lr or fc.lr, args.chunk or fc.chunk_size
    images, _, _ = select(load_dataset("mnist-5k"), args.fields, 0.0, 0)
    images = torch.from_numpy(images)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; mnist-5k, {len(images)} digits "
          f"(stratified); machine shared with other jobs: timings are noisy")

    t = time.perf_counter()
    ref_psnr = reference_loop(images[:args.ref_fields], fc, args.ref_epochs)
    ref_rate = args.ref_fields / (time.perf_counter() - t)
    print(f"(a) reference loop   : {ref_rate:8.3f} fields/s  mean PSNR {ref_psnr.mean():.2f} dB "
          f"({args.ref_fields} fields, {args.ref_epochs} epochs of 64-pixel minibatches, Adam 4e-3)", flush=True)

    lay = layout_from_config(fc)
    t = time.perf_counter()
    first, _, _ = fit_fields(images[:1], seeded_init(lay, 0)[None], lay, steps=steps, lr=lr, schedule=fc.schedule)
    quality = []
    for s in range(0, len(images), chunk):
        n = min(chunk, len(images) - s)
        _, q, _ = fit_fields(images[s:s + n], first.repeat(n, 1), lay, steps=steps, lr=lr, schedule=fc.schedule)
        quality.append(q)
    quality = torch.cat(quality)
    rate = len(images) / (time.perf_counter() - t)
    print(f"(b) batched fitter   : {rate:8.3f} fields/s  mean PSNR {quality.mean():.2f} dB "
          f"(p10 {quality.quantile(0.1):.2f}, min {quality.min():.2f}; {steps} steps, lr {lr:g} {fc.schedule}, "
          f"chunks of {chunk}, `first` init, timing includes fitting the first field)")
    print(f"speed-up (b)/(a)     : {rate / ref_rate:8.1f}x   PSNR difference {quality.mean() - ref_psnr.mean():+.2f} dB")
    if not math.isfinite(rate / ref_rate):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Batched field fitting vs the reference's per-field loop, on the same mnist-5k digits, in one run.

(a) reference: one nn.Module per image, Adam lr 4e-3, shuffled 64-pixel minibatches, 250 epochs — timed on a small
    subset and extrapolated per field; (b) nfgen's batched fitter with the quick preset's settings (`first` shared
    init, chunks) on --fields digits. Prints fields/s of each, the ratio, and the mean PSNR of each.

    .venv/bin/python benchmarks/fit_fields.py                 # 1,000 digits batched, 5 with the reference loop
    .venv/bin/python benchmarks/fit_fields.py --fields 250 --ref-fields 2 --ref-epochs 100   # shorter
    python benchmarks/fit_fields.py --device cuda --fields 60000 --ref-fields 0   # GPU: MNIST-sized, no reference

mnist-5k has 5,000 digits: asking for more fields cycles through them (the work per field is the same).
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


def reference(images: torch.Tensor, fc: FieldsConfig, epochs: int) -> tuple[float, float]:
    """(fields/s, mean PSNR) of the reference loop on `images`, printed as line (a)."""
    t = time.perf_counter()
    quality = reference_loop(images, fc, epochs)
    rate = len(images) / (time.perf_counter() - t)
    print(f"(a) reference loop   : {rate:8.3f} fields/s  mean PSNR {quality.mean():.2f} dB "
          f"({len(images)} fields, {epochs} epochs of 64-pixel minibatches, Adam 4e-3, CPU)", flush=True)
    return rate, float(quality.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", type=int, default=1000, help="digits fitted by the batched fitter")
    ap.add_argument("--ref-fields", type=int, default=5,
                    help="digits fitted by the reference loop (extrapolated; 0 skips it)")
    ap.add_argument("--ref-epochs", type=int, default=250)
    ap.add_argument("--steps", type=int, default=None, help="batched steps (default: the quick preset's)")
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--chunk", type=int, default=None, help="fields per chunk (default: the config's for the device)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--device", default="cpu", help="where the batched fitter runs (the reference loop: CPU)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    fc = FieldsConfig()
    lay = layout_from_config(fc)
    device = torch.device(args.device)
    default_chunk = fc.gpu_chunk_size if device.type == "cuda" else fc.chunk_size
    steps, lr, chunk = args.steps or fc.steps, args.lr or fc.lr, args.chunk or default_chunk
    images, _, _ = select(load_dataset("mnist-5k"), min(args.fields, 5000), 0.0, 0)
    images = torch.from_numpy(images)
    if args.fields > len(images):
        images = images.repeat(-(-args.fields // len(images)), 1, 1)[:args.fields]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; mnist-5k, {len(images)} digits (stratified, cycled past 5,000)")

    ref = reference(images[:args.ref_fields], fc, args.ref_epochs) if args.ref_fields > 0 else None
    fit_fields(images[:2], seeded_init(lay, 0).repeat(2, 1), lay, steps=2, lr=lr, schedule=fc.schedule,
               device=device)  # warm-up
    t = time.perf_counter()
    first, _, _ = fit_fields(images[:1], seeded_init(lay, 0)[None], lay, steps=steps, lr=lr, schedule=fc.schedule,
                             device=device)
    quality = []
    for s in range(0, len(images), chunk):
        n = min(chunk, len(images) - s)
        _, q, _ = fit_fields(images[s:s + n], first.repeat(n, 1), lay, steps=steps, lr=lr, schedule=fc.schedule,
                             device=device)
        quality.append(q)  # on the CPU: the copy waits for the device
    quality = torch.cat(quality)
    seconds = time.perf_counter() - t
    rate = len(images) / seconds
    print(f"(b) batched fitter   : {rate:8.3f} fields/s  mean PSNR {quality.mean():.2f} dB "
          f"(p10 {quality.quantile(0.1):.2f}, min {quality.min():.2f}; {steps} steps, lr {lr:g} {fc.schedule}, "
          f"chunks of {chunk}, `first` init, {device.type}; {len(images)} fields in {seconds:.1f} s, "
          f"fitting the first field included)")
    if ref is not None:
        print(f"speed-up (b)/(a)     : {rate / ref[0]:8.1f}x   PSNR difference {quality.mean() - ref[1]:+.2f} dB")
    if not math.isfinite(rate):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

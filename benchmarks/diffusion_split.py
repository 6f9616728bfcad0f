"""Which token split the diffusion denoiser should use, and what one of its steps costs beside a quick GPT step.

Usage: python benchmarks/diffusion_split.py --fields RUN_DIR/fields/weights.safetensors [--steps 400] [--size 2,4,64]
           [--batch 64] [--splits neuron,layer,chunk:16] [--gpt-reference]
       python benchmarks/diffusion_split.py --synthetic 200 --steps 4      (smoke size: random fields)
Trains one denoiser per split side by side — the same batches, timesteps and noise, steps interleaved so the
machine's load falls on all alike, one torch thread — on the quick preset's 8-8 field layout, and prints each split's
held-out x0-MSE (normalised units, fixed timesteps and noise) and its CPU seconds at each quarter of the run. With
--gpt-reference it also times one quick-preset GPT step (128/4/4, batch 32, 218 tokens) and one denoiser step at
the quick size (128/4/4, batch 64) in CPU seconds.
"""

from __future__ import annotations

import argparse
import time

import torch
from safetensors.torch import load_file

from nfgen_tui.config import preset
from nfgen_tui.distributed import Ranks
from nfgen_tui.fields.layout import layout_from_config
from nfgen_tui.model.diffusion.denoiser import Denoiser, DenoiserConfig
from nfgen_tui.model.diffusion.tokens import token_index
from nfgen_tui.model.diffusion.train import noise_draw, val_loss
from nfgen_tui.model.gpt import GPT, GPTConfig
from nfgen_tui.model.schedule import Schedule, x0_loss
from nfgen_tui.model.train import batch_rows, make_optimizer, warmup_cosine_lr

ONE = Ranks(rank=0, world=1)
CPU = torch.device("cpu")


def fields(args, n_params: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if args.fields:
        t = load_file(args.fields)
        return t["weights"].float(), t["labels"].long(), t["split"].long()
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(args.synthetic) % 10
    w = torch.randn(10, n_params, generator=g)[labels] + 0.3 * torch.randn(args.synthetic, n_params, generator=g)
    return w, labels, (torch.arange(args.synthetic) % 10 == 9).long()


def denoiser(layout, split: str, size: tuple[int, int, int], mean, std) -> Denoiser:
    index = token_index(layout, split)
    cfg = DenoiserConfig(layout.n_params, index.shape[0], index.shape[1], 10, split, *size)
    torch.manual_seed(0)
    return Denoiser(cfg, index, mean, std)


def cpu_step(fn, n: int = 5) -> float:
    fn()
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n


def gpt_reference(layout, mean, std) -> None:
    m = preset("quick").model
    gpt = GPT(GPTConfig(vocab_size=260, block_size=218, n_layer=m.n_layer, n_head=m.n_head, n_embd=m.n_embd))
    gopt = make_optimizer(gpt, 1e-3, 0.1, CPU)
    seqs = torch.randint(0, 245, (32, 218))
    d = preset("quick").diffusion
    den = denoiser(layout, d.split, (d.n_layer, d.n_head, d.n_embd), mean, std)
    dopt = make_optimizer(den, 1e-3, 0.1, CPU)
    sched = Schedule(500, 1e-4, 2e-2)
    x0, y, t, nz = torch.randn(64, layout.n_params), torch.randint(10, (64,)), torch.randint(500, (64,)), \
        torch.randn(64, layout.n_params)

    def g_step():
        loss = gpt(seqs, seqs)[1]
        gopt.zero_grad()
        loss.backward()
        gopt.step()

    def d_step():
        loss = x0_loss(den, sched, x0, y, t, nz)
        dopt.zero_grad()
        loss.backward()
        dopt.step()

    tg, td = cpu_step(g_step), cpu_step(d_step)
    print(f"CPU s/step: quick GPT (batch 32) {tg:.3f}, quick denoiser (batch 64) {td:.3f}, ratio {td / tg:.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fields", default="", help="a run's fields/weights.safetensors (8-8 relu-pe fields)")
    ap.add_argument("--synthetic", type=int, default=0, help="instead: this many random class-clustered fields")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--size", default="2,4,64", help="denoiser n_layer,n_head,n_embd")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--splits", default="neuron,layer,chunk:16")
    ap.add_argument("--gpt-reference", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    layout = layout_from_config(preset("quick").fields)
    w, labels, split = fields(args, layout.n_params)
    train = split == 0
    mean, std = w[train].mean(0), w[train].std(0, unbiased=False).clamp_min(1e-5)
    x = (w - mean) / std
    tx, ty, vx, vy = x[train], labels[train], x[~train], labels[~train]
    size = tuple(int(v) for v in args.size.split(","))
    sched = Schedule(500, 1e-4, 2e-2)
    runs = {}
    for sp in args.splits.split(","):
        m = denoiser(layout, sp, size, mean, std)
        runs[sp] = [m, make_optimizer(m, 1e-3, 0.1, CPU), 0.0]
    quarter = max(1, args.steps // 4)
    for step in range(args.steps):
        lr = warmup_cosine_lr(step, 1e-3, 1e-4, min(50, args.steps // 4), args.steps)
        rows = batch_rows(0, step, tx.shape[0], args.batch, ONE)
        t, noise = noise_draw(0, step, args.batch, layout.n_params, sched.T, ONE)
        for r in runs.values():
            m, opt, _ = r
            start = time.process_time()
            for g in opt.param_groups:
                g["lr"] = lr
            loss = x0_loss(m, sched, tx[rows], ty[rows], t, noise)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            r[2] += time.process_time() - start
        if (step + 1) % quarter == 0 or step + 1 == args.steps:
            parts = [f"{sp} val x0-MSE {val_loss(m, sched, vx, vy, 0, 100, 5, CPU, ONE):.4f} CPU {cpu:.1f}s"
                     for sp, (m, _, cpu) in runs.items()]
            print(f"step {step + 1}: " + " | ".join(parts), flush=True)
    if args.gpt_reference:
        gpt_reference(layout, mean, std)


if __name__ == "__main__":
    main()

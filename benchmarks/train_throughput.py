"""Training-step throughput of the GPT: tokens/s and achieved FLOP/s against this machine's fp32 matmul rate.

Usage: python benchmarks/train_throughput.py [--steps 3] [--sizes quick,paper] [--device cpu|cuda] [--block 562]
       [--batch N] [--matmul 2048] [--dropout P]   (small --block/--batch/--matmul: a quick check that it still runs)
For each size (quick = config defaults, paper = 240/12/12), untied and tied output head, times full training steps
(forward, backward, clip, AdamW) at context 562 (561-weight fields) and prints tokens/s, achieved FLOP/s by
nanoGPT's count (6N + 12·L·C·T per token) and that as a fraction of a large fp32 (bf16 on CUDA) matmul measured
in the same run. The CPU target is ≥ 50 % of the matmul rate; on a GPU the fraction of the bf16 matmul is the MFU.
"""

from __future__ import annotations

import argparse
import time

import torch

from nfgen_tui.config import preset
from nfgen_tui.device import autocast
from nfgen_tui.model.gpt import GPT, GPTConfig
from nfgen_tui.model.train import make_optimizer

VOCAB, BLOCK = 256, 562


def matmul_rate(device: torch.device, n: int = 2048, reps: int = 5) -> float:
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(reps + 1):
        sync(device)
        t = time.perf_counter()
        for _ in range(4 if device.type == "cuda" else 1):
            a @ b
        sync(device)
        best = min(best, (time.perf_counter() - t) / (4 if device.type == "cuda" else 1))
    return 2 * n**3 / best


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_time(cfg: GPTConfig, batch: int, steps: int, device: torch.device, compile: bool = False) -> float:
    """Best time of `steps` full training steps, after warm-up (one step, two under torch.compile)."""
    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    opt = make_optimizer(model, 1e-3, 0.1, device)
    forward = torch.compile(model) if compile else model
    warmup = 2 if compile else 1  # allocators and kernels; under compile also the first run of the compiled graphs
    x = torch.randint(0, VOCAB, (batch, cfg.block_size), device=device)
    best = float("inf")
    for i in range(steps + warmup):
        sync(device)
        t = time.perf_counter()
        with autocast(device):
            _, loss = forward(x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sync(device)
        if i >= warmup:
            best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sizes", default="quick,paper")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--block", type=int, default=BLOCK, help="sequence length (smaller: a quick check)")
    ap.add_argument("--batch", type=int, default=0, help="batch size (default: the preset's on a GPU, 32/8 on a CPU)")
    ap.add_argument("--matmul", type=int, default=2048, help="side of the square matmul that sets the peak rate")
    ap.add_argument("--dropout", type=float, default=0.0, help="model dropout (its masks cost CPU time; FLOPs unchanged)")
    args = ap.parse_args()
    device = torch.device(args.device)
    peak = matmul_rate(device, args.matmul)
    print(f"device {device}, threads {torch.get_num_threads()}: large matmul {peak / 1e9:.1f} GFLOP/s")
    for size in args.sizes.split(","):
        m = preset(size).model
        batch = args.batch or (preset(size).train.batch_size if device.type == "cuda" else (32 if size == "quick" else 8))
        for tie in (False, True):
            cfg = GPTConfig(vocab_size=VOCAB, block_size=args.block, n_layer=m.n_layer, n_head=m.n_head, n_embd=m.n_embd,
                            tie_head=tie, dropout=args.dropout)
            dt = step_time(cfg, batch, args.steps, device)
            tok_s = batch * args.block / dt
            flops = GPT(cfg).flops_per_token() * tok_s
            print(f"{size:5s} {m.n_embd}/{m.n_head}/{m.n_layer} T={args.block} batch {batch:3d} head {'tied  ' if tie else 'untied'}: "
                  f"{dt:7.3f} s/step  {tok_s:9.0f} tokens/s  {flops / 1e9:7.1f} GFLOP/s = {flops / peak:6.1%} of matmul",
                  flush=True)


if __name__ == "__main__":
    main()

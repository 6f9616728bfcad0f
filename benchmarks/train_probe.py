"""Where the paper GPT's training step spends its time, and what batch size, attention kernel and torch.compile change.

Usage: python benchmarks/train_probe.py [--device cuda|cpu] [--matmul 2048]
Prints step time, tokens/s and the fraction of a large matmul's rate (MFU on a GPU: bf16) for: the default step
at batch 64 and 256, each SDPA backend forced alone (an error line where it refuses the head size), the step under
torch.compile (compile time printed), then a profiler table of the default step's kernels. On a CPU it runs a
2-layer, 64-token version so that it ends in seconds (and skips compile).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile

from nfgen_tui.config import preset
from nfgen_tui.device import autocast
from nfgen_tui.model.gpt import GPT, GPTConfig
from nfgen_tui.model.train import make_optimizer
from train_throughput import BLOCK, VOCAB, matmul_rate, step_time, sync


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--matmul", type=int, default=2048, help="side of the square matmul that sets the peak rate")
    args = ap.parse_args()
    device = torch.device(args.device)
    small = device.type == "cpu"
    m = preset("paper").model
    cfg = GPTConfig(vocab_size=VOCAB, block_size=64 if small else BLOCK, n_layer=2 if small else m.n_layer,
                    n_head=m.n_head, n_embd=m.n_embd)
    peak = matmul_rate(device, args.matmul)
    per_token = GPT(cfg).flops_per_token()
    batch = 4 if small else 64

    def report(name: str, b: int, dt: float) -> None:
        tok = b * cfg.block_size / dt
        print(f"{name:28s} batch {b:4d}: {dt * 1e3:8.2f} ms/step {tok / 1e6:7.3f} M tokens/s  "
              f"{per_token * tok / peak:6.1%} of matmul", flush=True)

    for b in [batch] if small else [batch, 4 * batch]:
        report("default", b, step_time(cfg, b, 5, device))
    for backend in ("FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION", "MATH"):
        try:
            with sdpa_kernel([getattr(SDPBackend, backend)]):
                report(f"sdpa {backend} only", batch, step_time(cfg, batch, 5, device))
        except RuntimeError as e:
            print(f"sdpa {backend} only: refused ({str(e).splitlines()[0][:100]})")
    if not small:
        t = time.perf_counter()
        dt = step_time(cfg, batch, 5, device, compile=True)
        print(f"torch.compile: compiling, 2 warm-up and 5 timed steps took {time.perf_counter() - t:.1f} s")
        report("torch.compile", batch, dt)

    torch.manual_seed(0)
    model = GPT(cfg).to(device)
    opt = make_optimizer(model, 1e-3, 0.1, device)
    x = torch.randint(0, VOCAB, (batch, cfg.block_size), device=device)

    def step() -> None:
        with autocast(device):
            _, loss = model(x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, acc_events=True) as prof:
        for _ in range(3):
            step()
        sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=12, max_name_column_width=50))


if __name__ == "__main__":
    main()

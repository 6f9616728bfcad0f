"""Sampling speed: static KV cache against recomputing the whole prefix at every step, identical tokens required.

Usage: python benchmarks/sample_speed.py [--n 4] [--size quick|paper] [--device cpu|cuda] [--weights 561]
One randomly initialised GPT of the preset's size at full context (561 weight tokens after SOS and class, the
reference layout: 245 codes + SOS + 10 classes), the same seed and settings (T = 0.8, top-k 3) for both paths;
asserts that both produce the same tokens and prints samples/s of each and the speed-up (target ≥ 10×).
"""

from __future__ import annotations

import argparse
import time

import torch

from nfgen_tui.config import preset
from nfgen_tui.model.gpt import GPT, GPTConfig
from nfgen_tui.model.sample import sample_tokens
from nfgen_tui.tokens.vocab import Vocabulary

N_CODES, N_CLASSES, N_WEIGHTS = 245, 10, 561


def reference_vocab(n_weights: int = N_WEIGHTS) -> Vocabulary:
    """Scalar tokens: every weight position draws from the one codebook (the layout kinds don't matter here)."""
    return Vocabulary("scalar", N_CODES, N_CLASSES, [(0, N_CODES)] * n_weights, [0] * n_weights)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4, help="sequences sampled by each path")
    ap.add_argument("--size", default="quick")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--weights", type=int, default=N_WEIGHTS, help="weight tokens per sequence (smaller: a quick check)")
    args = ap.parse_args()
    device = torch.device(args.device)
    vocab = reference_vocab(args.weights)
    m = preset(args.size).model
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=vocab.vocab_size, block_size=vocab.block_size, n_layer=m.n_layer,
                          n_head=m.n_head, n_embd=m.n_embd)).to(device).eval()
    with torch.no_grad():  # a random head is nearly uniform; make the distribution peaked like a trained one
        model.head.weight.normal_(0.0, 0.5)
    labels = torch.arange(args.n) % N_CLASSES
    kw = {"temperature": 0.8, "top_k": 3, "seed": 0}
    sample_tokens(model, vocab, labels[:1], **kw)  # warm-up
    cached, t_cache = timed(lambda: sample_tokens(model, vocab, labels, use_cache=True, **kw), device)
    plain, t_plain = timed(lambda: sample_tokens(model, vocab, labels, use_cache=False, **kw), device)
    same = torch.equal(cached, plain)
    print(f"{args.size} model {m.n_embd}/{m.n_head}/{m.n_layer}, {args.n} sequences of {vocab.seq_len} tokens on {device}")
    print(f"KV cache:        {t_cache:8.2f} s  {args.n / t_cache:8.2f} samples/s")
    print(f"recompute prefix:{t_plain:8.2f} s  {args.n / t_plain:8.2f} samples/s")
    print(f"speed-up {t_plain / t_cache:.1f}x, identical tokens: {same}")
    assert same, f"{int((cached != plain).sum())} tokens differ"


if __name__ == "__main__":
    main()

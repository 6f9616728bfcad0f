"""Class-conditioned sampling of token sequences: batched, seeded, temperature / top-k / top-p, static KV cache.

Each step masks every token outside the position's `allowed` range to −inf *before* temperature, top-k and
top-p, so a special token can never be drawn at a weight position (the reference clamped them afterwards).
With a guidance scale (model/guidance.py) the conditional rows and their unconditional twins (the null class in
place of the class token) are decoded together as one batch of 2B through the one KV cache; the token drawn from the
guided logits is written to both. The draw is Gumbel-max with noise from a seeded generator, one [B, V] block per step: the cached and the
recomputing paths consume identical noise and so produce identical tokens for identical logits.
"""

from __future__ import annotations

import torch

from .causal import KVCache
from .gpt import GPT
from .guidance import guidance_scales, guide, is_guided
from ..device import one_cpu_thread
from ..tokens.vocab import Vocabulary


def filter_logits(logits: torch.Tensor, lo: int, hi: int, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """[B, V] raw logits → logits with −inf outside [lo, hi), outside the top k, and outside the top-p nucleus."""
    logits = logits.float() / temperature
    masked = torch.full_like(logits, float("-inf"))
    masked[:, lo:hi] = logits[:, lo:hi]
    logits = masked
    if top_k and top_k < hi - lo:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        before = torch.cumsum(probs, dim=-1) - probs  # mass of strictly better tokens
        drop_sorted = before >= top_p  # keeps the smallest prefix reaching top_p, always the best token
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def draw(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gumbel-max: argmax(logits + Gumbel noise) is a sample from softmax(logits); −inf entries never win."""
    u = torch.rand(logits.shape, generator=generator, device=generator.device, dtype=torch.float32)
    u = u.to(logits.device).clamp_(min=1e-20, max=1.0 - 1e-7)
    return torch.argmax(logits - torch.log(-torch.log(u)), dim=-1)


@torch.no_grad()
def sample_tokens(model: GPT, vocab: Vocabulary, labels: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0, seed: int = 0, use_cache: bool = True, progress=None, cfg: float = 1.0,
                  cfg_schedule: str = "constant") -> torch.Tensor:
    """Full sequences [B, L] (SOS, class, weight tokens) for class `labels` [B], guided by scale `cfg` (1 = off:
    exactly plain sampling, token for token)."""
    model.eval()
    device = model.head.weight.device
    B, L = labels.shape[0], vocab.seq_len
    if model.cfg.block_size != vocab.block_size:
        raise ValueError(f"model block_size {model.cfg.block_size} does not fit sequences of {L} tokens")
    scales = guidance_scales(cfg, cfg_schedule, L - 2) if is_guided(cfg) else None
    if scales is not None and vocab.null_class is None:
        raise ValueError("guided sampling needs a vocabulary with a null class")
    rows = B if scales is None else 2 * B
    generator = torch.Generator(device="cpu").manual_seed(seed)
    seq = torch.empty(rows, L, dtype=torch.long, device=device)
    seq[:, 0] = vocab.sos
    seq[:B, 1] = vocab.class_offset + labels.to(device)
    if scales is not None:
        seq[B:, 1] = vocab.null_class
    dtype = next(model.parameters()).dtype
    cache = KVCache(model.cfg, rows, device, dtype) if use_cache else None
    with one_cpu_thread(device):  # 300 sequences, busy cores: 30 ms/step on 1 thread, 165-330 on 2
        _decode(model, vocab, seq, B, cache, temperature, top_k, top_p, generator, progress, scales)
    return seq[:B]


def _decode(model, vocab, seq, B, cache, temperature, top_k, top_p, generator, progress, scales) -> None:
    """Rows [0, B) are the sequences asked for; with `scales`, rows [B, 2B) their unconditional twins."""
    L = seq.shape[1]
    for t in range(2, L):  # predict position t from positions < t
        if scales is not None and all(s == 1.0 for s in scales[t - 2:]):
            scales, seq = None, seq[:B]  # no guidance left: go on with the conditional rows alone
            if cache is not None:
                cache.k, cache.v = [k[:B] for k in cache.k], [v[:B] for v in cache.v]
        if cache is None:
            logits = model(seq[:, :t])[:, -1]
        elif t == 2:
            logits = model(seq[:, :2], cache=cache, pos=0)[:, -1]
        else:
            logits = model(seq[:, t - 1:t], cache=cache, pos=t - 1)[:, -1]
        if scales is not None:
            logits = guide(logits[:B], logits[B:], scales[t - 2])
        lo, hi = vocab.allowed[t]
        token = draw(filter_logits(logits, lo, hi, temperature, top_k, top_p), generator)
        seq[:B, t] = token
        if scales is not None:
            seq[B:, t] = token
        if progress is not None:
            progress(t - 1, L - 2)

"""A decoder-only GPT over weight tokens, in the nanoGPT tradition, with a static KV cache for sampling.

Token + learned position embeddings, pre-LN causal blocks (causal.py: `scaled_dot_product_attention`, GELU MLP,
dropout, the KV cache).
Two things differ from a text GPT, both because the sequences are weights of a fixed network:
- an optional *kind* embedding tells each position which part of the field (layer, W or b) the token it must
  predict belongs to; kinds are a fixed function of the position, shared by all positions of the same kind;
- the output head is untied by default: on this CPU torch build tying it slowed backward by an order of magnitude
  (benchmarks/train_throughput.py) and gave worse samples at equal wall time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from .causal import Block, KVCache


@dataclass
class GPTConfig:
    vocab_size: int
    block_size: int  # longest input: the token sequence length minus one
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    tie_head: bool = False
    n_kinds: int = 0  # 0 = no kind embedding

    def to_dict(self) -> dict:
        return asdict(self)


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig, kinds: torch.Tensor | None = None):
        """`kinds`: [block_size] kind of the token each input position predicts (needed when cfg.n_kinds > 0)."""
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        if cfg.n_kinds > 0:
            if kinds is None or kinds.shape != (cfg.block_size,):
                raise ValueError(f"kinds must have shape [{cfg.block_size}] when n_kinds > 0")
            self.kind_emb = nn.Embedding(cfg.n_kinds, cfg.n_embd)
            self.register_buffer("kinds", kinds.long().clone(), persistent=True)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_head:
            self.head.weight = self.tok_emb.weight
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of the residual projections
            if name.endswith("proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def n_params(self, non_embedding: bool = True) -> int:
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.pos_emb.weight.numel()
        return n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None,
                cache: KVCache | None = None, pos: int = 0):
        """Logits [B, T, V] for inputs at positions pos … pos+T-1; with targets, also the mean cross-entropy."""
        B, T = idx.shape
        if pos + T > self.cfg.block_size:
            raise ValueError(f"sequence of {pos + T} tokens exceeds block_size {self.cfg.block_size}")
        positions = torch.arange(pos, pos + T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(positions)
        if self.cfg.n_kinds > 0:
            x = x + self.kind_emb(self.kinds[pos:pos + T])
        x = self.drop(x)
        for i, block in enumerate(self.blocks):
            x = block(x, None if cache is None else (cache.k[i], cache.v[i]), pos)
        logits = self.head(self.ln_f(x))
        if targets is None:
            return logits
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    def flops_per_token(self) -> float:
        """Training FLOPs per token (forward + backward), nanoGPT's / PaLM's estimate: 6N + 12·L·C·T."""
        c = self.cfg
        return 6 * self.n_params() + 12 * c.n_layer * c.n_embd * c.block_size

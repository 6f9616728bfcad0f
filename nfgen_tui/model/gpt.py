"""A decoder-only GPT over weight tokens, in the nanoGPT tradition, with a static KV cache for sampling.

Token + learned position embeddings, pre-LN blocks, causal `scaled_dot_product_attention`, GELU MLP, dropout.
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


class KVCache:
    """Keys and values of every layer, preallocated once for the whole sequence: no concatenation per step."""

    def __init__(self, cfg: GPTConfig, batch: int, device, dtype):
        hd = cfg.n_embd // cfg.n_head
        shape = (batch, cfg.n_head, cfg.block_size, hd)
        self.k = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)]
        self.v = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layer)]


class SelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.resid_drop = nn.Dropout(cfg.dropout)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, cache: tuple[torch.Tensor, torch.Tensor] | None = None, pos: int = 0):
        B, T, C = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        drop = self.dropout if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            kc, vc = cache
            kc[:, :, pos:pos + T] = k
            vc[:, :, pos:pos + T] = v
            k, v = kc[:, :, :pos + T], vc[:, :, :pos + T]
            if T == 1:  # one new query sees every cached position
                y = F.scaled_dot_product_attention(q, k, v)
            elif pos == 0:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:  # a chunk after a prefix: query i sees keys up to pos + i
                mask = torch.ones(T, pos + T, dtype=torch.bool, device=x.device).tril(diagonal=pos)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, C)
        return self.resid_drop(self.proj(y))


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd, bias=cfg.bias)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd, bias=cfg.bias)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x):
        return self.drop(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.attn = SelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.n_embd, bias=cfg.bias)
        self.mlp = MLP(cfg)

    def forward(self, x, cache=None, pos: int = 0):
        x = x + self.attn(self.ln1(x), cache, pos)
        return x + self.mlp(self.ln2(x))


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

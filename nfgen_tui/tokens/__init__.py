"""Tokens: VQ codebooks over field weights (scalar or per neuron), the sequence vocabulary, encode / decode.

`decode_tokens(run_or_dir, tokens)` is what the sampler and metrics call to turn sequences back into weights.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .codec import Tokenizer, fit_tokenizer
from .vocab import TokenError, Vocabulary


def codebook_dir(run_or_dir) -> Path:
    """The codebook folder of a Run, of a run folder, or the codebook folder itself."""
    if hasattr(run_or_dir, "stage_dir"):
        return run_or_dir.stage_dir("codebook")
    p = Path(run_or_dir)
    return p / "codebook" if (p / "codebook").is_dir() else p


def load_tokenizer(run_or_dir) -> Tokenizer:
    return Tokenizer.load(codebook_dir(run_or_dir))


def decode_tokens(run_or_dir, tokens) -> torch.Tensor:
    """Token sequences [N, L] (or weight tokens [N, L-2]) → weights [N, P] float32 on the tokens' device.

    Raises TokenError (a UserError) naming the position when a SOS/class token or an id outside the position's
    allowed range stands where a weight belongs: such tokens are never clamped to a code.
    """
    tokens = torch.as_tensor(tokens)
    tok = load_tokenizer(run_or_dir).to(tokens.device)
    return tok.decode(tokens)


__all__ = ["TokenError", "Tokenizer", "Vocabulary", "codebook_dir", "decode_tokens", "fit_tokenizer", "load_tokenizer"]

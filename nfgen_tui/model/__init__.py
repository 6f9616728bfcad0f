"""The generators: the GPT over weight tokens (gpt.py, its training loop and KV-cache sampling), the weight-space
denoiser (diffusion/), the autoregressive generator over continuous tokens (ar_diffusion/), and their declarations
(generator.py); the pieces two of them share sit beside them (causal.py, adaln.py, schedule.py, ema.py, space.py).

The GPT's names load on first use, so `model.generator` — what the TUI reads to build its forms — costs no torch
import.
"""

import importlib

_LAZY = {"GPT": ".gpt", "GPTConfig": ".gpt", "KVCache": ".causal", "sample_tokens": ".sample"}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name], __name__), name)

"""The transformer: a GPT over weight tokens, its resumable (data-parallel) training loop, and KV-cache sampling."""

from .gpt import GPT, GPTConfig, KVCache
from .sample import sample_tokens

__all__ = ["GPT", "GPTConfig", "KVCache", "sample_tokens"]

"""The token vocabulary as the model and sampler see it, read from `codebook/report.json` (the single source).

Checked on load so that a malformed report fails here with one message, not as an index error deep in training.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import UserError


@dataclass(frozen=True)
class Vocab:
    n_codes: int  # weight-code ids are 0 … n_codes-1
    sos: int
    class_offset: int
    n_classes: int
    vocab_size: int
    seq_len: int  # L: SOS, class, then the weight tokens
    allowed: tuple[tuple[int, int], ...]  # [lo, hi) of token ids per sequence position
    kinds: tuple[int, ...]  # per sequence position: 0 SOS, 1 class, 2 + layout kind

    @property
    def block_size(self) -> int:
        return self.seq_len - 1

    @property
    def n_kinds(self) -> int:
        return max(self.kinds) + 1

    def target_kinds(self) -> torch.Tensor:
        """[block_size] the kind of the token each input position has to predict (position t predicts t+1)."""
        return torch.tensor(self.kinds[1:], dtype=torch.long)

    def allowed_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = zip(*self.allowed)
        return torch.tensor(lo, dtype=torch.long), torch.tensor(hi, dtype=torch.long)

    def class_token(self, label: int) -> int:
        if not 0 <= label < self.n_classes:
            raise UserError(f"class {label} out of range: this run has classes 0…{self.n_classes - 1}")
        return self.class_offset + label

    @classmethod
    def from_report(cls, d: dict, where: str = "codebook/report.json") -> "Vocab":
        try:
            v = cls(n_codes=int(d["n_codes"]), sos=int(d["sos"]), class_offset=int(d["class_offset"]),
                    n_classes=int(d["n_classes"]), vocab_size=int(d["vocab_size"]), seq_len=int(d["seq_len"]),
                    allowed=tuple((int(a), int(b)) for a, b in d["allowed"]),
                    kinds=tuple(int(k) for k in d["kinds"]))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"{where} lacks a valid vocabulary ({type(e).__name__}: {e}); rerun `nfgen codebook --force`") from None
        problems = []
        if v.sos != v.n_codes or v.class_offset != v.n_codes + 1 or v.vocab_size != v.n_codes + 1 + v.n_classes:
            problems.append("sos / class_offset / vocab_size disagree with n_codes and n_classes")
        if len(v.allowed) != v.seq_len or len(v.kinds) != v.seq_len or v.seq_len < 3:
            problems.append("allowed and kinds must have one entry per sequence position")
        if any(not 0 <= lo < hi <= v.vocab_size for lo, hi in v.allowed):
            problems.append("an allowed range is empty or outside the vocabulary")
        elif any(hi > v.n_codes for lo, hi in v.allowed[2:]):
            problems.append("a weight position allows special tokens")
        if d.get("block_size", v.block_size) != v.block_size:
            problems.append("block_size is not seq_len - 1")
        if problems:
            raise UserError(f"{where} is inconsistent: {'; '.join(problems)}")
        return v

    @classmethod
    def load(cls, path: Path) -> "Vocab":
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"missing {path}: run `nfgen codebook` first") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"corrupt JSON file {path}: {e}") from None
        return cls.from_report(d, str(path))

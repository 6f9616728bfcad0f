"""The token vocabulary and sequence layout: the single source the model, the sampler and the decoder read.

Ids `0 … n_codes-1` are weight codes, `n_codes` is SOS, `n_codes+1 …` one token per class, and the last id the
*null class*: the class token classifier-free guidance trains with (`train.class_dropout`) and samples the
unconditional rows with. A vocabulary stored before the null class existed loads without one (`null_class` None).
A sequence is `SOS, class, t_1 … t_T`; `allowed[i] = [lo, hi)` says which ids may stand at position i (a sampler masks the rest),
`kinds[i]` says what the position is (0 SOS, 1 class, 2 + layout kind of the weight / neuron it encodes).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..workspace import read_json

KIND_SOS, KIND_CLASS, KIND_WEIGHT0 = 0, 1, 2


class TokenError(UserError):
    """A token that cannot stand where it stands (a special token at a weight position, an id out of range)."""


@dataclass
class Vocabulary:
    mode: str  # scalar | neuron
    n_codes: int
    n_classes: int
    weight_allowed: list[tuple[int, int]]  # [lo, hi) of code ids for every weight-token position (T of them)
    weight_kinds: list[int]  # layout kind of every weight-token position
    has_null: bool = True  # one more special after the classes: the null class (absent in older codebooks)

    # derived ids and sizes -----------------------------------------------------------------------------------
    @property
    def sos(self) -> int:
        return self.n_codes

    @property
    def class_offset(self) -> int:
        return self.n_codes + 1

    @property
    def null_class(self) -> int | None:
        """The null class token (no class given), or None for a vocabulary stored without one."""
        return self.class_offset + self.n_classes if self.has_null else None

    @property
    def vocab_size(self) -> int:
        return self.n_codes + 1 + self.n_classes + int(self.has_null)

    @property
    def n_weight_tokens(self) -> int:
        return len(self.weight_allowed)

    @property
    def seq_len(self) -> int:
        return self.n_weight_tokens + 2

    @property
    def block_size(self) -> int:
        return self.seq_len - 1

    @property
    def allowed(self) -> list[tuple[int, int]]:
        return [(self.sos, self.sos + 1), (self.class_offset, self.class_offset + self.n_classes), *self.weight_allowed]

    @property
    def kinds(self) -> list[int]:
        return [KIND_SOS, KIND_CLASS, *(KIND_WEIGHT0 + k for k in self.weight_kinds)]

    @property
    def n_kinds(self) -> int:
        return max(self.kinds) + 1

    def class_token(self, label: int) -> int:
        if not 0 <= label < self.n_classes:
            raise UserError(f"class {label} out of range: this run has classes 0…{self.n_classes - 1}")
        return self.class_offset + label

    def allowed_bounds(self) -> tuple[torch.Tensor, torch.Tensor]:
        """lo, hi as int64 tensors [L]: `lo <= token < hi` is what a sampler may draw at each position."""
        a = torch.tensor(self.allowed, dtype=torch.int64)
        return a[:, 0].contiguous(), a[:, 1].contiguous()

    # sequences -----------------------------------------------------------------------------------------------
    def sequences(self, codes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """[N, T] code ids + [N] class indices → full sequences [N, L] = SOS, class, codes."""
        n = codes.shape[0]
        head = torch.stack([torch.full((n,), self.sos, dtype=torch.int64),
                            self.class_offset + labels.to(torch.int64).cpu()], 1).to(codes.device)
        return torch.cat([head, codes.to(torch.int64)], 1)

    def weight_codes(self, tokens: torch.Tensor) -> torch.Tensor:
        """Validate full sequences [N, L] or weight tokens [N, T] and return the weight tokens [N, T].

        Raises TokenError naming the first bad position, never clamps: a SOS or class token where a weight belongs
        means the sampler let a special token through.
        """
        if tokens.ndim != 2 or tokens.shape[1] not in (self.seq_len, self.n_weight_tokens):
            raise TokenError(f"tokens must be [N, {self.seq_len}] (with SOS and class) or [N, {self.n_weight_tokens}] "
                             f"(weight tokens only), got {list(tokens.shape)}")
        tokens = tokens.to(torch.int64)
        lo, hi = self.allowed_bounds()
        if tokens.shape[1] == self.n_weight_tokens:
            lo, hi = lo[2:], hi[2:]
        lo, hi = lo.to(tokens.device), hi.to(tokens.device)
        bad = (tokens < lo) | (tokens >= hi)
        if bool(bad.any()):
            row, col = (int(v) for v in torch.nonzero(bad)[0])
            tok = int(tokens[row, col])
            full_pos = col + (self.seq_len - tokens.shape[1])
            raise TokenError(f"token {tok} ({self.describe(tok)}) at position {full_pos} of sequence {row}, "
                             f"where only ids {int(lo[col])}..{int(hi[col]) - 1} may stand "
                             f"({int(bad.sum())} bad token(s) in all)")
        return tokens[:, -self.n_weight_tokens:] if self.n_weight_tokens else tokens[:, :0]

    def describe(self, tok: int) -> str:
        if 0 <= tok < self.n_codes:
            return "a weight code"
        if tok == self.sos:
            return "SOS"
        if tok == self.null_class:
            return "the null class"
        if self.class_offset <= tok < self.class_offset + self.n_classes:
            return f"class token {tok - self.class_offset}"
        return f"outside the vocabulary of {self.vocab_size}"

    # JSON ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"mode": self.mode, "n_codes": self.n_codes, "sos": self.sos, "class_offset": self.class_offset,
                "n_classes": self.n_classes, "null_class": self.null_class, "vocab_size": self.vocab_size,
                "seq_len": self.seq_len,
                "block_size": self.block_size, "allowed": [list(a) for a in self.allowed], "kinds": self.kinds}

    @classmethod
    def from_dict(cls, d: dict, where: str = "codebook/report.json",
                  fix: str = "rerun `nfgen codebook RUN --force`") -> "Vocabulary":
        """Read and check a stored vocabulary, so a malformed report fails here with one message, not as an index
        error deep in training or sampling."""
        try:
            allowed = [(int(a[0]), int(a[1])) for a in d["allowed"]]
            kinds = [int(k) for k in d["kinds"]]
            v = cls(mode=str(d["mode"]), n_codes=int(d["n_codes"]), n_classes=int(d["n_classes"]),
                    weight_allowed=allowed[2:], weight_kinds=[k - KIND_WEIGHT0 for k in kinds[2:]],
                    has_null=d.get("null_class") is not None)
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise UserError(f"{where} lacks a valid vocabulary ({type(e).__name__}: {e}); {fix}") from None
        mine = v.to_dict()
        problems = []
        wrong = [k for k in ("sos", "class_offset", "null_class", "vocab_size", "seq_len", "block_size")
                 if d.get(k) != mine[k]]
        if wrong:
            problems.append(f"{', '.join(wrong)} disagree with n_codes and n_classes")
        if allowed[:2] != v.allowed[:2] or kinds[:2] != v.kinds[:2]:
            problems.append("positions 0 and 1 must be SOS and the class")
        if len(kinds) != len(allowed) or len(allowed) < 3:
            problems.append("allowed and kinds must have one entry per sequence position")
        if any(not 0 <= lo < hi <= v.vocab_size for lo, hi in allowed):
            problems.append("an allowed range is empty or outside the vocabulary")
        elif any(hi > v.n_codes for _, hi in v.weight_allowed):
            problems.append("a weight position allows special tokens")
        if problems:
            raise UserError(f"{where} is inconsistent: {'; '.join(problems)}; {fix}")
        return v

    def matching(self, stored: "Vocabulary", where: str, fix: str) -> "Vocabulary":
        """This vocabulary (rebuilt from a codebook's tensors), refused unless it is the one report.json stored.

        The stored one says whether the null class exists: a codebook made before guidance has none, and it stays
        usable for unguided sampling instead of failing as a mismatch."""
        mine = dataclasses.replace(self, has_null=stored.has_null)
        if mine.to_dict() != stored.to_dict():
            raise UserError(f"{where} does not match the vocabulary in report.json beside it; {fix}")
        return mine

    @classmethod
    def load(cls, path: Path, fix: str = "rerun `nfgen codebook RUN --force`") -> "Vocabulary":
        """The vocabulary stored in a codebook report.json; `fix` is the way out a refusal names."""
        return cls.from_dict(read_json(path, fix), str(path), fix)


def scalar_vocabulary(layout, n_codes: int, n_classes: int) -> Vocabulary:
    """One token per weight, every weight drawn from the one shared codebook."""
    kinds = np.asarray(layout.position_kinds()).tolist()
    return Vocabulary("scalar", n_codes, n_classes, [(0, n_codes)] * layout.n_params, kinds)


def neuron_vocabulary(layout, codes_per_layer: list[int], n_classes: int) -> Vocabulary:
    """One token per neuron (its incoming weights + bias), layer l's neurons drawn from layer l's id range."""
    allowed, kinds, off = [], [], 0
    for i, (spec, k) in enumerate(zip(layout.layers, codes_per_layer)):
        allowed += [(off, off + k)] * spec.n_out
        kinds += [2 * i] * spec.n_out
        off += k
    return Vocabulary("neuron", off, n_classes, allowed, kinds)

"""The codebook modes beyond `scalar` and `neuron`, each its own module: the one seam a new token mode plugs into.

`codec.Tokenizer.load` and `codec.fit_tokenizer` hand any other mode to `extra_mode(name)`, which returns the module's
tokenizer class (with `load(folder)`) and fitting function (`fit_tokenizer`'s signature; `run=` for modes that read
more of the run than its weights). A tokenizer with `encode_targets(weights, batch)` encodes knowing the fitting targets.
"""

from __future__ import annotations

from ..config import CODEBOOK_MODES
from ..errors import UserError
from .group import GroupTokenizer, fit_group_tokenizer, group_size
from .subspace import SubspaceTokenizer, fit_subspace_tokenizer


def extra_mode(mode: str):
    """(tokenizer class, fit function) of a mode other than scalar / neuron; a UserError listing all modes else."""
    if group_size(mode) is not None:
        return GroupTokenizer, fit_group_tokenizer
    if mode == "subspace":
        return SubspaceTokenizer, fit_subspace_tokenizer
    raise UserError(f"unknown codebook mode {mode!r} ({CODEBOOK_MODES})")

"""What every modality's evaluation starts from, loaded once by the eval stage (`stages.evaluate`): the fitted fields,
the default sample's weights, and the weight-space baselines' draws. A modality's `evaluate` reads these and never
the run's stage files, so it depends on no stage module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

Draw = Callable[[np.ndarray, int], torch.Tensor]  # (class of each item wanted, seed) -> weights [n, P]


@dataclass
class EvalInputs:
    sample_dir: Path  # the evaluated sample folder (its name is the result's `sample_id`)
    weights: torch.Tensor  # fitted fields [N, P], row i = item i of the run's selection
    labels: torch.Tensor  # int64 [N]
    split: torch.Tensor  # int64 [N], 0 train, 1 held out
    layout: object  # fields.Layout
    generated: torch.Tensor  # the sample's weights [G, P]
    generated_labels: torch.Tensor  # int64 [G]
    marginal: Draw  # the "marginal" baseline: each token drawn from its position's training distribution
    codes: Draw | None  # the "marginal codes" baseline of a code run (fields.subspace > 0), else None

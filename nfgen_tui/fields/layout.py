"""The flat weight layout of a field: the single source of truth shared by fitting, tokenizer and decoder.

A field's weights are one float32 vector of length P: layer by layer, each layer's W (row-major, shape
[n_out, n_in]) followed by its b ([n_out], when the layer has a bias). `layout.json` stores exactly this, plus the
field's modality as data: the coordinate dimension (`dim`, 2 or 3) and what it predicts (`target`, intensity or
occupancy). A layout.json written before modalities existed has neither and reads as 2D intensity.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ..errors import UserError


@dataclass(frozen=True)
class LayerSpec:
    n_in: int
    n_out: int
    bias: bool = True

    @property
    def n_params(self) -> int:
        return self.n_out * self.n_in + (self.n_out if self.bias else 0)


@dataclass
class Layout:
    """Shapes of every layer plus what the field needs to be evaluated (architecture, encoding, activation)."""

    arch: str  # relu-pe | siren
    layers: list[LayerSpec]
    octaves: int = 4  # relu-pe positional encoding
    omega0: float = 30.0  # siren
    coords: str = "centers[-1,1]"  # pixel centres mapped to [-1, 1]: (i + 0.5) / S * 2 - 1, the same at every size
    extra: dict = field(default_factory=dict)
    dim: int = 2  # coordinates per point: 2 (x, y) | 3 (x, y, z)
    target: str = "intensity"  # intensity (a pixel value in [0, 1]) | occupancy (1 = inside a solid)

    # sizes ---------------------------------------------------------------------------------------------------
    @property
    def n_params(self) -> int:
        return sum(l.n_params for l in self.layers)

    def offsets(self) -> list[tuple[int, int, int]]:
        """(start of W, start of b, end) of every layer in the flat vector."""
        out, pos = [], 0
        for l in self.layers:
            w0 = pos
            b0 = w0 + l.n_out * l.n_in
            end = b0 + (l.n_out if l.bias else 0)
            out.append((w0, b0, end))
            pos = end
        return out

    # flat <-> per-layer --------------------------------------------------------------------------------------
    def unflatten(self, flat: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """[N, P] → per layer (W [N, n_out, n_in], b [N, n_out] or None); views, no copies."""
        if flat.shape[-1] != self.n_params:
            raise UserError(f"weights have {flat.shape[-1]} values per field, layout expects {self.n_params}")
        out = []
        for l, (w0, b0, end) in zip(self.layers, self.offsets()):
            w = flat[..., w0:b0].reshape(*flat.shape[:-1], l.n_out, l.n_in)
            b = flat[..., b0:end] if l.bias else None
            out.append((w, b))
        return out

    def flatten(self, params: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
        parts = []
        for (w, b), l in zip(params, self.layers):
            parts.append(w.reshape(*w.shape[:-2], -1))
            if l.bias:
                parts.append(b)
        return torch.cat(parts, dim=-1)

    def neuron_index(self) -> list[np.ndarray]:
        """Per layer an int array [n_out, n_in (+1)]: flat positions of each neuron's incoming weights (+ its bias)."""
        out = []
        for l, (w0, b0, _) in zip(self.layers, self.offsets()):
            w = w0 + np.arange(l.n_out * l.n_in).reshape(l.n_out, l.n_in)
            if l.bias:
                w = np.concatenate([w, (b0 + np.arange(l.n_out))[:, None]], axis=1)
            out.append(w)
        return out

    def position_kinds(self) -> np.ndarray:
        """[P] ints: 2·layer for a weight of W, 2·layer+1 for a bias — which part of the net a position is."""
        kinds = np.empty(self.n_params, dtype=np.int64)
        for i, (w0, b0, end) in enumerate(self.offsets()):
            kinds[w0:b0] = 2 * i
            kinds[b0:end] = 2 * i + 1
        return kinds

    # JSON ----------------------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["n_params"] = self.n_params
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, d: dict) -> "Layout":
        try:
            layers = [LayerSpec(int(l["n_in"]), int(l["n_out"]), bool(l.get("bias", True))) for l in d["layers"]]
            lay = cls(arch=str(d["arch"]), layers=layers, octaves=int(d.get("octaves", 4)),
                      omega0=float(d.get("omega0", 30.0)), coords=str(d.get("coords", "centers[-1,1]")),
                      extra=dict(d.get("extra", {})), dim=int(d.get("dim", 2)),
                      target=str(d.get("target", "intensity")))
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"layout.json is malformed: {e}") from None
        if lay.dim not in (2, 3) or lay.target not in ("intensity", "occupancy"):
            raise UserError(f"layout.json names an unknown modality: dim {lay.dim}, target {lay.target!r}")
        if lay.layers and lay.layers[0].n_in != input_dim(lay.arch, lay.octaves, lay.dim):
            raise UserError("layout.json is inconsistent: the first layer's inputs do not match arch, octaves and dim")
        if "n_params" in d and int(d["n_params"]) != lay.n_params:
            raise UserError("layout.json is inconsistent: n_params does not match its layers")
        return lay

    @classmethod
    def from_json(cls, text: str) -> "Layout":
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise UserError(f"layout.json is not valid JSON: {e}") from None


def input_dim(arch: str, octaves: int, dim: int = 2) -> int:
    """relu-pe: sin and cos of every coordinate at `octaves` frequencies, no raw coordinate; siren: raw coordinates."""
    return 2 * dim * octaves if arch == "relu-pe" else dim


def layout_from_config(fc, dim: int = 2, target: str = "intensity") -> Layout:
    """Layout from the `fields` config section and the modality's (dim, target) (P derived, never hard-coded):
    reference → 561."""
    if fc.arch not in ("relu-pe", "siren"):
        raise UserError(f"config fields.arch: unknown architecture {fc.arch!r} (relu-pe | siren)")
    if not fc.hidden or any(h <= 0 for h in fc.hidden):
        raise UserError("config fields.hidden: needs at least one layer, every width > 0")
    dims = [input_dim(fc.arch, fc.octaves, dim), *fc.hidden, 1]
    layers = [LayerSpec(a, b, fc.bias) for a, b in zip(dims[:-1], dims[1:])]
    return Layout(arch=fc.arch, layers=layers, octaves=fc.octaves, omega0=fc.omega0, dim=dim, target=target)

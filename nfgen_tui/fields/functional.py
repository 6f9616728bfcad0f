"""The batched functional field: N fields evaluated at once from their stacked flat weights [N, P].

No `nn.Module` per field: every layer is one `baddbmm` over the field batch (measured on 2 CPU cores: as fast as
`einsum` / `vmap` and simpler), and the fitter's gradient is written out by hand (`loss_and_grad`), which skips the
autograd graph and a slow non-contiguous ReLU backward that autograd produced here.

Coordinates: pixel centres mapped to [-1, 1] — `(i + 0.5) / S * 2 - 1` — the same for fitting and rendering at
every size S, x along columns, y along rows, pixels in row-major order.
relu-pe input: for each octave k < `octaves`, with f = π·2^(k-1): sin(f·x), sin(f·y), cos(f·x), cos(f·y) (no raw
coordinate; a 3D field adds z: sin x, y, z then cos x, y, z) — the reference's π·2^k on [0, 1], rescaled to [-1, 1]. The top frequency (4π for 4 octaves) is
~0.45 rad per pixel at 28 px, well below Nyquist, so a 28 px fit stays smooth between pixels and renders cleanly at
56 px and more. (Measured on 100 mnist-5k digits, 300 steps: doubling every frequency raised the mean PSNR ~1.5 dB
but dropped p10 by ~2.7 dB and the worst field by ~6 dB.)
3D fields (layout.dim 3) take points that differ per field: feats [N, M, F] instead of one shared [M, F].
siren input: raw (x, y[, z]); first layer sin(ω0·z), hidden layers sin(z) (ω0 of the hidden layers is folded into their
weights), linear output.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .layout import Layout


def coordinates(size: int, device=None, dim: int = 2) -> torch.Tensor:
    """dim 2: [size·size, 2] (x, y) of the pixel centres in [-1, 1], row-major (y, then x).
    dim 3: [size³, 3] (x, y, z) of the voxel centres, x slowest, z fastest (a grid [x, y, z] flattened)."""
    c = (torch.arange(size, dtype=torch.float32, device=device) + 0.5) / size * 2 - 1
    if dim == 3:
        xx, yy, zz = torch.meshgrid(c, c, c, indexing="ij")
        return torch.stack([xx.reshape(-1), yy.reshape(-1), zz.reshape(-1)], dim=1)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def encode(coords: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The network input for coordinates [..., dim]: [..., F] ([M, F] shared by all fields, or [N, M, F])."""
    if layout.arch == "siren":
        return coords
    axes = [coords[..., d] for d in range(coords.shape[-1])]
    feats = []
    for k in range(layout.octaves):
        w = math.pi * 2.0 ** (k - 1)
        feats += [torch.sin(w * a) for a in axes] + [torch.cos(w * a) for a in axes]
    return torch.stack(feats, dim=-1)


def inputs(layout: Layout, size: int, device=None) -> torch.Tensor:
    """The encoded grid of a field at `size` points per side (pixels, or voxels for a 3D layout)."""
    return encode(coordinates(size, device, layout.dim), layout)


def _linear(h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, out: torch.Tensor | None = None) -> torch.Tensor:
    """h [N, M, n_in] (or [M, n_in] shared, broadcast without a copy) · W [N, n_out, n_in]ᵀ + b [N, n_out]
    → [N, M, n_out], written into `out` when given."""
    if h.dim() == 2:
        h = h.expand(w.shape[0], *h.shape)
    if b is None:
        return torch.bmm(h, w.transpose(1, 2), out=out)
    return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2), out=out)


def _activate(z: torch.Tensor, layout: Layout, i: int) -> torch.Tensor:
    if layout.arch == "siren":
        return torch.sin(layout.omega0 * z) if i == 0 else torch.sin(z)
    return torch.relu(z)


def forward(flat: torch.Tensor, layout: Layout, feats: torch.Tensor) -> torch.Tensor:
    """Raw outputs [N, M] (relu-pe: logits; siren: intensities) of N fields at M encoded points; differentiable."""
    params = layout.unflatten(flat)
    h = feats
    for i, (w, b) in enumerate(params):
        h = _linear(h, w, b)
        if i < len(params) - 1:
            h = _activate(h, layout, i)
    return h.squeeze(-1)


def to_intensity(out: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Raw outputs → pixel intensities in [0, 1]."""
    return torch.sigmoid(out) if layout.arch == "relu-pe" else out.clamp(0.0, 1.0)


def field_loss(out: torch.Tensor, target: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Per-field loss [N]: BCE-with-logits (relu-pe) or MSE (siren), mean over pixels."""
    if layout.arch == "relu-pe":
        return F.binary_cross_entropy_with_logits(out, target, reduction="none").mean(1)
    return (out - target).pow(2).mean(1)


class Scratch:
    """Activation buffers that one fitting run reuses at every step.

    A step of 250 fields allocated ~12 MB per activation; fresh allocations of that size went through mmap and
    page faults each step, which made steps ~3x slower at random (measured: 110 vs 35 us per field-step). With the
    buffers kept, a step allocates nothing big.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, torch.Tensor] = {}

    def get(self, name: str, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != like.dtype or buf.device != like.device:
            buf = self._buffers[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf


def loss_and_grad(flat: torch.Tensor, layout: Layout, feats: torch.Tensor, target: torch.Tensor,
                  want_loss: bool = False, scratch: Scratch | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Gradient [N, P] of Σ_fields field_loss (each field's own loss: fields never interact), written by hand.

    Returns (grad, per-field loss [N] or None). Equal to autograd's gradient of `field_loss(forward(...)).sum()`
    (a test checks it) at about half the memory traffic. Pass the same `scratch` at every step of a fit.
    """
    scratch = scratch or Scratch()
    params = layout.unflatten(flat)
    n_fields, m = flat.shape[0], feats.shape[-2]
    siren = layout.arch == "siren"
    hs = [feats]  # inputs of every layer
    derivs = []  # siren: d act / d z per hidden layer
    for i, (w, b) in enumerate(params[:-1]):
        z = _linear(hs[-1], w, b, out=scratch.get(f"h{i}", (n_fields, m, w.shape[1]), flat))
        if siren:
            om = layout.omega0 if i == 0 else 1.0
            z.mul_(om)
            derivs.append(torch.cos(z, out=scratch.get(f"d{i}", z.shape, flat)).mul_(om))
            hs.append(z.sin_())
        else:
            hs.append(z.relu_())
    w, b = params[-1]
    out = _linear(hs[-1], w, b, out=scratch.get("out", (n_fields, m, 1), flat))  # [N, M, 1]
    y = target.unsqueeze(-1)
    loss = field_loss(out.squeeze(-1), target, layout) if want_loss else None
    g = scratch.get("g", out.shape, flat)
    if siren:
        g = torch.sub(out, y, out=g).mul_(2.0 / m)
    else:
        g = torch.sigmoid(out, out=g).sub_(y).div_(m)

    grads: list[torch.Tensor] = []
    for i in range(len(params) - 1, -1, -1):
        w, b = params[i]
        h = hs[i]
        if b is not None:
            grads.append(g.sum(1))
        if h.dim() == 2:  # the shared input: Σ_m g[n, m, o] h[m, i] for every field at once
            grads.append(torch.matmul(g.transpose(1, 2), h).flatten(1))
        else:
            grads.append(torch.bmm(g.transpose(1, 2), h).flatten(1))
        if i == 0:
            break
        gh = torch.bmm(g, w, out=scratch.get(f"gh{i}", (n_fields, m, w.shape[2]), flat))
        if siren:
            g = gh.mul_(derivs[i - 1])
        else:  # relu': h > 0 (h is the ReLU output), in place
            g = torch.ops.aten.threshold_backward.grad_input(gh, h, 0, grad_input=gh)
    return torch.cat(grads[::-1], dim=1), loss


def psnr(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for intensities in [0, 1] (images [N, ...] against targets of the same shape)."""
    mse = (images - targets).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return -10.0 * torch.log10(mse)

"""Batched SSIM in torch, equal to scikit-image's `structural_similarity(..., data_range=1)`, for whole sets at once.

Why: the set metrics need SSIM between every generated and every reference image (and within each set) — hundreds
of thousands of pairs, which a Python loop over scikit-image computes at ~1,400 pairs/s.

How: scikit-image averages a per-pixel SSIM map over the pixels whose window lies entirely inside the image (it crops
a border of the window's radius), so every window that counts is an interior patch and the filter's boundary mode
never matters. Per image we extract those patches once, with their weighted mean and variance. The only quantity that
depends on the pair is the covariance Σ_k w_k (x_k − μ_x)(y_k − μ_y) of each patch position, which for two sets is
one batched matrix product over patch positions. Centring the patches first avoids the E[xy] − E[x]E[y]
cancellation, so float32 stays within 1e-6 of scikit-image's float64 result.

Modes: `gaussian` — 11-tap Gaussian window, σ = 1.5, population covariance (what the reference used; scikit-image's
`gaussian_weights=True, sigma=1.5, use_sample_covariance=False`); `uniform` — 7×7 box window, sample covariance
(scikit-image's defaults).
"""

from __future__ import annotations

import contextlib
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch

from ..errors import UserError
from ..device import one_cpu_thread

MODES = ("gaussian", "uniform")
K1, K2 = 0.01, 0.03
C1, C2 = K1**2, K2**2  # data_range = 1
BLOCK_ELEMENTS_CPU = 330_000  # patch positions × pairs per block (tuned in benchmarks/ssim_pairs.py)
BLOCK_ELEMENTS_CUDA = 64_000_000


@dataclass(frozen=True)
class Window:
    size: int
    weights: np.ndarray  # [size*size], sums to 1, row-major over the window
    cov_norm: float  # 1 (population) or NP / (NP - 1) (sample covariance)


def window(mode: str) -> Window:
    """The window scikit-image uses for `mode` (its Gaussian: radius int(3.5·σ + 0.5) = 5, weights normalised)."""
    if mode == "gaussian":
        sigma, truncate = 1.5, 3.5
        r = int(truncate * sigma + 0.5)
        x = np.arange(-r, r + 1, dtype=np.float64)
        g = np.exp(-0.5 * (x / sigma) ** 2)
        g /= g.sum()
        return Window(2 * r + 1, np.outer(g, g).ravel(), 1.0)
    if mode == "uniform":
        size = 7
        n = size * size
        return Window(size, np.full(n, 1.0 / n), n / (n - 1))
    raise UserError(f"unknown SSIM mode {mode!r}: choose {' or '.join(MODES)}")


@dataclass
class Prepared:
    """Per-image statistics of every interior patch, laid out [P positions, N images, …] for batched products.

    SSIM = (2μxμy + C1)(2σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)). Only σxy needs the patches; the luminance
    numerator and the whole denominator are sums of products of per-image terms, so they are batched products too,
    with inner sizes 2 and 4 (one pass each instead of several element-wise passes: ~30 % faster blocks).
    """

    mu: torch.Tensor  # [P, N] weighted mean
    var: torch.Tensor  # [P, N] weighted variance (× cov_norm)
    scaled: torch.Tensor  # [P, N, K] (patch − mean) × sqrt(weight × cov_norm): σxy = scaled_x · scaled_y
    scaled_t: torch.Tensor  # [P, K, N] the same, contiguous as the right operand (~25 % faster than a view)
    lum_left: torch.Tensor  # [P, N, 2] (2μ, C1)           · lum_right (μ, 1)            = 2μxμy + C1
    lum_right: torch.Tensor  # [P, 2, N]
    den_left: torch.Tensor  # [P, N, 4] (AC, A, C, 1)       · den_right (1, σ², μ², μ²σ²) = (A + μy²)(C + σy²)
    den_right: torch.Tensor  # [P, 4, N]   with A = μx² + C1, C = σx² + C2

    @property
    def n(self) -> int:
        return self.mu.shape[1]


def _as_images(images, device: torch.device) -> torch.Tensor:
    t = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if t.ndim != 3:
        raise UserError(f"SSIM needs images shaped N×H×W, got shape {tuple(t.shape)}")
    return t.to(device=device, dtype=torch.float32)


def prepare(images: torch.Tensor, win: Window) -> Prepared:
    """Patches, means, variances of a chunk of images already on the target device (float32 [N, H, W])."""
    n, h, w = images.shape
    if h < win.size or w < win.size:
        raise UserError(f"images of {h}×{w} pixels are smaller than the {win.size}×{win.size} SSIM window")
    weights = torch.as_tensor(win.weights, dtype=images.dtype, device=images.device)
    # strided views instead of F.unfold (~50x slower on CPU here), copied once into a contiguous [P, N, K]: every
    # later product reads its operands in place (a strided operand made bmm copy it for every block)
    patches = images.unfold(1, win.size, 1).unfold(2, win.size, 1)  # [N, h', w', k, k]
    patches = patches.permute(1, 2, 0, 3, 4).reshape(-1, n, win.size * win.size)  # [P, N, K]
    mu = patches @ weights  # [P, N]
    scaled = patches.sub_(mu[..., None]).mul_(torch.sqrt(weights * win.cov_norm))
    var = (scaled * scaled).sum(-1)
    ones = torch.ones_like(mu)
    a, c, mu2 = mu * mu + C1, var + C2, mu * mu
    return Prepared(mu, var, scaled, scaled.transpose(1, 2).contiguous(),
                    torch.stack([2 * mu, ones * C1], -1), torch.stack([mu, ones], 1),
                    torch.stack([a * c, a, c, ones], -1), torch.stack([ones, var, mu2, mu2 * var], 1))


def _block(a: Prepared, b: Prepared) -> torch.Tensor:
    """Mean SSIM of every pair (i in a, j in b): [n_a, n_b]."""
    c2 = torch.full((1, 1, 1), C2, dtype=a.mu.dtype, device=a.mu.device)
    s = torch.baddbmm(c2, a.scaled, b.scaled_t, alpha=2.0)  # 2σxy + C2: [P, n_a, n_b]
    s.mul_(torch.bmm(a.lum_left, b.lum_right))
    s.div_(torch.bmm(a.den_left, b.den_right))
    return s.mean(dim=0)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def _block_side(p: int, device: torch.device) -> int:
    """Images per block side. On CPU small blocks win (the element-wise SSIM formula runs from cache: ~3x the pairs/s
    of 256 × 256 blocks here); on a GPU big ones do."""
    budget = BLOCK_ELEMENTS_CUDA if device.type == "cuda" else BLOCK_ELEMENTS_CPU
    return max(1, int(math.sqrt(budget / p)))


@contextlib.contextmanager
def _ieee_float32_matmul() -> Iterator[None]:
    """TF32 products (which a training loop may have switched on globally) would cost ~1e-3 of SSIM accuracy."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def for_each_block(x, y, consume: Callable[[int, int, torch.Tensor], None], mode: str = "gaussian",
                   device: torch.device | str | None = None) -> None:
    """Compute SSIM for all pairs of x × y block by block and hand each block to `consume(row0, col0, block)`.

    y = None means x against itself: only blocks on or above the diagonal are computed (row0 <= col0). Memory stays
    bounded by the block size plus the rows' prepared patches (the rows should be the smaller set, e.g. generated
    images against a whole training set). On CPU the blocks run on worker threads (one per core torch would use),
    each op single-threaded (see threads.py); `consume` is called from those threads — concurrently for
    different blocks — so it may write only its block's own slice of a shared output, or must lock.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    win = window(mode)
    xs = _as_images(x, device)
    ys = xs if y is None else _as_images(y, device)
    if xs.shape[1:] != ys.shape[1:]:
        raise UserError(f"image sizes differ: {tuple(xs.shape[1:])} vs {tuple(ys.shape[1:])}")
    if min(xs.shape[1:]) < win.size:
        raise UserError(f"images of {xs.shape[1]}×{xs.shape[2]} pixels are smaller than the "
                        f"{win.size}×{win.size} SSIM window")
    p = (xs.shape[1] - win.size + 1) * (xs.shape[2] - win.size + 1)
    side = _block_side(p, device)
    workers = 1 if device.type != "cpu" else max(1, torch.get_num_threads())

    def prep(bounds: tuple[int, int], source: torch.Tensor) -> Prepared:
        with torch.no_grad():
            return prepare(source[bounds[0]:bounds[1]], win)

    def column(c0: int, c1: int) -> None:
        with torch.no_grad():
            b = rows[c0 // side] if y is None else prepare(ys[c0:c1], win)
            for r0, a in zip(range(0, len(xs), side), rows):
                if y is None and r0 > c0:
                    break
                consume(r0, c0, _block(a, b))

    if workers == 1:
        with _ieee_float32_matmul():
            rows = [prep(bounds, xs) for bounds in _chunks(len(xs), side)]
            for c0, c1 in _chunks(len(ys), side):
                column(c0, c1)
        return
    with one_cpu_thread(), ThreadPoolExecutor(workers) as pool:
        rows = list(pool.map(lambda bounds: prep(bounds, xs), _chunks(len(xs), side)))
        for future in [pool.submit(column, c0, c1) for c0, c1 in _chunks(len(ys), side)]:
            future.result()


def ssim_matrix(x, y=None, mode: str = "gaussian", device: torch.device | str | None = None) -> torch.Tensor:
    """SSIM of every pair: [len(x), len(y)] float32 on the CPU (y = None: x against itself, symmetric)."""
    n = len(x)
    m = n if y is None else len(y)
    out = torch.empty(n, m, dtype=torch.float32)

    def put(r0: int, c0: int, block: torch.Tensor) -> None:
        block = block.cpu()
        if y is None and c0 == r0:  # equal up to rounding; made exact so the metrics cannot depend on set order
            block = (block + block.T) / 2
        out[r0:r0 + block.shape[0], c0:c0 + block.shape[1]] = block
        if y is None and c0 != r0:
            out[c0:c0 + block.shape[1], r0:r0 + block.shape[0]] = block.T

    for_each_block(x, y, put, mode, device)
    return out


def ssim_distance_matrix(x, y=None, mode: str = "gaussian", device: torch.device | str | None = None) -> torch.Tensor:
    """D = (1 − SSIM) / 2 for every pair — the distance the reference's MMD / COV / 1-NNA used."""
    return (1.0 - ssim_matrix(x, y, mode, device)) / 2.0


def ssim_nearest(x, y, mode: str = "gaussian", device: torch.device | str | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each image of x, the highest SSIM to any image of y and its index (lowest index on ties), without
    holding the whole matrix — for memorization against a large training set."""
    best = torch.full((len(x),), -math.inf)
    arg = torch.zeros(len(x), dtype=torch.long)
    lock = threading.Lock()

    def merge(r0: int, c0: int, block: torch.Tensor) -> None:
        v, i = block.max(dim=1)
        v, i = v.cpu(), i.cpu() + c0
        sl = slice(r0, r0 + len(v))
        with lock:
            better = (v > best[sl]) | ((v == best[sl]) & (i < arg[sl]))
            best[sl] = torch.where(better, v, best[sl])
            arg[sl] = torch.where(better, i, arg[sl])

    if len(x) and len(y):
        for_each_block(x, y, merge, mode, device)
    return best, arg


def ssim_pairs(x, y, mode: str = "gaussian", device: torch.device | str | None = None) -> torch.Tensor:
    """SSIM of x[i] with y[i] for every i (equal-length sets): [N] float32 on the CPU."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    win = window(mode)
    xs, ys = _as_images(x, device), _as_images(y, device)
    if xs.shape != ys.shape:
        raise UserError(f"paired SSIM needs equal shapes, got {tuple(xs.shape)} and {tuple(ys.shape)}")
    out = []
    with torch.no_grad():
        for r0, r1 in _chunks(len(xs), 1024):
            a, b = prepare(xs[r0:r1], win), prepare(ys[r0:r1], win)
            cov = 2.0 * (a.scaled * b.scaled).sum(-1) + C2  # [P, n]
            lum = 2.0 * a.mu * b.mu + C1
            s = lum * cov / ((a.mu**2 + b.mu**2 + C1) * (a.var + b.var + C2))
            out.append(s.mean(0).cpu())
    return torch.cat(out) if out else torch.empty(0)

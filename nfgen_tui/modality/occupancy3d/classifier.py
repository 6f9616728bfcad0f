"""A small point-cloud classifier, trained by nfgen itself on a shape dataset's training split, that scores whether
generated 3D shapes look like the class they were conditioned on (the 3D counterpart of `classifier.py`).

The network is PointNet's core idea at toy size: one MLP applied to every point alone, a max over the points
(order-free, any point count), then a small head. Clouds are normalised per shape first (`normalize_points`), so it
judges form, not placement or size, exactly as the Chamfer metrics do.

Cached in `workspace/cache/classifier3d/<dataset>-<seed>-<digest>/` (`classifier_cache`), the digest taken over the
training clouds and labels: runs that select the same training shapes share one network, and a later eval of a run
loads it instead of training it again (~2 min at quick3d's 10 epochs on one core)."""

from __future__ import annotations

import hashlib
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...config import DataConfig
from ...data.shapeset import load_shapes
from ...device import one_cpu_thread
from ...errors import UserError
from ...geometry.surface import normalize_points
from ...progress import ProgressFn, null_progress
from ...workspace import Workspace
from ...metrics.classifier_cache import load_cached, safe_name, save_cached
from .fields import select_shapes

BATCH = 32
LR = 3e-3
TRAIN_POINTS = 512  # points drawn afresh from each cloud at every step: cheaper, and an augmentation
JITTER = 0.01
ARCH = "pointnet-lite-64-128-256"


class PointNetLite(nn.Module):
    """per point 3 → 64 → 128 → 256, max over points, 256 → 128 → classes: ~70k parameters."""

    def __init__(self, n_classes: int):
        super().__init__()
        self.point_mlp = nn.Sequential(nn.Linear(3, 64), nn.ReLU(), nn.Linear(64, 128), nn.ReLU(),
                                       nn.Linear(128, 256))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, n_classes))
        self.n_classes = n_classes

    def forward(self, points: torch.Tensor) -> torch.Tensor:  # [N, S, 3], normalised per cloud
        return self.head(self.point_mlp(points).amax(dim=1))


def _prepared(points) -> torch.Tensor:
    p = points if isinstance(points, torch.Tensor) else torch.as_tensor(np.asarray(points))
    if p.ndim != 3 or p.shape[-1] != 3:
        raise ValueError(f"the 3D classifier needs point clouds shaped [N, S, 3], got {tuple(p.shape)}")
    return normalize_points(p.float())


def train_classifier3d(points, labels, epochs: int, seed: int, n_classes: int | None = None,
                       device: torch.device | str | None = None, progress: ProgressFn = null_progress) -> PointNetLite:
    """Adam with a one-cycle schedule on shuffled mini-batches; seeded (init, order, point draws, jitter), leaving
    the global RNG as it was. `n_classes` defaults to max(label) + 1."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    x = _prepared(points)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    n_classes = n_classes or int(y.max()) + 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = PointNetLite(n_classes).to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    total = max(1, epochs * ((len(x) + BATCH - 1) // BATCH))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=LR, total_steps=total, pct_start=0.15)
    take = min(TRAIN_POINTS, x.shape[1])
    model.train()
    step = 0
    with one_cpu_thread(device):
        for epoch in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), BATCH):
                idx = order[i:i + BATCH]
                pick = torch.rand(len(idx), x.shape[1], generator=gen).argsort(dim=1)[:, :take]
                batch = torch.gather(x[idx], 1, pick[..., None].expand(-1, -1, 3))
                batch = batch + JITTER * torch.randn(batch.shape, generator=gen)
                loss = F.cross_entropy(model(batch.to(device)), y[idx].to(device))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                if step % 10 == 0 or step == total:
                    progress(step, total, epoch=epoch + 1, loss=float(loss.detach()))
    return model.eval()


@torch.no_grad()
def classify3d(model: PointNetLite, points, device: torch.device | str | None = None,
               batch: int = 256) -> torch.Tensor:
    """Class probabilities [N, n_classes] on the CPU, from every point of each cloud."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model = model.to(device).eval()
    x = _prepared(points)
    with one_cpu_thread(device):
        out = [F.softmax(model(x[i:i + batch].to(device)), dim=1).cpu() for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.empty(0, model.n_classes)


def score3d(model: PointNetLite, points, labels, device: torch.device | str | None = None) -> dict:
    """Accuracy against the intended classes and the mean probability given to them (same keys as the 2D score)."""
    labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(labels) == 0:
        return {"classifier_accuracy": None, "classifier_confidence": None}
    p = classify3d(model, points, device)
    return {"classifier_accuracy": float((p.argmax(1) == labels).double().mean()),
            "classifier_confidence": float(p[torch.arange(len(labels)), labels].double().mean())}


def get_classifier3d(workspace: Workspace, dataset: str, points: np.ndarray, labels: np.ndarray, n_classes: int,
                     epochs: int, seed: int, held: tuple[np.ndarray, np.ndarray] | None = None,
                     device: torch.device | str | None = None, force: bool = False,
                     progress: ProgressFn = null_progress) -> tuple[PointNetLite, dict]:
    """The cached classifier trained on these clouds and labels (trained first when missing, forced, or cached with
    other epochs); its accuracy on `held` (clouds, labels), the held-out true surfaces, goes in the report."""
    if epochs < 1:
        raise UserError(f"--epochs must be >= 1, got {epochs}")
    device = torch.device(device) if device is not None else torch.device("cpu")
    points, labels = np.ascontiguousarray(points, dtype=np.float32), np.ascontiguousarray(labels, dtype=np.int64)
    sha = hashlib.sha1(points)  # fed in place: the clouds are ~50 MB, no concatenated copy
    sha.update(labels)
    digest = sha.hexdigest()[:12]
    folder = workspace.cache_dir / "classifier3d" / f"{safe_name(dataset)}-{seed}-{digest}"
    if not force:
        cached = load_cached(folder, {"epochs": epochs, "arch": ARCH, "digest": digest, "n_classes": n_classes},
                             lambda r: PointNetLite(int(r["n_classes"])), device)
        if cached is not None:
            return cached
    t0 = time.perf_counter()
    model = train_classifier3d(points, labels, epochs, seed, n_classes=n_classes, device=device, progress=progress)
    accuracy = score3d(model, held[0], held[1], device)["classifier_accuracy"] if held and len(held[1]) else None
    report = {"dataset": dataset, "seed": seed, "epochs": epochs, "arch": ARCH, "digest": digest,
              "n_classes": n_classes, "n_train": int(len(labels)), "n_test": int(len(held[1])) if held else 0,
              "accuracy": accuracy, "seconds": round(time.perf_counter() - t0, 2), "dir": str(folder)}
    return model, save_cached(folder, model, report)


def get_dataset_classifier3d(workspace: Workspace, dataset: str, epochs: int, seed: int, holdout: float | None = None,
                             device: torch.device | str | None = None, force: bool = False,
                             progress: ProgressFn = null_progress) -> tuple[PointNetLite, dict]:
    """`nfgen classifier train` on a shape dataset: the classifier of a run on all of `dataset` with this seed and
    holdout (default: the config's `data.holdout`), i.e. the very cache entry such a run's eval will load."""
    holdout = DataConfig().holdout if holdout is None else holdout
    data = select_shapes(load_shapes(dataset, workspace.datasets_dir), 0, holdout, seed)
    train = data.split == 0
    return get_classifier3d(workspace, dataset, data.surface[train], data.labels[train], len(data.classes), epochs,
                            seed, held=(data.surface[~train], data.labels[~train]), device=device, force=force,
                            progress=progress)

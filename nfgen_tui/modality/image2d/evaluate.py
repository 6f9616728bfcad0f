"""Stage 5 for images (modality `image2d`): every set — generated and each baseline — goes through the same code:
fields rendered at 28 px, MMD / COV / 1-NNA of SSIM distances against the same reference set (training fields
rendered, class-balanced, drawn without replacement with the run's seed), the CNN classifier's score against the
intended class, and each image's nearest real training image. The sweep scores its cells with the same pieces
(`reference_set`, `render_for_eval`, `score_set`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ...data import load_dataset, select
from ...errors import UserError
from ...fields import render
from ...metrics import baselines
from ...metrics.eval_inputs import EvalInputs
from ...metrics.generative import Distances, distances, per_class_rows, set_metrics
from ...metrics.memorization import nearest_training_ssim, summarize
from ...metrics.phases import Phases
from ...metrics.sets import balanced_subset
from ...metrics.ssim import ssim_distance_matrix
from ...progress import ProgressFn
from .classifier import get_classifier, score

EVAL_SIZE = 28  # every set is rendered at the training images' size
PUBLISHED = {"name": "reference (published)", "mmd": 0.2162, "cov": 0.2773, "nna": 0.84,
             "note": "one digit, reference drawn with replacement; T = 0.8, top-k = 3"}
BASELINES = ("held-out real", "marginal", "train + noise")


def evaluate(run, cfg, inputs: EvalInputs, dev: torch.device, progress: ProgressFn) -> dict:
    """The run's default sample and the baselines (a code run's `marginal codes` too) against the reference:
    eval/metrics.json's content."""
    t0 = time.perf_counter()
    ec, seed, mode = cfg.eval, cfg.seed, cfg.eval.ssim
    steps = Phases(run, progress, 4 + 3 * (1 + len(BASELINES) + (inputs.codes is not None)))

    weights, labels, split, layout = inputs.weights, inputs.labels, inputs.split, inputs.layout
    gen_w, gen_l, sample_dir = inputs.generated, inputs.generated_labels, inputs.sample_dir
    root = cfg.data.root or run.workspace.datasets_dir
    ds = load_dataset(cfg.data.dataset, root)
    images, img_labels, img_split = select(ds, cfg.data.limit, cfg.data.holdout, seed)
    train_images = images[img_split == 0]

    def draw(w: torch.Tensor) -> np.ndarray:
        return render_for_eval(w, layout, dev)

    train_idx = torch.nonzero(split == 0).flatten()
    n = min(ec.set_size, len(gen_l), len(train_idx))
    if n < 2:
        raise UserError(f"too few images to evaluate: {len(gen_l)} generated, {len(train_idx)} training fields "
                        f"(eval.set_size {ec.set_size})")
    ref_images, ref_l = reference_set(weights, labels, split, layout, n, seed, dev)
    gen_pick = torch.as_tensor(balanced_subset(gen_l.numpy(), n, seed + 1))
    sets: dict[str, tuple[np.ndarray, torch.Tensor]] = {"generated": (draw(gen_w[gen_pick]), gen_l[gen_pick])}
    steps("render generated and reference")

    hw, hl = baselines.held_out(weights, labels, split, n, seed + 2)
    if len(hl) >= 2:
        sets["held-out real"] = (draw(hw), hl)
    want = ref_l.numpy()
    sets["marginal"] = (draw(inputs.marginal(want, seed + 3)), torch.as_tensor(want))
    if inputs.codes is not None:
        sets[baselines.CODES] = (draw(inputs.codes(want, seed + 5)), torch.as_tensor(want))
    nw, nl, noise = baselines.train_plus_noise(weights, labels, split, n, seed + 4, ec.noise_std)
    sets["train + noise"] = (draw(nw), nl)
    steps("render baselines")

    model, clf_report = get_classifier(run.workspace, cfg.data.dataset, epochs=ec.classifier_epochs, seed=seed,
                                       device=dev, root=root, loaded=ds)
    steps("classifier")

    rr = ssim_distance_matrix(ref_images, None, mode, dev)
    steps("reference distances")
    rows: dict[str, dict] = {}
    per_class: dict[str, dict] = {}
    for name, (imgs, lab) in sets.items():
        row, d, nearest = score_set(imgs, lab, ref_images, rr, train_images, model, mode, ec.memorization_threshold,
                                    dev, step=lambda what, name=name: steps(f"{name}: {what}"))
        rows[name] = row
        if name == "generated":
            per_class = per_class_rows(d, lab, ref_l, ds.classes,
                                       lambda g: {**score(model, imgs[g], lab[g], dev),
                                                  **summarize(nearest[g], ec.memorization_threshold)})

    result = {**rows.pop("generated"), "per_class": per_class, "baselines": rows, "reference_published": PUBLISHED,
              "ssim": mode, "set_size": ec.set_size, "n_train_images": int(len(train_images)),
              "memorization_threshold": ec.memorization_threshold, "noise_std_mean": float(noise.mean()),
              "classifier": {k: clf_report.get(k) for k in ("dataset", "seed", "epochs", "accuracy", "n_train",
                                                             "n_test", "dir")},
              "sample_id": sample_dir.name, "sample_dir": str(sample_dir), "n_generated_available": int(len(gen_l)),
              "eval_config": cfg.eval.__dict__, "seed": seed, "device": str(dev),
              "seconds": round(time.perf_counter() - t0, 2)}
    steps.finish()
    return result


def render_for_eval(weights: torch.Tensor, layout, dev: torch.device) -> np.ndarray:
    """Fields as the images every metric sees: rendered at EVAL_SIZE, clamped to [0, 1], float32 numpy."""
    return render(weights.to(dev), layout, EVAL_SIZE).float().clamp(0, 1).cpu().numpy()


def reference_set(weights: torch.Tensor, labels: torch.Tensor, split: torch.Tensor, layout, n: int, seed: int,
                  dev: torch.device) -> tuple[np.ndarray, torch.Tensor]:
    """The reference every set is measured against: n training fields, class-balanced, drawn without replacement
    with the run's seed, rendered. A smaller n gives a prefix of a larger one (same seed), so sets of other sizes
    (the sweep's) meet a balanced part of the very reference `nfgen eval` uses."""
    train_idx = torch.nonzero(split == 0).flatten()
    pick = train_idx[balanced_subset(labels[train_idx].numpy(), n, seed)]
    return render_for_eval(weights[pick], layout, dev), labels[pick]


def score_set(imgs: np.ndarray, lab: torch.Tensor, ref_images: np.ndarray, rr: torch.Tensor, train_images,
              classifier, mode: str, threshold: float, dev: torch.device,
              step=None) -> tuple[dict, Distances, torch.Tensor]:
    """One set's row (MMD / COV / 1-NNA against the reference, classifier score, memorization), with its distances
    and nearest-training SSIMs for per-class rows; `step(phase)` is called after each of the three phases."""
    step = step or (lambda phase: None)
    d = _distances_to_reference(imgs, ref_images, rr, mode, dev)
    step("set metrics")
    nearest = nearest_training_ssim(imgs, train_images, mode, dev)
    step("memorization")
    row = {**set_metrics(d), **score(classifier, imgs, lab, dev), **summarize(nearest, threshold)}
    step("classifier")
    return row, d, nearest


def _distances_to_reference(imgs: np.ndarray, ref_images: np.ndarray, rr: torch.Tensor, mode: str,
                            dev: torch.device) -> Distances:
    """Distances of a set against the shared reference, equal sizes: a smaller set (few held-out fields) meets the
    reference's first len(set) items — a class-balanced prefix, since the reference is drawn in balanced order."""
    k = min(len(imgs), len(ref_images))
    return distances(imgs[:k], ref_images[:k], mode, dev, rr=rr[:k, :k])



"""Stage 5, `run_eval`: the run's default sample against a fixed reference set, with baselines, into eval/metrics.json.

Every set — generated and each baseline — goes through the same code: fields rendered at 28 px, MMD / COV / 1-NNA
against the same reference set (training fields rendered, class-balanced, drawn without replacement with the run's
seed), the classifier's score against the intended class, and each image's nearest real training digit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import device as devmod
from ..data import load_dataset, select
from ..errors import UserError
from ..progress import ProgressFn, null_progress
from ..tokens.stage import load_tokens
from ..workspace import Run, atomic_write_json, read_json, read_tensors
from . import baselines
from .classifier import get_classifier, score
from .generative import Distances, distances, per_class_rows, set_metrics
from .memorization import nearest_training_ssim, summarize
from .sets import balanced_subset
from .ssim import ssim_distance_matrix

EVAL_SIZE = 28  # every set is rendered at the training images' size
PUBLISHED = {"name": "reference (published)", "mmd": 0.2162, "cov": 0.2773, "nna": 0.84,
             "note": "one digit, reference drawn with replacement; T = 0.8, top-k = 3"}
BASELINES = ("held-out real", "marginal", "train + noise")
CODE_BASELINE = "marginal codes"  # code runs only (fields.subspace > 0)


def default_sample_dir(run: Run, cfg) -> Path:
    """samples/<id>/ of the request `nfgen sample RUN` makes by default (all digits, config's sample settings, the
    current checkpoint), via the sampler's own id rule."""
    from ..model import checkpoint as ckpt
    from ..model.generator import default_sample_id
    from ..model.train_session import retrain_hint

    hint = f"no samples yet: run `nfgen sample {run.name}` first"
    where = ckpt.find(run.stage_dir("train") / "ckpt")
    if where is None:
        raise UserError(f"{hint} (the run has no trained transformer either: `nfgen train {run.name}`)")
    step = int(ckpt.load_state(where, retrain_hint(run))["step"])
    folder = run.stage_dir("sample") / default_sample_id(run, cfg, step)
    if not (folder / "meta.json").exists() or not (folder / "weights.safetensors").exists():
        raise UserError(f"{hint} (no default sample of the model at step {step}: expected {folder})")
    return folder


def _load_generated(run: Run, folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    fix = f"move {folder} away and sample again (`nfgen sample {run.name}`)"
    t = read_tensors(folder / "weights.safetensors", fix, keys=("weights", "labels"))
    return t["weights"].float(), t["labels"].long()


class _Steps:
    """Progress over named phases: progress(done, total, phase=…)."""

    def __init__(self, run: Run, progress: ProgressFn, total: int):
        self.run, self.progress, self.total, self.done = run, progress, total, 0

    def __call__(self, phase: str) -> None:
        self.done += 1
        self.progress(self.done, self.total, phase=phase)
        self.run.log_event("eval", step=self.done, total=self.total, phase=phase)

    def finish(self) -> None:
        """A skipped baseline (too few held-out fields) leaves phases unused: end the bar at its total."""
        self.progress(self.total, self.total, phase="done")


def run_eval(run: Run, progress: ProgressFn = null_progress, device: str | None = None, force: bool = False) -> dict:
    """Evaluate the run's default sample; a stored result for the same sample and eval settings is returned as is."""
    run.require()
    cfg = run.config()
    sample_dir = default_sample_dir(run, cfg)
    out = run.stage_dir("eval") / "metrics.json"
    if out.exists() and not force:
        stored = read_json(out, f"rerun `nfgen eval {run.name} --force`")
        if stored.get("sample_id") == sample_dir.name and stored.get("eval_config") == cfg.eval.__dict__:
            return stored
    dev = devmod.resolve(device or cfg.device)
    with run.stage("eval"):
        result = _evaluate(run, cfg, sample_dir, dev, progress)
        atomic_write_json(out, result)
    return result


def _evaluate(run: Run, cfg, sample_dir: Path, dev: torch.device, progress: ProgressFn) -> dict:
    """The one place eval dispatches on the run's modality: images here, shapes in `metrics.eval3d`."""
    from ..fields import modality
    from ..fields.stage import load_layout
    from ..tokens import decode_tokens
    from ..tokens.stage import load_fields

    if modality.for_layout(load_layout(run)).NAME == "occupancy3d":
        from . import eval3d

        steps = _Steps(run, progress, 3 + 1 + len(BASELINES))
        result = eval3d.evaluate(run, cfg, sample_dir, dev, progress, steps, _load_generated)
        steps.finish()
        run.log_event("eval", mmd=result["mmd"], cov=result["cov"], nna=result["nna"],
                      classifier_accuracy=result["classifier_accuracy"], memorization_rate=result["memorization_rate"])
        return result
    t0 = time.perf_counter()
    ec, seed, mode = cfg.eval, cfg.seed, cfg.eval.ssim
    codes = code_marginal(run)
    steps = _Steps(run, progress, 4 + 3 * (1 + len(BASELINES) + (codes is not None)))

    weights, labels, split, layout = load_fields(run)
    gen_w, gen_l = _load_generated(run, sample_dir)
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
    tokens, tok_labels, tok_split = load_tokens(run)
    want = ref_l.numpy()
    marginal = baselines.marginal_tokens(tokens, tok_labels, tok_split, want, seed + 3)
    sets["marginal"] = (draw(decode_tokens(run, marginal).float()), torch.as_tensor(want))
    if codes is not None:
        sets[CODE_BASELINE] = (draw(codes(want, seed + 5)), torch.as_tensor(want))
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
    run.log_event("eval", mmd=result["mmd"], cov=result["cov"], nna=result["nna"],
                  classifier_accuracy=result["classifier_accuracy"], memorization_rate=result["memorization_rate"])
    return result


def code_marginal(run: Run):
    """For a code run, `draw(want, seed)` → weights of the code-space marginal baseline for the classes `want`;
    None for fields fitted freely."""
    from ..fields.subspace import SUBSPACE_FILE, flat_weights, load_subspace
    from ..tokens.stage import load_fields

    if not (run.stage_dir("fit") / SUBSPACE_FILE).exists():
        return None
    sub = load_subspace(run)
    _, labels, split, _ = load_fields(run)

    def draw(want: np.ndarray, seed: int) -> torch.Tensor:
        c = baselines.marginal_tokens(sub["c"].float(), labels, split, want, seed)
        return flat_weights(c, sub["basis"].float(), sub["mu"].float(), sub["w0"].float())

    return draw


def render_for_eval(weights: torch.Tensor, layout, dev: torch.device) -> np.ndarray:
    """Fields as the images every metric sees: rendered at EVAL_SIZE, clamped to [0, 1], float32 numpy."""
    from ..fields import render

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



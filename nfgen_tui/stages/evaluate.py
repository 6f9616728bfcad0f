"""Stage 5, `run_eval`: the run's default sample against a fixed reference set, with baselines, into eval/metrics.json.

What is compared how is the run's modality's (`Modality.evaluate`: `modality/image2d/evaluate.py`,
`modality/occupancy3d/evaluate.py`); this module finds the default sample, loads its weights, draws the code-space
marginal of a code run, and stores the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .. import device as devmod
from ..errors import UserError
from ..fields.fit_files import load_layout
from ..fields.subspace import SUBSPACE_FILE, load_subspace
from ..metrics import baselines
from ..metrics.eval_inputs import Draw, EvalInputs
from ..modality import for_layout
from ..model import checkpoint as ckpt
from ..model.generator import default_sample_id
from ..model.space import code_decoder
from ..model.train_session import retrain_hint
from ..progress import ProgressFn, null_progress
from ..tokens import decode_tokens
from ..tokens.stage import load_fields, load_tokens
from ..workspace import Run, atomic_write_json, read_json, read_tensors


def default_sample_dir(run: Run, cfg) -> Path:
    """samples/<id>/ of the request `nfgen sample RUN` makes by default (all digits, config's sample settings, the
    current checkpoint), via the sampler's own id rule."""
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
    """The run's modality evaluates (`Modality.evaluate`: images by SSIM and a CNN, shapes by Chamfer and a point
    classifier); the event every evaluation ends with is logged here."""
    mod = for_layout(load_layout(run))
    weights, labels, split, layout = load_fields(run)
    gen_w, gen_l = _load_generated(run, sample_dir)
    inputs = EvalInputs(sample_dir, weights, labels, split, layout, gen_w, gen_l, token_marginal(run),
                        code_marginal(run, labels, split))
    result = mod.evaluate(run, cfg, inputs, dev, progress)
    run.log_event("eval", mmd=result["mmd"], cov=result["cov"], nna=result["nna"],
                  classifier_accuracy=result["classifier_accuracy"], memorization_rate=result["memorization_rate"])
    return result


def token_marginal(run: Run) -> Draw:
    """`draw(want, seed)` → weights of the token-marginal baseline for the classes `want`: each position's token
    drawn from the training sequences of the same class."""
    tokens, tok_labels, tok_split = load_tokens(run)

    def draw(want: np.ndarray, seed: int) -> torch.Tensor:
        return decode_tokens(run, baselines.marginal_tokens(tokens, tok_labels, tok_split, want, seed)).float()

    return draw


def code_marginal(run: Run, labels: torch.Tensor, split: torch.Tensor) -> Draw | None:
    """For a code run, `draw(want, seed)` → weights of the code-space marginal baseline for the classes `want`
    (each coordinate of c drawn from the training codes of the same class, decoded as the sampler decodes);
    None for fields fitted freely."""
    if not (run.stage_dir("fit") / SUBSPACE_FILE).exists():
        return None
    sub = load_subspace(run)
    decode = code_decoder(sub)

    def draw(want: np.ndarray, seed: int) -> torch.Tensor:
        return decode(baselines.marginal_tokens(sub["c"].float(), labels, split, want, seed))

    return draw

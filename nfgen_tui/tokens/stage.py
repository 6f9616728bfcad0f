"""Stage 2, `nfgen codebook RUN`: learn the codebook on the training fields, tokenize every field, and report
how much the rendered digits lose to quantization.

Reads `fields/` (weights, labels, split, layout); writes `codebook/codebook.safetensors`, `codebook/tokens.safetensors`
and, last, `codebook/report.json` (the vocabulary + metrics; its presence marks the stage done).
"""

from __future__ import annotations

import time

import numpy as np
import torch
from safetensors.torch import save_file

from ..device import resolve
from ..errors import UserError
from ..fields import Layout
from ..fields.fit_files import load_layout, refit_hint
from ..modality import for_layout
from ..progress import ProgressFn, null_progress
from ..workspace import Run, atomic_path, atomic_write_json, read_json, read_tensors
from .codec import REPORT_FILE, Tokenizer, encode_fields, fit_tokenizer, perplexity
from .group import check_file_mode
from .vocab import Vocabulary

TOKENS_FILE = "tokens.safetensors"
# report keys too bulky for a terminal table or the --json summary (they stay in report.json)
_BULKY = ("allowed", "kinds", "layout", "code_offsets")


def summary(report: dict) -> dict:
    return {k: v for k, v in report.items() if k not in _BULKY}


def load_fields(run: Run) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, Layout]:
    """The fit stage's weights [N, P], labels [N], split [N] and layout."""
    if not run.is_done("fit"):
        raise UserError(f"run {run.name!r} has no fitted fields yet: run `nfgen fit {run.name}` first")
    path = run.stage_dir("fit") / "weights.safetensors"
    layout = load_layout(run)
    t = read_tensors(path, refit_hint(run), keys=("weights", "labels", "split"))
    weights = t["weights"].float()
    bad = ~torch.isfinite(weights).all(1)
    if bool(bad.any()):
        raise UserError(f"{int(bad.sum())} fitted field(s) of run {run.name!r} hold NaN/inf weights (first: field "
                        f"{int(torch.nonzero(bad)[0])}): refit with a lower fields.lr (`nfgen fit {run.name} --force`)")
    if weights.shape[1] != layout.n_params:
        raise UserError(f"{path} has {weights.shape[1]} weights per field, layout.json says {layout.n_params}; "
                        f"{refit_hint(run)}")
    return weights, t["labels"].long(), t["split"].long(), layout


def rebuild_hint(run: Run) -> str:
    """The way out of a refused codebook-stage file."""
    return f"rerun `nfgen codebook {run.name} --force`"


def load_tokens(run: Run, vocab: Vocabulary | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The codebook stage's `tokens.safetensors`: (sequences [N, L], labels [N], split [N]) — the one reader train
    and eval use; with `vocab`, sequences must have its length."""
    if not run.is_done("codebook"):
        raise UserError(f"run {run.name!r} has no finished codebook stage: run `nfgen codebook {run.name}` first")
    path = run.stage_dir("codebook") / TOKENS_FILE
    t = read_tensors(path, rebuild_hint(run), keys=("tokens", "labels", "split"))
    tokens, labels, split = t["tokens"].long(), t["labels"].long(), t["split"].long()
    n = tokens.shape[0] if tokens.ndim == 2 else -1
    if vocab is not None:
        check_file_mode(path, vocab.mode, "tokens", rebuild_hint(run))
    if n < 0 or labels.shape != (n,) or split.shape != (n,) or (vocab is not None and tokens.shape[1] != vocab.seq_len):
        want = f", report.json says sequences of {vocab.seq_len}" if vocab is not None else ""
        raise UserError(f"{path} holds tokens of shape {list(tokens.shape)}, labels {list(labels.shape)}, split "
                        f"{list(split.shape)}{want}; {rebuild_hint(run)}")
    return tokens, labels, split


def load_vocab(run: Run) -> Vocabulary:
    """The vocabulary in the codebook stage's report.json."""
    return Vocabulary.load(run.stage_dir("codebook") / REPORT_FILE, rebuild_hint(run))


def load_targets(run: Run, cfg, labels: torch.Tensor, layout: Layout):
    """The run's fitting targets in the modality's form (row i = field i, as the fit stage selected them) and the
    dataset's class count."""
    data = for_layout(layout).load(cfg, cfg.data.root or run.workspace.datasets_dir)
    if len(data.labels) != len(labels) or not np.array_equal(data.labels, labels.numpy()):
        raise UserError(f"the fitted fields of run {run.name!r} do not match its dataset selection "
                        f"({len(labels)} fields, {len(data.labels)} items): refit with `nfgen fit {run.name} --force`")
    return data, max(len(data.classes), int(labels.max()) + 1)


def _stats(x: torch.Tensor) -> tuple[float, float]:
    if x.numel() == 0:
        return float("nan"), float("nan")
    x = x.double()
    return float(x.mean()), float(torch.quantile(x, 0.1))


def quality(tok: Tokenizer, weights: torch.Tensor, codes: torch.Tensor, data, split: torch.Tensor,
            device: torch.device) -> dict:
    """Weight MSE and the modality's score (PSNR of images, IoU of shapes) of fields from quantized weights against
    the targets and against the unquantized fields; keys named after the score (`psnr_quantized_mean`, …)."""
    mod = for_layout(tok.layout)
    q = mod.quality
    qw = tok.decode(codes).to(device)
    w = weights.to(device)
    p_q = mod.score(qw, tok.layout, data, device)
    p_w = mod.score(w, tok.layout, data, device)
    p_qw = mod.agreement(qw, w, tok.layout, data, device)
    err = (qw - w).pow(2).mean(1).cpu()
    train, held = split == 0, split != 0
    q_mean, q_p10 = _stats(p_q)
    w_mean, w_p10 = _stats(p_w)
    return {
        "quality": q,
        "weight_mse": float(err[train].double().mean()),
        "weight_mse_heldout": float(err[held].double().mean()) if held.any() else None,
        f"{q}_quantized_mean": q_mean,
        f"{q}_quantized_p10": q_p10,
        f"{q}_unquantized_mean": w_mean,
        f"{q}_unquantized_p10": w_p10,
        f"{q}_drop": w_mean - q_mean,
        f"{q}_quantized_vs_unquantized_mean": _stats(p_qw)[0],
        f"{q}_quantized_mean_heldout": _stats(p_q[held])[0] if held.any() else None,
    }


def usage(tok: Tokenizer, codes: torch.Tensor) -> dict:
    """Dead codes and perplexity of the training tokens, overall and per codebook."""
    counts = torch.bincount(codes.flatten().cpu(), minlength=tok.vocab.n_codes)
    books = []
    for i, (off, book) in enumerate(zip(tok.offsets, tok.codebooks)):
        c = counts[off:off + book.shape[0]]
        books.append({"codebook": i, "codes": int(book.shape[0]), "dim": int(book.shape[1]) if book.ndim == 2 else 1,
                      "dead": int((c == 0).sum()), "perplexity": perplexity(c)})
    return {"dead_codes": int((counts == 0).sum()), "perplexity": perplexity(counts), "codebooks": books}


def run_codebook(run: Run, progress: ProgressFn = null_progress, device: str | None = None,
                 force: bool = False) -> dict:
    """Learn the codebook(s) on the training split, tokenize all fields, write files and the report; idempotent."""
    run.require()
    out = run.stage_dir("codebook")
    if run.is_done("codebook") and not force:
        return summary(read_json(out / REPORT_FILE, rebuild_hint(run)))
    cfg = run.config()
    cc = cfg.codebook
    dev = resolve(device or cfg.device)
    weights, labels, split, layout = load_fields(run)
    data, n_classes = load_targets(run, cfg, labels, layout)
    train = split == 0
    if not bool(train.any()):
        raise UserError(f"run {run.name!r} has no training fields (split 0) to learn a codebook from")

    with run.stage("codebook"):
        t0 = time.perf_counter()
        (out / REPORT_FILE).unlink(missing_ok=True)  # a forced rerun is not done until the new report lands
        n_books = 1 if cc.mode == "scalar" else len(layout.layers)
        total = n_books * cc.iters + 2

        def on_iter(book: int, it: int, distortion: float) -> None:
            # one running `iter` over all codebooks (neuron mode: layer after layer), as the TUI's plot expects
            extra = {"layer": book} if cc.mode == "neuron" else {}
            step = book * cc.iters + it
            run.log_event("codebook", iter=step, total=n_books * cc.iters, distortion=distortion, **extra)
            progress(step, total, distortion=distortion, **extra)

        tok, results = fit_tokenizer(weights[train].to(dev), layout, cc, n_classes, cfg.seed, on_iter, run=run)
        every = torch.arange(len(labels))
        codes = encode_fields(tok, weights.to(dev),
                              lambda: for_layout(layout).batches(data, every, layout, cfg.fields, cfg.seed, dev),
                              lambda i, n: progress(total - 2, total, phase="encode", round=i, rounds=n)).cpu()
        tokens = tok.vocab.sequences(codes, labels)
        tok.save(out)
        with atomic_path(out / TOKENS_FILE) as tmp:
            save_file({"tokens": tokens.contiguous(), "labels": labels.contiguous(), "split": split.contiguous()},
                      str(tmp), metadata={"mode": tok.mode})
        progress(total - 1, total, phase="render")
        report = {
            **tok.report(),
            "codebook_size": cc.size,
            "init": cc.init,
            "n_fields": int(weights.shape[0]),
            "n_train": int(train.sum()),
            **quality(tok, weights, codes, data, split, dev),
            **usage(tok, codes[train]),
            "device": str(dev),
            "codebook_seconds": sum(r.seconds for r in results),  # learning the codebook(s) alone
            "seconds": time.perf_counter() - t0,  # learning, tokenizing, rendering and scoring
        }
        for book, r in zip(report["codebooks"], results):
            book.update(iters=r.iters, distortion=r.distortion, reassigned=r.reassigned)
        atomic_write_json(out / REPORT_FILE, report)
        q = report["quality"]
        run.log_event("codebook", event="report", dead_codes=report["dead_codes"],
                      **{f"{q}_quantized_mean": report[f"{q}_quantized_mean"]})
        progress(total, total, **{q: report[f"{q}_quantized_mean"]})
    return summary(report)

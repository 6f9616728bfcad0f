"""Stages 3 and 4: `run_train` (resumable, data-parallel under torchrun) and `run_sample` (see docs/contracts.md)."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from .. import device as devmod
from ..distributed import Ranks
from ..config import SampleConfig, sample_settings
from ..errors import UserError
from ..progress import ProgressFn, null_progress
from ..tokens import decode_tokens
from ..tokens.stage import TOKENS_FILE, load_tokens, load_vocab
from ..tokens.vocab import Vocabulary
from ..workspace import Run, file_sha256
from . import sample_session as session
from .gpt import GPT, GPTConfig
from .guidance import check_guidance
from .sample import sample_tokens
from .generator import GENERATORS, SweepSampler
from .train import make_optimizer, train_loop
from .train_session import (check_identity, load_weights, resume_checkpoint, train_session, train_stage,
                            trained_checkpoint)


KIND = "gpt"  # model.kind of this generator (model/generator.py)


# ---------------------------------------------------------------------------------------------------------------
# shared pieces

def model_config(run_cfg, vocab: Vocabulary) -> GPTConfig:
    """The GPT of this run: sizes from `model`, context and vocabulary from the codebook's token layout."""
    m = run_cfg.model
    return GPTConfig(vocab_size=vocab.vocab_size, block_size=vocab.seq_len - 1, n_layer=m.n_layer, n_head=m.n_head,
                     n_embd=m.n_embd, dropout=m.dropout, bias=m.bias, tie_head=m.tie_head,
                     n_kinds=vocab.n_kinds if m.position_kind else 0)


def build_model(cfg: GPTConfig, vocab: Vocabulary) -> GPT:
    return GPT(cfg, kinds=torch.tensor(vocab.kinds[1:], dtype=torch.long) if cfg.n_kinds else None)


def load_token_split(run: Run, vocab: Vocabulary) -> tuple[torch.Tensor, torch.Tensor, str]:
    """(train sequences, held-out sequences, sha256 of tokens.safetensors)."""
    tokens, _, split = load_tokens(run, vocab)
    train = tokens[split == 0].contiguous()
    if train.shape[0] == 0:
        raise UserError("no training sequences (every field is held out): lower data.holdout")
    return train, tokens[split == 1].contiguous(), file_sha256(run.stage_dir("codebook") / TOKENS_FILE)


def check_compatible(state: dict, cfg: GPTConfig, tokens_sha: str | None, where: Path, fix: str) -> None:
    """A checkpoint resumes only the model it was made for, on the tokens it was trained on; `fix` is the way out."""
    check_identity(state, cfg.to_dict(), where, fix, "model", "codebook")
    if tokens_sha is not None and state.get("tokens_sha256") not in (None, tokens_sha):
        raise UserError(f"checkpoint {where} was trained on other tokens (the codebook was rebuilt); {fix}")


def class_count(run: Run) -> int | None:
    """How many classes `run_sample` accepts as `digit`: the codebook vocabulary's; None before the codebook."""
    return load_vocab(run).n_classes if run.is_done("codebook") else None


def load_trained(run: Run, device: torch.device) -> tuple[GPT, Vocabulary, dict]:
    """The model of the run's last checkpoint, for sampling."""
    vocab = load_vocab(run)
    state, tensors, where, fix = trained_checkpoint(run, KIND, "transformer")
    cfg = model_config(run.config(), vocab)
    check_compatible(state, cfg, None, where, fix)
    model = build_model(cfg, vocab)
    load_weights(model, tensors, where, fix, "model")
    return model.to(device).eval(), vocab, state


# ---------------------------------------------------------------------------------------------------------------
# stage 3

def run_train(run: Run, progress: ProgressFn = null_progress, device: str | None = None, iters: int | None = None,
              force: bool = False) -> dict:
    """Train up to step `iters` (default train.iters), resuming from the last checkpoint; report when done.
    `force` starts over: the stage's checkpoint and report are removed first (the way out of a refused checkpoint).

    SIGTERM / SIGINT (main thread) make the loop checkpoint the current step and stop; run_train then raises
    KeyboardInterrupt, so the stage logs "interrupted" and the CLI exits 130 (a second signal interrupts at once).
    """
    run.require()
    cfg = run.config()
    return train_stage(run, cfg.train.iters, KIND, device or cfg.device, iters, force,
                       lambda target, dev, d: _train(run, cfg, target, dev, d, progress))


def _train(run: Run, cfg, target: int, dev: torch.device, d: Ranks, progress: ProgressFn) -> dict:
    tc = cfg.train
    out = run.stage_dir("train")
    vocab = load_vocab(run)
    train, val, tokens_sha = load_token_split(run, vocab)
    gcfg = model_config(cfg, vocab)
    devmod.seed_everything(cfg.seed)
    model = build_model(gcfg, vocab).to(dev)
    opt = make_optimizer(model, tc.lr, tc.weight_decay, dev)
    resume, state = resume_checkpoint(run, out, model, opt, KIND, tc.class_dropout, d,
                                      lambda st, where, fix: check_compatible(st, gcfg, tokens_sha, where, fix), "model")
    if resume.step >= target:
        return {"step": resume.step, "loss": state.get("loss"), "val_loss": resume.val_loss,
                "n_params": model.n_params()}

    def loop(net, hooks, at):
        return train_loop(net, model, opt, train, val, tc, cfg.seed, at, target, dev, d, hooks,
                          null_class=vocab.null_class)

    meta = {"model": gcfg.to_dict(), "seed": cfg.seed, "tokens_sha256": tokens_sha}
    return train_session(run, out, model, opt, tc, KIND, meta, dev, d, progress, resume, loop,
                         {"n_train": int(train.shape[0]), "n_val": int(val.shape[0])})


# ---------------------------------------------------------------------------------------------------------------
# stage 4

def sample_id(digit: int | None, n: int, temperature: float, top_k: int, top_p: float, seed: int, size: int,
              step: int, cfg: float = 1.0, cfg_schedule: str = "constant") -> str:
    """The sample folder of a GPT request (`all-n30-t0.8-k3-p1-s0-px28-step1400`).

    Guidance adds `-cfg<s>` (and the schedule when not constant); unguided ids are those of runs made before it."""
    schedule = "" if cfg_schedule == "constant" else f"-{cfg_schedule.replace(':', '')}"
    guided = "" if cfg == 1.0 else f"-cfg{cfg:g}{schedule}"
    return session.sample_id(digit, n, f"t{temperature:g}-k{top_k}-p{top_p:g}{guided}", seed, size, step)


def default_sample_id(cfg, step: int) -> str:
    """The id `nfgen sample RUN` gives its default request (all digits, the config's settings) at `step`."""
    sc = cfg.sample
    return sample_id(None, sc.n_per_class, sc.temperature, sc.top_k, sc.top_p, cfg.seed, sc.size, step, sc.cfg,
                     sc.cfg_schedule)




def run_sample(run: Run, progress: ProgressFn = null_progress, device: str | None = None, digit: int | None = None,
               n: int | None = None, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, size: int | None = None,
               cfg: float | None = None) -> dict:
    """Sample `n` fields per class (or of one `digit`), decode, render, and store them in samples/<id>/.

    `cfg` is the guidance scale (default sample.cfg; 1 = off), not the run's config."""
    scale = cfg
    run.require()
    cfg = run.config()
    sc = sample_settings(cfg.sample, GENERATORS[KIND].sample_flags, n_per_class=n, temperature=temperature,
                         top_k=top_k, top_p=top_p, size=size, cfg=scale)
    seed = cfg.seed if seed is None else int(seed)
    dev = devmod.resolve(device or cfg.device)
    model, vocab, state = load_trained(run, dev)
    check_guidance(sc.cfg, state, vocab.null_class, f"run {run.name!r}")
    if digit is not None:
        vocab.class_token(digit)
    sid = sample_id(digit, sc.n_per_class, sc.temperature, sc.top_k, sc.top_p, seed, sc.size, int(state["step"]),
                    sc.cfg, sc.cfg_schedule)
    return session.stored_or_sampled(run, sid, lambda out: _sample(run, model, vocab, state, out, sid, digit, sc, seed,
                                                                   progress))


def sample_sequences(model: GPT, vocab: Vocabulary, labels: torch.Tensor, temperature: float, top_k: int, top_p: float,
                     seed: int, batch_size: int, progress: ProgressFn = null_progress, cfg: float = 1.0,
                     cfg_schedule: str = "constant") -> torch.Tensor:
    """Token sequences [N, L] on the CPU for class `labels`, in seeded batches (`sample_session.seeded_batches`)."""
    return session.seeded_batches(labels, batch_size, seed, progress, lambda chunk, s, step_progress: sample_tokens(
        model, vocab, chunk, temperature, top_k, top_p, seed=s, progress=step_progress, cfg=cfg,
        cfg_schedule=cfg_schedule))


def _sample(run: Run, model: GPT, vocab: Vocabulary, state: dict, out: Path, sid: str, digit: int | None,
            sc: SampleConfig, seed: int, progress: ProgressFn) -> dict:
    labels = session.class_labels(vocab.n_classes, digit, sc.n_per_class)
    t0 = time.time()
    tokens = sample_sequences(model, vocab, labels, sc.temperature, sc.top_k, sc.top_p, seed, sc.batch_size, progress,
                              sc.cfg, sc.cfg_schedule)
    seconds = time.time() - t0
    settings = {"temperature": sc.temperature, "top_k": sc.top_k, "top_p": sc.top_p, "cfg": sc.cfg,
                "cfg_schedule": sc.cfg_schedule}
    return session.store_sample(run, out, sid, decode_tokens(run, tokens).float().cpu(), labels, digit, sc, seed,
                                int(state["step"]), seconds, settings, progress, tokens=tokens)


# ---------------------------------------------------------------------------------------------------------------
# the sweep's sampler (nfgen sweep, sweep/stage.py; its grid: sweep/grid.py)


def sweep_sampler(run: Run, device: torch.device):
    """The trained GPT as the sweep samples it: `sample_sequences` (run_sample's sampler), decoded to weights."""
    model, vocab, state = load_trained(run, device)

    def weights(s, labels, seed, batch_size, progress):
        tokens = sample_sequences(model, vocab, labels, s.temperature, s.top_k, s.top_p, seed, batch_size, progress,
                                  s.cfg, s.cfg_schedule)
        return decode_tokens(run, tokens).float()

    return SweepSampler(weights, state, vocab.n_classes, {})

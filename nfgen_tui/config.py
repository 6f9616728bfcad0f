"""The run configuration: one dataclass tree, two presets, TOML on disk, typed `--set section.key=value` overrides.

Every stage reads its section from the run's `config.toml`; nothing else decides a hyper-parameter.
"""

from __future__ import annotations

import copy
import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from .errors import UserError


@dataclass
class DataConfig:
    dataset: str = "mnist-5k"  # mnist-5k | mnist | fashion-mnist | folder:<path>
    root: str = ""  # where torchvision datasets live ("" = <workspace>/datasets)
    limit: int = 0  # at most this many images, stratified by class (0 = all)
    holdout: float = 0.1  # fraction of each class held out from training (metrics' reference / baselines)


@dataclass
class FieldsConfig:
    arch: str = "relu-pe"  # relu-pe (reference) | siren
    octaves: int = 4  # sin/cos octaves of the positional encoding (relu-pe)
    hidden: list[int] = field(default_factory=lambda: [16, 16])
    bias: bool = True
    omega0: float = 30.0  # siren's first-layer frequency
    init: str = "first"  # first | shared-random | random
    steps: int = 300  # Adam steps per field, full-image batches
    lr: float = 2e-2  # 300 steps, constant 2e-2: 36.1 dB mean (p10 33.2) on 100 mnist-5k digits; cosine lost ~2.5 dB
    schedule: str = "constant"  # constant | cosine
    chunk_size: int = 250  # fields fitted together on CPU (bounds memory; per field-step 250 ≈ 500 < 1000 here)
    gpu_chunk_size: int = 16384  # fields fitted together on CUDA (a GPU wants big batches)
    points_per_step: int = 0  # 3D fields: occupancy samples per shape in each Adam step, a seeded subset (0 = all)
    # shared subspace (fields/subspace.py): weights = w0 + μ + B·c with B [P, k] learned over the training fields
    subspace: int = 0  # k; 0 = off (every weight fitted freely)
    subspace_steps: int = 800  # Adam steps of the joint fit (B, μ, training c) and of each held-out field's c
    subspace_lr: float = 2e-3  # Adam lr of B and μ (c uses fields.lr)
    subspace_warm: int = 256  # training fields fitted ordinarily whose PCA starts B and μ


@dataclass
class CodebookConfig:
    mode: str = "scalar"  # scalar (one token per weight) | neuron (one token per neuron, one codebook per layer)
    # | pair = group:2 … group:8 (one token per G weights of a layer, one joint codebook per layer)
    # | subspace (one token per subspace coordinate c_j of fields fitted with fields.subspace = k)
    size: int = 245  # codes (per layer in neuron / group modes; one codebook for all coordinates in subspace mode)
    iters: int = 30  # Lloyd iterations at most
    init: str = "kmeans++"  # kmeans++ | random
    sample: int = 200_000  # weights (or neurons) drawn from all fields for the k-means++ init
    dead_threshold: int = 1  # a code used fewer times than this is moved onto a random actual weight
    tol: float = 1e-4  # stop when the relative distortion improvement falls below this
    refine_steps: int = 50  # subspace mode: steps refitting the free coordinates after each of 4 quantized blocks


@dataclass
class ModelConfig:
    kind: str = "gpt"  # gpt (autoregressive over the codebook's tokens) | diffusion (denoiser over the weights; `diffusion.*`)
    #                    | ar-diffusion (autoregressive over continuous tokens with a diffusion head; `ar.*`)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True
    tie_head: bool = False  # tied: val loss 4.239 vs 4.218 untied at equal steps; paper-size step 10.6 s vs 7.6 s on CPU
    position_kind: bool = False  # extra embedding of the predicted token's kind (layer, W or b): no measurable gain
    #                              (on: GPTConfig.n_kinds = the vocabulary's kind count, off: 0; see model_config)
    #                              at equal steps (val 4.2179 with, 4.2174 without; 64/4/2, 150 steps, real tokens)


@dataclass
class DiffusionConfig:
    """The weight-space diffusion generator (model.kind = diffusion; model/diffusion/): HyperDiffusion's recipe —
    linear betas, x0 prediction with an MSE loss, DDIM sampling — over tokens of the normalised field weights.
    Its training loop reads `train.*` except the four sizes below, which replace train.iters / batch_size / lr /
    min_lr (a denoiser over ~20 tokens wants other sizes than a GPT over ~220)."""
    split: str = "neuron"  # one token per: neuron (its incoming weights + bias) | layer (per layer tensor) | chunk:N
    # what is denoised: weights (the flat field weights) | codes (the k coordinates c of fields fitted with
    # fields.subspace = k; samples are decoded to w0 + μ + B·c)
    target: str = "weights"
    net: str = "transformer"  # transformer (over `split` tokens) | mlp (a residual MLP over the whole vector)
    n_layer: int = 4  # transformer blocks, or residual MLP blocks
    n_head: int = 4  # transformer only
    n_embd: int = 128  # transformer width, or the residual MLP's width
    ema: float = 0.0  # decay of an exponential moving average of the weights, sampled instead of them (0 = off)
    timesteps: int = 500  # diffusion steps T of training (HyperDiffusion: 500)
    beta_start: float = 1e-4  # linear betas (HyperDiffusion: 1e-4 → 2e-2)
    beta_end: float = 2e-2
    iters: int = 500
    batch_size: int = 32
    lr: float = 1e-3
    min_lr: float = 1e-4


@dataclass
class ARConfig:
    """The autoregressive generator over continuous tokens (model.kind = ar-diffusion; model/ar_diffusion/), MAR's
    recipe: a causal transformer reads a field's vector in tokens of `chunk` numbers (a code in its own order, coarse
    to fine) after a class token, and a small residual-MLP diffusion head denoises each token given the transformer's
    output for it. Like `diffusion.*`, its four sizes replace train.iters / batch_size / lr / min_lr; the rest of
    `train.*` (warmup, class_dropout, cadence) applies. Defaults chosen on seed 3 at the training time of quick's
    5,000 denoiser steps (311 s, one idle thread): 4 tokens of 32 numbers, one noise draw per token, a 256-wide head,
    7,000 steps (1-NNA 0.565, classifier 0.917; 16 tokens of 8 with 4 draws for 2,000 steps: 0.725, 0.730;
    docs/results.md, "Continuous autoregression at equal time")."""
    target: str = "codes"  # codes (the k coordinates c, fields.subspace = k) | weights (the flat field weights)
    chunk: int = 32  # numbers per token (the last token of a vector not divisible by it is padded with zeros)
    n_layer: int = 3  # causal transformer blocks
    n_head: int = 4
    n_embd: int = 128
    head_blocks: int = 3  # residual MLP blocks of the per-token diffusion head
    head_width: int = 256
    noise_draws: int = 1  # timestep/noise draws per token per step (MAR's diffusion batch multiplier)
    timesteps: int = 500  # the head's diffusion steps T, linear betas 1e-4 → 2e-2 (the denoiser's schedule)
    ema: float = 0.999  # decay of the weights' moving average, sampled instead of them (0 = off)
    iters: int = 7000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 1e-4


AR_TARGETS = ("codes", "weights")
AR_BETAS = (1e-4, 2e-2)  # the head's linear betas, HyperDiffusion's (as diffusion.beta_start / beta_end default)


DIFFUSION_SPLITS = "neuron | layer | chunk:N (N > 0)"
DIFFUSION_TARGETS = ("weights", "codes")
DIFFUSION_NETS = ("transformer", "mlp")


def diffusion_split_ok(text: str) -> bool:
    if text in ("neuron", "layer"):
        return True
    head, _, n = str(text).partition(":")
    return head == "chunk" and n.isdigit() and int(n) > 0


@dataclass
class TrainConfig:
    # quick: ~6 min on 2 idle cores at context 562 (128/4/4, batch 32 ran 1.2–1.3 s/step ≈ 14k tokens/s there)
    iters: int = 500
    batch_size: int = 16  # global batch (split over torchrun ranks)
    lr: float = 3e-3
    min_lr: float = 3e-4
    warmup: int = 50
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    eval_every: int = 100
    eval_iters: int = 5
    ckpt_every: int = 100
    log_every: int = 10
    # torch.compile the training step (validation and sampling stay eager). Off: on an H200 the bare paper step ran
    # 1.40x faster compiled, but the training stage ran at the same ~1 M tokens/s either way (README, Results).
    compile: bool = False
    # classifier-free guidance: the probability that a training sequence's class token is replaced by the null
    # class, so the same model also learns the unconditional distribution (0 = off; sample.cfg needs it > 0)
    class_dropout: float = 0.0


@dataclass
class SampleConfig:
    temperature: float = 0.8
    top_k: int = 3  # 0 = no top-k
    top_p: float = 1.0  # 1.0 = no nucleus filtering
    n_per_class: int = 30
    size: int = 28  # render size in pixels
    batch_size: int = 300
    cfg: float = 1.0  # classifier-free guidance scale s: logits = uncond + s·(cond − uncond); 1 = off
    cfg_schedule: str = "constant"  # constant | linear (1 → s over the weight tokens) | first:N (s on the first N)
    steps: int = 50  # diffusion runs: DDIM steps (≤ diffusion.timesteps); ar-diffusion: the head's, per token
    eta: float = 0.0  # diffusion runs: DDIM noise (0 = deterministic, 1 = DDPM-like); ar-diffusion: the head's


def cfg_schedule_ok(text: str) -> bool:
    """`constant`, `linear` or `first:N` with N a positive integer (model/guidance.py reads them)."""
    if text in ("constant", "linear"):
        return True
    head, _, n = str(text).partition(":")
    return head == "first" and n.isdigit() and int(n) > 0


# The one home of the sample settings' ranges: config.validate and `nfgen sample`'s flags both check them here.
SAMPLE_RULES: dict[str, tuple[typing.Callable[[typing.Any], bool], str]] = {
    "temperature": (lambda v: v > 0, "must be > 0"),
    "top_k": (lambda v: v >= 0, "must be >= 0 (0 = off)"),
    "top_p": (lambda v: 0 < v <= 1.0, "must be in (0, 1]"),
    "n_per_class": (lambda v: v > 0, "must be > 0"),
    "size": (lambda v: 8 <= v <= 1024, "must be in [8, 1024]"),
    "cfg": (lambda v: v >= 0, "must be >= 0 (1 = no guidance)"),
    "cfg_schedule": (cfg_schedule_ok, "must be constant | linear | first:N (N > 0)"),
    "steps": (lambda v: v >= 1, "must be >= 1"),
    "eta": (lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]"),
}


def sample_problems(sc: SampleConfig) -> list[tuple[str, str]]:
    """(key, rule) for every sample setting outside its range."""
    return [(key, rule) for key, (ok, rule) in SAMPLE_RULES.items() if not ok(getattr(sc, key))]


def sample_settings(sc: SampleConfig, flags: dict[str, str] | None = None, **given) -> SampleConfig:
    """`sc` with the values `given` (None = keep the config's), each cast to the field's type, checked once.

    A refusal names the key as `flags[key]` (a command's flag, e.g. "--top-k") or else `sample.KEY`."""
    cast = {f.name: {"int": int, "float": float, "bool": bool, "str": str}.get(str(f.type), lambda v: v)
            for f in dataclasses.fields(sc)}
    merged = dataclasses.replace(sc, **{k: cast[k](v) for k, v in given.items() if v is not None})
    for key, rule in sample_problems(merged):
        raise UserError(f"{(flags or {}).get(key, f'sample.{key}')} {rule}, got {getattr(merged, key)!r}")
    return merged


@dataclass
class EvalConfig:
    set_size: int = 300  # generated and reference sets are this size (equal, drawn without replacement)
    ssim: str = "gaussian"  # gaussian (reference) | uniform (scikit-image default)
    memorization_threshold: float = 0.95
    noise_std: float = 0.0  # train+noise baseline: Gaussian weight noise (0 = each weight position's std / 4)
    classifier_epochs: int = 3
    surface_points: int = 2048  # 3D runs: points sampled on each shape's surface for Chamfer (HyperDiffusion's 2,048)


@dataclass
class Config:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    data: DataConfig = field(default_factory=DataConfig)
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    codebook: CodebookConfig = field(default_factory=CodebookConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    ar: ARConfig = field(default_factory=ARConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sample: SampleConfig = field(default_factory=SampleConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def copy(self) -> "Config":
        return copy.deepcopy(self)


SECTIONS = ("data", "fields", "codebook", "model", "diffusion", "ar", "train", "sample", "eval")


def _quick() -> Config:
    """Sized for 2 CPU cores: the whole pipeline on mnist-5k in `make demo` (README, "Results").

    Chosen by measurement on seeds 3 and 4, reported on seeds 0–2 (docs/results.md). The generator denoises codes:
    fields fitted in a shared 128-dim subspace (33.3–33.7 dB) and a residual-MLP denoiser over their normalised codes
    reached 1-NNA 0.535 / 0.518 and classifier accuracy 0.953 / 0.953 on seeds 3 / 4 (held-out real: 0.507 / 0.497,
    0.950 / 0.947), where the weight-space denoiser of 8-8 fields had reached 0.697 / 0.663 and 0.890 / 0.947.
    Guidance 1.5 (1: accuracy 0.893; 2: 1-NNA 0.573), DDIM 50 steps at eta 0 (100 steps or eta 0.5 / 1: no better).

    The GPT settings below are used with model.kind = gpt; they were measured on 8-8 fields (217 weights, sequences
    of 219 tokens; `--set 'fields.hidden=[8,8]' --set fields.subspace=0`, or `codebook.mode=subspace` for 130-token
    sequences of the codes): 1,400 steps of batch 32 reached val loss 3.22 (700 steps: 3.30); nucleus sampling at
    T = 1.0, top-p 0.9 beat the reference's T = 0.8, top-k = 3 on 1-NNA (0.73 vs 0.90) and COV (0.45 vs 0.23), where
    top-k = 3 collapsed the variety. Classifier-free guidance (the null class in 10 % of training rows, LlamaGen's
    rate) at scale 1.5 raised its classifier accuracy by 0.11–0.13 at unchanged COV; no guidance schedule beat the
    constant scale on seeds 0–4 (docs/results.md).
    """
    c = Config()
    c.train.batch_size = 32
    c.train.iters = 1400
    c.train.class_dropout = 0.1
    c.sample.temperature = 1.0
    c.sample.top_k = 0
    c.sample.top_p = 0.9
    c.sample.cfg = 1.5
    # The generator denoises codes, not weights: 16-16 fields fitted in a shared 128-dim subspace (w = w0 + μ + B·c;
    # fields/subspace.py) and a residual-MLP denoiser over the 128 normalised coordinates of c, x0-prediction, EMA
    # of its weights, guided by the null class (README, "Results"). The GPT keys above are used with
    # model.kind = gpt (on these 561-weight fields; add codebook.mode = subspace for 130-token sequences of c).
    c.fields.hidden = [16, 16]
    c.fields.subspace = 128
    c.model.kind = "diffusion"
    c.diffusion.target = "codes"
    c.diffusion.net = "mlp"
    c.diffusion.n_layer = 4
    c.diffusion.n_embd = 512
    c.diffusion.ema = 0.999
    c.diffusion.iters = 5000
    c.diffusion.batch_size = 128
    return c


def _paper() -> Config:
    """The reference sizes (a GPU job): 561-weight fields, 245 scalar codes, GPT 240/12/12, 40k iterations."""
    c = Config()
    c.fields.steps = 1000
    c.fields.lr = 1e-2
    c.fields.schedule = "constant"
    c.model = ModelConfig(n_layer=12, n_head=12, n_embd=240, dropout=0.0)
    c.train = TrainConfig(iters=40_000, batch_size=64, lr=3e-3, min_lr=3e-4, warmup=1000,
                          eval_every=1000, eval_iters=20, ckpt_every=1000, log_every=20,
                          class_dropout=0.1)  # so `nfgen sweep --cfg` can guide it; the scale is unmeasured at this size
    c.sample.temperature, c.sample.top_k, c.sample.top_p = 0.8, 3, 1.0  # the reference's setting; `nfgen sweep` tunes it
    c.sample.n_per_class = 100
    c.eval.set_size = 1000
    c.eval.classifier_epochs = 5
    # model.kind = diffusion: HyperDiffusion's process (500 steps, linear betas 1e-4 → 2e-2, x0 prediction, MSE,
    # DDIM); the denoiser is sized like this preset's GPT (12/12/240), and sampling runs DDIM over all 500 steps
    c.diffusion = DiffusionConfig(n_layer=12, n_head=12, n_embd=240, iters=40_000, batch_size=64, lr=2e-4, min_lr=2e-5)
    c.sample.steps = 500
    return c


def _quick3d() -> Config:
    """Sized for 2 CPU cores: the whole pipeline on the built-in `shapes` (12 classes × 200).

    The generator denoises codes, as `quick` does: 16-16 fields fitted in a shared 128-dim subspace (w = w0 + μ + B·c,
    800 joint steps) and quick's residual-MLP denoiser over the 128 normalised coordinates, for 2,500 steps (quick's
    5,000 scaled to the 2,160 training shapes). Chosen on seed 3 (docs/results.md, "3D: codes"): the code fields kept
    the free fields' IoU (0.777 train, 0.769 held out), and the code denoiser reached 1-NNA 0.490, COV 0.573 and
    classifier accuracy 0.885 (held-out real: 0.464, 0.594, 0.979), where the GPT over group:4 tokens of free fields
    had averaged 0.712, 0.403 and 0.601 over seeds 0–2; its marginal codes scored 0.641, 0.531, 0.708.
    k = 64 and shorter joint fits were not measured. `--set model.kind=gpt --set fields.subspace=0` gives the former
    preset (the GPT settings below, on free fields).

    The settings below for free fields and the GPT (model.kind = gpt) were measured before: fields 16-16 on the
    positional encoding of (x, y, z) (689 weights); 800 Adam steps of 256 samples per shape reached a mean IoU of
    0.78 (p10 0.62) on 60 shapes' held-out samples (200 steps of 1,024: 0.68; 32-32 fields, 1,889 weights, 200
    steps: 0.73). group:4 tokens keep sequences at 175 tokens (quantized IoU 0.60; pair: 0.73 at
    347 tokens). All 2,400 shapes, 800 GPT steps: on 600 shapes the quick GPT overfitted from step ~200 (validation
    loss 3.88 → 7.80 at step 800 while the training loss fell to 0.39); on 2,400 its validation loss still falls at
    step 800, with dropout 0.1 (3.165) or without (3.157), and without it a step costs 0.57 s instead of 0.87 (2 CPU
    threads, `benchmarks/train_throughput.py --dropout`: the random masks), so the preset has none (README,
    "3D shapes"). The point classifier trains 10 epochs: 0.98 on held-out true surfaces (3 epochs: 0.85), ~2 min once,
    then cached in the workspace.
    """
    c = _quick()  # fields.subspace = 128 and the code denoiser (model.kind = diffusion, diffusion.net = mlp) with it
    c.diffusion.iters = 2500  # quick's 5,000 steps of batch 128 were for 4,500 training digits; 2,160 shapes here
    c.data.dataset = "shapes"
    c.data.limit = 0  # all 2,400: 600 shapes (540 training sequences) were memorised by the GPT
    c.fields.hidden = [16, 16]
    c.fields.steps = 800
    c.fields.lr = 1e-2
    c.fields.points_per_step = 256
    c.codebook.mode = "group:4"
    c.codebook.size = 256
    c.train.iters = 800
    c.sample.n_per_class = 8
    c.sample.size = 48  # occupancy grid per side for marching cubes
    c.eval.set_size = 96
    c.eval.classifier_epochs = 10
    c.eval.surface_points = 512  # Chamfer of two 512-point clouds: 0.2 ms on 2 cores; 2,048 points: 3.3 ms
    return c


def _paper3d() -> Config:
    """HyperDiffusion's field (3 × 128 hidden, ReLU, 4 octaves of the encoding; 36,353 weights) on all shapes, one
    token per neuron (385 tokens; scalar tokens would make sequences of 36k), the paper preset's GPT: a GPU job."""
    c = _paper()
    c.data.dataset = "shapes"
    c.fields.hidden = [128, 128, 128]
    c.fields.octaves = 4
    c.fields.steps = 1000
    c.fields.lr = 5e-3
    c.fields.points_per_step = 0  # every sample of a shape at every step
    c.fields.chunk_size = 64
    c.fields.gpu_chunk_size = 1024  # 1,024 shapes × 3,584 samples × 128 units: ~1.9 GB an activation (fp32)
    c.codebook.mode = "neuron"
    c.codebook.size = 512
    c.sample.size = 128
    return c


PRESETS = {"quick": _quick, "paper": _paper, "quick3d": _quick3d, "paper3d": _paper3d}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise UserError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]()


# ---------------------------------------------------------------------------------------------------------------
# validation

MODEL_KINDS = ("gpt", "diffusion", "ar-diffusion")
CODEBOOK_MODES = "scalar | neuron | pair | group:G (2 ≤ G ≤ 8) | subspace"


def codebook_mode_ok(mode: str) -> bool:
    """Every `codebook.mode` the tokens stage can run (the list above; no torch import here)."""
    if mode in ("scalar", "neuron", "pair", "subspace"):
        return True
    head, _, g = mode.partition(":")
    return head == "group" and g.isdigit() and 2 <= int(g) <= 8


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise UserError(f"config {key}: {msg}")


def validate(c: Config) -> Config:
    """Refuse values no stage can run with, naming the key."""
    _check(c.data.limit >= 0, "data.limit", "must be >= 0")
    _check(0.0 <= c.data.holdout < 1.0, "data.holdout", "must be in [0, 1)")
    _check(c.fields.arch in ("relu-pe", "siren"), "fields.arch", f"unknown architecture {c.fields.arch!r} (relu-pe | siren)")
    _check(len(c.fields.hidden) >= 1 and all(h > 0 for h in c.fields.hidden), "fields.hidden", "needs at least one layer, every width > 0")
    _check(c.fields.octaves >= 1, "fields.octaves", "must be >= 1")
    _check(c.fields.init in ("first", "shared-random", "random"), "fields.init", "first | shared-random | random")
    _check(c.fields.steps > 0, "fields.steps", "must be > 0")
    _check(c.fields.lr > 0, "fields.lr", "must be > 0")
    _check(c.fields.schedule in ("cosine", "constant"), "fields.schedule", "cosine | constant")
    _check(c.fields.chunk_size > 0 and c.fields.gpu_chunk_size > 0, "fields.chunk_size", "chunk sizes must be > 0")
    _check(c.fields.omega0 > 0, "fields.omega0", "must be > 0")
    _check(c.fields.points_per_step >= 0, "fields.points_per_step", "must be >= 0 (0 = every sample)")
    _check(c.fields.subspace >= 0, "fields.subspace", "must be >= 0 (0 = off)")
    _check(c.fields.subspace_steps > 0 and c.fields.subspace_warm > 0 and c.fields.subspace_lr > 0,
           "fields.subspace_steps", "subspace_steps, subspace_warm and subspace_lr must be > 0")
    _check(codebook_mode_ok(c.codebook.mode), "codebook.mode", CODEBOOK_MODES)
    _check(c.codebook.size >= 2, "codebook.size", "must be >= 2")
    _check(c.codebook.iters >= 1, "codebook.iters", "must be >= 1")
    _check(c.codebook.refine_steps >= 0, "codebook.refine_steps", "must be >= 0 (0 = quantize c directly)")
    _check(c.codebook.init in ("kmeans++", "random"), "codebook.init", "kmeans++ | random")
    _check(c.model.n_layer > 0 and c.model.n_head > 0, "model", "n_layer and n_head must be > 0")
    _check(c.model.n_embd > 0 and c.model.n_embd % c.model.n_head == 0, "model.n_embd", "must be > 0 and divisible by model.n_head")
    _check(0.0 <= c.model.dropout < 1.0, "model.dropout", "must be in [0, 1)")
    _check(c.model.kind in MODEL_KINDS, "model.kind", f"unknown generator {c.model.kind!r} ({' | '.join(MODEL_KINDS)})")
    d = c.diffusion
    _check(diffusion_split_ok(d.split), "diffusion.split", DIFFUSION_SPLITS)
    _check(d.target in DIFFUSION_TARGETS, "diffusion.target", " | ".join(DIFFUSION_TARGETS))
    _check(d.net in DIFFUSION_NETS, "diffusion.net", " | ".join(DIFFUSION_NETS))
    _check(0.0 <= d.ema < 1.0, "diffusion.ema", "must be in [0, 1) (0 = no moving average)")
    _check(c.model.kind != "diffusion" or d.target != "codes" or c.fields.subspace > 0, "diffusion.target",
           "codes needs fields fitted in a subspace: set fields.subspace (e.g. 128), or "
           "diffusion.target=weights to denoise free fields' weights")
    _check(d.n_layer > 0 and d.n_head > 0, "diffusion", "n_layer and n_head must be > 0")
    _check(d.n_embd > 0 and d.n_embd % d.n_head == 0, "diffusion.n_embd", "must be > 0 and divisible by diffusion.n_head")
    _check(d.timesteps >= 2, "diffusion.timesteps", "must be >= 2")
    _check(0 < d.beta_start < d.beta_end < 1, "diffusion.beta_start", "needs 0 < beta_start < beta_end < 1")
    _check(d.iters > 0 and d.batch_size > 0, "diffusion.iters", "iters and batch_size must be > 0")
    _check(d.lr > 0 and 0 <= d.min_lr <= d.lr, "diffusion.lr", "needs lr > 0 and 0 <= min_lr <= lr")
    _check(c.model.kind == "ar-diffusion" or c.sample.steps <= d.timesteps, "sample.steps",
           f"must be <= diffusion.timesteps ({d.timesteps})")
    _validate_ar(c)
    _check(c.train.iters > 0, "train.iters", "must be > 0")
    _check(c.train.batch_size > 0, "train.batch_size", "must be > 0")
    _check(c.train.lr > 0, "train.lr", "must be > 0")
    _check(0 <= c.train.min_lr <= c.train.lr, "train.min_lr", "must be in [0, train.lr]")
    _check(c.train.warmup >= 0, "train.warmup", "must be >= 0")
    _check(c.train.eval_every > 0 and c.train.ckpt_every > 0 and c.train.log_every > 0, "train", "eval_every, ckpt_every and log_every must be > 0")
    _check(0.0 <= c.train.class_dropout < 1.0, "train.class_dropout", "must be in [0, 1)")
    for key, rule in sample_problems(c.sample):
        _check(False, f"sample.{key}", rule)
    _check(c.eval.set_size > 1, "eval.set_size", "must be > 1")
    _check(c.eval.ssim in ("gaussian", "uniform"), "eval.ssim", "gaussian | uniform")
    _check(0 < c.eval.memorization_threshold <= 1, "eval.memorization_threshold", "must be in (0, 1]")
    _check(c.eval.noise_std >= 0, "eval.noise_std", "must be >= 0 (0 = a quarter of each weight's spread)")
    _check(c.eval.classifier_epochs >= 1, "eval.classifier_epochs", "must be >= 1")
    _check(c.eval.surface_points >= 16, "eval.surface_points", "must be >= 16")
    _check(c.device == "auto" or c.device == "cpu" or c.device.startswith("cuda"), "device", "auto | cpu | cuda[:N]")
    return c


def _validate_ar(c: Config) -> None:
    a = c.ar
    _check(a.target in AR_TARGETS, "ar.target", " | ".join(AR_TARGETS))
    _check(c.model.kind != "ar-diffusion" or a.target != "codes" or c.fields.subspace > 0, "ar.target",
           "codes needs fields fitted in a subspace: set fields.subspace (e.g. 128), or ar.target=weights to model "
           "free fields' weights")
    _check(a.chunk > 0, "ar.chunk", "must be > 0")
    _check(a.n_layer > 0 and a.n_head > 0, "ar.n_layer", "n_layer and n_head must be > 0")
    _check(a.n_embd > 0 and a.n_embd % a.n_head == 0, "ar.n_embd", "must be > 0 and divisible by ar.n_head")
    _check(a.head_blocks > 0 and a.head_width > 0, "ar.head_blocks", "head_blocks and head_width must be > 0")
    _check(a.noise_draws > 0, "ar.noise_draws", "must be > 0")
    _check(a.timesteps >= 2, "ar.timesteps", "must be >= 2")
    _check(0.0 <= a.ema < 1.0, "ar.ema", "must be in [0, 1) (0 = no moving average)")
    _check(a.iters > 0 and a.batch_size > 0, "ar.iters", "iters and batch_size must be > 0")
    _check(a.lr > 0 and 0 <= a.min_lr <= a.lr, "ar.lr", "needs lr > 0 and 0 <= min_lr <= lr")
    _check(c.model.kind != "ar-diffusion" or c.sample.steps <= a.timesteps, "sample.steps",
           f"must be <= ar.timesteps ({a.timesteps})")


# ---------------------------------------------------------------------------------------------------------------
# overrides and TOML

def _coerce(key: str, typ, value):
    """Turn a TOML value or a `--set` string into the field's type, or fail naming the key."""
    origin = typing.get_origin(typ)
    if origin is list:
        (inner,) = typing.get_args(typ)
        if isinstance(value, str):
            parts = [p for p in value.strip("[] ").split(",") if p.strip()]
            return [_coerce(key, inner, p.strip()) for p in parts]
        if isinstance(value, list):
            return [_coerce(key, inner, v) for v in value]
        raise UserError(f"config {key}: expected a list, got {value!r}")
    if typ is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.lower() in ("true", "1", "yes")
        raise UserError(f"config {key}: expected true/false, got {value!r}")
    if typ is int:
        if isinstance(value, bool):
            raise UserError(f"config {key}: expected an integer, got {value!r}")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).replace("_", ""))
        except ValueError:
            raise UserError(f"config {key}: expected an integer, got {value!r}") from None
    if typ is float:
        if isinstance(value, bool):
            raise UserError(f"config {key}: expected a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise UserError(f"config {key}: expected a number, got {value!r}") from None
    if typ is str:
        if not isinstance(value, str):
            raise UserError(f"config {key}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {typ}")


def _field_types(obj) -> dict:
    hints = typing.get_type_hints(type(obj))
    return {f.name: hints[f.name] for f in dataclasses.fields(obj)}


def set_value(c: Config, dotted: str, value) -> None:
    """Set `section.key` (or a top-level key) from a TOML value or string, typed by the dataclass."""
    parts = dotted.split(".")
    target = c
    for p in parts[:-1]:
        if p not in SECTIONS or not hasattr(target, p):
            raise UserError(f"unknown config key {dotted!r}")
        target = getattr(target, p)
    types = _field_types(target)
    name = parts[-1]
    if name not in types or dataclasses.is_dataclass(types[name]):
        raise UserError(f"unknown config key {dotted!r}")
    setattr(target, name, _coerce(dotted, types[name], value))


def apply_overrides(c: Config, overrides: list[str]) -> Config:
    """Apply `section.key=value` strings; each must name a known key and parse as its type."""
    for item in overrides:
        if "=" not in item:
            raise UserError(f"--set expects section.key=value, got {item!r}")
        key, value = item.split("=", 1)
        set_value(c, key.strip(), value.strip())
    return validate(c)


def from_dict(d: dict) -> Config:
    c = Config()
    for key, value in d.items():
        if key in SECTIONS:
            if not isinstance(value, dict):
                raise UserError(f"config {key}: expected a table")
            for k, v in value.items():
                set_value(c, f"{key}.{k}", v)
        else:
            set_value(c, key, value)
    return validate(c)


def dumps(c: Config) -> str:
    return tomli_w.dumps(c.to_dict())


def loads(text: str) -> Config:
    try:
        d = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"config is not valid TOML: {e}") from None
    return from_dict(d)


def load(path: Path) -> Config:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise UserError(f"cannot read config {path}: {e.strerror}") from None
    return loads(text)

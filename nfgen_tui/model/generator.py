"""The generators behind `model.kind`, each declared once: its stage module, its sample settings, its summary.

A `Generator` says what every front end needs to know about one kind without importing it (no torch here): the
sample settings it takes (`SampleSetting`: the `sample.*` key, the flag of `nfgen sample` / `nfgen sweep`, the type,
the Generate form's label, whether the sweep grids it), a one-line `describe(cfg)` for the Runs screen, and its
stage module with the entry points `run_train(run, progress, device, iters, force)`, `run_sample(run, progress,
device, digit, …its own settings)`, `load_trained(run, device)`, `default_sample_id(cfg, step)`, `class_count(run)`
and, for `nfgen sweep`, `sweep_sampler(run, device)` (a `SweepSampler`); its sweep grid (`sweep_settings(run, cfg,
axes)`: the cells, defaults for the axes not given) lives with the sweep, in the module `sweep_grid` names.
`nfgen sample`'s refusal of another generator's flags, the Generate and new-run forms, the Runs summary and the
sweep's axes are all read from these declarations: a new generator is a stage package, a grid module and one
declaration below.
Every kind shares `transformer/` (one trained generator per run): a checkpoint records its kind, and another kind
refuses it with the way out.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, NamedTuple

from ..errors import UserError
from ..modality import class_names as dataset_class_names


@dataclass(frozen=True)
class SampleSetting:
    """One sampling knob, named the same way by the config, the CLI, the Generate form and the sweep.

    Its range check is `config.SAMPLE_RULES[field]` (the config and `nfgen sample` share it)."""
    arg: str | None  # run_sample's keyword and the Generate form's input id; None: a sweep axis only
    field: str | None  # the sample.* key it defaults to; None: seed (the run's `seed`)
    flag: str  # `nfgen sample` / `nfgen sweep` flag
    type: type
    label: str | None  # the Generate form's input label; None: not on the form
    sweep_axis: str | None = None  # run_sweep's keyword (a list of values) when the sweep grids this setting
    missing: Any = None  # what a stored sweep cell without this field meant (None: a cell must have it)

    @property
    def name(self) -> str:
        """Its short name in a sentence ("top-k", "DDIM steps"): the label without its hint, else the flag."""
        return self.label.split(" (")[0] if self.label else self.flag.lstrip("-")

    @staticmethod
    def text(value) -> str:
        """A value as a form or a sentence shows it: floats without trailing zeros (0.8, 1)."""
        return f"{value:g}" if isinstance(value, float) else str(value)

    def says(self, value) -> str:
        """`top-p 0.9`: the setting and a value."""
        return f"{self.name} {self.text(value)}"


TEMPERATURE = SampleSetting("temperature", "temperature", "--temperature", float, "temperature", "temperatures")
TOP_K = SampleSetting("top_k", "top_k", "--top-k", int, "top-k (0 off)", "top_ks")
TOP_P = SampleSetting("top_p", "top_p", "--top-p", float, "top-p (1 off)", "top_ps")
CFG_SCHEDULE = SampleSetting(None, "cfg_schedule", "--cfg-schedule", str, None, "cfg_schedules", "constant")
STEPS = SampleSetting("steps", "steps", "--steps", int, "DDIM steps", "steps")
ETA = SampleSetting("eta", "eta", "--eta", float, "DDIM eta (0 exact)", "etas")
CFG = SampleSetting("cfg", "cfg", "--cfg", float, "guidance cfg (1 off)", "cfgs", 1.0)
COUNT = SampleSetting("n", "n_per_class", "--n", int, "count per digit")
SEED = SampleSetting("seed", None, "--seed", int, "seed")
SIZE = SampleSetting("size", "size", "--size", int, "render size px")


class Generator:
    """One generator's declaration; subclasses fill in the class attributes and `describe`."""
    kind: str  # model.kind
    title: str  # the new-run form's choice
    short: str  # "--top-k is a GPT setting"
    noun: str  # "run 'x' has a GPT"
    section: str  # the config section of its network sizes
    stage_module: str  # the module with the entry points above
    sweep_grid: str  # the module with its sweep grid: `sweep_settings(run, cfg, axes)` → settings (sweep/)
    settings: tuple[SampleSetting, ...]  # every sample setting it takes, in the Generate form's order
    sizes: tuple[tuple[str, str], ...]  # (config key, label) of its depth, width, steps and batch: the new-run form

    def describe(self, cfg) -> str:
        """What the Runs screen says about this generator of config `cfg`, in one line."""
        raise NotImplementedError

    def stage(self) -> ModuleType:
        return importlib.import_module(self.stage_module)

    def run_train(self, run, **kwargs) -> dict:
        return self.stage().run_train(run, **kwargs)

    def run_sample(self, run, **kwargs) -> dict:
        """`stage().run_sample` with this generator's own settings; another generator's, given, is refused."""
        own = {s.arg for s in self.settings}
        for arg, value in kwargs.items():
            if value is not None and arg in FOREIGN_ARGS and arg not in own:
                others = [g for g in GENERATORS.values() if arg in {s.arg for s in g.settings}]
                flag = next(s.flag for s in others[0].settings if s.arg == arg)
                raise UserError(f"{flag} is a {' / '.join(g.short for g in others)} setting; run {run.name!r} has a {self.noun} "
                                f"(model.kind = {self.kind}): sample it with {' / '.join(self.tuning_flags)}")
        return self.stage().run_sample(run, **{k: v for k, v in kwargs.items() if k in own or k not in FOREIGN_ARGS})

    def says(self, values: dict) -> str:
        """`DDIM steps 50, DDIM eta 0, guidance cfg 2`: the settings among `values` (keyed by sample.* field), in
        declaration order."""
        return ", ".join(s.says(values[s.field]) for s in self.settings if s.field in values)

    def load_trained(self, run, device):
        return self.stage().load_trained(run, device)

    def sweep_settings(self, run, cfg, axes: dict) -> list:
        """Its sweep grid: the axes given (run_sweep's keywords), its defaults for the others."""
        return importlib.import_module(self.sweep_grid).sweep_settings(run, cfg, axes)

    @property
    def tuning_flags(self) -> list[str]:
        """The `nfgen sample` flags of its sweep axes: what a user tunes."""
        return [s.flag for s in self.settings if s.arg and s.sweep_axis]

    @property
    def sample_flags(self) -> dict[str, str]:
        """sample.* key → its `nfgen sample` flag (how a refused value is named)."""
        return {s.field: s.flag for s in self.settings if s.field and s.arg}

    @property
    def sweep_axes(self) -> dict[str, str]:
        """run_sweep's keyword → flag of each axis the sweep grids."""
        return {s.sweep_axis: s.flag for s in self.settings if s.sweep_axis}

    @property
    def sweep_fields(self) -> dict[str, tuple[type, Any]]:
        """sample.* key → (type, value a stored cell without it meant) of each axis: what `--apply` writes."""
        return {s.field: (s.type, s.missing) for s in self.settings if s.sweep_axis}


class GPTGenerator(Generator):
    kind, title, short, noun, section = "gpt", "GPT over VQ tokens", "GPT", "GPT", "model"
    stage_module, sweep_grid = "nfgen_tui.model.stage", "nfgen_tui.sweep.grid"
    settings = (TEMPERATURE, TOP_K, TOP_P, CFG, CFG_SCHEDULE, COUNT, SEED, SIZE)
    sizes = (("model.n_layer", "GPT layers"), ("model.n_embd", "GPT width"), ("train.iters", "train iters"),
             ("train.batch_size", "batch size"))

    def describe(self, cfg) -> str:
        m, t = cfg.model, cfg.train
        return (f"codebook {cfg.codebook.mode} {cfg.codebook.size}  ·  GPT {m.n_layer}×{m.n_embd} ({m.n_head} heads)"
                f"  ·  train {t.iters} iters, batch {t.batch_size}")


class DiffusionGenerator(Generator):
    kind, title, short, noun, section = "diffusion", "weight-space diffusion", "diffusion", "diffusion generator", \
        "diffusion"
    stage_module, sweep_grid = "nfgen_tui.model.diffusion.stage", "nfgen_tui.sweep.ddim_grid"
    settings = (STEPS, ETA, CFG, COUNT, SEED, SIZE)
    sizes = (("diffusion.n_layer", "denoiser layers"), ("diffusion.n_embd", "denoiser width"),
             ("diffusion.iters", "train iters"), ("diffusion.batch_size", "batch size"))

    def describe(self, cfg) -> str:
        d = cfg.diffusion
        net = (f"residual MLP {d.n_layer}×{d.n_embd}" if d.net == "mlp"
               else f"denoiser {d.n_layer}×{d.n_embd} ({d.n_head} heads)")
        ema = f", EMA {d.ema:g}" if d.ema > 0 else ""
        return f"{net} over {tokens_of(cfg)}  ·  {d.iters} steps, batch {d.batch_size}{ema}"


class ARDiffusionGenerator(Generator):
    kind, title, short, noun, section = "ar-diffusion", "autoregressive, diffusion head (MAR)", "AR-diffusion", \
        "generator over continuous tokens", "ar"
    stage_module, sweep_grid = "nfgen_tui.model.ar_diffusion.stage", "nfgen_tui.sweep.ar_grid"
    settings = (TEMPERATURE, STEPS, ETA, CFG, COUNT, SEED, SIZE)
    sizes = (("ar.n_layer", "transformer layers"), ("ar.n_embd", "transformer width"), ("ar.iters", "train iters"),
             ("ar.batch_size", "batch size"))

    def describe(self, cfg) -> str:
        a = cfg.ar
        what = f"codes of {cfg.fields.subspace}" if a.target == "codes" else "the weights"
        ema = f", EMA {a.ema:g}" if a.ema > 0 else ""
        return (f"transformer {a.n_layer}×{a.n_embd} over {what} in tokens of {a.chunk}, diffusion head "
                f"{a.head_blocks}×{a.head_width}  ·  {a.iters} steps, batch {a.batch_size}{ema}")


def tokens_of(cfg) -> str:
    """What the denoiser reads (`diffusion.target`, `net`, `split`) in words, from the config alone (fields have one
    output)."""
    d, hidden = cfg.diffusion, cfg.fields.hidden
    split = d.split
    if d.target == "codes":
        k = cfg.fields.subspace
        return f"codes of {k}" if d.net == "mlp" else f"codes of {k} in chunks of {split.partition(':')[2]}"
    if d.net == "mlp":
        return "the whole weight vector"
    if split == "neuron":
        return f"{sum(hidden) + 1} neuron tokens"
    if split == "layer":
        return f"{len(hidden) + 1} layer tokens"
    return f"chunks of {split.partition(':')[2]} weights"


GENERATORS: dict[str, Generator] = {g.kind: g for g in (GPTGenerator(), DiffusionGenerator(), ARDiffusionGenerator())}
# every run_sample keyword some generator owns and another may lack (refused when given to the other)
FOREIGN_ARGS = {s.arg for g in GENERATORS.values() for s in g.settings if s.arg} - \
    set.intersection(*({s.arg for s in g.settings} for g in GENERATORS.values()))


class SweepSampler(NamedTuple):
    """A loaded generator as the sweep uses it: `weights(setting, labels, seed, batch_size, progress)` → fields
    [N, P] float32, drawn exactly as `nfgen sample` draws them with that setting and seed."""
    weights: Callable
    state: dict  # the checkpoint's state.json (step, hashes)
    n_classes: int
    identity: dict  # what else a stored cell must match, beside the sweep's own identity


def declared(kind: str) -> Generator:
    """The declaration of generator `kind` (an unknown kind is a user error listing every kind)."""
    if kind not in GENERATORS:
        raise UserError(f"unknown model.kind {kind!r}: choose one of {', '.join(GENERATORS)}")
    return GENERATORS[kind]


def generator(kind: str) -> ModuleType:
    """The stage module of generator `kind`."""
    return declared(kind).stage()


def of_run(run) -> Generator:
    """The declaration of the run's configured generator."""
    return declared(run.config().model.kind)


def run_train(run, **kwargs) -> dict:
    return of_run(run).run_train(run, **kwargs)


def run_sample(run, **kwargs) -> dict:
    return of_run(run).run_sample(run, **kwargs)


def class_names(run) -> list[str]:
    """The classes a run samples, label i first (`nfgen sample --digit i`): as many as its generator accepts
    (`class_count`), named by its dataset (unnamed ones, e.g. a dataset folder renamed since, by number); the
    dataset's names alone before the generator's files exist, or when they are unreadable (sampling reports that)."""
    cfg = run.config()
    try:
        names = dataset_class_names(cfg.data.dataset)
    except UserError:  # a folder dataset moved away: number the classes
        names = []
    try:
        n = generator(cfg.model.kind).class_count(run)
    except UserError:
        n = None
    return names if n is None else [names[i] if i < len(names) else str(i) for i in range(n)]


def default_sample_id(run, cfg, step: int) -> str:
    """samples/<id> of `nfgen sample RUN` with the config's settings at checkpoint `step`."""
    return generator(cfg.model.kind).default_sample_id(cfg, step)


def check_kind(saved: dict, kind: str, where, run_name: str) -> None:
    """Refuse a checkpoint or report of another generator (files from before kinds existed are the GPT's)."""
    theirs = saved.get("kind", "gpt")
    if theirs != kind:
        raise UserError(f"{where} holds a {theirs} generator, the config says model.kind = {kind}: set model.kind "
                        f"back to {theirs}, or rerun `nfgen train {run_name} --force` to train a {kind} from scratch")

"""The `nfgen` command: every stage as a headless subcommand; `nfgen` alone opens the TUI.

Contract: results on stdout (`--json`: exactly one JSON object), progress and logs on stderr; exit 0 on success,
2 on a user error (one line, no traceback), 1 on anything unexpected.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import typer
from typer.core import TyperGroup

from . import config as cfgmod
from . import jobs
from .errors import UserError
from .progress import rich_progress
from .workspace import STAGE_ORDER, Workspace

try:  # typer >= 0.2x carries its own copy of Click
    from typer._click.exceptions import ClickException, UsageError
except ImportError:  # pragma: no cover - older typer depends on click
    from click.exceptions import ClickException, UsageError


class State:
    workspace: Workspace = Workspace()
    device: str | None = None


state = State()


class OneLineErrors(TyperGroup):
    """Every user error (a bad flag, a `UserError`, a workspace that cannot be written) ends as one line on stderr
    and exit 2: no usage box, no traceback. Anything else is a bug: exit 1 with its traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            code = code if isinstance(code, int) else 0
            if code == 130:
                typer.echo("nfgen: interrupted", err=True)
        except UsageError as e:
            code = _error(e.format_message() + (f" (try '{e.ctx.command_path} -h')" if e.ctx else ""))
        except ClickException as e:
            code = _error(e.format_message(), e.exit_code)
        except UserError as e:
            code = _error(str(e))
        except typer.Abort:
            code = _error("aborted", 1)
        except OSError as e:
            problem = state.workspace.write_problem(e)
            if problem is None:
                raise
            code = _error(problem)
        if not standalone_mode:
            return code
        sys.exit(code)


def _error(message: str, code: int = 2) -> int:
    typer.echo("nfgen: error: " + " ".join(message.split()), err=True)
    return code


SETTINGS = {"help_option_names": ["-h", "--help"]}
PRESET_HELP = "quick | paper | quick3d | paper3d (default: quick, or quick3d for a 3D dataset)"
DATASET_HELP = "mnist-5k | mnist | fashion-mnist | folder:PATH | shapes | meshes:PATH"
RUN = typer.Argument(..., metavar="RUN", help="The run's name (its folder under WORKSPACE/runs).")
JSON = typer.Option(False, "--json", help="One JSON object on stdout (progress and logs on stderr).")


def _typer(help: str, **kw) -> typer.Typer:
    """Plain Click help (rich's boxes show a `<bool>` value after flags that take none) and `-h`."""
    return typer.Typer(help=help, rich_markup_mode=None, pretty_exceptions_enable=False, context_settings=SETTINGS,
                       **kw)


app = _typer("Generate neural fields by sampling them from a trained generator.", name="nfgen", cls=OneLineErrors,
             add_completion=True, no_args_is_help=False)
data_app = _typer("Datasets: list, show, prepare.")
classifier_app = _typer("The classifiers that score generated samples: digits and images, and 3D shapes.")
app.add_typer(data_app, name="data")
app.add_typer(classifier_app, name="classifier")


def _print_eval(result: dict) -> None:
    """An eval result as tables, its items named by the result's modality (a 2D result names none)."""
    from .metrics.report import print_eval
    from .modality import get

    print_eval(result, items=get(result.get("modality")).nouns.items)


def emit(result: dict, as_json: bool, human: Callable[[dict], None] | None = None) -> None:
    if os.environ.get("RANK", "0") != "0":  # under torchrun only rank 0 reports
        return
    if as_json:
        sys.stdout.write(json.dumps(result, default=_json_default) + "\n")
        sys.stdout.flush()
    elif human is not None:
        human(result)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_header=False, box=None)
        for k, v in result.items():
            if not isinstance(v, (dict, list)):
                table.add_row(str(k), _fmt_value(v))
        Console().print(table)


def _json_default(o: Any):
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.1f}"
    return str(v)


def _version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit()


def version_text() -> str:
    """nfgen's, torch's and the CUDA device's names: what a bug report needs first."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    try:
        mine = version("nfgen")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without installing
        mine = "(not installed)"
    cuda = (f"CUDA {torch.version.cuda} on {torch.cuda.get_device_name(0)}" if torch.cuda.is_available()
            else "no CUDA device")
    return f"nfgen {mine}, torch {torch.__version__}, {cuda}"


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    workspace: Optional[Path] = typer.Option(None, "--workspace", "-w", envvar="NFGEN_WORKSPACE",
                                             help="Workspace folder (default ./workspace)."),
    device: Optional[str] = typer.Option(None, "--device", metavar="DEVICE",
                                         help="auto | cpu | cuda[:N] (overrides the run's config)."),
    job_stage: bool = typer.Option(False, "--job-stage", hidden=True, help="Run as a background job's stage."),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_version, expose_value=False,
                                 help="Print nfgen's, torch's and the CUDA device's versions and exit."),
):
    state.workspace = Workspace(workspace if workspace is not None else Path("./workspace")).check()
    state.device = device
    if job_stage:
        jobs.become_stage_process(state.workspace)
    if ctx.invoked_subcommand is None:
        _open_tui()


def _open_tui() -> None:
    from .tui.app import run_app

    run_app(state.workspace)


@app.command()
def tui():
    """Open the terminal UI on the workspace (same as `nfgen` alone)."""
    _open_tui()


# ---------------------------------------------------------------------------------------------------------------
# data

@data_app.command("list")
def data_list(as_json: bool = JSON):
    """Datasets with availability, size and per-class counts."""
    from .data.datasets import skipped_text
    from .modality import list_datasets

    infos = list_datasets(state.workspace.datasets_dir, state.workspace.dataset_names())
    result = {"datasets": [i.to_dict() for i in infos]}

    def human(r):
        from rich.console import Console
        from rich.table import Table

        t = Table(title="datasets")
        for col in ("name", "available", "size", "per class", "description"):
            t.add_column(col)
        for i in infos:
            t.add_row(i.name, "yes" if i.available else "no", str(i.size or "-"),
                      " ".join(map(str, i.class_counts)) if i.class_counts else "-",
                      "\n".join(x for x in (i.description, skipped_text(i.skipped)) if x))
        Console().print(t)

    emit(result, as_json, human)


@data_app.command("show")
def data_show(name: str = typer.Argument("mnist-5k", metavar="NAME", help=DATASET_HELP),
              n: int = typer.Option(20, "--n", help="Images (or shapes) to draw."),
              root: Optional[Path] = typer.Option(None, "--root", help="Folder with torchvision's files.")):
    """Class counts and a few images (or shaded shapes) drawn in the terminal."""
    from rich.console import Console

    from .modality import for_dataset

    for_dataset(name).show(name, root or state.workspace.datasets_dir, n, Console())


@data_app.command("prepare")
def data_prepare(name: str = typer.Argument(..., metavar="NAME", help=DATASET_HELP),
                 download: bool = typer.Option(False, "--download", help="Fetch it (needs network)."),
                 root: Optional[Path] = typer.Option(None, "--root", help="Where the files live or go.")):
    """Make a dataset available (torchvision download or check existing files; for shapes and meshes:PATH, compute
    and cache their occupancy samples)."""
    from .data.datasets import skipped_text
    from .modality import for_dataset

    mod = for_dataset(name)
    with rich_progress(mod.prepare_progress or "", enabled=mod.prepare_progress is not None) as progress:
        ds = mod.prepare(name, root or state.workspace.datasets_dir, download, progress)
    typer.echo(f"{ds.name}: {len(ds)} {mod.nouns.items} ready{mod.prepared}, per class {ds.class_counts()}")
    if ds.skipped:
        typer.echo(skipped_text(ds.skipped), err=True)


# ---------------------------------------------------------------------------------------------------------------
# runs

def _note(text: str) -> None:
    typer.echo(f"nfgen: {text}", err=True)


@app.command()
def init(run: str = RUN, preset: Optional[str] = typer.Option(None, "--preset", metavar="PRESET", help=PRESET_HELP),
         dataset: Optional[str] = typer.Option(None, "--dataset", metavar="NAME", help=DATASET_HELP),
         set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="section.key=value (repeatable)"),
         as_json: bool = JSON):
    """Create a run folder with its full resolved config (the dataset is checked first)."""
    from .newrun import create

    r, used = create(state.workspace, run, preset, dataset, set_, note=_note)
    c = r.config()
    emit({"run": r.name, "dir": str(r.dir), "preset": used, "dataset": c.data.dataset}, as_json,
         lambda res: typer.echo(f"created run {res['run']} at {res['dir']} ({used}, {c.data.dataset})"))


@app.command("config")
def config_(run: str = RUN, as_json: bool = typer.Option(False, "--json", help="JSON instead of TOML.")):
    """Print a run's resolved config (TOML, as in its config.toml)."""
    c = state.workspace.run(run).config()
    typer.echo(json.dumps(c.to_dict()) if as_json else cfgmod.dumps(c), nl=as_json)


@app.command()
def status(run: Optional[str] = typer.Argument(None, metavar="RUN", help="One run (default: all of them)."),
           as_json: bool = JSON):
    """Runs, the state of each stage, and running jobs."""
    ws = state.workspace
    runs = [ws.run(run).require()] if run else ws.runs()
    result = {"workspace": str(ws.root), "runs": {r.name: r.states() for r in runs},
              "jobs": {r.name: j for r in runs if (j := jobs.job_status(r)) is not None}}
    result["stopped_at"] = {r.name: stopped for r in runs if (stopped := _stopped_at(r, result["runs"][r.name]))}

    def human(res):
        from rich.console import Console
        from rich.table import Table

        colours = {"done": "green", "running": "yellow", "failed": "red", "interrupted": "magenta"}
        t = Table(title=f"runs in {ws.root}")
        t.add_column("run")
        for s in STAGE_ORDER:
            t.add_column(s)
        t.add_column("job")
        for name, states in res["runs"].items():
            job = res["jobs"].get(name)
            at = res["stopped_at"].get(name, {})
            t.add_row(name, *[f"[{colours.get(v, 'dim')}]{v}{_step_text(at.get(s))}[/]" for s, v in states.items()],
                      f"{job['stage']} ({job['state']})" if job else "")
        Console().print(t)

    emit(result, as_json, human)


def _stopped_at(run, states: dict[str, str]) -> dict:
    """Interrupted stages' last logged step, so `status` says where each stopped."""
    return {s: step for s, v in states.items() if v == "interrupted" and (step := run.last_step(s))}


def _step_text(step: dict | None) -> str:
    if not step:
        return ""
    where = f"chunk {step['chunk']} " if "chunk" in step else ""
    return f"\n{where}step {step['step']}" + (f"/{step['total']}" if "total" in step and not where else "")


def _stage_command(label: str, fn: Callable[..., dict], run: str, **kwargs) -> dict:
    """Run one stage function on a run with a progress bar on stderr; the caller emits the result."""
    r = state.workspace.run(run).require()
    with rich_progress(label) as progress:
        result = fn(r, progress=progress, device=state.device, **kwargs)
    return result


@app.command()
def fit(run: str = RUN, as_json: bool = JSON,
        force: bool = typer.Option(False, "--force", help="Start over: refit every field.")):
    """Stage 1: fit one neural field per image from a shared initialization (resumable)."""
    from .stages.fit import run_fit

    emit(_stage_command("fit", run_fit, run, force=force), as_json)


@app.command()
def codebook(run: str = RUN, as_json: bool = JSON,
             force: bool = typer.Option(False, "--force", help="Start over: relearn the codebook.")):
    """Stage 2: learn the VQ codebook and tokenize every field."""
    from .tokens.stage import run_codebook
    from .tokens.table import print_codebook

    emit(_stage_command("codebook", run_codebook, run, force=force), as_json, print_codebook)


@app.command()
def train(run: str = RUN, as_json: bool = JSON,
          iters: Optional[int] = typer.Option(None, "--iters", help="Train up to this step (default: train.iters; "
                                                                    "diffusion.iters or ar.iters for those kinds)."),
          force: bool = typer.Option(False, "--force", help="Start over: remove the checkpoint and report first.")):
    """Stage 3: train the generator (model.kind: the GPT on token sequences, the diffusion denoiser on the
    fields' weights or codes, or the ar-diffusion transformer on their continuous tokens), resuming from its last
    checkpoint."""
    from .model.generator import run_train

    emit(_stage_command("train", run_train, run, iters=iters, force=force), as_json)


def _parse_digit(digit: str) -> int | None:
    if digit == "all":
        return None
    try:
        return int(digit)
    except ValueError:
        raise UserError(f"--digit must be a class index or 'all', got {digit!r}") from None


@app.command()
def sample(run: str = RUN,
           digit: str = typer.Option("all", "--digit", metavar="D|all",
                                     help="Class index (0-9 for digits, 0-11 for shapes) or 'all'."),
           n: Optional[int] = typer.Option(None, "--n", help="Samples per class (default sample.n_per_class)."),
           temperature: Optional[float] = typer.Option(None, "--temperature",
                                                       help="GPT runs: softmax temperature; ar-diffusion runs: "
                                                            "the head's noise scale."),
           top_k: Optional[int] = typer.Option(None, "--top-k", help="0 = off"),
           top_p: Optional[float] = typer.Option(None, "--top-p", help="1.0 = off"),
           seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed (default: the run's seed)."),
           size: Optional[int] = typer.Option(None, "--size", help="Render size in pixels."),
           cfg: Optional[float] = typer.Option(None, "--cfg", help="Classifier-free guidance scale (1 = off; "
                                                                   "needs train.class_dropout > 0)."),
           steps: Optional[int] = typer.Option(None, "--steps", help="Diffusion runs: DDIM steps; ar-diffusion "
                                                                     "runs: the head's, per token (default sample.steps)."),
           eta: Optional[float] = typer.Option(None, "--eta", help="Diffusion and ar-diffusion runs: DDIM noise, "
                                                                 "0 = deterministic."),
           as_json: bool = JSON):
    """Stage 4: sample new fields for a digit and render them."""
    from .model.generator import run_sample

    result = _stage_command("sample", run_sample, run, digit=_parse_digit(digit), n=n,
                            temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, size=size, cfg=cfg,
                            steps=steps, eta=eta)
    emit(result, as_json)


@app.command("eval")
def eval_(run: str = RUN, as_json: bool = JSON,
          force: bool = typer.Option(False, "--force", help="Recompute the metrics of the latest samples.")):
    """Stage 5: MMD / COV / 1-NNA, classifier score, memorization, with baselines."""
    from .stages.evaluate import run_eval

    result = _stage_command("eval", run_eval, run, force=force)
    emit(result, as_json, _print_eval)


@app.command()
def pipeline(run: str = RUN,
             preset: Optional[str] = typer.Option(None, "--preset", metavar="PRESET",
                                                  help="A new run's preset: " + PRESET_HELP),
             dataset: Optional[str] = typer.Option(None, "--dataset", metavar="NAME",
                                                   help="A new run's dataset: " + DATASET_HELP),
             set_: list[str] = typer.Option([], "--set", metavar="KEY=VALUE", help="section.key=value (repeatable); "
                                            "an existing run refuses flags that would change its config."),
             force: bool = typer.Option(False, "--force", help="An existing run whose config these flags change is "
                                        "deleted and started over."),
             seeds: Optional[str] = typer.Option(None, "--seeds", metavar="LIST", help="Comma-separated seeds: one "
                                                 "whole run per seed (RUN-s<seed>) and a mean ± std summary."),
             as_json: bool = JSON):
    """All remaining stages (fit, codebook, train, sample, eval), resuming; a finished run just reports."""
    from .pipeline import run_pipeline

    if seeds is not None:
        from .seeds import parse_seeds, print_summary, run_seeds

        emit(run_seeds(state.workspace, run, parse_seeds(seeds), preset=preset, dataset=dataset, overrides=set_,
                       device=state.device, show_progress=True, force=force, note=_note), as_json, print_summary)
        return

    result = run_pipeline(state.workspace, run, preset=preset, dataset=dataset, overrides=set_, device=state.device,
                          show_progress=True, force=force, note=_note)
    from . import modality

    def human(res):
        _print_eval(res["eval"])
        if res.get("grid"):
            typer.echo(f"grid of generated {modality.get(res.get('fit', {}).get('modality')).nouns.generated}: "
                       f"{res['grid']}")

    emit(result, as_json, human)


def _values(flag: str, help: str):
    """A sweep axis: comma-separated values."""
    return typer.Option(None, flag, metavar="LIST", help=help)


@app.command()
def sweep(run: str = RUN,
          temperature: Optional[str] = _values("--temperature", "GPT and ar-diffusion runs: comma-separated "
                                               "temperatures (default 0.6,0.8,1.0,1.2; ar-diffusion 0.8,0.9,1)."),
          top_k: Optional[str] = _values("--top-k", "GPT runs: comma-separated top-k values (0 = off) "
                                         "(default 1,3,5,10,0)."),
          top_p: Optional[str] = _values("--top-p", "GPT runs: comma-separated top-p values (1.0 = off) "
                                         "(default 1.0)."),
          cfg: Optional[str] = _values("--cfg", "Comma-separated guidance scales (1 = off; others need a run "
                                       "trained with train.class_dropout > 0) (default 1; diffusion and ar-diffusion "
                                       "runs trained with it: 1,1.5,2,3)."),
          cfg_schedule: Optional[str] = _values("--cfg-schedule", "GPT runs: comma-separated guidance schedules: "
                                                "constant | linear | first:N (default constant)."),
          steps: Optional[str] = _values("--steps", "Diffusion and ar-diffusion runs: comma-separated DDIM "
                                         "step counts (1..diffusion.timesteps or ar.timesteps) (default "
                                         "sample.steps)."),
          eta: Optional[str] = _values("--eta", "Diffusion and ar-diffusion runs: comma-separated DDIM eta "
                                       "values in [0, 1] "
                                       "(default sample.eta)."),
          n_per_class: Optional[int] = typer.Option(None, "--n-per-class",
                                                    help="Samples per class per cell (default sample.n_per_class)."),
          seed: Optional[int] = typer.Option(None, "--seed", help="Sampling seed, the same for every cell."),
          digit: int = typer.Option(0, "--digit", help="Class shown in the sample strip PNG."),
          apply: bool = typer.Option(False, "--apply", help="Write the best setting into the run's config.toml."),
          force: bool = typer.Option(False, "--force", help="Recompute cells already stored."),
          as_json: bool = JSON):
    """Inference tuning: score every temperature × top-k (× top-p × cfg) cell — DDIM steps × eta × cfg on a
    diffusion run, temperature × head steps × eta × cfg on an ar-diffusion run — pick the best, draw heat maps and the fidelity–variety front."""
    from .sweep.report import eval_result_of, print_sweep, write_pictures
    from .sweep.stage import apply_setting, run_sweep

    result = _stage_command("sweep", run_sweep, run, temperatures=temperature, top_ks=top_k, top_ps=top_p,
                            n_per_class=n_per_class, seed=seed, force=force, cfgs=cfg, cfg_schedules=cfg_schedule,
                            steps=steps, etas=eta)
    r = state.workspace.run(run)
    pictures = write_pictures(r, result, digit)
    result = {**result, "pictures": pictures["heatmaps"], "strip": pictures["strip"], "front": pictures["front"]}
    if apply:
        if not result.get("best"):
            raise UserError("no cell has both 1-NNA and a classifier accuracy: nothing to apply")
        result["applied"] = apply_setting(r, result["best"])
    emit(result, as_json, lambda res: print_sweep(res, eval_result=eval_result_of(r)))
    if apply and not as_json:
        from .model.generator import declared

        said = declared(r.config().model.kind).says(result["applied"]["after"])
        typer.echo(f"default sampling setting is now {said} ({result['applied']['config']})")


@app.command()
def metrics(gen: Path = typer.Argument(..., metavar="GEN.npy", help="Generated images."),
            ref: Path = typer.Argument(..., metavar="REF.npy", help="Reference images."), as_json: bool = JSON,
            ssim: str = typer.Option("gaussian", "--ssim", metavar="gaussian|uniform", help="SSIM window.")):
    """MMD / COV / 1-NNA between two image arrays (.npy, N×H×W floats in [0, 1])."""
    from .device import resolve
    from .metrics.generative import compare_files

    result = compare_files(gen, ref, ssim=ssim, device=resolve(state.device or "auto"))
    emit(result, as_json)


@classifier_app.command("train")
def classifier_train(dataset: str = typer.Option("mnist-5k", "--dataset", metavar="NAME", help=DATASET_HELP),
                     epochs: Optional[int] = typer.Option(None, "--epochs",
                                                          help="Default: the quick preset's (quick3d's for shapes)."),
                     seed: int = typer.Option(0, "--seed", help="Training seed (a run uses its own seed)."),
                     force: bool = typer.Option(False, "--force", help="Retrain instead of loading the cached one."),
                     as_json: bool = JSON):
    """Train (or load from the workspace cache) the network that scores generated samples: the CNN for images, the
    point classifier for a shape dataset (`shapes`, `meshes:PATH`; the one a run on all of it with this seed uses)."""
    from .device import resolve
    from .modality import for_dataset
    from .newrun import matching_preset

    if epochs is None:
        epochs = cfgmod.preset(matching_preset("quick", dataset)).eval.classifier_epochs
    device = resolve(state.device or "auto")
    with rich_progress("classifier") as progress:
        _, report = for_dataset(dataset).train_classifier(state.workspace, dataset, epochs, seed, device, force,
                                                          progress)
    emit(report, as_json)


def main() -> None:
    """Console entry point: unexpected errors exit 1 with their traceback."""
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app(prog_name="nfgen")


if __name__ == "__main__":
    main()

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nfgen_tui.cli import app

runner = CliRunner()


def invoke(workspace, *args):
    return runner.invoke(app, ["--workspace", str(workspace.root), *args])


def test_data_list_json_reports_mnist5k(workspace):
    r = invoke(workspace, "data", "list", "--json")
    assert r.exit_code == 0, r.output
    datasets = {d["name"]: d for d in json.loads(r.stdout)["datasets"]}
    assert datasets["mnist-5k"]["available"] is True and datasets["mnist-5k"]["size"] == 5000
    assert datasets["mnist-5k"]["class_counts"] == [500] * 10
    assert datasets["mnist"]["available"] is False and "--download" in datasets["mnist"]["hint"]


def test_init_and_status(workspace):
    r = invoke(workspace, "init", "r1", "--preset", "quick", "--set", "train.iters=7", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["run"] == "r1"
    assert "iters = 7" in (workspace.root / "runs" / "r1" / "config.toml").read_text()
    r = invoke(workspace, "status", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["runs"] == {"r1": {"fit": "not started", "codebook": "not started",
                                                   "train": "not started", "sample": "not started",
                                                   "eval": "not started"}}


def one_line_error(r, fragment: str = "") -> str:
    """The one stderr line of a user error (exit 2, no usage box, no traceback); it must hold `fragment`."""
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nfgen: error:") and fragment in lines[0], r.stderr
    assert "Traceback" not in r.output and "─" not in r.output and "Usage:" not in r.output
    return lines[0]


def test_user_errors_exit_2_with_one_line(workspace):
    cases = [
        (("init", "../x"), "invalid run name"),
        (("init", "r", "--set", "train.lr=fast"), "train.lr"),
        (("init", "r", "--preset", "huge"), "unknown preset"),
        (("status", "ghost"), "nfgen init ghost"),
        (("fit", "ghost"), "unknown run"),
        (("config", "ghost"), "nfgen init ghost"),
        (("data", "show", "cifar"), "folder:PATH, shapes or meshes:PATH"),
        (("sample", "r", "--top-k", "abc"), "'--top-k'"),  # a parse error: Click's, without its box
        (("sample", "r", "--top-k", "abc"), "(try 'nfgen sample -h')"),
        (("init",), "Missing argument 'RUN'"),
        (("nope",), "No such command"),
    ]
    for args, fragment in cases:
        one_line_error(invoke(workspace, *args), fragment)
    assert not (workspace.root / "runs" / "r").exists()


def test_a_workspace_that_cannot_be_written_is_a_user_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    cases = [(tmp_path / "file", ("init", "r"), "is not a folder"), (tmp_path / "file", ("status",), "is a file"),
             (tmp_path / "file" / "ws", ("data", "list"), "is a file")]
    if Path("/proc/self").exists():  # a folder nobody can create runs in, even root
        cases.append((Path("/proc/ws"), ("init", "r"), "cannot be written"))
    for root, args, fragment in cases:
        line = one_line_error(runner.invoke(app, ["--workspace", str(root), *args]), fragment)
        assert "pass --workspace a" in line


def test_init_refuses_a_dataset_that_cannot_work(workspace, tmp_path):
    (tmp_path / "mesh.obj").write_text("v 0 0 0\n")
    cases = [
        (("--dataset", "mnist-6k"), "unknown dataset 'mnist-6k'"),
        (("--dataset", "folder:/nonexistent/path"), "not a readable directory"),
        (("--dataset", f"meshes:{tmp_path / 'mesh.obj'}"), "one sub-folder of meshes per class"),
        (("--dataset", "mnist"), "nfgen data prepare mnist --download"),  # not downloaded: refused, offline
        (("--set", "data.dataset=fashion-mnist"), "nfgen data prepare fashion-mnist --download"),
        (("--preset", "quick3d", "--dataset", "mnist-5k"), "use --preset quick, or leave --preset out"),
        (("--preset", "paper", "--dataset", "shapes"), "use --preset paper3d"),
    ]
    for args, fragment in cases:
        one_line_error(invoke(workspace, "init", "r", *args), fragment)
        r = runner.invoke(app, ["--workspace", str(workspace.root), "pipeline", "r", *args])
        one_line_error(r, fragment)
    assert not (workspace.root / "runs").exists()


def test_init_on_a_3d_dataset_takes_the_3d_preset_and_says_so(workspace):
    r = invoke(workspace, "init", "s", "--dataset", "shapes", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["preset"] == "quick3d"
    assert r.stderr.strip() == "nfgen: preset quick3d (sized for 3D shapes; pass --preset to choose another)"
    c = workspace.run("s").config()
    assert (c.data.dataset, c.codebook.mode) == ("shapes", "group:4")
    r = invoke(workspace, "init", "q", "--json")  # images keep quick, silently
    assert (json.loads(r.stdout)["preset"], r.stderr) == ("quick", "")


def test_pipeline_refuses_flags_that_would_change_an_existing_run(workspace):
    assert invoke(workspace, "init", "demo", "--preset", "quick").exit_code == 0
    before = (workspace.root / "runs" / "demo" / "config.toml").read_text()
    line = one_line_error(invoke(workspace, "pipeline", "demo", "--preset", "quick", "--set", "model.kind=gpt"),
                          "model.kind ('diffusion' → 'gpt')")
    assert "new run name" in line and "--force" in line
    line = one_line_error(invoke(workspace, "pipeline", "demo", "--set", "train.iters=3", "--dataset", "mnist"),
                          "data.dataset ('mnist-5k' → 'mnist'), train.iters (1400 → 3)")
    assert (workspace.root / "runs" / "demo" / "config.toml").read_text() == before
    assert list((workspace.root / "runs" / "demo").iterdir()) == [workspace.root / "runs" / "demo" / "config.toml"]


def test_version_help_and_flags(workspace):
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("nfgen ") and ", torch " in r.stdout, r.output
    for args in (["-h"], ["data", "-h"], ["data", "show", "-h"], ["classifier", "train", "-h"], ["status", "-h"]):
        r = runner.invoke(app, args)
        assert r.exit_code == 0 and "Usage: nfgen" in r.stdout and "-h, --help" in r.stdout, (args, r.output)
        assert "<bool>" not in r.stdout, (args, r.stdout)  # a flag takes no value
    assert re.search(r"^  --json {2,}One JSON object", runner.invoke(app, ["status", "-h"]).stdout, re.M)
    # shell completion is on (bash given as the detected shell: CI's parent shell may be a plain sh, which Typer
    # has no script for)
    import typer.completion

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(typer.completion, "_get_shell_name", lambda: "bash")
        r = runner.invoke(app, ["--show-completion"])
    assert r.exit_code == 0 and "_nfgen_completion" in r.stdout, r.output


def test_config_prints_the_resolved_config(workspace):
    import tomllib

    assert invoke(workspace, "init", "r", "--set", "train.iters=7").exit_code == 0
    r = invoke(workspace, "config", "r")
    assert r.exit_code == 0 and r.stdout == (workspace.root / "runs" / "r" / "config.toml").read_text()
    assert tomllib.loads(r.stdout)["train"]["iters"] == 7
    r = invoke(workspace, "config", "r", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout) == workspace.run("r").config().to_dict()


def test_existing_run_is_not_overwritten(workspace):
    assert invoke(workspace, "init", "r", "--set", "train.iters=3").exit_code == 0
    before = (workspace.root / "runs" / "r" / "config.toml").read_text()
    r = invoke(workspace, "init", "r", "--set", "train.iters=9")
    assert r.exit_code == 2
    assert (workspace.root / "runs" / "r" / "config.toml").read_text() == before


def test_folder_dataset_of_a_run_lists_its_skipped_files(workspace, tmp_path):
    from test_data import write_folder

    root = write_folder(tmp_path / "imgs")
    assert invoke(workspace, "init", "mine", "--set", f"data.dataset=folder:{root}").exit_code == 0
    r = invoke(workspace, "data", "list", "--json")
    assert r.exit_code == 0, r.output
    mine = {d["name"]: d for d in json.loads(r.stdout)["datasets"]}[f"folder:{root}"]
    assert mine["available"] is True and mine["class_counts"] == [3, 3] and mine["skipped"] == 2
    assert [(f["path"], f["why"].split(":")[0]) for f in mine["skipped_files"]] == [
        (str(root / "dog" / "broken.png"), "unreadable"), (str(root / "dog" / "notes.txt"), "not an image")]
    r = invoke(workspace, "data", "show", f"folder:{root}", "--n", "2")
    assert r.exit_code == 0, r.output
    assert "6 images, 2 classes" in " ".join(r.stdout.split())
    assert f"skipped 2 files: {root / 'dog' / 'broken.png'} (unreadable: " in r.stdout


def test_pipeline_flags_equal_to_the_run_resume_it_and_force_starts_over(workspace):
    """`make demo` repeats `nfgen pipeline demo --preset quick`: the same flags resume the run; --force with other
    flags deletes its results and writes the new config."""
    from nfgen_tui.newrun import open_run

    notes = []
    run = open_run(workspace, "demo", "quick", None, ["train.iters=9"], note=notes.append)
    (run.dir / "fields").mkdir()
    assert open_run(workspace, "demo", "quick", None, ["train.iters=9"]).config().train.iters == 9
    assert open_run(workspace, "demo", None, None, []).dir == run.dir  # no flags: the run as it is
    assert (run.dir / "fields").is_dir() and notes == []
    run = open_run(workspace, "demo", "quick", "mnist-5k", ["model.kind=gpt"], force=True, note=notes.append)
    assert run.config().model.kind == "gpt" and run.config().train.iters == 1400
    assert not (run.dir / "fields").exists()
    assert notes == ["run demo started over (model.kind ('diffusion' → 'gpt'), train.iters (9 → 1400))"]

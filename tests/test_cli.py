import json

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


def test_user_errors_exit_2_with_one_line(workspace):
    cases = [
        ("init", "../x"),
        ("init", "r", "--set", "train.lr=fast"),
        ("init", "r", "--preset", "huge"),
        ("status", "ghost"),
        ("fit", "ghost"),
        ("data", "show", "cifar"),
    ]
    for args in cases:
        r = invoke(workspace, *args)
        assert r.exit_code == 2, (args, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nfgen: error:"), (args, r.stderr)
        assert "Traceback" not in r.output
    assert not (workspace.root / "runs" / "r").exists()


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

"""One reader per run-file kind: a missing, truncated or foreign file is one user error that names the file and
the way out, and nothing is deleted by the refusal."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

import model_synth
from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui.errors import UserError
from nfgen_tui.stages.evaluate import run_eval
from nfgen_tui.model.stage import run_train
from nfgen_tui.tokens.stage import load_tokens, load_vocab
from nfgen_tui.workspace import read_json, read_tensors


def test_json_reader_refuses_missing_truncated_and_foreign_files_naming_the_fix(tmp_path):
    good = tmp_path / "report.json"
    good.write_text(json.dumps({"step": 3}))
    assert read_json(good, "do X") == {"step": 3}
    (tmp_path / "truncated.json").write_text('{"step": 3')
    (tmp_path / "foreign.json").write_text("[1, 2]")
    for name, what in (("missing.json", "missing file"), ("truncated.json", "corrupt JSON"),
                       ("foreign.json", "JSON list")):
        with pytest.raises(UserError, match=what) as e:
            read_json(tmp_path / name, "rerun `nfgen fit r --force`")
        assert str(e.value).endswith("; rerun `nfgen fit r --force`") and "\n" not in str(e.value)


def test_tensor_reader_refuses_missing_truncated_and_foreign_files_naming_the_fix(tmp_path):
    save_file({"tokens": torch.arange(6).reshape(2, 3)}, str(tmp_path / "good.safetensors"))
    assert read_tensors(tmp_path / "good.safetensors", keys=("tokens",))["tokens"].sum().item() == 15
    data = (tmp_path / "good.safetensors").read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    save_file({"other": torch.zeros(2)}, str(tmp_path / "foreign.safetensors"))
    for name, what in (("missing.safetensors", "missing file"), ("truncated.safetensors", "corrupt tensor file"),
                       ("foreign.safetensors", "lacks tokens")):
        with pytest.raises(UserError, match=what) as e:
            read_tensors(tmp_path / name, "move it away", keys=("tokens",))
        assert str(e.value).endswith("; move it away") and "\n" not in str(e.value)
    assert (tmp_path / "truncated.safetensors").read_bytes() == data[: len(data) // 2]  # refused, not removed


def test_train_and_eval_read_the_token_file_through_one_reader(workspace):
    """tokens.safetensors is read once, the same way, by every stage: the same refusal for train and eval."""
    run = model_synth.make_run(workspace)
    tokens, labels, split = load_tokens(run, load_vocab(run))
    assert tokens.shape == (labels.shape[0], load_vocab(run).seq_len) and set(split.tolist()) == {0, 1}
    path = run.stage_dir("codebook") / "tokens.safetensors"
    save_file({"tokens": tokens[:, :-1].contiguous(), "labels": labels, "split": split}, str(path))  # wrong length
    with pytest.raises(UserError, match="sequences of") as e:
        run_train(run, iters=2)
    assert f"rerun `nfgen codebook {run.name} --force`" in str(e.value)
    path.write_bytes(path.read_bytes()[:40])  # truncated
    messages = []
    for stage in (lambda: run_train(run, iters=2), lambda: load_tokens(run)):
        with pytest.raises(UserError, match="corrupt tensor file") as e:
            stage()
        messages.append(str(e.value))
    assert messages[0] == messages[1] and messages[0].endswith(f"rerun `nfgen codebook {run.name} --force`")
    assert path.stat().st_size == 40


def test_a_foreign_vocabulary_names_the_codebook_rerun(workspace):
    run = model_synth.make_run(workspace)
    report = run.stage_dir("codebook") / "report.json"
    report.write_text(json.dumps({"mode": "scalar"}))
    with pytest.raises(UserError, match="lacks a valid vocabulary") as e:
        run_train(run, iters=2)
    assert str(e.value).endswith(f"rerun `nfgen codebook {run.name} --force`")
    with pytest.raises(UserError, match="no samples yet|no trained transformer"):
        run_eval(run)

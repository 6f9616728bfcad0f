"""Classifier-free guidance: the null class in the vocabulary, class dropout in training, the guided sampler, and the
user errors around it (a negative scale, a scale ≠ 1 on a model trained without class dropout)."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import model_synth
from model_synth import one_thread  # noqa: F401  (autouse)
from nfgen_tui.cli import app
from nfgen_tui.distributed import Ranks
from nfgen_tui.errors import UserError
from nfgen_tui.model.guidance import guidance_scales, guide
from nfgen_tui.model.sample import sample_tokens
from nfgen_tui.model.stage import load_trained, run_sample, run_train
from nfgen_tui.model.train import dropped_classes
from nfgen_tui.tokens.vocab import TokenError, Vocabulary
from test_model import tiny
from tiny_runs import TINY_TRAINED, trained_run


@pytest.fixture
def vocab() -> Vocabulary:
    return Vocabulary.from_dict(model_synth.report())


def cli(workspace, *args):
    return CliRunner().invoke(app, ["--workspace", str(workspace.root), *args])


def test_null_class_is_the_last_special_and_never_a_weight(vocab):
    assert vocab.null_class == vocab.class_offset + vocab.n_classes == vocab.vocab_size - 1
    assert vocab.describe(vocab.null_class) == "the null class"
    seqs, labels, _ = model_synth.tokens(4)
    bad = seqs.clone()
    bad[2, 9] = vocab.null_class
    with pytest.raises(TokenError, match=r"the null class\) at position 9 of sequence 2"):
        vocab.weight_codes(bad)
    old = {k: v for k, v in model_synth.report().items() if k != "null_class"}  # a codebook from before guidance
    old["vocab_size"] -= 1
    v_old = Vocabulary.from_dict(old)
    assert v_old.null_class is None and v_old.vocab_size == vocab.vocab_size - 1
    with pytest.raises(UserError, match="inconsistent"):
        Vocabulary.from_dict({**model_synth.report(), "null_class": vocab.null_class + 1})


def test_schedules_give_the_scale_at_every_weight_position():
    assert guidance_scales(2.0, "constant", 3) == [2.0, 2.0, 2.0]
    assert guidance_scales(3.0, "linear", 5) == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert guidance_scales(2.5, "first:2", 4) == [2.5, 2.5, 1.0, 1.0]
    with pytest.raises(UserError, match="cfg_schedule"):
        guidance_scales(2.0, "last:3", 4)
    cond, uncond = torch.tensor([[1.0, 3.0]]), torch.tensor([[2.0, 2.0]])
    assert guide(cond, uncond, 2.0).tolist() == [[0.0, 4.0]]
    assert guide(cond, uncond, 0.0).tolist() == uncond.tolist()


def test_cfg_1_is_plain_sampling_and_cfg_0_is_the_null_class_alone(vocab):
    model = tiny(vocab, seed=3).eval()
    with torch.no_grad():
        model.head.weight.normal_(0.0, 0.5)  # a peaked, class-dependent distribution
    labels = torch.tensor([0, 1, 2, 2, 1, 0])
    plain = sample_tokens(model, vocab, labels, temperature=1.0, seed=5)
    for kw in ({"cfg": 1.0}, {"cfg": 1.0, "cfg_schedule": "linear"}, {"cfg": 1.0, "top_p": 1.0}):
        assert torch.equal(sample_tokens(model, vocab, labels, temperature=1.0, seed=5, **kw), plain)
    # scale 0 keeps only the unconditional logits: the same draws as plain sampling given the null class
    null_rows = torch.full_like(labels, vocab.n_classes)
    uncond = sample_tokens(model, vocab, null_rows, temperature=1.0, seed=5)
    guided0 = sample_tokens(model, vocab, labels, temperature=1.0, seed=5, cfg=0.0)
    assert torch.equal(guided0[:, 2:], uncond[:, 2:])
    assert torch.equal(guided0[:, 1], vocab.class_offset + labels)  # the rows asked for keep their class
    assert not torch.equal(guided0, plain)
    # guidance on the first 4 tokens only: those equal constant guidance, the rest follow plain conditional logits
    strong = sample_tokens(model, vocab, labels, seed=5, cfg=3.0)
    first4 = sample_tokens(model, vocab, labels, seed=5, cfg=3.0, cfg_schedule="first:4")
    assert torch.equal(first4[:, :6], strong[:, :6]) and not torch.equal(first4, strong)
    cached = sample_tokens(model, vocab, labels, seed=5, cfg=3.0, cfg_schedule="first:4", use_cache=False)
    assert torch.equal(cached, first4)  # the recomputing path agrees after the unconditional rows are dropped


def test_guided_sampling_never_puts_a_special_at_a_weight_position(vocab):
    model = tiny(vocab).eval()
    with torch.no_grad():  # the specials (SOS, classes, null class) overwhelmingly likely everywhere
        model.head.weight.zero_()
        model.ln_f.weight.zero_()
        model.ln_f.bias.fill_(1.0)
        model.head.weight[vocab.n_codes:, :] = 5.0
        model.head.weight[vocab.null_class, :] = 9.0
    labels = torch.arange(3).repeat(10)
    lo, hi = (t[2:] for t in vocab.allowed_bounds())
    for kw in ({"cfg": 3.0}, {"cfg": 0.0}, {"cfg": 1.5, "top_p": 0.5}, {"cfg": 2.0, "cfg_schedule": "linear"},
               {"cfg": 7.0, "top_k": 2, "temperature": 4.0}):
        w = sample_tokens(model, vocab, labels, seed=1, **kw)[:, 2:]
        assert ((w >= lo) & (w < hi)).all() and (w < vocab.n_codes).all(), kw
        vocab.weight_codes(w)


def test_class_dropout_rows_are_a_pure_function_of_seed_and_step():
    one = Ranks(rank=0, world=1)
    a = dropped_classes(0, 7, 4000, 0.1, one)
    assert torch.equal(a, dropped_classes(0, 7, 4000, 0.1, one)) and not torch.equal(a, dropped_classes(0, 8, 4000, 0.1, one))
    assert 0.08 < a.float().mean() < 0.12
    halves = [dropped_classes(0, 7, 4000, 0.1, Ranks(rank=r, world=2)) for r in (0, 1)]
    assert torch.equal(torch.cat(halves), a)  # DDP ranks drop their slice of the one global batch
    assert not dropped_classes(0, 7, 4000, 0.0, one).any()


def test_class_dropout_teaches_the_null_class_the_marginal_and_is_recorded(workspace):
    vocab = Vocabulary.from_dict(model_synth.report())
    seqs, labels, split = model_synth.tokens()
    run = model_synth.make_run(workspace, "guided", ["train.class_dropout=0.5", "train.iters=150"])
    run_train(run)
    model, _, state = load_trained(run, torch.device("cpu"))
    assert state["class_dropout"] == 0.5
    assert json.loads((run.stage_dir("train") / "report.json").read_text())["class_dropout"] == 0.5
    train = seqs[split == 0]
    protos = [int(torch.mode(seqs[labels == c, 2]).values) for c in range(vocab.n_classes)]  # each class's first code
    marginal = [float((train[:, 2] == t).float().mean()) for t in protos]  # ≈ 0.28 each: 3 classes, 20 % noise

    def first_token(class_token: int) -> torch.Tensor:
        with torch.no_grad():
            return torch.softmax(model(torch.tensor([[vocab.sos, class_token]]))[0, -1], -1)

    p_null = first_token(vocab.null_class)
    for c, t in enumerate(protos):  # without a class the model predicts the mixture of the classes ...
        assert abs(float(p_null[t]) - marginal[c]) < 0.1, (c, float(p_null[t]), marginal[c])
        assert float(first_token(vocab.class_offset + c)[t]) > 0.5  # ... with one, that class's own code


def test_resume_of_a_class_dropout_run_equals_the_uninterrupted_run(workspace):
    common = ["train.class_dropout=0.25", "train.ckpt_every=10", "train.iters=40"]
    a = model_synth.make_run(workspace, "a", common)
    run_train(a, iters=20)
    run_train(a)  # resumes at step 20
    b = model_synth.make_run(workspace, "b", common)
    run_train(b)
    ta = load_file(str(a.stage_dir("train") / "ckpt" / "model.safetensors"))
    tb = load_file(str(b.stage_dir("train") / "ckpt" / "model.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.allclose(ta[k], tb[k], atol=1e-6), k
    # the class dropout is part of what a checkpoint resumes: changing it is refused, naming the way out
    cfg = a.config()
    cfg.train.class_dropout = 0.0
    cfg.train.iters = 50
    a.write_config(cfg)
    with pytest.raises(UserError, match="class_dropout 0.25"):
        run_train(a)


def test_guided_sample_and_bad_guidance_through_the_cli(workspace):
    guided = trained_run(workspace, TINY_TRAINED + ["train.class_dropout=0.2"], name="g")
    r = cli(workspace, "sample", "g", "--n", "2", "--cfg", "2", "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert "-cfg2-" in out["id"] and out["n"] == 20
    meta = json.loads((guided.stage_dir("sample") / out["id"] / "meta.json").read_text())
    assert meta["cfg"] == 2.0 and meta["cfg_schedule"] == "constant"
    tokens = load_file(str(guided.stage_dir("sample") / out["id"] / "tokens.safetensors"))["tokens"]
    vocab = Vocabulary.load(guided.stage_dir("codebook") / "report.json")
    assert vocab.null_class is not None and (tokens[:, 2:] < vocab.n_codes).all()
    assert "cfg" not in run_sample(guided, n=2, cfg=1.0)["id"]  # unguided ids are those of runs made before guidance

    plain = trained_run(workspace, TINY_TRAINED + ["train.class_dropout=0"], name="p")
    before = sorted(p.name for p in plain.stage_dir("sample").glob("*")) if plain.stage_dir("sample").exists() else []
    for args, says in ((("sample", "p", "--cfg", "2"), "class_dropout"), (("sample", "g", "--cfg", "-1"), "--cfg"),
                       (("init", "bad", "--set", "sample.cfg=-0.5"), "sample.cfg"),
                       (("init", "bad", "--set", "train.class_dropout=1.5"), "train.class_dropout"),
                       (("init", "bad", "--set", "sample.cfg_schedule=ramp"), "sample.cfg_schedule")):
        r = cli(workspace, *args)
        assert r.exit_code == 2, (args, r.output)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and says in lines[0] and "Traceback" not in r.output, (args, r.stderr)
    after = sorted(p.name for p in plain.stage_dir("sample").glob("*")) if plain.stage_dir("sample").exists() else []
    assert after == before and not (workspace.root / "runs" / "bad").exists()

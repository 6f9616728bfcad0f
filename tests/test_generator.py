"""The generator declarations (model/generator.py): what each kind samples with, how it is summarised, and the
refusal of another kind's settings — all read from one declaration per generator, without importing torch."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from nfgen_tui import config as cfgmod
from nfgen_tui.errors import UserError
from nfgen_tui.model.generator import GENERATORS, declared, run_sample


def test_every_model_kind_is_declared_and_every_declaration_is_a_kind():
    assert tuple(GENERATORS) == cfgmod.MODEL_KINDS
    with pytest.raises(UserError, match="unknown model.kind 'gan': choose one of gpt, diffusion, ar-diffusion"):
        declared("gan")


def test_every_setting_is_a_checked_sample_key_with_its_own_flag():
    sample_keys = {f.name for f in dataclasses.fields(cfgmod.SampleConfig)}
    for g in GENERATORS.values():
        fields = [s.field for s in g.settings if s.field]
        assert set(fields) <= sample_keys and set(fields) <= set(cfgmod.SAMPLE_RULES), g.kind
        assert len({s.flag for s in g.settings}) == len(g.settings), g.kind
        assert all(s.sweep_axis or s.arg for s in g.settings), g.kind  # each reaches `nfgen sample` or the sweep


def test_each_generator_declares_its_own_knobs():
    gpt, diffusion = GENERATORS["gpt"], GENERATORS["diffusion"]
    assert [s.arg for s in gpt.settings if s.label] == ["temperature", "top_k", "top_p", "cfg", "n", "seed", "size"]
    assert [s.arg for s in diffusion.settings if s.label] == ["steps", "eta", "cfg", "n", "seed", "size"]
    assert gpt.sweep_axes == {"temperatures": "--temperature", "top_ks": "--top-k", "top_ps": "--top-p",
                              "cfgs": "--cfg", "cfg_schedules": "--cfg-schedule"}
    assert diffusion.sweep_axes == {"steps": "--steps", "etas": "--eta", "cfgs": "--cfg"}
    assert diffusion.sweep_fields == {"steps": (int, None), "eta": (float, None), "cfg": (float, 1.0)}
    assert gpt.sample_flags["n_per_class"] == "--n" and "steps" not in gpt.sample_flags
    ar = GENERATORS["ar-diffusion"]
    assert [s.arg for s in ar.settings if s.label] == ["temperature", "steps", "eta", "cfg", "n", "seed", "size"]
    assert ar.sweep_axes == {"temperatures": "--temperature", "steps": "--steps", "etas": "--eta", "cfgs": "--cfg"}
    assert ar.section == "ar" and [k for k, _ in ar.sizes] == ["ar.n_layer", "ar.n_embd", "ar.iters", "ar.batch_size"]


def test_describe_says_what_the_run_trains():
    quick = cfgmod.preset("quick")
    assert GENERATORS["diffusion"].describe(quick) == \
        "residual MLP 4×512 over codes of 128  ·  5000 steps, batch 128, EMA 0.999"
    cfgmod.apply_overrides(quick, ["diffusion.net=transformer", "diffusion.split=chunk:8"])
    assert "denoiser 4×512 (4 heads) over codes of 128 in chunks of 8" in GENERATORS["diffusion"].describe(quick)
    assert GENERATORS["diffusion"].describe(cfgmod.preset("quick3d")) == \
        "residual MLP 4×512 over codes of 128  ·  2500 steps, batch 128, EMA 0.999"
    assert GENERATORS["gpt"].describe(cfgmod.preset("quick3d")) == \
        "codebook group:4 256  ·  GPT 4×128 (4 heads)  ·  train 800 iters, batch 32"
    assert GENERATORS["ar-diffusion"].describe(quick) == ("transformer 3×128 over codes of 128 in tokens of 32, "
                                                         "diffusion head 3×256  ·  7000 steps, batch 64, EMA 0.999")
    cfgmod.apply_overrides(quick, ["diffusion.target=weights", "fields.subspace=0", "diffusion.split=layer"])
    assert "over 3 layer tokens" in GENERATORS["diffusion"].describe(quick)
    cfgmod.apply_overrides(quick, ["diffusion.split=chunk:64"])
    assert "over chunks of 64 weights" in GENERATORS["diffusion"].describe(quick)


@pytest.mark.parametrize("kind, given, says", [
    ("diffusion", {"temperature": 0.5}, "--temperature is a GPT / AR-diffusion setting; run 'r' has a diffusion generator "
                                        "(model.kind = diffusion): sample it with --steps / --eta / --cfg"),
    ("diffusion", {"top_p": 0.9}, "--top-p is a GPT setting"),
    ("ar-diffusion", {"top_k": 3}, "--top-k is a GPT setting; run 'r' has a generator over continuous tokens "
                                   "(model.kind = ar-diffusion): sample it with --temperature / --steps / --eta / "
                                   "--cfg"),
    ("gpt", {"eta": 0.5}, "--eta is a diffusion / AR-diffusion setting; run 'r' has a GPT (model.kind = gpt): sample it with "
                          "--temperature / --top-k / --top-p / --cfg"),
])
def test_another_generators_setting_is_refused_before_anything_loads(workspace, kind, given, says):
    run = workspace.create_run("r", cfgmod.apply_overrides(cfgmod.preset("quick"), [f"model.kind={kind}"]))
    with pytest.raises(UserError) as e:
        run_sample(run, **given)
    assert str(e.value) == says or str(e.value).startswith(says)


def test_the_declarations_import_no_torch():
    """The TUI builds its forms from them at start-up: importing them must not cost the torch import."""
    code = "import sys, nfgen_tui.model.generator; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


def test_a_setting_is_said_the_same_way_everywhere():
    """The sweep's --apply line and the Generate form's status name a setting by its declaration."""
    assert GENERATORS["diffusion"].says({"steps": 50, "eta": 0.0, "cfg": 2.0}) == \
        "DDIM steps 50, DDIM eta 0, guidance cfg 2"
    gpt = {"temperature": 0.8, "top_k": 3, "top_p": 1.0, "cfg": 1.5, "cfg_schedule": "linear"}
    assert GENERATORS["gpt"].says(gpt) == "temperature 0.8, top-k 3, top-p 1, guidance cfg 1.5, cfg-schedule linear"

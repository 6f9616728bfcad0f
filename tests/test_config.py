import tomllib
from pathlib import Path

import pytest

from nfgen_tui import config as cfg
from nfgen_tui.errors import UserError
from nfgen_tui.workspace import Workspace


@pytest.mark.parametrize("name", list(cfg.PRESETS))
def test_every_preset_round_trips_through_toml(name):
    c = cfg.preset(name)
    again = cfg.loads(cfg.dumps(c))
    assert again == c
    assert again.to_dict() == c.to_dict()


def test_presets_differ_where_the_reference_sizes_apply():
    paper = cfg.preset("paper")
    assert (paper.model.n_embd, paper.model.n_head, paper.model.n_layer) == (240, 12, 12)
    assert (paper.train.iters, paper.train.batch_size, paper.train.lr) == (40_000, 64, 3e-3)
    assert paper.codebook.size == 245
    assert cfg.preset("quick").train.iters < paper.train.iters


def test_set_overrides_are_typed():
    c = cfg.apply_overrides(cfg.preset("quick"), ["train.lr=0.01", "fields.hidden=[8, 8]", "fields.subspace=0", "diffusion.target=weights", "model.tie_head=true",
                                                 "seed=7", "data.dataset=mnist"])
    assert c.train.lr == 0.01 and c.fields.hidden == [8, 8] and c.model.tie_head is True
    assert c.seed == 7 and c.data.dataset == "mnist"


@pytest.mark.parametrize("item, fragment", [
    ("train.lr=abc", "train.lr"),
    ("train.iters=1.5", "train.iters"),
    ("model.tie_head=maybe", "model.tie_head"),
    ("nosuch.key=1", "nosuch.key"),
    ("train.nosuch=1", "train.nosuch"),
    ("train=1", "train"),
    ("train.lr", "section.key=value"),
    ("train.lr=-1", "train.lr"),
    ("fields.hidden=[0, 8]", "fields.hidden"),
    ("fields.arch=transformer", "fields.arch"),
])
def test_bad_overrides_name_the_key(item, fragment):
    with pytest.raises(UserError, match=fragment.replace(".", r"\.")):
        cfg.apply_overrides(cfg.preset("quick"), [item])


def test_bad_toml_is_a_user_error(tmp_path):
    p = tmp_path / "config.toml"
    p.write_text("[train\nlr = ")
    with pytest.raises(UserError, match="TOML"):
        cfg.load(p)
    p.write_text('[train]\nlr = "fast"\n')
    with pytest.raises(UserError, match="train.lr"):
        cfg.load(p)


def test_sample_settings_merge_given_values_and_check_ranges_once():
    base = cfg.preset("quick").sample
    merged = cfg.sample_settings(base, n_per_class="4", top_p=0.5, temperature=None)
    assert (merged.n_per_class, merged.top_p, merged.temperature, merged.top_k) == (4, 0.5, base.temperature, base.top_k)
    assert base.n_per_class != 4  # the config's object is not changed
    with pytest.raises(UserError, match=r"^--top-k must be >= 0 \(0 = off\), got -1$"):
        cfg.sample_settings(base, {"top_k": "--top-k"}, top_k=-1)
    with pytest.raises(UserError, match=r"^sample.size must be in \[8, 1024\], got 4$"):
        cfg.sample_settings(base, size=4)
    c = cfg.preset("quick")
    c.sample.size = 4
    with pytest.raises(UserError, match=r"config sample.size: must be in \[8, 1024\]"):  # the same rule
        cfg.validate(c)


OLD = Path(__file__).parent / "data"


def _dotted(d: dict) -> dict:
    """{"seed": 0, "fields.hidden": [8, 8], …}: a config's keys as `--set` names them."""
    return {f"{s}.{k}": v for s, t in d.items() if isinstance(t, dict) for k, v in t.items()} | \
        {s: t for s, t in d.items() if not isinstance(t, dict)}


@pytest.mark.parametrize("name, kind", [("config_020a496_quick.toml", "diffusion"),
                                        ("config_020a496_quick_gpt.toml", "gpt")])
def test_a_config_stored_by_an_old_run_loads_with_its_values_and_todays_defaults(name, kind, tmp_path):
    """config.toml exactly as a run made at commit 020a496 stored it (`Workspace.create_run` of `preset("quick")`,
    and of it with `model.kind=gpt`): before `diffusion.target`, `diffusion.net`, `diffusion.ema` and the `[ar]`
    section existed, and when quick's denoiser was a transformer over 8-8 fields' weights. Every stored value stays
    as stored; a key the file lacks takes the value that reproduces what the old run did (today's default)."""
    text = (OLD / name).read_text()
    stored = tomllib.loads(text)
    c = cfg.loads(text)
    now = _dotted(c.to_dict())
    assert {k: (v, now.get(k)) for k, v in _dotted(stored).items() if now.get(k) != v} == {}
    assert c.model.kind == kind and c.fields.hidden == [8, 8] and c.fields.subspace == 0
    assert (c.diffusion.split, c.diffusion.n_layer, c.diffusion.n_head, c.diffusion.n_embd, c.diffusion.timesteps,
            c.diffusion.iters, c.diffusion.batch_size, c.diffusion.lr, c.diffusion.min_lr) == \
        ("neuron", 4, 4, 128, 500, 5000, 64, 1e-3, 1e-4)
    assert (c.codebook.mode, c.codebook.size, c.train.iters, c.train.class_dropout) == ("scalar", 245, 1400, 0.1)
    assert (c.sample.temperature, c.sample.top_k, c.sample.top_p, c.sample.cfg, c.sample.steps) == (1.0, 0, 0.9, 1.5, 50)
    # what the file lacks: the old denoiser's behaviour (weights, a transformer, no EMA) and the [ar] section whole
    assert "target" not in stored["diffusion"] and "ar" not in stored
    assert (c.diffusion.target, c.diffusion.net, c.diffusion.ema) == ("weights", "transformer", 0.0)
    assert c.ar == cfg.ARConfig()
    # a run folder holding it reads it the same way, and writing it back keeps every value
    run = Workspace(tmp_path / "ws").create_run("old", c)
    (run.dir / "config.toml").write_text(text)
    assert run.config() == c and cfg.loads(cfg.dumps(c)) == c

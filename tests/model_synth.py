"""Token files in the codebook stage's format (docs/contracts.md) for model tests that need no fitted fields.

Each class has a prototype code sequence; a sample is its prototype with a fifth of the codes replaced at random,
so a model that learns anything at all drives the loss well below log(n_codes).
Weight positions of the second "layer" allow only the upper half of the codes, like a per-layer codebook does.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from nfgen_tui.workspace import atomic_write_json

N_CODES, N_CLASSES, N_W = 16, 3, 24


def report() -> dict:
    allowed = [[N_CODES, N_CODES + 1], [N_CODES + 1, N_CODES + 1 + N_CLASSES]]
    allowed += [[0, N_CODES]] * 16 + [[8, N_CODES]] * 8
    kinds = [0, 1] + [2] * 12 + [3] * 4 + [4] * 8
    L = N_W + 2
    return {"mode": "neuron", "n_codes": N_CODES, "sos": N_CODES, "class_offset": N_CODES + 1, "n_classes": N_CLASSES,
            "null_class": N_CODES + 1 + N_CLASSES, "vocab_size": N_CODES + 2 + N_CLASSES, "seq_len": L, "block_size": L - 1, "allowed": allowed, "kinds": kinds}


def tokens(n_per_class: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    rep = report()
    lo = torch.tensor([a[0] for a in rep["allowed"][2:]])
    hi = torch.tensor([a[1] for a in rep["allowed"][2:]])
    protos = lo + (torch.rand(N_CLASSES, N_W, generator=g) * (hi - lo)).long()
    labels = torch.arange(N_CLASSES).repeat_interleave(n_per_class)
    codes = protos[labels].clone()
    noise = torch.rand(codes.shape, generator=g) < 0.2
    rand = lo + (torch.rand(codes.shape, generator=g) * (hi - lo)).long()
    codes[noise] = rand[noise]
    seqs = torch.cat([torch.full((len(labels), 1), N_CODES), (N_CODES + 1 + labels)[:, None], codes], 1)
    split = (torch.arange(len(labels)) % n_per_class >= n_per_class - max(1, n_per_class // 10)).long()
    return seqs.long(), labels.long(), split


def make_run(workspace, name: str = "m", overrides: list[str] | None = None, n_per_class: int = 40):
    """A run whose codebook stage is 'done' with synthetic tokens; tiny model and training settings."""
    from nfgen_tui import config as cfgmod

    c = cfgmod.preset("quick")
    cfgmod.apply_overrides(c, ["model.kind=gpt", "model.n_layer=2", "model.n_head=2", "model.n_embd=32", "train.batch_size=8",
                               "train.warmup=5", "train.iters=60", "train.eval_every=20", "train.eval_iters=2",
                               "train.ckpt_every=20", "train.log_every=1", "model.position_kind=true", "device=cpu",
                               *(overrides or [])])
    run = workspace.create_run(name, c)
    seqs, labels, split = tokens(n_per_class)
    cb = run.stage_dir("codebook")
    cb.mkdir(parents=True)
    save_file({"tokens": seqs, "labels": labels, "split": split}, str(cb / "tokens.safetensors"))
    atomic_write_json(cb / "report.json", report())
    return run


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one intra-op thread; on a busy 2-core machine a second thread cost 5–8×."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

"""Training checkpoints as safetensors + JSON, swapped in as a whole folder so a kill never leaves a mixed one.

`transformer/ckpt/` holds `model.safetensors`, `optim.safetensors` (AdamW moments), `rng.safetensors` (torch CPU/CUDA
generator states as uint8) and `state.json` (step, model config, optimizer hyper-parameters, numpy/python RNG,
SHA-256 of the tensor files). A new checkpoint is written into a sibling temp folder and renamed into place; the
previous one is moved aside first and removed last, so at every instant one complete checkpoint exists.
Nothing is ever unpickled: a file that is not valid safetensors, or whose hash differs from `state.json`, is refused.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import UserError
from ..workspace import atomic_write_json, file_sha256, read_json

FILES = ("model.safetensors", "optim.safetensors", "rng.safetensors")


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ---------------------------------------------------------------------------------------------------------------
# optimizer and RNG state <-> flat tensors + JSON

def optimizer_to_flat(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    sd = opt.state_dict()
    tensors = {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            t = val if torch.is_tensor(val) else torch.tensor(val)
            tensors[f"{idx}.{key}"] = t.detach().cpu().contiguous()
    return tensors, sd["param_groups"]


def optimizer_from_flat(tensors: dict[str, torch.Tensor], groups: list[dict]) -> dict:
    state: dict[int, dict] = {}
    for name, t in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = t
    return {"state": state, "param_groups": groups}


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = {"torch_cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["torch_cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    return tensors, {"numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
                     "python": [py[0], list(py[1]), py[2]]}


def set_rng_state(tensors: dict[str, torch.Tensor], js: dict) -> None:
    torch.set_rng_state(tensors["torch_cpu"])
    if "torch_cuda" in tensors and torch.cuda.is_available():
        states = list(tensors["torch_cuda"])
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
    kind, keys, pos, has_gauss, gauss = js["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = js["python"]
    random.setstate((version, tuple(internal), gauss_next))


def dedupe(model_state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors once each (safetensors refuses shared storage, e.g. a tied head) + alias name → stored name."""
    tensors, aliases, seen = {}, {}, {}
    for name, t in model_state.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if key in seen:
            aliases[name] = seen[key]
        else:
            seen[key] = name
            tensors[name] = t.detach().cpu().contiguous()
    return tensors, aliases


# ---------------------------------------------------------------------------------------------------------------
# save / load

def save(ckpt_dir: Path, model_state: dict[str, torch.Tensor], opt: torch.optim.Optimizer, state: dict) -> None:
    """Write a complete checkpoint to `ckpt_dir`, replacing the previous one only once the new one is whole."""
    ckpt_dir = Path(ckpt_dir)
    parent = ckpt_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ckpt_dir.name}.", suffix=".tmp", dir=parent))
    try:
        tensors, aliases = dedupe(model_state)
        save_file(tensors, str(tmp / FILES[0]))
        opt_tensors, groups = optimizer_to_flat(opt)
        save_file(opt_tensors, str(tmp / FILES[1]))
        rng_tensors, rng_js = rng_state()
        save_file(rng_tensors, str(tmp / FILES[2]))
        for name in FILES:
            with open(tmp / name, "rb") as f:
                os.fsync(f.fileno())
        state = {**state, "optimizer_groups": groups, "rng": rng_js, "aliases": aliases,
                 "sha256": {name: file_sha256(tmp / name) for name in FILES}}
        atomic_write_json(tmp / "state.json", state)
        old = parent / f".{ckpt_dir.name}.old"
        if old.exists():
            shutil.rmtree(old)
        if ckpt_dir.exists():
            os.replace(ckpt_dir, old)
        os.replace(tmp, ckpt_dir)
        _fsync_dir(parent)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def find(ckpt_dir: Path, fix: str = "") -> Path | None:
    """The complete checkpoint folder to resume from: `ckpt/`, or the previous one if a swap was cut short.

    `fix` is the way out a refusal names (default: move the folder away)."""
    ckpt_dir = Path(ckpt_dir)
    if (ckpt_dir / "state.json").exists():
        return ckpt_dir
    old = ckpt_dir.parent / f".{ckpt_dir.name}.old"
    if (old / "state.json").exists():
        return old
    if ckpt_dir.exists() and any(ckpt_dir.iterdir()):
        raise UserError(f"checkpoint {ckpt_dir} is incomplete (no state.json); {fix or _move_away(ckpt_dir)}")
    return None


def _move_away(path: Path) -> str:
    return f"move {path} away to start over"


def load_state(path: Path, fix: str = "") -> dict:
    """A checkpoint's state.json alone (step, model config, hashes), checked the same way `load` checks it."""
    fix = fix or _move_away(Path(path))
    state = read_json(Path(path) / "state.json", fix)
    if not isinstance(state.get("sha256"), dict) or not isinstance(state.get("step"), int):
        raise UserError(f"checkpoint {path}/state.json lacks its step or file hashes (not a checkpoint nfgen "
                        f"wrote); {fix}")
    return state


def load(path: Path, fix: str = "") -> tuple[dict, dict[str, torch.Tensor], dict, dict[str, torch.Tensor]]:
    """(state.json, model tensors, optimizer state_dict, RNG tensors) — verified, never unpickled.

    Every refusal names `fix`, the way out (default: move the folder away); nothing is deleted here."""
    path = Path(path)
    fix = fix or _move_away(path)
    state = load_state(path, fix)
    expected = state["sha256"]
    tensors = []
    for name in FILES:
        f = path / name
        if not f.exists():
            raise UserError(f"checkpoint file {f} is missing; {fix}")
        if file_sha256(f) != expected.get(name):
            raise UserError(f"checkpoint file {f} does not match its recorded hash (corrupt or replaced); "
                            f"refusing it; {fix}")
        try:
            tensors.append(load_file(str(f)))
        except (SafetensorError, OSError, ValueError) as e:
            raise UserError(f"checkpoint file {f} is not a valid safetensors file ({e}); refusing it; {fix}") from None
    model_t, opt_t, rng_t = tensors
    for alias, name in (state.get("aliases") or {}).items():
        if name not in model_t:
            raise UserError(f"checkpoint {path}/state.json names an alias of a missing tensor {name!r}; refusing it; "
                            f"{fix}")
        model_t[alias] = model_t[name]
    return state, model_t, optimizer_from_flat(opt_t, state["optimizer_groups"]), rng_t

"""A digest-keyed cache of computed occupancy samples in the dataset folder, so shapes are sampled once.

An entry is `<key>.safetensors` (the arrays) beside `<key>.json` (what was computed, the arrays' sha256 and any
metadata), both written atomically, JSON last. The key is a digest of everything the arrays depend on, so a changed
setting or file simply misses. An entry that cannot be read back whole — truncated, bit-flipped, wrong shapes, not
safetensors at all — counts as a miss and is computed again; nothing is ever unpickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ..workspace import atomic_write_bytes, atomic_write_json


def digest(params: dict) -> str:
    """A short stable digest of JSON-able parameters (key order does not matter)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:32]


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read(folder: Path | None, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
    """(arrays, meta) of a whole, valid entry, or None (absent or unusable: the caller recomputes and rewrites it)."""
    if folder is None:
        return None
    from safetensors import SafetensorError
    from safetensors.numpy import load

    try:
        record = json.loads((folder / f"{key}.json").read_text())
        if not isinstance(record, dict) or record.get("key") != key:
            return None
        meta = record.get("meta", {})
        if "sha256" not in record:  # an entry without arrays (e.g. a mesh that was skipped)
            return {}, meta
        data = (folder / f"{key}.safetensors").read_bytes()
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            return None
        return load(data), meta
    except (OSError, ValueError, SafetensorError, TypeError, AttributeError):
        return None


def peek(folder: Path | None, key: str) -> dict | None:
    """An entry's metadata alone (its arrays unchecked), or None: for listings that must stay quick."""
    if folder is None:
        return None
    try:
        record = json.loads((folder / f"{key}.json").read_text())
        return record.get("meta", {}) if isinstance(record, dict) and record.get("key") == key else None
    except (OSError, ValueError, AttributeError):
        return None


def write(folder: Path | None, key: str, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Store an entry (no-op without a folder); `arrays` may be empty to record only `meta`."""
    if folder is None:
        return
    from safetensors.numpy import save

    record: dict = {"key": key, "meta": meta}
    if arrays:
        data = save({k: np.ascontiguousarray(v) for k, v in arrays.items()})
        atomic_write_bytes(folder / f"{key}.safetensors", data)
        record["sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write_json(folder / f"{key}.json", record)

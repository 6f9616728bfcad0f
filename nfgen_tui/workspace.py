"""Run folders on disk: names, atomic writes, the events log, per-stage locks and stage states.

Everything a stage writes goes through `atomic_*` (temp file + rename), so a killed process never leaves a
half-written file that a later run could take as complete. A stage counts as *done* only when its marker file —
written last — exists.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Iterator

from . import config as cfgmod
from .errors import UserError

RUN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")

# stage -> (folder, marker file written last when the stage completes)
STAGES: dict[str, tuple[str, str]] = {
    "fit": ("fields", "report.json"),
    "codebook": ("codebook", "report.json"),
    "train": ("transformer", "report.json"),
    "sample": ("samples", ""),  # done when any samples/<id>/meta.json exists
    "eval": ("eval", "metrics.json"),
}
STAGE_ORDER = list(STAGES)


def default_workspace() -> Path:
    return Path(os.environ.get("NFGEN_WORKSPACE", "./workspace"))


def validate_run_name(name: str) -> str:
    if not RUN_NAME.match(name or "") or name in (".", "..") or name.startswith("."):
        raise UserError(f"invalid run name {name!r}: use letters, digits, '.', '_' and '-' (no '/', no leading '.')")
    return name


# ---------------------------------------------------------------------------------------------------------------
# atomic files

def _file_mode() -> int:
    """What open() would give a new file (0666 minus umask); mkstemp's 0600 would hide results from other users."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path` for a library that writes files itself; renamed into place on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.fchmod(fd, FILE_MODE)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _way_out(fix: str) -> str:
    return f"; {fix}" if fix else ""


def read_json(path: Path, fix: str = "") -> dict:
    """Read a JSON object we wrote; a missing, truncated or foreign file is one user error naming it and `fix`, the
    way out (e.g. "rerun `nfgen fit RUN --force`")."""
    try:
        obj = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UserError(f"missing file {path}{_way_out(fix)}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"corrupt JSON file {path}: {e}{_way_out(fix)}") from None
    if not isinstance(obj, dict):
        raise UserError(f"{path} holds a JSON {type(obj).__name__}, not the object nfgen wrote{_way_out(fix)}")
    return obj


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (checkpoint integrity, which tokens a model was trained on)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_tensors(path: Path, fix: str = "", keys: tuple[str, ...] = ()) -> dict:
    """Load a safetensors file (never a pickle); a missing, truncated or foreign one (lacking `keys`) is one user
    error naming it and `fix`, the way out."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except FileNotFoundError:
        raise UserError(f"missing file {path}{_way_out(fix)}") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise UserError(f"corrupt tensor file {path} ({e}){_way_out(fix)}") from None
    missing = [k for k in keys if k not in tensors]
    if missing:
        raise UserError(f"{path} lacks {', '.join(missing)} (not a file nfgen wrote here){_way_out(fix)}")
    return tensors


# ---------------------------------------------------------------------------------------------------------------
# locks

class StageLock:
    """An exclusive, non-blocking flock on `runs/RUN/.locks/STAGE.lock`; released by the OS if the process dies."""

    def __init__(self, path: Path, what: str):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> "StageLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise UserError(f"{self.what} is already running in another process") from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock (probes without keeping it)."""
        if not self.path.exists():
            return False
        fd = os.open(self.path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        finally:
            os.close(fd)

    def __enter__(self) -> "StageLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


# ---------------------------------------------------------------------------------------------------------------
# runs

class Run:
    """One run folder: `workspace/runs/<name>/`."""

    def __init__(self, workspace: "Workspace", name: str):
        self.workspace = workspace
        self.name = validate_run_name(name)
        self.dir = workspace.runs_dir / name

    # paths -------------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.dir / "config.toml"

    @property
    def events_path(self) -> Path:
        return self.dir / "events.jsonl"

    def stage_dir(self, stage: str) -> Path:
        return self.dir / STAGES[stage][0]

    def exists(self) -> bool:
        return self.config_path.exists()

    def require(self) -> "Run":
        if not self.exists():
            raise UserError(f"unknown run {self.name!r} in {self.workspace.root} (create it with: nfgen init {self.name})")
        return self

    # config ------------------------------------------------------------------------------------------------
    def config(self) -> cfgmod.Config:
        self.require()
        return cfgmod.load(self.config_path)

    def write_config(self, c: cfgmod.Config) -> None:
        atomic_write_text(self.config_path, cfgmod.dumps(c))

    # events ------------------------------------------------------------------------------------------------
    def log_event(self, stage: str, **fields) -> None:
        """Append one JSON line; a single write() of one line with O_APPEND, so concurrent writers don't interleave."""
        rec = {"t": round(time.time(), 3), "stage": stage, **fields}
        line = (json.dumps(rec, default=float) + "\n").encode()
        self.dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.events_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def events(self, stage: str | None = None, offset: int = 0) -> tuple[list[dict], int]:
        """Events from byte `offset` on (whole lines only) and the new offset: cheap to tail repeatedly."""
        try:
            with open(self.events_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1
        out = []
        for line in data[:end].splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if stage is None or rec.get("stage") == stage:
                out.append(rec)
        return out, offset + end

    # locks and states --------------------------------------------------------------------------------------
    def lock(self, stage: str) -> StageLock:
        return StageLock(self.dir / ".locks" / f"{stage}.lock", f"stage {stage!r} of run {self.name!r}")

    def failed_path(self, stage: str) -> Path:
        return self.dir / ".locks" / f"{stage}.failed.json"

    def is_done(self, stage: str) -> bool:
        folder, marker = STAGES[stage]
        if stage == "sample":
            return any((self.dir / folder).glob("*/meta.json"))
        return (self.dir / folder / marker).exists()

    def stage_state(self, stage: str) -> str:
        """not started | running | done | failed | interrupted."""
        if self.lock(stage).held_elsewhere():
            return "running"
        if self.is_done(stage):
            return "done"
        if self.failed_path(stage).exists():
            return "failed"
        if self.stage_dir(stage).exists():
            return "interrupted"
        return "not started"

    def states(self) -> dict[str, str]:
        return {s: self.stage_state(s) for s in STAGE_ORDER}

    def last_step(self, stage: str) -> dict | None:
        """The stage's last logged step ({"step", "total"}, and "chunk" for fit), to say where an interrupted stage
        stopped; None when it logged none."""
        last = None
        for ev in self.events(stage)[0]:
            if "step" in ev and "event" not in ev:
                last = ev
        if last is None:
            return None
        return {k: last[k] for k in ("chunk", "step", "total") if k in last}

    @contextlib.contextmanager
    def stage(self, stage: str) -> Iterator[None]:
        """Hold the stage's lock for the duration; record a failure marker (the message) if it raises."""
        with self.lock(stage):
            with contextlib.suppress(FileNotFoundError):
                self.failed_path(stage).unlink()
            if stage in STAGES:  # the folder says "started": killed before its first file, it reads "interrupted"
                self.stage_dir(stage).mkdir(parents=True, exist_ok=True)
            self.log_event(stage, event="start", pid=os.getpid())
            try:
                yield
            except KeyboardInterrupt:
                self.log_event(stage, event="interrupted")
                raise
            except BaseException as e:
                atomic_write_json(self.failed_path(stage), {"error": f"{type(e).__name__}: {e}", "t": time.time()})
                self.log_event(stage, event="failed", error=str(e))
                raise
            self.log_event(stage, event="done")


class Workspace:
    def __init__(self, root: Path | str | None = None):
        self.root = Path(root) if root is not None else default_workspace()

    def check(self) -> "Workspace":
        """Refuse a workspace path that is, or lies under, a file: every command would fail on it later."""
        for p in (self.root, *self.root.parents):
            if p.exists():
                if not p.is_dir():
                    raise UserError(f"workspace {self.root} is not a folder ({p} is a file): pass --workspace a "
                                    f"folder (or set NFGEN_WORKSPACE to one)")
                return self
        return self

    def write_problem(self, e: OSError) -> str | None:
        """The one-line user error for an OSError raised creating this workspace or its top folders (e.g. under
        /proc, or read-only); None when `e` is about some other path."""
        if e.filename is None:
            return None
        mine = (self.root, *self.root.parents, self.runs_dir, self.datasets_dir, self.cache_dir)
        if Path(os.path.abspath(e.filename)) not in {Path(os.path.abspath(p)) for p in mine}:
            return None
        return (f"workspace {self.root} cannot be written ({e.strerror}: {e.filename}): pass --workspace a writable "
                f"folder")

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    @property
    def added_datasets_path(self) -> Path:
        return self.datasets_dir / "added.json"

    def added_datasets(self) -> list[str]:
        """Dataset names (`folder:PATH`) the user added from the Datasets screen."""
        try:
            names = json.loads(self.added_datasets_path.read_text())
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return []
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def add_dataset(self, name: str) -> None:
        names = self.added_datasets()
        if name not in names:
            atomic_write_json(self.added_datasets_path, [*names, name])

    def dataset_names(self) -> list[str]:
        """Every dataset this workspace knows of beyond the built-in ones: those its runs use, then those added."""
        names = []
        for run in self.runs():
            try:
                names.append(run.config().data.dataset)
            except UserError:  # a broken config.toml is the Runs screen's business
                continue
        return list(dict.fromkeys([*names, *self.added_datasets()]))

    def run(self, name: str) -> Run:
        return Run(self, name)

    def runs(self) -> list[Run]:
        if not self.runs_dir.is_dir():
            return []
        return [Run(self, p.name) for p in sorted(self.runs_dir.iterdir())
                if p.is_dir() and RUN_NAME.match(p.name) and (p / "config.toml").exists()]

    def create_run(self, name: str, c: cfgmod.Config, exist_ok: bool = False) -> Run:
        run = self.run(name)
        if run.exists():
            if exist_ok:
                return run
            raise UserError(f"run {name!r} already exists in {self.root} (pick another name, or delete {run.dir})")
        cfgmod.validate(c)
        run.dir.mkdir(parents=True, exist_ok=True)
        run.write_config(c)
        return run

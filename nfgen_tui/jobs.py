"""Stages as detached background jobs that outlive the TUI and the SSH session.

`start_job` launches `python -m nfgen_tui.jobs RUN ARGS…` in a new session (no controlling terminal, so a closed
SSH connection or a quit TUI does not stop it). That supervisor runs `nfgen ARGS…` as its child with output going
to `runs/RUN/logs/job.log`, keeps `job.json` (pid, stage, started, heartbeat) fresh, and records how the child
ended. Cancelling sends SIGTERM to the job's process group: stages checkpoint and exit. A `job.json` whose process
is gone, or whose heartbeat stopped, reads as interrupted — never as running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .errors import UserError
from .workspace import Run, Workspace, atomic_write_json

HEARTBEAT_S = 2.0
STALE_S = 30.0


def job_path(run: Run) -> Path:
    return run.dir / "job.json"


def log_path(run: Run) -> Path:
    return run.dir / "logs" / "job.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still answers kill(0); reap it if it's ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def read_job(run: Run) -> dict | None:
    try:
        return json.loads(job_path(run).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def job_status(run: Run) -> dict | None:
    """The run's last job with `state`: running | done | failed | cancelled | interrupted (dead or silent)."""
    job = read_job(run)
    if job is None:
        return None
    if job.get("state") == "running":
        silent = time.time() - float(job.get("heartbeat", 0)) > STALE_S
        if not _alive(int(job.get("pid", -1))) or silent:
            job["state"] = "interrupted"
    return job


def is_running(run: Run) -> bool:
    j = job_status(run)
    return j is not None and j["state"] == "running"


def start_job(run: Run, args: list[str], device: str | None = None) -> dict:
    """Start `nfgen ARGS…` for this run in the background; refuses if one of its jobs is still running."""
    run.require()
    if is_running(run):
        raise UserError(f"run {run.name!r} already has a running job ({read_job(run).get('stage')}); cancel it first")
    log = log_path(run)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "nfgen_tui.jobs", str(run.workspace.root), run.name, *(["--device", device] if device else []), "--", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(os.devnull, "rb") as devnull, open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env, cwd=os.getcwd())
    job = {"pid": proc.pid, "stage": args[0], "args": args, "started": time.time(), "heartbeat": time.time(),
           "state": "running", "log": str(log)}
    atomic_write_json(job_path(run), job)
    return job


def cancel_job(run: Run, timeout: float = 0.0) -> bool:
    """SIGTERM the job's process group; with `timeout`, wait that long for it to end. False if nothing ran."""
    job = job_status(run)
    if job is None or job["state"] != "running":
        return False
    pid = int(job["pid"])
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.time() + timeout
    while timeout and time.time() < deadline and _alive(pid):
        time.sleep(0.1)
    return True


def read_log(run: Run, max_bytes: int = 20_000) -> str:
    try:
        with open(log_path(run), "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - max_bytes))
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


# ---------------------------------------------------------------------------------------------------------------
# the supervisor process

def _supervise(workspace: str, run_name: str, device: str | None, args: list[str]) -> int:
    run = Workspace(workspace).run(run_name)
    path = job_path(run)
    job = read_job(run) or {}
    job.update(pid=os.getpid(), stage=args[0], args=args, state="running", heartbeat=time.time())
    job.setdefault("started", time.time())
    atomic_write_json(path, job)
    cmd = [sys.executable, "-m", "nfgen_tui.cli", "--workspace", workspace, *(["--device", device] if device else []), *args]
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    cancelled = threading.Event()

    def on_term(signum, frame):
        cancelled.set()
        try:
            child.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while True:
        try:
            rc = child.wait(timeout=HEARTBEAT_S)
            break
        except subprocess.TimeoutExpired:
            job["heartbeat"] = time.time()
            atomic_write_json(path, job)
    job.update(heartbeat=time.time(), ended=time.time(), returncode=rc,
               state="cancelled" if cancelled.is_set() else ("done" if rc == 0 else "failed"))
    atomic_write_json(path, job)
    return rc


if __name__ == "__main__":
    argv = sys.argv[1:]
    ws, name = argv[0], argv[1]
    rest = argv[2:]
    dev = None
    if rest[:1] == ["--device"]:
        dev, rest = rest[1], rest[2:]
    if rest[:1] == ["--"]:
        rest = rest[1:]
    sys.exit(_supervise(ws, name, dev, rest))

"""Stages as detached background jobs that outlive the TUI and the SSH session.

`start_job` launches `python -m nfgen_tui.jobs --workspace WS --run RUN --job-id ID --started T -- ARGS…` in a new
session (no controlling terminal, so a closed SSH connection or a quit TUI does not stop it). That supervisor runs
`python -m nfgen_tui --workspace WS --job-stage ARGS…` (the `nfgen` command itself, as its own process: this module
never imports the CLI) as its child with output going to `runs/RUN/logs/job.log`, keeps `job.json` (id, pid, stage, started, heartbeat) fresh, and records how the child
ended. Cancelling sends SIGTERM to the supervisor, which forwards it once to the stage process; there SIGTERM
becomes a KeyboardInterrupt, so the stage's cleanup runs (checkpoint, "interrupted" event) before it exits.
A `job.json` whose process is gone, or whose heartbeat stopped, reads as interrupted — never as running.

`job.json` has two writers (the starter and the supervisor), so every write happens under a lock on
`job.json.lock`, and the starter never overwrites a record the supervisor already wrote for the same job id
(a job that ends within milliseconds must still read as done/failed, not as a dead "running" one).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

from .cpu_share import CpuShare
from .errors import UserError
from .interrupts import stage_process_handlers
from .progress import add_listener
from .workspace import Run, Workspace, atomic_write_json

HEARTBEAT_S = 2.0
STALE_S = 30.0


def job_path(run: Run) -> Path:
    return run.dir / "job.json"


def log_path(run: Run) -> Path:
    return run.dir / "logs" / "job.log"


@contextlib.contextmanager
def _job_lock(run: Run) -> Iterator[None]:
    run.dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run.dir / "job.json.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _alive(pid: int) -> bool:
    if pid <= 0:  # kill(0 or -1, …) would address whole process groups
        return False
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
    if not args:
        raise UserError("a job needs a command, e.g. ['fit', RUN]")
    if is_running(run):
        raise UserError(f"run {run.name!r} already has a running job ({read_job(run).get('stage')}); cancel it first")
    log = log_path(run)
    log.parent.mkdir(parents=True, exist_ok=True)
    job_id = uuid.uuid4().hex[:12]
    started = time.time()
    workspace = str(Path(run.workspace.root).resolve())
    cmd = [sys.executable, "-m", "nfgen_tui.jobs", "--workspace", workspace, "--run", run.name, "--job-id", job_id,
           "--started", repr(started), *(["--device", device] if device else []), "--", *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(os.devnull, "rb") as devnull, open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdin=devnull, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                env=env, cwd=os.getcwd())
    job = {"id": job_id, "pid": proc.pid, "stage": args[0], "args": args, "started": started, "heartbeat": started,
           "state": "running", "log": str(log)}
    with _job_lock(run):
        current = read_job(run)
        if current is not None and current.get("id") == job_id:
            return current  # the supervisor got there first (maybe already finished): its record wins
        atomic_write_json(job_path(run), job)
    return job


def cancel_job(run: Run, timeout: float = 0.0) -> bool:
    """SIGTERM the job's supervisor (it forwards to the stage); with `timeout`, wait that long for it to end.

    False if nothing was running."""
    job = job_status(run)
    if job is None or job["state"] != "running":
        return False
    pid = int(job["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
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
# the supervisor process and the stage process it runs

def _write_own(run: Run, job: dict) -> None:
    with _job_lock(run):
        atomic_write_json(job_path(run), job)


def _supervise(workspace: str, run_name: str, job_id: str, started: float, device: str | None,
               args: list[str]) -> int:
    run = Workspace(workspace).run(run_name)
    job = {"id": job_id, "pid": os.getpid(), "stage": args[0], "args": args, "started": started,
           "heartbeat": time.time(), "state": "running", "log": str(log_path(run))}
    cancelled = False
    child: subprocess.Popen | None = None
    events_from = 0  # events.jsonl offset at the cancel: stages that start after it get SIGTERM too

    def on_term(signum, frame):
        nonlocal cancelled, events_from
        if cancelled:
            return  # forward once: a second SIGTERM would interrupt the stage's own cleanup
        cancelled = True
        with contextlib.suppress(OSError):
            events_from = run.events_path.stat().st_size
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _write_own(run, job)
    print(f"=== job {job_id}: nfgen {' '.join(args)} (pid {os.getpid()}, {time.strftime('%Y-%m-%d %H:%M:%S')})",
          flush=True)
    cmd = [sys.executable, "-m", "nfgen_tui", "--workspace", workspace, *(["--device", device] if device else []),
           "--job-stage", *args]
    child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    if cancelled:  # SIGTERM arrived before the child existed
        child.send_signal(signal.SIGTERM)
    beat = time.time()
    while True:
        try:
            rc = child.wait(timeout=0.2 if cancelled else HEARTBEAT_S)
            break
        except subprocess.TimeoutExpired:
            pass
        if cancelled:
            # A stage that traps SIGTERM (train checkpoints and returns) lets `pipeline` go on to the next
            # stage: stop that one as soon as it starts.
            new, events_from = run.events(None, events_from)
            if any(e.get("event") == "start" for e in new):
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
        if time.time() - beat >= HEARTBEAT_S:
            beat = job["heartbeat"] = time.time()
            _write_own(run, job)
    state = "cancelled" if cancelled else ("done" if rc == 0 else "failed")
    job.update(heartbeat=time.time(), ended=time.time(), returncode=rc, state=state)
    _write_own(run, job)
    print(f"=== job {job_id}: {state} (exit code {rc})", flush=True)
    return rc


def running_jobs(workspace: Workspace) -> int:
    return sum(is_running(run) for run in workspace.runs())


def become_stage_process(workspace: Workspace) -> None:
    """Called by the CLI when started as a job's stage (`--job-stage`): SIGTERM becomes KeyboardInterrupt so stages
    checkpoint and log 'interrupted' (interrupts.py), and this job's share of the CPU cores (cpu_share.py) is
    re-counted as the stage reports progress."""
    stage_process_handlers()
    add_listener(CpuShare(lambda: running_jobs(workspace)).update)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nfgen_tui.jobs", description="Supervise one background job.")
    p.add_argument("--workspace", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--job-id", required=True)
    p.add_argument("--started", required=True, type=float)
    p.add_argument("--device", default=None)
    p.add_argument("args", nargs=argparse.REMAINDER, help="the nfgen command line after --")
    return p


def _main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    return _supervise(a.workspace, a.run, a.job_id, a.started, a.device, args)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

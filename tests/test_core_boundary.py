"""Core modules (everything in nfgen_tui/ outside nfgen_tui/tui/) must work without textual: the CLI, jobs and
stages run on servers where the TUI is never opened, and import time matters for every `nfgen` call."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "nfgen_tui"
UI_ONLY = ("textual", "textual_image", "textual_plotext")


def core_modules() -> list[str]:
    mods = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        if rel.parts[:2] == ("nfgen_tui", "tui"):
            continue
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        mods.append(".".join(parts))
    return mods


def test_no_core_source_imports_textual():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if "tui" in path.relative_to(PACKAGE).parts[:1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in UI_ONLY]
    assert offenders == []


def test_importing_every_core_module_leaves_textual_unloaded():
    mods = core_modules()
    assert "nfgen_tui.cli" in mods and "nfgen_tui.jobs" in mods and "nfgen_tui.workspace" in mods
    code = ("import importlib, sys\n"
            f"for m in {mods!r}:\n"
            "    importlib.import_module(m)\n"
            f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI_ONLY!r})\n"
            "print(','.join(bad))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ""


def test_help_and_status_load_no_torch(tmp_path):
    """`nfgen --help`, a command's help and `nfgen status` answer at once: each command imports its stage's modules
    (torch, numpy) when it runs, so the CLI module loads neither."""
    for args in (["--help"], ["fit", "--help"], ["sweep", "--help"], ["-w", str(tmp_path / "ws"), "status", "--json"]):
        code = ("import sys\n"
                "from nfgen_tui.cli import app\n"
                f"try:\n    app({args!r}, prog_name='nfgen')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
                "print(sorted(m for m in ('torch', 'numpy', 'textual') if m in sys.modules))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, (args, out.stderr[-2000:])
        assert out.stdout.strip().splitlines()[-1] == "[]", (args, out.stdout[-2000:])


def test_the_boundary_check_would_notice_textual():
    """The subprocess check is not vacuous: importing the TUI package does load textual."""
    code = "import sys, nfgen_tui.tui.app; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr[-2000:]



def _imported_modules(source: str, package: str) -> set[str]:
    """Absolute names a module of `package` imports (relative imports resolved, `from X import y` also as X.y)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return names


def _package_of(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).parts[:-1])


def test_nothing_but_the_entry_point_imports_the_cli():
    """The CLI sits on top: jobs start stages as `python -m nfgen_tui`, so no module needs `cli` (no cycle)."""
    importers = sorted(str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
                       if p.name != "cli.py" and "nfgen_tui.cli" in _imported_modules(p.read_text(), _package_of(p)))
    assert importers == ["nfgen_tui/__main__.py"]


def test_the_cli_import_check_sees_every_spelling():
    """Not vacuous: each way a module deep in the package could reach the CLI is caught."""
    for source in ("from ...cli import app", "from ... import cli", "import nfgen_tui.cli", "from nfgen_tui.cli import app"):
        assert "nfgen_tui.cli" in _imported_modules(source, "nfgen_tui.tui.screens"), source
    assert "nfgen_tui.cli" not in _imported_modules("from ..cli_help import x", "nfgen_tui.tui")

"""README's CLI reference is generated from the commands (tools/cli_reference.py): it cannot drift from `--help`."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from typer.testing import CliRunner

from nfgen_tui.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def load_tool():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "tools" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_block_is_the_generated_reference():
    tool = load_tool()
    assert tool.readme_block((ROOT / "README.md").read_text()) == tool.reference(), \
        "README's CLI reference is stale: run `python tools/cli_reference.py --write`"


def entries(reference: str) -> dict[str, str]:
    """Command path ('nfgen data show') → its usage lines in the reference."""
    out: dict[str, str] = {}
    key = None
    for line in reference.split("```text\n", 1)[1].splitlines():
        if line.startswith("nfgen"):
            key = " ".join(w for w in line.split() if re.fullmatch(r"[a-z]+", w) or w == "nfgen")
            out[key] = line
        elif line.startswith(" " * 8) and key:
            out[key] += " " + line.strip()
    return out


def help_section(text: str, title: str) -> list[str]:
    """The left column of each row of a `--help` section (Options:, Commands:), e.g. '-w, --workspace <path>'."""
    body = text.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0] if f"\n{title}:\n" in text else ""
    return [row.strip().split("  ")[0] for row in body.splitlines() if row.startswith("  ") and row[2] != " "]


def test_every_command_and_option_of_help_is_in_the_reference():
    text = load_tool().reference()
    assert "every command also takes `-h`, `--help`" in text
    ref = entries(text)
    queue, seen = [["nfgen"]], []
    while queue:
        path = queue.pop(0)
        r = runner.invoke(app, [*path[1:], "--help"])
        assert r.exit_code == 0, (path, r.output)
        subcommands = help_section(r.stdout, "Commands")
        queue += [[*path, c] for c in subcommands]
        if subcommands and " ".join(path) != "nfgen":
            continue  # a group without its own callback: only its commands are listed
        seen.append(" ".join(path))
        line = ref[" ".join(path)]
        options = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", " ".join(help_section(r.stdout, "Options")))
        for opt in options:
            if opt not in ("-h", "--help"):
                assert re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", line), (path, opt, line)
    assert sorted(seen) == sorted(ref), "commands in the reference but not in --help, or the reverse"
    assert {"nfgen data show", "nfgen classifier train", "nfgen config", "nfgen sweep"} <= set(seen)

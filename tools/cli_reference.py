"""Print the CLI reference from the commands themselves, so README cannot drift from `--help`.

    python tools/cli_reference.py           # print the block
    python tools/cli_reference.py --write   # replace README.md's block between the cli-reference markers

tests/test_cli_reference.py checks that README's block is this output.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from nfgen_tui.cli import app  # noqa: E402

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- cli-reference:begin -->", "<!-- cli-reference:end -->"
WIDTH = 116
TYPES = {"str": "TEXT", "int": "INT", "float": "FLOAT", "path": "PATH"}
HELP = ("-h", "--help")


def _metavar(param, ctx) -> str:
    shown = param.display_type_rich(ctx) or ""
    return TYPES.get(shown.strip("<>"), shown)


def _option(param, ctx) -> str:
    names = "|".join(sorted(param.opts, key=len))
    if param.secondary_opts:
        names += "/" + "|".join(param.secondary_opts)
    text = names if param.is_flag else f"{names} {_metavar(param, ctx)}"
    text += " ..." if param.multiple else ""
    return text if param.required else f"[{text}]"


def _argument(param) -> str:
    name = param.metavar or param.name.upper()
    return name if param.required else f"[{name}]"


def usage(command, ctx, path: list[str]) -> str:
    """`nfgen PATH ARGS [OPTIONS]` with every visible option, short aliases included (-h/--help said once)."""
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False) and not set(p.opts) & set(HELP)]
    args = [_argument(p) for p in params if p.param_type_name == "argument"]
    opts = [_option(p, ctx) for p in params if p.param_type_name == "option"]
    tail = ["COMMAND"] if isinstance(command, typer.core.TyperGroup) and command.invoke_without_command else []
    return " ".join([*path, *args, *opts, *(f"[{t}]" for t in tail)])


def walk(command, ctx, path: list[str]):
    """(path, command, ctx) for the root and every leaf command, depth first in declaration order."""
    if not isinstance(command, typer.core.TyperGroup) or command.invoke_without_command:
        yield path, command, ctx
    for name, sub in getattr(command, "commands", {}).items():
        if not sub.hidden:
            sub_ctx = typer.Context(sub, info_name=name, parent=ctx)
            yield from walk(sub, sub_ctx, [*path, name])


def reference() -> str:
    """The markdown block: a fenced list of usage lines, each followed by the first sentence of its help."""
    command = typer.main.get_command(app)
    ctx = typer.Context(command, info_name="nfgen")
    lines = ["Generated from the commands by `python tools/cli_reference.py --write`; every command also takes "
             "`-h`, `--help`.", "", "```text"]
    for path, cmd, cmd_ctx in walk(command, ctx, ["nfgen"]):
        lines += _wrap(usage(cmd, cmd_ctx, path), " " * 8)
        lines += textwrap.wrap(first_sentence(cmd.help or ""), WIDTH, initial_indent=" " * 4, subsequent_indent=" " * 4)
    return "\n".join([*lines, "```"]) + "\n"


def _wrap(line: str, indent: str) -> list[str]:
    """Wrapped between options, never inside one (`[--size INT]` stays whole)."""
    return [w.replace("\0", " ") for w in textwrap.wrap(_glue(line), WIDTH, subsequent_indent=indent,
                                                          break_on_hyphens=False, break_long_words=False)]


def _glue(line: str) -> str:
    """Spaces inside [...] become NULs, so textwrap sees each option as one word."""
    out, depth = [], 0
    for ch in line:
        depth += (ch == "[") - (ch == "]")
        out.append("\0" if ch == " " and depth > 0 else ch)
    return "".join(out)


def first_sentence(help_text: str) -> str:
    paragraph = " ".join(textwrap.dedent(help_text).strip().split("\n\n")[0].split())
    head, dot, _ = paragraph.partition(". ")
    return head + dot.strip()


def readme_block(text: str) -> str:
    """The text between README's two marker lines."""
    head, _, rest = text.partition(BEGIN + "\n")
    block, found, _ = rest.partition(END)
    if not head or not found:
        raise SystemExit(f"{README}: the lines {BEGIN} and {END} are missing")
    return block


def write(path: Path = README) -> None:
    text = path.read_text()
    path.write_text(text.replace(BEGIN + "\n" + readme_block(text) + END, BEGIN + "\n" + reference() + END))


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        sys.stdout.write(reference())

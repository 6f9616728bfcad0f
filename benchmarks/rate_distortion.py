"""Rate–distortion of the token modes: tokens per field against PSNR after quantization, one row per mode.

Usage: python benchmarks/rate_distortion.py [--out DIR] [--workspace PATH] SPEC [SPEC ...]
       python benchmarks/rate_distortion.py --tiny   (fits two tiny runs in a temporary workspace, removed after: a smoke run)
  SPEC = RUN/MODE/SIZE[/refine=N], e.g. rd561/scalar/245  rd561/pair/4096  rd561/group:4/4096  sub128/subspace/245
Each SPEC runs the ordinary tokens stage (`nfgen codebook`) on a copy of RUN's fitted fields in the same workspace
(run `RUN--MODE-SIZE`, codebook.mode / codebook.size set there; a finished copy is reused), so every figure comes
from the stage's own report. Prints a Markdown table; writes DIR/rd.json and DIR/rd.png (default DIR: workspace).
PSNR is against the images; "train" rows are the fields the codebook (and a subspace) was learned on.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from pathlib import Path

from nfgen_tui import config as cfgmod
from nfgen_tui.tokens.stage import run_codebook
from nfgen_tui.workspace import Workspace, read_json


def measure(ws: Workspace, spec: str) -> dict:
    parts = spec.split("/")
    base, mode, size = parts[0], parts[1], int(parts[2])
    refine = next((int(p.split("=")[1]) for p in parts[3:] if p.startswith("refine=")), None)
    src = ws.run(base).require()
    name = re.sub(r"[^A-Za-z0-9._-]", "-", f"{base}--{mode}-{size}" + (f"-r{refine}" if refine is not None else ""))
    c = src.config()
    c.codebook.mode, c.codebook.size = mode, size
    if refine is not None:
        c.codebook.refine_steps = refine
    try:
        run = ws.run(name).require()
    except Exception:
        run = ws.create_run(name, cfgmod.validate(c))
        shutil.copytree(src.stage_dir("fit"), run.stage_dir("fit"), dirs_exist_ok=True)
    rep = run_codebook(run, progress=lambda d, t, **k: print(f"\r{name}: {d:.0f}/{t}", end="", file=sys.stderr))
    print(file=sys.stderr)
    full = read_json(run.stage_dir("codebook") / "report.json")
    fit = read_json(run.stage_dir("fit") / "report.json")
    n, n_train = full["n_fields"], full["n_train"]
    held = full.get("psnr_quantized_mean_heldout")
    train_q = (full["psnr_quantized_mean"] * n - held * (n - n_train)) / n_train if held is not None else \
        full["psnr_quantized_mean"]
    return {"spec": spec, "run": base, "mode": mode, "refine": full.get("refine_steps"), "codes": rep["n_codes"], "vocab_size": rep["vocab_size"],
            "tokens": rep["seq_len"], "fields_psnr": fit["psnr_mean"],
            "fields_psnr_train": fit.get("psnr_mean_train"), "fields_psnr_heldout": fit.get("psnr_mean_heldout"),
            "psnr_quantized": full["psnr_quantized_mean"], "psnr_quantized_train": train_q,
            "psnr_quantized_heldout": held, "psnr_drop": full["psnr_drop"],
            "vs_field": full["psnr_quantized_vs_unquantized_mean"], "dead_codes": rep["dead_codes"],
            "codebook_seconds": full.get("codebook_seconds"), "seconds": full["seconds"], "n_fields": n,
            "n_train": n_train}


def tiny_runs(ws: Workspace) -> list[str]:
    """Two 20-digit runs (ordinary, subspace k = 4), a few steps each: every mode's path, no figure worth quoting."""
    from nfgen_tui.stages.fit import run_fit

    tiny = ["data.limit=20", "fields.steps=10", "fields.hidden=[8,8]", "codebook.iters=3", "device=cpu"]
    for name, extra in (("t", []), ("ts", ["fields.subspace=4", "fields.subspace_steps=10", "fields.subspace_warm=8",
                                           "codebook.refine_steps=2"])):
        run = ws.create_run(name, cfgmod.apply_overrides(cfgmod.preset("quick"), [*tiny, *extra]), exist_ok=True)
        run_fit(run, device="cpu")
    return ["t/scalar/16", "t/pair/16", "ts/subspace/16"]


def table(rows: list[dict]) -> str:
    def f(v):
        return "-" if v is None else f"{v:.1f}"

    out = ["| run | mode | codes | tokens per field | fields PSNR | quantized: all | train | held out | lost | "
           "quantized vs field | codebook s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mode = r["mode"] + (f" (refine {r['refine']})" if r.get("refine") is not None else "")
        out.append(f"| {r['run']} | {mode} | {r['codes']} | {r['tokens']} | {f(r['fields_psnr'])} | "
                   f"{f(r['psnr_quantized'])} | {f(r['psnr_quantized_train'])} | {f(r['psnr_quantized_heldout'])} | "
                   f"{f(r['psnr_drop'])} | {f(r['vs_field'])} | {f(r['codebook_seconds'])} |")
    return "\n".join(out)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.get_cmap("tab20").colors  # more rows than tab10 has colours: no two rows may share one
    for i, r in enumerate(rows):
        label = f"{r['run']}: {r['mode']} ({r['codes']}" + (
            f", refine {r['refine']})" if r.get("refine") is not None else ")")
        p = ax.scatter(r["tokens"], r["psnr_quantized_train"], s=40, label=label, color=colours[i % len(colours)])
        if r["psnr_quantized_heldout"] is not None:
            ax.scatter(r["tokens"], r["psnr_quantized_heldout"], s=40, facecolors="none",
                       edgecolors=p.get_facecolor())
    ax.set_xscale("log")
    ax.set_xlabel("tokens per field (SOS + class + weight tokens)")
    ax.set_ylabel("PSNR after quantization vs images (dB)")
    ax.set_title("token modes: filled = training fields, hollow = held out")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("specs", nargs="*")
    ap.add_argument("--tiny", action="store_true", help="fit tiny runs (20 digits) in a fresh workspace first")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--workspace", type=Path, default=None)
    a = ap.parse_args()
    scratch = a.tiny and not a.workspace
    if scratch:
        a.workspace = Path(tempfile.mkdtemp(prefix="nfgen-rd-"))
    ws = Workspace(a.workspace) if a.workspace else Workspace()
    if a.tiny:
        a.specs = a.specs or tiny_runs(ws)
    if not a.specs:
        ap.error("give at least one SPEC (or --tiny)")
    out = a.out or ws.root
    out.mkdir(parents=True, exist_ok=True)
    rows = [measure(ws, s) for s in a.specs]
    (out / "rd.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(rows, out / "rd.png")
    print(table(rows))
    if scratch:
        shutil.rmtree(a.workspace, ignore_errors=True)


if __name__ == "__main__":
    main()

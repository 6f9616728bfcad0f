"""`nfgen eval`'s human output: one rich table with the generated set, the baselines and the reference's published
row, then the per-class table — set sizes shown, so no number is read without knowing what it was measured on."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table

COLUMNS = (("mmd", "MMD↓"), ("cov", "COV↑"), ("nna", "1-NNA"), ("classifier_accuracy", "acc↑"),
           ("classifier_confidence", "conf↑"), ("memorization_rate", "memo↓"))


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def _sizes(row: dict) -> str:
    g, r = row.get("n_generated"), row.get("n_reference")
    return f"{g}/{r}" if g is not None and r is not None else "-"


def _table(title: str, rows: list[tuple[str, dict]]) -> Table:
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    t.add_column("set", no_wrap=True)
    for _, label in COLUMNS:
        t.add_column(label, justify="right")
    t.add_column("gen/ref", justify="right", no_wrap=True)
    for name, row in rows:
        t.add_row(name, *[_fmt(row.get(k)) for k, _ in COLUMNS], _sizes(row))
    return t


def print_eval(result: dict, console: Console | None = None, items: str = "images") -> None:
    """Overall + baselines + published reference row, per class, and the memorization distribution; `items` names
    what the classifier was tested on (the modality's noun)."""
    console = console or Console()
    rows = [("generated", result), *result.get("baselines", {}).items()]
    pub = result.get("reference_published")
    pubs = pub if isinstance(pub, list) else [pub] if pub else []  # 3D runs list several published rows
    for p in pubs:
        rows.append((p.get("name", "published ref") if isinstance(pub, list) else "published ref", p))
    title = (f"eval · {result['distance']}" if result.get("distance")
             else f"eval · SSIM {result.get('ssim', '?')} · D = (1 − SSIM) / 2")
    console.print(_table(title, rows))
    per_class = result.get("per_class") or {}
    if per_class:
        console.print(_table("generated, per class", list(per_class.items())))
    q = result.get("memorization_quantiles")
    if q and result.get("memorization_rule"):
        dist = "  ".join(f"{k} {v:.4f}" for k, v in q.items())
        console.print(f"nearest-training-shape Chamfer of generated shapes: {dist}  "
                      f"(memo = {result['memorization_rule']})")
    elif q:
        dist = "  ".join(f"{k} {v:.3f}" for k, v in q.items())
        console.print(f"nearest-training-image SSIM of generated images: {dist}  "
                      f"(memo = share above {result.get('memorization_threshold', '?')})")
    clf = result.get("classifier") or {}
    if clf.get("accuracy") is not None:
        console.print(f"classifier: {clf.get('dataset')} seed {clf.get('seed')}, {clf.get('epochs')} epochs, "
                      f"held-out accuracy {clf['accuracy']:.4f} on {clf.get('n_test')} "
                      f"{items}"
                      f"{' (cached)' if clf.get('cached') else ''}")
    for p in pubs:
        console.print(f"{p.get('name', 'published ref')}: {p.get('note', '')}", style="dim")
    if result.get("seconds") is not None:
        console.print(f"sample {result.get('sample_id', '?')} · {result['seconds']:.1f} s", style="dim")

"""The codebook report as a terminal table (`nfgen codebook RUN` without --json): vocabulary, quality, usage."""

from __future__ import annotations


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3e}" if v != 0 and abs(v) < 1e-2 else f"{v:.2f}"
    return str(v)


def _quality_rows(report: dict) -> list[tuple[str, str]]:
    """The modality's score (report `quality`: psnr of images, iou of shapes) quantized / unquantized / lost."""
    q = report.get("quality", "psnr")
    name, unit = (q.upper(), " dB") if q == "psnr" else (q.upper(), "")
    return [
        (f"{name} quantized mean / p10", f"{_fmt(report[f'{q}_quantized_mean'])} / {_fmt(report[f'{q}_quantized_p10'])}{unit}"),
        (f"{name} unquantized mean / p10",
         f"{_fmt(report[f'{q}_unquantized_mean'])} / {_fmt(report[f'{q}_unquantized_p10'])}{unit}"),
        (f"{name} lost to quantization", f"{_fmt(report[f'{q}_drop'])}{unit}"),
        (f"{name} quantized, held out", f"{_fmt(report.get(f'{q}_quantized_mean_heldout'))}{unit}"),
    ]


def print_codebook(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"codebook ({report.get('mode')})", show_header=False)
    rows = [
        ("vocabulary", f"{report['n_codes']} codes + SOS + {report['n_classes']} classes"
                       f"{' + null class' if report.get('null_class') is not None else ''} = {report['vocab_size']}"),
        ("sequence", f"{report['seq_len']} tokens (block size {report['block_size']})"),
        ("fields", f"{report['n_fields']} ({report['n_train']} train)"),
        ("weight MSE train / held out", f"{_fmt(report['weight_mse'])} / {_fmt(report.get('weight_mse_heldout'))}"),
        *_quality_rows(report),
        ("dead codes", _fmt(report["dead_codes"])),
        ("perplexity", f"{_fmt(report['perplexity'])} of {report['n_codes']}"),
        ("seconds (codebook alone)", f"{_fmt(report['seconds'])} ({_fmt(report.get('codebook_seconds'))}) "
                                     f"on {report.get('device')}"),
    ]
    for book in report.get("codebooks", []):
        if len(report.get("codebooks", [])) > 1:
            rows.append((f"layer {book['codebook']}", f"{book['codes']} codes of dim {book['dim']}, {book['dead']} dead, "
                                                      f"perplexity {_fmt(book['perplexity'])}, {book['iters']} iters"))
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)

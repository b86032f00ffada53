"""`myoseg evaluate`: Dice, IoU, HD95, MSD, dT1/dT2 per view and map type, Bland-Altman, box plots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    data: Annotated[Path, typer.Option(help="Dataset folder (manifest.json + slices/<split>/*.npz).")],
    out: Annotated[Path, typer.Option(help="Report folder: report.md, report.json, slices.json, PNGs.")] = Path(
        "out/eval"
    ),
    split: Annotated[str, typer.Option(help="train | val | test")] = "test",
    model: Annotated[Path | None, typer.Option(help="Model sidecar .json / .onnx / folder (default: shipped).")] = None,
    backend: Annotated[str, typer.Option(help="auto | onnxruntime | torch | tensorrt")] = "onnxruntime",
    threads: Annotated[int | None, typer.Option(help="Inference threads (default: free cores).")] = None,
    tta: Annotated[bool, typer.Option(help="Test-time augmentation (4 flips).")] = False,
    refine: Annotated[bool, typer.Option(help="Also report after myoseg.core.refine (what the console gets).")] = True,
    batch: Annotated[int, typer.Option(help="Slices per segment() call.")] = 1,
    limit: Annotated[int | None, typer.Option(help="Only the first N slices (quick checks).")] = None,
) -> None:
    """Evaluate a model on a held-out split the way the seed papers do, on the native grid in mm."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    from myoseg.models.evaluation import run

    report = run(data, split, out, model=model, backend=backend, threads=threads, tta=tta, refine=refine,
                 batch=batch, limit=limit)
    typer.echo((out / "report.md").read_text())
    typer.echo(f"written: {out}/report.md, report.json, slices.json, bland_altman_*.png, boxplot_*.png")
    del report

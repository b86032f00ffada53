"""`myoseg simulate`: physics-based MOLLI T1 / T2-prep T2 map simulator with exact ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    subjects: Annotated[int, typer.Option(help="Number of subjects (each: 3 SAX + 4Ch, T1 and T2).")] = 0,
    out: Annotated[Path | None, typer.Option(help="Dataset folder: slices/<split>/*.npz, mrd/*.h5, manifest.json.")] = None,
    seed: Annotated[int, typer.Option(help="Seed; the same seed gives the same dataset.")] = 0,
    workers: Annotated[int, typer.Option(help="Worker processes (at most the free cores; 2 here).")] = 2,
    dicom: Annotated[bool, typer.Option("--dicom", help="Also write the maps as DICOM under OUT/dicom/.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a dataset already in OUT (its slices/, mrd/, dicom/, manifest).")
    ] = False,
    study: Annotated[
        Path | None, typer.Option(help="Write one multi-slice T1+T2 study (ISMRMRD .h5, 3 SAX + 4Ch per map) here.")
    ] = None,
    field_strength: Annotated[
        float | None, typer.Option(help="--study: 1.5 or 3 (T); default drawn from the seed.")
    ] = None,
    post_contrast: Annotated[
        bool, typer.Option("--post-contrast", help="--study: post-contrast MOLLI 4(1)3(1)2 instead of native 5(3)3.")
    ] = False,
    preview: Annotated[Path | None, typer.Option(help="Write a PNG grid of example maps with label contours.")] = None,
    preview_subjects: Annotated[int, typer.Option(help="Subjects shown in --preview.")] = 2,
    preview_crop: Annotated[bool, typer.Option(help="Zoom --preview to 140 mm around the heart.")] = False,
    progress: Annotated[bool | None, typer.Option(help="Progress bar (default: when stderr is a terminal).")] = None,
) -> None:
    """Simulate cardiac T1/T2 mapping scans (MOLLI 5(3)3 / 4(1)3(1)2, T2-prep bSSFP) with labels.

    Examples:
      myoseg simulate --subjects 200 --out data/sim --seed 0 --workers 2
      myoseg simulate --study study.h5 --seed 3
      myoseg simulate --preview docs/images/sim_preview.png
    """
    if not (subjects or study or preview):
        raise typer.BadParameter("nothing to do: give --subjects N --out DIR, --study OUT.h5 or --preview OUT.png")
    if study is not None:
        from myoseg.sim.study import write_study

        if field_strength is not None and field_strength not in (1.5, 3.0):
            raise typer.BadParameter("--field-strength must be 1.5 or 3")
        n = write_study(study, seed=seed, field_strength_t=field_strength, contrast=post_contrast)
        typer.echo(f"wrote {study} ({n} images + ground truth {study.with_name(study.stem + '_labels.h5')})")
    if preview is not None:
        from myoseg.sim.preview import write_preview

        write_preview(preview, seed=seed, n_subjects=preview_subjects, crop=preview_crop)
        typer.echo(f"wrote {preview}")
    if subjects:
        if out is None:
            raise typer.BadParameter("--subjects needs --out DIR")
        import sys
        import time

        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from myoseg.sim.dataset import generate_dataset

        show = sys.stderr.isatty() if progress is None else progress
        t0 = time.perf_counter()
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TimeRemainingColumn(), disable=not show, transient=False,
        ) as bar:
            task = bar.add_task("simulating", total=subjects)
            try:
                manifest = generate_dataset(
                    out, subjects, seed=seed, workers=max(1, workers), dicom=dicom, overwrite=overwrite,
                    progress=lambda done, total: bar.update(task, completed=done),
                )
            except FileExistsError as exc:
                raise typer.BadParameter(str(exc), param_hint="--out") from None
        dt = time.perf_counter() - t0
        sizes = {k: len(v) for k, v in manifest["splits"].items()}
        typer.echo(f"wrote {subjects} subjects to {out} in {dt:.1f} s ({dt / subjects:.2f} s/subject wall); splits {sizes}")

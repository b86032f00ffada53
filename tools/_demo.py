"""The demo behind `myoseg demo`: simulate -> serve (own process) -> replay over TCP -> table + overlay PNG."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import ismrmrd
import numpy as np
from rich.console import Console
from rich.table import Table

from myoseg.core import metakeys as mk
from myoseg.core.intake import read_map
from myoseg.core.mrdio import read_mrd
from myoseg.core.quality import dice as quality_dice
from myoseg.core.types import Label
from myoseg.sim.study import labels_path, write_study
from myoseg.stream.client import ReplayReport, replay_file
from myoseg.stream.server_process import serve_process


@dataclass
class SliceRow:
    map_type: str
    view: str
    slice: int
    reported_ms: float | None
    reference_ms: float | None  # mean of the same map inside the simulator's true myocardium
    dice: float | None
    status: str
    quality: str
    comment: str


def _key(image: ismrmrd.Image) -> tuple[int, int]:
    return int(image.slice), int(image.image_index)


def compare_with_truth(report: ReplayReport, labels_file: Path) -> list[SliceRow]:
    """Per returned map: the reported value next to the value inside the true myocardium, and mask Dice."""
    truth = {(int(im.meta[mk.SOURCE_SERIES]), *_key(im)): im.data[0, 0] for im in read_mrd(labels_file).images}
    masks = {(int(im.meta[mk.SOURCE_SERIES]), *_key(im)): im.data[0, 0]
             for im in report.result.images if im.meta.get(mk.ROLE) == mk.ROLE_MASK}
    rows: list[SliceRow] = []
    for image in report.result.images:
        if image.meta.get(mk.ROLE) or not image.meta.get(mk.MAP_TYPE):
            continue
        key = (int(image.image_series_index), *_key(image))
        true_labels = truth.get(key)
        intake = read_map(image)
        reference = dice = None
        if true_labels is not None and intake.map is not None:
            myo = true_labels == Label.MYOCARDIUM
            values = intake.map.values_ms[myo]
            reference = float(np.nanmean(values)) if values.size else None
            if key in masks:
                dice = quality_dice(masks[key] == Label.MYOCARDIUM, myo)
        reported = image.meta.get(mk.MEAN_MS)
        rows.append(SliceRow(
            map_type=str(image.meta.get(mk.MAP_TYPE)), view=str(image.meta.get(mk.VIEW, "?")), slice=int(image.slice),
            reported_ms=float(reported) if reported not in (None, "") else None, reference_ms=reference, dice=dice,
            status=str(image.meta.get(mk.STATUS, "?")), quality=str(image.meta.get(mk.QUALITY, "")),
            comment=str(image.meta.get(mk.IMAGE_COMMENTS, "")),
        ))
    return rows


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def print_rows(console: Console, rows: list[SliceRow]) -> None:
    table = Table(title="Global myocardial values per slice (returned by the server)")
    for name in ("map", "view", "slice", "myoseg ms", "true-mask ms", "Δ ms", "Dice", "status", "Q"):
        table.add_column(name, justify="left" if name in ("map", "view", "status") else "right")
    for r in rows:
        delta = None if r.reported_ms is None or r.reference_ms is None else r.reported_ms - r.reference_ms
        q = _fmt(float(r.quality), 2) if r.quality not in ("", "None") else "–"
        table.add_row(r.map_type, r.view, str(r.slice), _fmt(r.reported_ms), _fmt(r.reference_ms), _fmt(delta, 1),
                      _fmt(r.dice, 3), r.status, q)
    console.print(table)
    console.print("'true-mask ms': the same map averaged inside the simulator's true myocardium; "
                  "Dice: returned mask vs true myocardium.")
    for r in rows[:1]:
        console.print(f"console text of the first map: {r.comment!r}", markup=False, highlight=False)


def save_overlays(report: ReplayReport, path: Path) -> int:
    """Tile the returned RGB overlay images into one PNG (what the console shows as the overlay series)."""
    import cv2

    overlays = [im for im in report.result.images if im.meta.get(mk.ROLE) == mk.ROLE_OVERLAY]
    if not overlays:
        return 0
    tiles = []
    for im in overlays:
        rgb = np.moveaxis(im.data[:, 0], 0, -1) if im.data.shape[0] == 3 else np.repeat(im.data[0, 0][..., None], 3, -1)
        tiles.append(np.clip(rgb, 0, 255).astype(np.uint8))
    height = max(t.shape[0] for t in tiles)
    padded = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0))) for t in tiles]
    per_row = 4
    rows = [np.concatenate(padded[i:i + per_row], axis=1) for i in range(0, len(padded), per_row)]
    width = max(r.shape[1] for r in rows)
    grid = np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return len(overlays)


def run_demo(out: Path, *, seed: int, port: int, pipeline: str, in_process: bool) -> int:
    console = Console()
    out.mkdir(parents=True, exist_ok=True)
    study, result_path = out / "study.h5", out / "result.h5"
    started = time.perf_counter()
    n_maps = write_study(study, seed=seed)
    console.print(f"[bold]1. simulated[/] a study: {n_maps} maps (T1 + T2; basal, mid, apical, 4ch) -> {study} "
                  f"({time.perf_counter() - started:.1f} s); ground truth in {labels_path(study)}")
    if in_process:
        console.print(f"[bold]2. in process[/]: pipeline {pipeline}")
        report = replay_file(study, result_path, pipeline=pipeline)
    else:
        log_path = out / "serve.log"
        t0 = time.perf_counter()
        with serve_process(port, log_path=log_path, extra_args=("--log-level", "INFO")) as (bound, _process):
            console.print(f"[bold]2. started[/] `myoseg serve` on 127.0.0.1:{bound} (model loaded at start-up, "
                          f"{time.perf_counter() - t0:.1f} s; log {log_path})")
            report = replay_file(study, result_path, pipeline=pipeline, server=f"127.0.0.1:{bound}")
    console.print(f"[bold]3. replayed[/] {report.sent_images} maps to {report.where} as pipeline '{report.pipeline}': "
                  f"{len(report.result.images)} images back in {report.result.seconds * 1e3:.0f} ms, "
                  f"{report.lost_images} lost -> {result_path}")
    rows = compare_with_truth(report, labels_path(study))
    print_rows(console, rows)
    for text in report.result.texts:
        console.print(f"  server text: {text}", markup=False, highlight=False)
    n_overlays = save_overlays(report, out / "overlays.png")
    if n_overlays:
        console.print(f"[bold]4. overlays[/]: {n_overlays} returned overlay images tiled into {out / 'overlays.png'}")
    errors = [r for r in rows if r.status == mk.STATUS_ERROR]
    if errors or report.lost_images or not rows:
        console.print("[red]demo finished with errors (the maps still came back); see the texts above[/]")
        return 1
    console.print("[green]demo ok[/]: every map came back with its values, mask and overlay")
    return 0

"""`myoseg bench`: latency per stage and backend, in process, over TCP, and cold-started per scan."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    backends: Annotated[str, typer.Option(help="Comma-separated backends to compare: onnxruntime, torch, "
                                               "tensorrt (those that cannot run here are reported, not fatal).")
                        ] = "onnxruntime,torch,tensorrt",
    cases: Annotated[str, typer.Option(help="Comma-separated: in_process, tcp_warm, cold_start, batched.")
                     ] = "in_process,tcp_warm,cold_start,batched",
    repeats: Annotated[int, typer.Option(help="Studies per case and backend (each study = 8 slices: "
                                              "basal, mid, apical, 4ch for T1 and T2).")] = 20,
    cold_repeats: Annotated[int, typer.Option(help="New processes per backend for cold_start.")] = 5,
    quick: Annotated[bool, typer.Option("--quick", help="A small run (< 60 s): 3 studies, 2 cold starts, "
                                                       "onnxruntime only unless --backends is given.")] = False,
    tta: Annotated[bool | None, typer.Option(help="Override the segment gadget's test-time augmentation "
                                                  "(default: the pipeline's setting).")] = None,
    model: Annotated[str | None, typer.Option(help="Model sidecar .json instead of the shipped default, e.g. "
                                                   "models/weights/myoseg_unet_int8.json.")] = None,
    seed: Annotated[int, typer.Option(help="Simulator seed of the benchmark study.")] = 11,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the JSON report here.")] = None,
    markdown_path: Annotated[Path | None, typer.Option("--markdown", help="Write the Markdown table here.")] = None,
    plot_path: Annotated[Path | None, typer.Option("--plot", help="Write the PNG plot here.")] = None,
) -> None:
    """Measure how soon results come back: per slice (p50/p95/p99) and per study, per stage (intake,
    resample, inference, refine, quantify, emit), throughput, peak RSS (and GPU memory on a GPU), for each
    backend side by side, with ratios between backends from the same run (shared machines are noisy).

    Cases: in_process (the chain in this process), tcp_warm (a `myoseg serve` process over loopback TCP),
    cold_start (a new `python -m gadgetron` process per scan, as Gadgetron's <execute> launches it),
    batched (the model alone, a study's slices in one batch vs one by one).

    Example: myoseg bench --json out/bench.json --markdown out/bench.md --plot out/bench.png
    """
    from myoseg.bench.run import BenchSettings, run_bench

    given = {b.strip() for b in backends.split(",") if b.strip()}
    if quick and backends == "onnxruntime,torch,tensorrt":
        given = {"onnxruntime"}
    settings = BenchSettings(
        backends=[b for b in ("onnxruntime", "torch", "tensorrt") if b in given] + sorted(
            given - {"onnxruntime", "torch", "tensorrt"}),
        cases=[c.strip() for c in cases.split(",") if c.strip()],
        repeats=3 if quick else repeats, cold_repeats=2 if quick else cold_repeats, seed=seed,
        overrides={**({} if tta is None else {"tta": str(tta).lower()}),
                   **({} if model is None else {"model": str(Path(model).resolve())})}, quick=quick,
    )
    raise typer.Exit(run_bench(settings, json_path, markdown_path, plot_path))

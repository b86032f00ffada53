"""`myoseg demo`: a simulated study replayed through a real `myoseg serve` process over TCP."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def main(
    out: Annotated[Path, typer.Option(help="Folder for the study, the returned file and the overlay PNG.")] = Path(
        "out/demo"),
    seed: Annotated[int, typer.Option(help="Simulator seed of the demo subject.")] = 7,
    port: Annotated[int, typer.Option(help="Server port; 0 picks a free one.")] = 0,
    pipeline: Annotated[str, typer.Option(help="Pipeline name the client asks the server for.")] = "myoseg_t1t2",
    in_process: Annotated[bool, typer.Option("--in-process", help="Run the pipeline in this process instead of "
                                                                  "starting `myoseg serve`.")] = False,
) -> None:
    """Simulate a study (3 short-axis slices + 1 four-chamber view, T1 and T2 maps), start `myoseg serve` in a
    new process, replay the study to it over TCP like a scanner would, and print the global myocardial T1/T2
    per slice next to the value inside the simulator's true myocardium. Writes OUT/study.h5 (what was sent),
    OUT/result.h5 (everything that came back) and OUT/overlays.png (the returned overlay series).
    """
    from myoseg.tools._demo import run_demo

    raise typer.Exit(run_demo(out, seed=seed, port=port, pipeline=pipeline, in_process=in_process))

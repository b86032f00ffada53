"""Run the benchmark cases for each backend and write the reports."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from myoseg.bench import cases as bc
from myoseg.bench.report import build_report, markdown, plot
from myoseg.stream.server_process import serve_process

CASES = ("in_process", "tcp_warm", "cold_start", "batched")


@dataclass
class BenchSettings:
    backends: list[str]
    cases: list[str]
    repeats: int = 20
    cold_repeats: int = 5
    seed: int = 11
    overrides: dict[str, str] = field(default_factory=dict)
    quick: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.cases) - set(CASES))
        if unknown:
            raise ValueError(f"unknown case(s) {unknown}; expected some of {list(CASES)}")
        if not self.backends:
            raise ValueError("no backend to benchmark")
        if self.repeats < 1 or self.cold_repeats < 1:
            raise ValueError("repeats must be at least 1")


def run_bench(settings: BenchSettings, json_path: Path | None, markdown_path: Path | None,
              plot_path: Path | None) -> int:
    # Per-connection INFO lines would drown the progress bar; restore the level afterwards (tests share it).
    logger = logging.getLogger("myoseg")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return _run(settings, json_path, markdown_path, plot_path)
    finally:
        logger.setLevel(level)


def _run(settings: BenchSettings, json_path: Path | None, markdown_path: Path | None,
         plot_path: Path | None) -> int:
    console = Console()
    started = time.perf_counter()
    study = bc.Study.simulate(settings.seed)
    model = settings.overrides.get("model")
    runnable, unavailable = bc.backends_available(settings.backends, model)
    for backend, why in unavailable.items():
        console.print(f"[yellow]{backend}: not available here[/] ({why})", highlight=False)
    if not runnable:
        console.print("[red]no backend can run here[/]")
        return 2
    model_id = _model_id(runnable[0], model)
    console.print(f"study: {study.slices} slices (T1 + T2; basal, mid, apical, 4ch); backends {runnable}; "
                  f"cases {settings.cases}; {settings.repeats} studies per case")
    results: list[bc.CaseResult] = []
    steps = _planned_steps(settings, runnable)
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("bench", total=len(steps))
        server: tuple[int, int] | None = None  # (port, pid) of the one `myoseg serve` all backends share
        with contextlib.ExitStack() as stack:
            for case, backend in steps:
                progress.update(task, description=f"{case} · {backend}")
                if case == "in_process":
                    results.append(bc.run_in_process(study, backend, settings.repeats, settings.overrides))
                elif case == "batched":
                    results.append(bc.run_batched(study, backend, settings.repeats, model=model))
                elif case == "cold_start":
                    results.append(bc.run_cold_start(study, backend, settings.cold_repeats, settings.overrides))
                elif case == "tcp_warm":
                    if server is None:
                        port, process = stack.enter_context(serve_process(extra_args=("--log-level", "WARNING")))
                        server = (port, process.pid)
                    results.append(bc.run_tcp_warm(*server, study, backend, settings.repeats, settings.overrides))
                progress.advance(task)
    report = build_report(results, unavailable, model_id, {**asdict(settings), "seed": settings.seed})
    report["settings"]["seconds"] = round(time.perf_counter() - started, 1)
    text = markdown(report)
    console.print(text, markup=False, highlight=False)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2))
        console.print(f"JSON -> {json_path}")
    if markdown_path:
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(text)
        console.print(f"Markdown -> {markdown_path}")
    if plot_path:
        plot(results, plot_path)
        console.print(f"plot -> {plot_path}")
    return 0


def _planned_steps(settings: BenchSettings, backends: list[str]) -> list[tuple[str, str]]:
    return [(case, backend) for case in settings.cases for backend in backends]


def _model_id(backend: str, model: str | None) -> str | None:
    from myoseg.gadgets.segment import get_segmenter

    try:
        return get_segmenter(model, backend, None).model_id
    except Exception:  # noqa: BLE001 - reported per backend already
        return None

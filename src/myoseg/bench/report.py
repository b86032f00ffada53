"""Benchmark results -> JSON (for tracking), Markdown (for the README), PNG (latency distributions)."""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import os
import platform
import sys
from pathlib import Path
from typing import Any

from myoseg.bench.cases import CaseResult
from myoseg.bench.stats import summarize

# Kalapos et al. 2023: 12.3 s per 100 slices on a V100 (segmentation + contour post-processing).
KALAPOS_MS_PER_SLICE = 123.0

# Stage names recorded by the gadgets -> the benchmark's stage vocabulary.
INFERENCE_STAGE = "segment.inference"


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _gpu() -> str | None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(0))
    return None


def environment(model_id: str | None) -> dict[str, Any]:
    import psutil

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": _gpu(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {p: _version(p) for p in ("myoseg", "numpy", "onnxruntime", "torch", "tensorrt", "ismrmrd",
                                              "gadgetron", "opencv-python-headless")},
        "model": model_id,
    }


def case_json(result: CaseResult) -> dict[str, Any]:
    per_slice = summarize(result.slice_ms)
    per_study = summarize(result.study_ms)
    total_s = sum(result.study_ms) / 1e3
    slices = len(result.slice_ms)
    entry: dict[str, Any] = {
        "case": result.case,
        "backend": result.backend,
        "p50_ms": per_slice.get("p50_ms"),
        "p95_ms": per_slice.get("p95_ms"),
        "p99_ms": per_slice.get("p99_ms"),
        "slices_per_s": (slices / total_s) if slices and total_s else None,
        "per_slice": per_slice,
        "per_study": per_study,
        "stages": {stage: summarize(samples) for stage, samples in result.stages_ms.items()},
        "peak_rss_mb": result.peak_rss_mb,
        "gpu_mem_mb": result.gpu_mem_mb,
        "errors": result.errors,
        "note": result.note,
    }
    if result.case == "in_process":
        entry["outside_inference_fraction_p50"] = outside_inference_fraction(result)
    return entry


def outside_inference_fraction(result: CaseResult) -> float | None:
    """Share of the per-slice end-to-end time (p50) spent outside the network's forward pass."""
    inference = result.stages_ms.get(INFERENCE_STAGE)
    if not inference or not result.slice_ms:
        return None
    e2e = summarize(result.slice_ms)["p50_ms"]
    return max(0.0, 1.0 - summarize(inference)["p50_ms"] / e2e) if e2e else None


def ratios(cases: list[dict[str, Any]], reference: str = "onnxruntime") -> dict[str, dict[str, float]]:
    """Per case: each backend's p50 per slice divided by the reference backend's (same run, same machine)."""
    out: dict[str, dict[str, float]] = {}
    by_case: dict[str, dict[str, float]] = {}
    for c in cases:
        if c["p50_ms"]:
            by_case.setdefault(c["case"], {})[c["backend"]] = c["p50_ms"]
    for case, backends in by_case.items():
        ref = backends.get(reference)
        if ref:
            out[case] = {b: round(v / ref, 3) for b, v in backends.items()}
    return out


def build_report(results: list[CaseResult], unavailable: dict[str, str], model_id: str | None,
                 settings: dict[str, Any]) -> dict[str, Any]:
    cases = [case_json(r) for r in results]
    return {"environment": environment(model_id), "settings": settings, "cases": cases,
            "ratios_vs_onnxruntime_p50": ratios(cases), "unavailable_backends": unavailable}


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"Machine: {env['cpu']}, {env['cores_usable']} usable cores, {env['memory_gb']} GB"
        + (f", GPU {env['gpu']}" if env["gpu"] else ", no GPU")
        + f"; model {env['model']}; onnxruntime {env['versions'].get('onnxruntime')}, "
        f"torch {env['versions'].get('torch') or '–'}; {env['date']}",
        "",
        "| case | backend | p50 ms/slice | p95 | p99 | study p50 ms | study p95 | slices/s | peak RSS MB | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in report["cases"]:
        study = c["per_study"]
        lines.append(
            f"| {c['case']} | {c['backend']} | {_f(c['p50_ms'])} | {_f(c['p95_ms'])} | {_f(c['p99_ms'])} | "
            f"{_f(study.get('p50_ms'), 0)} | {_f(study.get('p95_ms'), 0)} | {_f(c['slices_per_s'])} | "
            f"{_f(c['peak_rss_mb'], 0)} | {c['errors']} |")
    for c in report["cases"]:
        first = c["stages"].get("first_result") if c["case"] == "cold_start" else None
        if first:
            lines.append(f"\nCold start, {c['backend']}: new process -> first slice's results p50 "
                         f"{_f(first.get('p50_ms'), 0)} ms (p95 {_f(first.get('p95_ms'), 0)}), whole scan p50 "
                         f"{_f(c['per_study'].get('p50_ms'), 0)} ms (p95 {_f(c['per_study'].get('p95_ms'), 0)}).")
    for c in report["cases"]:
        if c["case"] != "in_process" or not c["stages"]:
            continue
        lines += ["", f"Stages, in process, {c['backend']} (ms per slice; outside the network at p50: "
                      f"{_f(100 * (c.get('outside_inference_fraction_p50') or 0), 0)}%):", "",
                  "| stage | p50 | p95 | p99 |", "|---|---|---|---|"]
        for stage, s in c["stages"].items():
            lines.append(f"| {stage} | {_f(s.get('p50_ms'), 2)} | {_f(s.get('p95_ms'), 2)} | {_f(s.get('p99_ms'), 2)} |")
    if report["ratios_vs_onnxruntime_p50"]:
        lines += ["", "Ratios of p50 per slice to onnxruntime in the same run:"]
        for case, r in report["ratios_vs_onnxruntime_p50"].items():
            lines.append(f"- {case}: " + ", ".join(f"{b} {v:.2f}×" for b, v in r.items()))
    for backend, why in report["unavailable_backends"].items():
        lines.append(f"- {backend}: not run here ({why})")
    best = min((c["p50_ms"] for c in report["cases"] if c["case"] == "tcp_warm" and c["p50_ms"]), default=None)
    if best:
        ratio = KALAPOS_MS_PER_SLICE / best
        compared = f"{ratio:.1f}× faster" if ratio >= 1 else f"{1 / ratio:.1f}× slower"
        lines += ["", f"Kalapos et al. 2023 report 12.3 s per 100 slices on a V100 ({KALAPOS_MS_PER_SLICE:.0f} ms/slice); "
                      f"the warm server here returns a slice in {best:.0f} ms at p50 over TCP, end to end "
                      f"({compared}, on {report['environment']['gpu'] or 'a CPU'})."]
    return "\n".join(lines) + "\n"


def plot(results: list[CaseResult], path: Path) -> None:
    """Box plots: per-stage latency in process, and end-to-end per slice per case, for each backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    in_process = [r for r in results if r.case == "in_process" and r.stages_ms]
    e2e = [r for r in results if r.slice_ms]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    labels, data = [], []
    for r in in_process:
        for stage, samples in r.stages_ms.items():
            labels.append(f"{stage}\n{r.backend}")
            data.append(samples)
    if data:
        axes[0].boxplot(data, showfliers=True)
        axes[0].set_xticks(range(1, len(labels) + 1), labels, rotation=60, ha="right", fontsize=7)
    axes[0].set_ylabel("ms per slice")
    axes[0].set_title("Stages (in process)")
    axes[0].set_yscale("log")
    if e2e:
        axes[1].boxplot([r.slice_ms for r in e2e], showfliers=True)
        axes[1].set_xticks(range(1, len(e2e) + 1), [f"{r.case}\n{r.backend}" for r in e2e], rotation=30,
                           ha="right", fontsize=8)
    axes[1].axhline(50, color="tab:red", lw=0.8, ls="--", label="CPU goal p95 50 ms")
    axes[1].set_ylabel("ms per slice, end to end")
    axes[1].set_title("End to end per slice")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)

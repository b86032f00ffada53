"""`myoseg bench --quick` end to end: checks the report's structure, never its timings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from myoseg.bench.cases import CaseResult, pipeline_script
from myoseg.bench.report import case_json, ratios
from myoseg.bench.stats import summarize
from myoseg.cli import app

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "weights" / "myoseg_unet.json"


def test_summarize_percentiles() -> None:
    s = summarize([float(v) for v in range(1, 101)])
    assert s["n"] == 100 and s["p50_ms"] == pytest.approx(50.5) and s["p99_ms"] == pytest.approx(99.01)
    assert summarize([]) == {}


def test_case_json_and_ratios() -> None:
    a = CaseResult("in_process", "onnxruntime", slice_ms=[10.0, 20.0], study_ms=[30.0],
                   stages_ms={"segment.inference": [5.0, 5.0]})
    b = CaseResult("in_process", "torch", slice_ms=[20.0, 40.0], study_ms=[60.0])
    ja, jb = case_json(a), case_json(b)
    assert ja["p50_ms"] == 15.0 and ja["slices_per_s"] == pytest.approx(2 / 0.03)
    assert ja["outside_inference_fraction_p50"] == pytest.approx(1 - 5 / 15)
    assert ratios([ja, jb]) == {"in_process": {"onnxruntime": 1.0, "torch": 2.0}}


def test_pipeline_script_sets_backend_on_segment_only() -> None:
    script = pipeline_script("torch", {"tta": "false"}).decode()
    assert script.count('name="backend"') == 1 and 'value="torch"' in script and 'name="tta"' in script


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped model in models/weights yet")
def test_bench_quick_writes_reports(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(app, ["bench", "--quick", "--backends", "onnxruntime,tensorrt",
                                      "--json", str(out), "--markdown", str(tmp_path / "bench.md"),
                                      "--plot", str(tmp_path / "bench.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    cases = {(c["case"], c["backend"]): c for c in report["cases"]}
    assert set(cases) == {(c, "onnxruntime") for c in ("in_process", "tcp_warm", "cold_start", "batched_study")}
    for key in (("in_process", "onnxruntime"), ("tcp_warm", "onnxruntime"), ("batched_study", "onnxruntime")):
        entry = cases[key]
        for field in ("p50_ms", "p95_ms", "p99_ms", "slices_per_s"):
            assert entry[field] is not None and entry[field] > 0, (key, field)
        assert entry["p50_ms"] <= entry["p95_ms"] <= entry["p99_ms"]
        assert entry["errors"] == 0
    assert "segment.inference" in cases[("in_process", "onnxruntime")]["stages"]
    assert cases[("cold_start", "onnxruntime")]["per_study"]["n"] == 2
    assert "tensorrt" in report["unavailable_backends"] or ("in_process", "tensorrt") in cases
    assert report["environment"]["model"]
    assert (tmp_path / "bench.png").stat().st_size > 1000
    assert "| case | backend |" in (tmp_path / "bench.md").read_text()

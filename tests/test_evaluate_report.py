"""myoseg evaluate: metrics on the native grid and the report files (Markdown, JSON, PNGs)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from myoseg.models import metrics as mx
from myoseg.models.synthetic import write_dataset

from myoseg.core.types import Label


def test_dice_iou_and_surface_distances_use_spacing():
    a = np.zeros((40, 40), bool)
    a[10:30, 10:30] = True
    b = np.zeros_like(a)
    b[10:30, 12:32] = True  # shifted 2 columns
    d, j = mx.dice_iou(a, b)
    assert d == pytest.approx(2 * 360 / 800) and j == pytest.approx(360 / 440)
    hd1, _ = mx.surface_distances(a, b, (1.0, 1.0))
    hd3, _ = mx.surface_distances(a, b, (1.0, 3.0))  # column spacing 3 mm
    assert hd1 == pytest.approx(2.0) and hd3 == pytest.approx(6.0)
    assert mx.surface_distances(a, a, (1.0, 1.0)) == (0.0, 0.0)
    assert all(math.isnan(v) for v in mx.surface_distances(a, np.zeros_like(a), (1.0, 1.0)))


def test_delta_and_bland_altman():
    lab = np.zeros((10, 10), np.uint8)
    lab[2:5, 2:5] = Label.MYOCARDIUM
    pred = lab.copy()
    pred[5, 2:5] = Label.MYOCARDIUM
    m = np.full((10, 10), 1000.0, np.float32)
    m[5, :] = 1600.0
    s = mx.slice_metrics(pred, lab, m, (1.5, 1.5))
    assert s["delta_ms"] == pytest.approx((9 * 1000 + 3 * 1600) / 12 - 1000)
    ba = mx.bland_altman([1, 2, 3, 4], [0, 2, 2, 4])
    assert ba["bias"] == pytest.approx(0.5) and ba["loa_high"] > ba["bias"] > ba["loa_low"]


def test_evaluate_writes_report(tmp_path):
    from typer.testing import CliRunner

    from myoseg.cli import app

    root = write_dataset(tmp_path / "ds", subjects=3, shape=(80, 72))
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["evaluate", "--data", str(root), "--split", "test", "--out", str(out),
                                   "--threads", "1"])
    assert res.exit_code == 0, res.output
    for f in ("report.md", "report.json", "slices.json", "bland_altman_raw.png", "boxplot_raw.png"):
        assert (out / f).is_file(), f
    rep = json.loads((out / "report.json").read_text())
    raw = rep["variants"]["raw"]
    assert set(raw["goals"]) == {"dice_myo_overall", "dice_myo_apical", "abs_dT1_ms", "abs_dT2_ms", "hd95_mm"}
    assert {"basal", "mid", "apical", "4ch", "T1", "T2", "all"} <= set(raw["table"])
    assert "Bland-Altman" in (out / "report.md").read_text()

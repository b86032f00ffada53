"""Slice values: statistics with NaN excluded and counted, septal/AHA by view, plausibility flags."""

from __future__ import annotations

import numpy as np
import pytest
from results_fixtures import phantom_labels, phantom_values

from myoseg.core.quantify import RegionStats, quantify_slice
from myoseg.core.types import Geometry, Label, MapType, View

GEOMETRY = Geometry(spacing_mm=(1.5, 1.5))


def test_region_stats_match_numpy_and_skip_nan() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(1000, 40, (50, 50))
    mask = np.zeros((50, 50), bool)
    mask[10:30, 10:30] = True
    values[10, 10:14] = np.nan
    values[10, 14] = 0.0  # a failed fit
    values[11, 10] = np.inf
    s = RegionStats.of(values, mask)
    finite = values[mask & np.isfinite(values) & (values > 0)]
    assert s.pixels == finite.size == 394 and s.nan_pixels == 6
    assert s.mean == pytest.approx(finite.mean())
    assert s.median == pytest.approx(np.median(finite))
    assert s.sd == pytest.approx(finite.std(ddof=1))
    q1, q3 = np.percentile(finite, [25, 75])
    assert s.iqr == pytest.approx(q3 - q1)
    empty = RegionStats.of(values, np.zeros_like(mask))
    assert empty.pixels == 0 and np.isnan(empty.mean)


@pytest.mark.parametrize(
    ("view", "septal", "segments"),
    [(View.MID, True, list(range(7, 13))), (View.BASAL, False, list(range(1, 7))),
     (View.APICAL, False, [13, 14, 15, 16]), (View.SAX, True, []), (View.FOUR_CH, False, [])],
)
def test_values_by_view(view: View, septal: bool, segments: list[int]) -> None:
    labels = phantom_labels(four_chamber=view is View.FOUR_CH)
    values = phantom_values(labels, MapType.T1, noise=0.02)
    out = quantify_slice(values, labels, MapType.T1, view, GEOMETRY)
    myo = values[labels == Label.MYOCARDIUM]
    assert out.myo.pixels == myo.size and out.myo.mean == pytest.approx(myo.mean())
    assert (out.septal is not None) == septal
    assert out.aha_segments == segments
    if segments:
        assert all(abs(v - 1000) < 10 for v in out.aha_ms) and sum(out.aha_pixels) == myo.size
    assert not out.review


def test_septal_value_reflects_the_septum() -> None:
    labels = phantom_labels()
    values = phantom_values(labels)
    septum_side = (labels == Label.MYOCARDIUM) & (np.arange(labels.shape[1])[None, :] < 76)
    values[septum_side] = 1100.0
    out = quantify_slice(values, labels, MapType.T1, View.MID, GEOMETRY)
    assert out.septal is not None and out.septal.mean == pytest.approx(1100.0)
    assert out.myo.mean < 1100.0


def test_implausible_values_are_flagged_not_hidden() -> None:
    labels = phantom_labels()
    values = phantom_values(labels, MapType.T2)  # a T2 map read as T1
    out = quantify_slice(values, labels, MapType.T1, View.MID, GEOMETRY)
    assert out.myo.mean == pytest.approx(50.0)
    assert any("implausible T1" in r for r in out.review)


def test_too_few_pixels_and_nan_myocardium_need_review() -> None:
    labels = phantom_labels()
    values = phantom_values(labels)
    values[labels == Label.MYOCARDIUM] = np.nan
    values[np.nonzero(labels == Label.MYOCARDIUM)[0][:5], np.nonzero(labels == Label.MYOCARDIUM)[1][:5]] = 1000
    out = quantify_slice(values, labels, MapType.T1, View.MID, GEOMETRY)
    assert out.myo.pixels == 5
    assert any("myocardial pixels" in r for r in out.review)
    assert any("no value" in r for r in out.review)


def test_outliers_that_pull_the_mean_need_review() -> None:
    labels = phantom_labels()
    values = phantom_values(labels, MapType.T2, noise=0.02)
    rows, cols = np.nonzero(labels == Label.MYOCARDIUM)
    values[rows[::8], cols[::8]] = 1000.0  # failed fits at the fit's upper bound
    out = quantify_slice(values, labels, MapType.T2, View.MID, GEOMETRY)
    assert out.myo.median == pytest.approx(50.0, abs=1.0) and out.myo.mean > 100
    assert any("far from the median" in r for r in out.review)

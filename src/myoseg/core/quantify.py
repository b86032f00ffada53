"""Myocardial values of one slice: global statistics, the septal ROI, AHA segments, plausibility.

All values are in ms (the map after undoing GADGETRON_ScaleRatio). Pixels without a value (NaN/Inf, or <= 0
where the fit failed: no relaxation time is <= 0) are excluded and counted. Values outside the plausible range for the map type are flagged for review, never
reported as fact: the slice gets status `review` and a note saying which value and why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from myoseg.core import aha
from myoseg.core.refine import label_box
from myoseg.core.types import Geometry, Label, MapType, View

# Plausible myocardial ranges (ms) over field strengths and native/post-contrast. T1: post-contrast MOLLI at
# 3 T can reach ~300 ms, native 3 T up to ~1400 ms with disease. T2: ~40-55 ms normal, oedema up to ~90 ms.
PLAUSIBLE_MS = {MapType.T1: (200.0, 2000.0), MapType.T2: (25.0, 120.0)}
MIN_PIXELS = 20  # fewer myocardial pixels than this: the slice needs review
MAX_NAN_FRACTION = 0.05
MAX_MEAN_MEDIAN_GAP = 0.10  # mean this far (relative) from the median: outliers drive it (partial volume, failed fits)


@dataclass
class RegionStats:
    mean: float
    median: float
    sd: float
    iqr: float
    pixels: int  # pixels of the region with a value (finite and > 0: the ones the statistics use)
    nan_pixels: int  # pixels of the region without a value (NaN/Inf, or <= 0 where the fit failed): excluded

    @classmethod
    def of(cls, values_ms: np.ndarray, mask: np.ndarray) -> RegionStats:
        # Select, then convert: converting the whole map to float64 first cost more than the statistics.
        region = np.asarray(values_ms)[np.asarray(mask, dtype=bool)].astype(np.float64, copy=False)
        with np.errstate(invalid="ignore"):
            finite = region[np.isfinite(region) & (region > 0)]  # 0 or less: no fit there (no T1/T2 is <= 0)
        nan = int(region.size - finite.size)
        if finite.size == 0:
            return cls(math.nan, math.nan, math.nan, math.nan, 0, nan)
        q1, med, q3 = np.percentile(finite, [25, 50, 75])
        sd = float(np.std(finite, ddof=1)) if finite.size > 1 else 0.0
        return cls(float(np.mean(finite)), float(med), sd, float(q3 - q1), int(finite.size), nan)


@dataclass
class SliceValues:
    map_type: MapType
    view: View
    myo: RegionStats
    septal: RegionStats | None = None
    septal_mask: np.ndarray | None = None
    aha_segments: list[int] = field(default_factory=list)
    aha_ms: list[float] = field(default_factory=list)
    aha_pixels: list[int] = field(default_factory=list)
    frame: aha.SeptalFrame | None = None
    notes: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)


def plausible_range(map_type: MapType, ranges: dict[MapType, tuple[float, float]] | None = None) -> tuple[float, float]:
    return (ranges or PLAUSIBLE_MS)[map_type]


def quantify_slice(
    values_ms: np.ndarray,
    labels: np.ndarray,
    map_type: MapType,
    view: View,
    geometry: Geometry,
    ranges: dict[MapType, tuple[float, float]] | None = None,
    septal_trim_deg: float = 10.0,
    min_pixels: int = MIN_PIXELS,
) -> SliceValues:
    labels = np.asarray(labels)
    values_ms = np.asarray(values_ms)
    if values_ms.shape != labels.shape:
        raise ValueError(f"quantify: map {values_ms.shape} and labels {labels.shape} differ in shape")
    myo = labels == Label.MYOCARDIUM
    # Statistics of a region inside the labels' box read the same pixels in the same (raster) order there.
    box = label_box(labels) or (slice(None), slice(None))
    out = SliceValues(map_type=map_type, view=view, myo=RegionStats.of(values_ms[box], myo[box]))
    lo, hi = plausible_range(map_type, ranges)
    stats = out.myo
    if stats.pixels < min_pixels:
        out.review.append(f"only {stats.pixels} myocardial pixels with a value")
    if stats.nan_pixels:
        share = stats.nan_pixels / max(stats.nan_pixels + stats.pixels, 1)
        out.notes.append(f"{stats.nan_pixels} myocardial pixel(s) without a value (NaN/Inf or <= 0) excluded")
        if share > MAX_NAN_FRACTION:
            out.review.append(f"{share:.0%} of the myocardium has no value (NaN/Inf or <= 0)")
    if stats.pixels and stats.median > 0 and abs(stats.mean - stats.median) > MAX_MEAN_MEDIAN_GAP * stats.median:
        out.review.append(f"mean {stats.mean:.0f} ms is far from the median {stats.median:.0f} ms: outliers "
                          "(blood partial volume or failed fits) drive it")
    if stats.pixels and not lo <= stats.mean <= hi:
        out.review.append(f"implausible {map_type.value} {stats.mean:.0f} ms (plausible {lo:.0f}-{hi:.0f} ms): "
                          "check map type, scale ratio and segmentation")

    if not view.is_short_axis:
        return out
    frame, why = aha.septal_frame(labels, geometry)
    if frame is None:
        out.notes.append(f"septal/AHA values undefined: {why}")
        return out
    out.frame = frame
    if view in (View.MID, View.SAX):
        mask = aha.septal_roi(myo, frame, trim_deg=septal_trim_deg)
        out.septal_mask = mask
        out.septal = RegionStats.of(values_ms[box], mask[box])
        if view is View.SAX:
            out.notes.append("septal value from a short-axis slice of unknown level (SCMR: use the mid slice)")
        if out.septal.pixels and not lo <= out.septal.mean <= hi:
            out.review.append(f"implausible septal {map_type.value} {out.septal.mean:.0f} ms")
    if view in (View.BASAL, View.MID, View.APICAL):
        seg, numbers = aha.segment_map(myo, frame, view)
        out.aha_segments = numbers
        out.aha_ms, out.aha_pixels = _segment_means(values_ms[box], seg[box], numbers)
    return out


def _segment_means(values_ms: np.ndarray, segments: np.ndarray, numbers: list[int]) -> tuple[list[float], list[int]]:
    """Mean (NaN when none) and count of the pixels with a value in each numbered segment: RegionStats.of's
    mean and pixels (same pixels, same raster order, so the same sums), without its percentiles and SD."""
    inside = segments != 0
    region = values_ms[inside].astype(np.float64, copy=False)
    numbered = segments[inside]
    with np.errstate(invalid="ignore"):
        valued = np.isfinite(region) & (region > 0)
    means: list[float] = []
    pixels: list[int] = []
    for number in numbers:
        finite = region[valued & (numbered == number)]
        means.append(float(np.mean(finite)) if finite.size else math.nan)
        pixels.append(int(finite.size))
    return means, pixels

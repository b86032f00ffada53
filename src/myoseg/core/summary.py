"""Per-study summary: once the stream ends, one line per map series with the slice values brought together.

Global value = pixel-weighted mean over the slices with values (the same as pooling all myocardial pixels);
the septal value comes from the mid slice (SCMR), the AHA segments from the basal/mid/apical slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from myoseg.core import metakeys as mk


@dataclass
class SliceRecord:
    series: int
    slice: int
    image_index: int
    map_type: str
    view: str
    status: str
    mean_ms: float | None = None
    pixels: int = 0
    septal_ms: float | None = None
    quality: float | None = None
    aha: dict[int, float] = field(default_factory=dict)


@dataclass
class SeriesSummary:
    series: int
    map_type: str
    slices: list[SliceRecord] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        out = {mk.STATUS_OK: 0, mk.STATUS_REVIEW: 0, mk.STATUS_ERROR: 0}
        for s in self.slices:
            out[s.status] = out.get(s.status, 0) + 1
        return out

    @property
    def global_ms(self) -> float | None:
        valued = [(s.mean_ms, s.pixels) for s in self.slices if s.mean_ms is not None and s.pixels > 0]
        total = sum(n for _, n in valued)
        if not total:
            return None
        return sum(m * n for m, n in valued) / total

    @property
    def septal_ms(self) -> float | None:
        for view in ("mid", "sax"):
            for s in self.slices:
                if s.view == view and s.septal_ms is not None:
                    return s.septal_ms
        return None

    @property
    def aha(self) -> dict[int, float]:
        merged: dict[int, float] = {}
        for s in self.slices:
            merged.update({k: v for k, v in s.aha.items() if math.isfinite(v)})
        return dict(sorted(merged.items()))

    def line(self) -> str:
        c = self.counts
        parts = [f"myoseg summary {self.map_type} series {self.series}: {len(self.slices)} slice(s) "
                 f"({c[mk.STATUS_OK]} ok, {c[mk.STATUS_REVIEW]} review, {c[mk.STATUS_ERROR]} error)"]
        g = self.global_ms
        if g is not None:
            per = " | ".join(f"{s.view} {s.mean_ms:.0f}{'?' if s.status == mk.STATUS_REVIEW else ''}"
                             for s in self.slices if s.mean_ms is not None)
            parts.append(f"global {g:.0f} ms [{per}]")
        if self.septal_ms is not None:
            parts.append(f"septal {self.septal_ms:.0f} ms")
        if self.aha:
            parts.append("AHA " + " ".join(f"{k}:{v:.0f}" for k, v in self.aha.items()))
        qualities = [s.quality for s in self.slices if s.quality is not None]
        if qualities:
            parts.append(f"Q min {min(qualities):.2f}")
        return "; ".join(parts)


class StudySummary:
    def __init__(self) -> None:
        self.series: dict[tuple[int, str], SeriesSummary] = {}

    def add(self, record: SliceRecord) -> None:
        key = (record.series, record.map_type)
        self.series.setdefault(key, SeriesSummary(record.series, record.map_type)).slices.append(record)

    def __bool__(self) -> bool:
        return bool(self.series)

    def lines(self) -> list[str]:
        out = []
        for key in sorted(self.series):
            summary = self.series[key]
            summary.slices.sort(key=lambda s: (s.slice, s.image_index))
            out.append(summary.line())
        return out

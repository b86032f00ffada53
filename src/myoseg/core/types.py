"""Typed vocabulary shared by every layer: map types, views, labels, and a map with its geometry."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum, StrEnum

import numpy as np


class MapType(StrEnum):
    T1 = "T1"
    T2 = "T2"

    @classmethod
    def parse(cls, value: str | MapType) -> MapType:
        try:
            return cls(str(value.value if isinstance(value, Enum) else value).strip().upper())
        except ValueError:
            raise ValueError(f"unknown map type {value!r}; expected one of {[m.value for m in cls]}") from None


class View(StrEnum):
    """Slice position / orientation of a map. SAX = short axis with unknown level."""

    BASAL = "basal"
    MID = "mid"
    APICAL = "apical"
    SAX = "sax"
    FOUR_CH = "4ch"
    UNKNOWN = "unknown"

    @property
    def is_short_axis(self) -> bool:
        return self in (View.BASAL, View.MID, View.APICAL, View.SAX)

    @classmethod
    def parse(cls, value: str | View) -> View:
        try:
            return cls(str(value.value if isinstance(value, Enum) else value).strip().lower())
        except ValueError:
            raise ValueError(f"unknown view {value!r}; expected one of {[v.value for v in cls]}") from None


class Label(IntEnum):
    """Mask pixel labels (the output contract: uint16 mask series uses these values)."""

    BACKGROUND = 0
    LV_CAVITY = 1
    MYOCARDIUM = 2
    RV = 3  # RV blood pool and free wall


NUM_CLASSES = len(Label)


@dataclass(frozen=True)
class Geometry:
    """Where a 2D map sits in the patient, in the MRD convention.

    Arrays are indexed [row, col] = [y, x]; `read_dir` points along +x (columns), `phase_dir` along +y (rows).
    `position` is the centre of the image in patient coordinates (mm), as in the MRD image header.
    """

    spacing_mm: tuple[float, float]  # (row spacing = along y, column spacing = along x)
    slice_thickness_mm: float = 8.0
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    read_dir: tuple[float, float, float] = (1.0, 0.0, 0.0)
    phase_dir: tuple[float, float, float] = (0.0, 1.0, 0.0)
    slice_dir: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def pixel_to_patient(self, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Patient coordinates (mm, N×3) of pixel centres at (row, col); the image centre is `position`."""
        ny, nx = shape
        dy, dx = self.spacing_mm
        u = (np.asarray(cols, dtype=np.float64) - (nx - 1) / 2.0) * dx
        v = (np.asarray(rows, dtype=np.float64) - (ny - 1) / 2.0) * dy
        return (
            np.asarray(self.position)[None, :]
            + u[:, None] * np.asarray(self.read_dir)[None, :]
            + v[:, None] * np.asarray(self.phase_dir)[None, :]
        )


@dataclass
class MapImage:
    """A quantitative map in physical units (ms), carrying its geometry from intake to emit."""

    values_ms: np.ndarray  # float32, shape (rows, cols), NaN where undefined
    map_type: MapType
    geometry: Geometry
    scale_ratio: float = 1.0  # stored pixel = value_ms * scale_ratio
    view: View = View.UNKNOWN
    series_index: int = 0
    slice_index: int = 0
    image_index: int = 0
    field_strength_t: float | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.values_ms.shape[0]), int(self.values_ms.shape[1]))

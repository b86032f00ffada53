"""Map <-> network grid: the one geometry/normalisation code that training and inference share.

numpy + cv2 only (the inline runtime imports this; no torch).

The network sees a square-pixel grid of `grid_mm` (default 1.5 mm) pixels, a canvas of at most
`max_canvas` pixels per side centred on the image centre (plus an optional offset), never an
aspect-distorting stretch. Both directions are one affine warp with the pixel-centre convention:

    native pixel (r, c) sits at  y = (r - (H-1)/2) * dy,  x = (c - (W-1)/2) * dx   (mm from the image centre)
    canvas pixel (i, j) sits at  y = (i - (h-1)/2) * s + oy, ... (before rotation/flip/scale in training)

so `to_canvas` followed by `to_native` keeps positions to interpolation accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

from myoseg.core.types import MapType

# Fixed per-map-type scales: (value_ms - centre) / scale, clipped. Not per-image min/max, so that a value in
# ms means the same input to the network on every scanner. T1 covers native and post-contrast MOLLI
# (100..3000 ms), T2 covers 0..300 ms.
NORMALISATION: dict[str, dict[str, float]] = {
    MapType.T1.value: {"centre": 1000.0, "scale": 500.0, "lo": -3.0, "hi": 5.0},
    MapType.T2.value: {"centre": 50.0, "scale": 30.0, "lo": -3.0, "hi": 8.0},
}
MAP_TYPES: tuple[MapType, ...] = (MapType.T1, MapType.T2)
IN_CHANNELS = 1 + len(MAP_TYPES)  # normalised map + one-hot map type (constant channels)
NAN_FILL_MS = 0.0  # NaN / Inf pixels (failed fits, air) are treated as 0 ms, i.e. background-like


@dataclass(frozen=True)
class GridSpec:
    """The network's input grid: pixel size in mm, the largest canvas side, and the size multiple."""

    grid_mm: float = 1.5
    max_canvas: int = 192
    multiple: int = 16
    normalisation: dict[str, dict[str, float]] = field(default_factory=lambda: dict(NORMALISATION))

    def to_json(self) -> dict:
        return {
            "grid_mm": self.grid_mm,
            "max_canvas": self.max_canvas,
            "multiple": self.multiple,
            "normalisation": self.normalisation,
            "nan_fill_ms": NAN_FILL_MS,
            "channels": ["map_normalised"] + [f"is_{m.value}" for m in MAP_TYPES],
        }

    @classmethod
    def from_json(cls, d: dict) -> GridSpec:
        return cls(
            grid_mm=float(d["grid_mm"]),
            max_canvas=int(d["max_canvas"]),
            multiple=int(d["multiple"]),
            normalisation={k: {kk: float(vv) for kk, vv in v.items()} for k, v in d["normalisation"].items()},
        )


def normalise(values_ms: np.ndarray, map_type: MapType, spec: GridSpec | None = None) -> np.ndarray:
    """Map in ms -> float32 network units with the fixed scale of its map type; NaN/Inf -> NAN_FILL_MS."""
    n = (spec.normalisation if spec else NORMALISATION)[MapType.parse(map_type).value]
    v = np.asarray(values_ms, dtype=np.float32)
    v = np.where(np.isfinite(v), v, np.float32(NAN_FILL_MS))
    out = (v - np.float32(n["centre"])) / np.float32(n["scale"])
    return np.clip(out, n["lo"], n["hi"]).astype(np.float32, copy=False)


def background_value(map_type: MapType, spec: GridSpec | None = None) -> float:
    """The normalised value that padding outside the field of view gets (that of NAN_FILL_MS)."""
    return float(normalise(np.array([NAN_FILL_MS], np.float32), map_type, spec)[0])


def canvas_shape(shape: tuple[int, int], spacing_mm: tuple[float, float], spec: GridSpec) -> tuple[int, int]:
    """Canvas (h, w): the field of view at grid_mm, rounded up to `multiple`, capped at `max_canvas`."""
    out = []
    for n, d in zip(shape, spacing_mm, strict=True):
        size = math.ceil(n * d / spec.grid_mm / spec.multiple) * spec.multiple
        out.append(int(min(max(size, spec.multiple), spec.max_canvas)))
    return out[0], out[1]


def native_to_canvas_matrix(
    shape: tuple[int, int],
    spacing_mm: tuple[float, float],
    canvas: tuple[int, int],
    grid_mm: float,
    offset_mm: tuple[float, float] = (0.0, 0.0),
    rotation_deg: float = 0.0,
    scale: float = 1.0,
    flip_rows: bool = False,
    flip_cols: bool = False,
) -> np.ndarray:
    """2x3 affine taking canvas pixel (x=j, y=i) to native pixel (x=c, y=r), in cv2's (x, y) order.

    The canvas is centred on the native point `offset_mm` (y, x) from the image centre. `scale` > 1 zooms in
    (anatomy looks bigger), `rotation_deg` rotates the anatomy, flips mirror the canvas. Used with
    cv2.WARP_INVERSE_MAP to sample the native image onto the canvas.
    """
    H, W = shape
    dy, dx = spacing_mm
    h, w = canvas
    # canvas pixel -> canvas mm (centred)
    a = np.array([[grid_mm, 0.0, -(w - 1) / 2.0 * grid_mm], [0.0, grid_mm, -(h - 1) / 2.0 * grid_mm], [0, 0, 1]])
    if flip_cols:
        a = np.diag([-1.0, 1.0, 1.0]) @ a
    if flip_rows:
        a = np.diag([1.0, -1.0, 1.0]) @ a
    th = math.radians(rotation_deg)
    rot = np.array([[math.cos(th), -math.sin(th), 0.0], [math.sin(th), math.cos(th), 0.0], [0, 0, 1]]) / scale
    rot[2, 2] = 1.0
    shift = np.array([[1.0, 0, offset_mm[1]], [0, 1.0, offset_mm[0]], [0, 0, 1]])
    # native mm (centred) -> native pixel
    b = np.array([[1.0 / dx, 0.0, (W - 1) / 2.0], [0.0, 1.0 / dy, (H - 1) / 2.0], [0, 0, 1]])
    m = b @ shift @ rot @ a
    return m[:2].astype(np.float64)


def _warp(
    img: np.ndarray, m: np.ndarray, size_wh: tuple[int, int], interp: int, border: float | tuple
) -> np.ndarray:
    return cv2.warpAffine(
        img,
        m,
        size_wh,
        flags=interp | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=border,
    )


@dataclass
class Prepared:
    """One slice on the network grid, with what `to_native` needs to undo it."""

    x: np.ndarray  # float32 (IN_CHANNELS, h, w)
    matrix: np.ndarray  # 2x3 canvas px -> native px
    native_shape: tuple[int, int]


def encode_channels(canvas_map: np.ndarray, map_type: MapType) -> np.ndarray:
    """(h, w) normalised map -> (IN_CHANNELS, h, w): the map and one constant one-hot plane per map type."""
    mt = MapType.parse(map_type)
    planes = [canvas_map.astype(np.float32, copy=False)]
    for m in MAP_TYPES:
        planes.append(np.full_like(planes[0], 1.0 if m == mt else 0.0))
    return np.stack(planes, axis=0)


def to_canvas(
    values_ms: np.ndarray,
    spacing_mm: tuple[float, float],
    map_type: MapType,
    spec: GridSpec,
    canvas: tuple[int, int] | None = None,
    matrix: np.ndarray | None = None,
) -> Prepared:
    """Native map in ms -> network input (normalise first, then one linear warp; outside FOV = background)."""
    values_ms = np.asarray(values_ms)
    if values_ms.ndim != 2:
        raise ValueError(f"expected a 2D map, got shape {values_ms.shape}")
    if min(values_ms.shape) < 4:
        raise ValueError(f"map too small to segment: shape {values_ms.shape}")
    dy, dx = float(spacing_mm[0]), float(spacing_mm[1])
    if not (np.isfinite(dy) and np.isfinite(dx) and dy > 0 and dx > 0):
        raise ValueError(f"invalid pixel spacing {spacing_mm!r} mm")
    mt = MapType.parse(map_type)
    shape = (int(values_ms.shape[0]), int(values_ms.shape[1]))
    if canvas is None:
        canvas = canvas_shape(shape, (dy, dx), spec)
    if matrix is None:
        matrix = native_to_canvas_matrix(shape, (dy, dx), canvas, spec.grid_mm)
    norm = normalise(values_ms, mt, spec)
    warped = _warp(norm, matrix, (canvas[1], canvas[0]), cv2.INTER_LINEAR, background_value(mt, spec))
    return Prepared(x=encode_channels(warped, mt), matrix=matrix, native_shape=shape)


def labels_to_canvas(labels: np.ndarray, matrix: np.ndarray, canvas: tuple[int, int]) -> np.ndarray:
    """Label map -> canvas with nearest-neighbour sampling (training targets)."""
    return _warp(labels.astype(np.uint8), matrix, (canvas[1], canvas[0]), cv2.INTER_NEAREST, 0)


def to_native(probabilities: np.ndarray, prepared: Prepared) -> np.ndarray:
    """(C, h, w) canvas probabilities -> (C, H, W) on the native grid (bilinear), renormalised to sum 1.

    Outside the canvas the background class gets probability 1.
    """
    c, h, w = probabilities.shape
    H, W = prepared.native_shape
    inv = cv2.invertAffineTransform(prepared.matrix)  # native px -> canvas px
    out = np.empty((c, H, W), dtype=np.float32)
    for k in range(c):
        out[k] = _warp(
            np.ascontiguousarray(probabilities[k], dtype=np.float32), inv, (W, H), cv2.INTER_LINEAR,
            1.0 if k == 0 else 0.0,
        )
    s = out.sum(axis=0, keepdims=True)
    out /= np.maximum(s, 1e-6)
    return out


def softmax(logits: np.ndarray, axis: int = 1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=axis, keepdims=True)
    return z

"""RGB overlay of a map for direct viewing: the windowed map (grey), contours burned in, the values printed.

The image is rendered `scale` times larger than the map (nearest-neighbour upsampling of the pixels, so
no value is invented) so that lines and text stay legible on small maps; pixel (x, y) of the map covers
canvas pixels [x*scale, (x+1)*scale). Colours: endocardium red, epicardium green, septal ROI yellow,
RV insertion points cyan. MRD RGB images are uint16 with 0..255 per channel (python-ismrmrd-server).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from myoseg.core.types import MapType

DEFAULT_WINDOW_MS = {MapType.T1: (1000.0, 2000.0), MapType.T2: (60.0, 120.0)}  # (centre, width)

_BGR = {"red": (0, 0, 255), "green": (0, 220, 0), "yellow": (0, 230, 255), "cyan": (255, 255, 0),
        "white": (255, 255, 255), "orange": (0, 165, 255)}


def window_image(values_ms: np.ndarray, centre: float, width: float) -> np.ndarray:
    """uint8 grey image of the map in the window; NaN pixels black."""
    width = max(float(width), 1e-6)
    low = centre - width / 2
    grey = np.subtract(values_ms, low, dtype=np.float64)  # the same operations as one expression, in place
    with np.errstate(invalid="ignore"):
        grey /= width
        np.clip(grey, 0.0, 1.0, out=grey)
    grey *= 255.0
    return np.nan_to_num(grey, copy=False, nan=0.0).astype(np.uint8)


def choose_window(values_ms: np.ndarray, map_type: MapType, meta_window_ms: tuple[float, float] | None) -> tuple[float, float]:
    """The map's own window when it is sane for its values (0 < centre < 4 x max(99th percentile of the finite
    values, 1)), else a standard one for the map type."""
    if meta_window_ms is not None:
        centre, width = meta_window_ms
        if width > 0 and centre > 0 and _below_four_p99(np.asarray(values_ms), float(centre)):
            return float(centre), float(width)
    return DEFAULT_WINDOW_MS[map_type]


def _below_four_p99(values: np.ndarray, centre: float) -> bool:
    """centre < 4 * max(np.percentile(finite values, 99), 1), mostly without sorting the map.

    The 99th percentile p lies between the sorted finite values s[k] and s[k+1], k = floor(0.99 (n - 1)), so
    counting the values above centre/4 (exact: a power of two) decides it unless centre/4 falls between
    s[k-1] and s[k+2]; only then is the percentile computed.
    """
    if centre < 4.0:
        return True  # 4 * max(p, 1) >= 4
    limit = centre / 4.0
    finite = np.isfinite(values)
    n = int(np.count_nonzero(finite))
    if n == 0:
        return False  # p taken as 0: 4 * max(0, 1) = 4 <= centre
    above = int(np.count_nonzero(finite & (values.astype(np.float64, copy=False) > limit)))
    k = math.floor((n - 1) * 0.99)
    if above >= n - k + 1:  # s[k-1] > limit: p >= s[k] > limit
        return True
    if above <= n - k - 3:  # s[k+2] <= limit: p <= s[k+1] <= limit, and max(p, 1) <= limit
        return False
    top = float(np.percentile(values[finite], 99))
    return centre < 4 * max(top, 1.0)


def _to_canvas(points_xy: np.ndarray, scale: int) -> np.ndarray:
    """Map pixel coordinates to fixed-point canvas coordinates for cv2 (shift 4 = 1/16 pixel)."""
    canvas = (np.asarray(points_xy, np.float64) + 0.5) * scale - 0.5
    return np.round(canvas * 16).astype(np.int32).reshape(-1, 1, 2)


def render_overlay(
    values_ms: np.ndarray,
    window: tuple[float, float],
    contours: Sequence[tuple[np.ndarray, str]] = (),
    points: Sequence[tuple[tuple[float, float], str]] = (),
    lines: Sequence[tuple[str, str]] = (),
    scale: int = 2,
) -> np.ndarray:
    """RGB uint8 (rows*scale, cols*scale, 3). contours: ((N,2) x/y, colour); points: ((row, col), colour);
    lines: (text, colour) printed top-left."""
    scale = max(int(scale), 1)
    grey = window_image(values_ms, *window)
    if scale > 1:
        grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    canvas = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    thickness = max(1, scale // 2)
    for xy, colour in contours:
        if xy is None or len(xy) < 2:
            continue
        cv2.polylines(canvas, [_to_canvas(xy, scale)], True, _BGR[colour], thickness, cv2.LINE_AA, shift=4)
    for (row, col), colour in points:
        centre = _to_canvas(np.array([[col, row]]), scale)[0, 0]
        cv2.circle(canvas, (int(centre[0]), int(centre[1])), 3 * 16 * max(1, scale // 2), _BGR[colour], thickness,
                   cv2.LINE_AA, shift=4)
    draw_lines(canvas, lines, thickness, bgr=True)
    return cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB)


def draw_lines(canvas: np.ndarray, lines: Sequence[tuple[str, str]], thickness: int = 1, bgr: bool = False) -> None:
    """Print text lines top-left on a dark box (legible over noisy background), in place."""
    height, width = canvas.shape[:2]
    font_scale = float(np.clip(width / 640.0, 0.35, 1.2))
    line_height = int(round(24 * font_scale)) + 2
    shown = [(text, colour) for i, (text, colour) in enumerate(lines) if 4 + line_height * (i + 1) <= height]
    if not shown:
        return
    box_w = max(cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)[0][0] for t, _ in shown) + 8
    box_h = line_height * len(shown) + 6
    canvas[:box_h, :box_w] = (canvas[:box_h, :box_w] * 0.25).astype(np.uint8)
    for i, (text, colour) in enumerate(shown):
        origin = (4, 4 + line_height * (i + 1) - line_height // 4)
        b, g, r = _BGR[colour]
        cv2.putText(canvas, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (b, g, r) if bgr else (r, g, b),
                    thickness, cv2.LINE_AA)

"""ROI contours as FIRE / OpenRecon image meta, so the console draws editable contours on the map.

A meta key starting with `ROI_` holds the list [r, g, b, thickness, style, visibility, x1, y1, x2, y2, ...]
as strings: colour normalised to 0..1, line thickness, style 0 solid / 1 dashed, visibility 0/1, and (x, y)
in pixels with (0, 0) at the top-left pixel (python-ismrmrd-server `mrdhelper.create_roi`). The polygon is
closed by repeating its first point at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from myoseg.core import metakeys as mk

ROI_MYOSEG = mk.ROI_PREFIX + "myoseg_"  # prefix of every ROI we write
ROI_ENDO = ROI_MYOSEG + "endo"
ROI_EPI = ROI_MYOSEG + "epi"
ROI_SEPTAL = ROI_MYOSEG + "septal"

RED = (1.0, 0.0, 0.0)
GREEN = (0.0, 1.0, 0.0)
YELLOW = (1.0, 1.0, 0.0)


@dataclass
class Roi:
    points_xy: np.ndarray  # (N, 2)
    rgb: tuple[float, float, float] = RED
    thickness: float = 1.0
    style: int = 0  # 0 solid, 1 dashed
    visibility: int = 1


def encode_roi(points_xy: np.ndarray, rgb: Sequence[float] = RED, thickness: float = 1.0, style: int = 0,
               visibility: int = 1, close: bool = True) -> list[str]:
    points = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if close and len(points) > 1 and not np.array_equal(points[0], points[-1]):
        points = np.vstack([points, points[:1]])
    head = [f"{v:f}" for v in (*(float(c) for c in rgb), float(thickness), float(style), float(visibility))]
    coords = points.ravel().tolist()
    if not coords:
        return head
    # One %-format over all coordinates: the same text as f"{v:.3f}" per value, in half the time.
    return head + (("%.3f," * len(coords))[:-1] % tuple(coords)).split(",")


def decode_roi(value: Sequence[str] | str) -> Roi:
    raw: Sequence[str] = value if isinstance(value, list | tuple) else [str(value)]
    items = [float(v) for v in raw]
    if len(items) < 8 or (len(items) - 6) % 2:
        raise ValueError(f"not a FIRE ROI: {len(items)} numbers (need 6 + 2 per point)")
    r, g, b, thickness, style, visibility = items[:6]
    return Roi(np.asarray(items[6:], dtype=np.float64).reshape(-1, 2), (r, g, b), thickness, int(style), int(visibility))

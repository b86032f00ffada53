"""Endocardial and epicardial contours of a refined label map, as smooth closed polygons.

A contour is traced with cv2.findContours on the region upsampled 4x (nearest), so that its points sit on
the border between pixels (within 1/8 pixel) rather than on the centres of the edge pixels; it is then
smoothed with a circular Gaussian (sigma `smooth_px` pixels of arc) and resampled at equal arc length.
Coordinates are (x, y) = (column, row) with (0, 0) the centre of the top-left pixel, the FIRE convention;
`to_patient` maps them to patient coordinates (mm) with the map's Geometry.

endo = border of the LV cavity; epi = outer border of myocardium + cavity. In 4Ch the cavity is closed by
the line across the valve plane, so both are closed polygons in every view.

Speed: the tracing works on the region's bounding box plus a margin (refine.label_box), not on the whole map
upsampled 4x (16 times its pixels); cv2.findContours' offset puts the points back in image coordinates, so the
points are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from myoseg.core.refine import fill_holes, label_box
from myoseg.core.types import Geometry, Label

UPSAMPLE = 4


@dataclass
class Contours:
    endo: np.ndarray | None  # (N, 2) float (x, y) pixel coordinates, not repeating the first point
    epi: np.ndarray | None

    def items(self) -> list[tuple[str, np.ndarray]]:
        return [(name, c) for name, c in (("endo", self.endo), ("epi", self.epi)) if c is not None]


def region_contour(mask: np.ndarray, smooth_px: float = 1.0, step_px: float = 1.0, max_points: int = 400) -> np.ndarray | None:
    """Closed outer contour of the largest connected part of `mask`, or None when it is (nearly) empty."""
    mask = np.asarray(mask, dtype=bool)
    if np.count_nonzero(mask) < 3:
        return None
    box = label_box(mask, margin=1)
    if box is None:
        return None
    return _traced_contour(mask[box], (box[0].start, box[1].start), smooth_px, step_px, max_points)


def _traced_contour(mask: np.ndarray, origin: tuple[int, int], smooth_px: float = 1.0, step_px: float = 1.0,
                    max_points: int = 400) -> np.ndarray | None:
    """region_contour of a (cropped) boolean mask whose top-left pixel is `origin` (row, col) in the image."""
    if np.count_nonzero(mask) < 3:
        return None
    up = cv2.resize(mask.astype(np.uint8), None, fx=UPSAMPLE, fy=UPSAMPLE, interpolation=cv2.INTER_NEAREST)
    found, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE,
                                offset=(origin[1] * UPSAMPLE, origin[0] * UPSAMPLE))
    if not found:
        return None
    raw = max(found, key=cv2.contourArea)[:, 0, :].astype(np.float64)
    if len(raw) < 8:
        return None
    # The centre of upsampled pixel u lies at original coordinate (u + 0.5) / 4 - 0.5.
    points = (raw + 0.5) / UPSAMPLE - 0.5
    sigma = max(smooth_px, 0.0) * UPSAMPLE
    if sigma > 0:
        points = np.stack([ndi.gaussian_filter1d(points[:, k], sigma, mode="wrap") for k in (0, 1)], axis=1)
    return resample_closed(points, step_px, max_points)


def resample_closed(points: np.ndarray, step_px: float = 1.0, max_points: int = 400) -> np.ndarray:
    """Resample a closed polygon at equal arc length (about `step_px` apart, at most max_points)."""
    closed = np.vstack([points, points[:1]])
    seg = np.hypot(*np.diff(closed, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    total = float(arc[-1])
    n = int(np.clip(round(total / max(step_px, 1e-3)), 8, max_points))
    s = np.linspace(0.0, total, n, endpoint=False)
    return np.stack([np.interp(s, arc, closed[:, 0]), np.interp(s, arc, closed[:, 1])], axis=1)


def extract_contours(labels: np.ndarray, smooth_px: float = 1.0) -> Contours:
    labels = np.asarray(labels)
    box = label_box(labels)
    if box is None:
        return Contours(endo=None, epi=None)
    origin = (box[0].start, box[1].start)
    sub = labels[box]
    cav = sub == Label.LV_CAVITY
    myo = sub == Label.MYOCARDIUM
    epi_region = fill_holes(myo | cav)
    return Contours(endo=_traced_contour(cav, origin, smooth_px),
                    epi=_traced_contour(epi_region, origin, smooth_px) if myo.any() else None)


def to_patient(points_xy: np.ndarray, geometry: Geometry, shape: tuple[int, int]) -> np.ndarray:
    """(N, 3) patient coordinates (mm) of (x, y) pixel coordinates."""
    return geometry.pixel_to_patient(points_xy[:, 1], points_xy[:, 0], shape)


def from_patient(points: np.ndarray, geometry: Geometry, shape: tuple[int, int]) -> np.ndarray:
    """(N, 2) (row, col) pixel coordinates of patient points (mm) projected into the image plane."""
    offset = np.asarray(points, np.float64).reshape(-1, 3) - np.asarray(geometry.position)[None, :]
    dy, dx = geometry.spacing_mm
    cols = offset @ np.asarray(geometry.read_dir) / dx + (shape[1] - 1) / 2.0
    rows = offset @ np.asarray(geometry.phase_dir) / dy + (shape[0] - 1) / 2.0
    return np.stack([rows, cols], axis=1)


def distance_to_border(points_xy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Distance (pixels) of each point to the border of `mask` (the line between inside and outside
    pixel centres). Used by the tests and as a sanity check of the contour extraction."""
    mask = np.asarray(mask, dtype=bool)
    inside = ndi.distance_transform_edt(mask)
    outside = ndi.distance_transform_edt(~mask)
    # Signed distance to the border sampled at pixel centres, then bilinear interpolation at the points.
    signed = np.where(mask, inside - 0.5, -(outside - 0.5))
    coords = np.stack([points_xy[:, 1], points_xy[:, 0]])
    return np.abs(ndi.map_coordinates(signed, coords, order=1, mode="nearest"))

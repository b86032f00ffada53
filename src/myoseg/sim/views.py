"""Imaging planes: SAX basal/mid/apical stacked along the LV axis, and the 4-chamber long-axis plane."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from myoseg.core.types import View
from myoseg.sim.anatomy import Heart

SIM_VIEWS = (View.BASAL, View.MID, View.APICAL, View.FOUR_CH)

# (cols, rows) acquisition-reconstruction matrices seen on scanners; FOV follows from the pixel size
MATRICES = ((256, 218), (192, 144), (256, 192), (224, 168), (208, 176), (256, 208))


@dataclass(frozen=True)
class Plane:
    view: View
    centre: np.ndarray  # image centre, patient mm
    read_dir: np.ndarray  # +x = columns
    phase_dir: np.ndarray  # +y = rows
    slice_dir: np.ndarray
    rows: int
    cols: int
    spacing_mm: float  # square pixels
    thickness_mm: float
    level_mm: float  # position along the LV axis (SAX) or offset (4Ch)

    @property
    def fov_mm(self) -> tuple[float, float, float]:
        return (self.cols * self.spacing_mm, self.rows * self.spacing_mm, self.thickness_mm)


def _rotate(a: np.ndarray, b: np.ndarray, angle: float) -> tuple[np.ndarray, np.ndarray]:
    c, s = np.cos(angle), np.sin(angle)
    return c * a + s * b, -s * a + c * b


def _tilt(normal: np.ndarray, rng: np.random.Generator, deg: float) -> np.ndarray:
    """A small random rotation of a direction (slice planning is never perfect)."""
    return normal + rng.normal(0.0, np.deg2rad(deg), 3)


def make_planes(heart: Heart, rng: np.random.Generator, cols: int, rows: int, spacing: float, thickness: float):
    """Four planes sharing the protocol's matrix and resolution."""
    planes = []
    levels = {
        View.BASAL: rng.uniform(7.0, 15.0),
        View.MID: heart.L * rng.uniform(0.42, 0.52),
        View.APICAL: heart.L * rng.uniform(0.68, 0.8),
    }
    # SAX stack: one normal for the stack (slices stacked along the LV axis)
    n = heart.w + rng.normal(0.0, np.deg2rad(4.0), 3)
    n /= np.linalg.norm(n)
    read = heart.u - (heart.u @ n) * n
    read /= np.linalg.norm(read)
    phase = np.cross(read, n)  # = +v: inferior wall at the bottom of the image
    read, phase = _rotate(read, phase, np.deg2rad(rng.normal(0.0, 10.0)))
    shift = rng.normal(0.0, 12.0, 2)
    for view, level in levels.items():
        centre = heart.base + level * heart.w - (shift[0] + 0.1 * heart.R) * read - shift[1] * phase
        planes.append(Plane(view, centre, read, phase, np.cross(read, phase), rows, cols, spacing, thickness, level))
    # 4-chamber: contains the long axis and the lateral direction; apex up, atria down, LV on the right
    read4 = heart.u + rng.normal(0.0, np.deg2rad(5.0), 3)
    read4 -= (read4 @ heart.w) * heart.w
    read4 /= np.linalg.norm(read4)
    phase4 = -heart.w
    read4, phase4 = _rotate(read4, phase4, np.deg2rad(rng.normal(0.0, 12.0)))
    offset = rng.normal(0.0, 2.0)
    normal4 = np.cross(read4, phase4)
    shift4 = rng.normal(0.0, 12.0, 2)
    centre4 = heart.to_patient(np.array([-0.35 * heart.R, 0.0, 0.3 * heart.L])) + offset * normal4
    centre4 = centre4 - shift4[0] * read4 - shift4[1] * phase4
    planes.append(Plane(View.FOUR_CH, centre4, read4, phase4, normal4, rows, cols, spacing, thickness, offset))
    return planes


def plane_points(plane: Plane, oversample: int, offsets_mm: np.ndarray) -> np.ndarray:
    """Fine-grid sample points (n_offsets, rows*os, cols*os, 3).

    Coarse pixel (i, j) sits at fine index (os*i, os*j), which matches the DFT crop used for downsampling.
    """
    fr, fc = plane.rows * oversample, plane.cols * oversample
    d = plane.spacing_mm / oversample
    ys = (np.arange(fr) / oversample - (plane.rows - 1) / 2.0) * plane.spacing_mm
    xs = (np.arange(fc) / oversample - (plane.cols - 1) / 2.0) * plane.spacing_mm
    del d
    grid = (
        plane.centre[None, None, :]
        + ys[:, None, None] * plane.phase_dir[None, None, :]
        + xs[None, :, None] * plane.read_dir[None, None, :]
    )
    return np.stack([grid + o * plane.slice_dir[None, None, :] for o in offsets_mm], axis=0).astype(np.float32)

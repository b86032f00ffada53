"""Training samples: random crops around the heart on the network grid, with augmentation (numpy + cv2).

Geometry (rotation, scale, flips, crop offset) is folded into the one affine warp of models/preprocess.py,
so a training sample is produced exactly like an inference input, only with a different matrix.
Flips are used because mirrored orientations occur in practice (patient position, display conventions),
and because the segmenter's test-time augmentation flips the input; the labels stay valid under a mirror.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from myoseg.models import preprocess as pp

from myoseg.core.data import LabelledSlice


@dataclass(frozen=True)
class AugmentConfig:
    crop: int = 160  # canvas side in pixels (at grid_mm)
    rotation_deg: float = 180.0  # uniform in +-rotation_deg
    scale: tuple[float, float] = (0.85, 1.2)
    flip_p: float = 0.5  # per axis
    jitter_mm: float = 30.0  # crop centre = heart centre + uniform jitter
    gain: tuple[float, float] = (0.92, 1.08)  # global multiplicative factor on the map values (ms)
    noise_sd: tuple[float, float] = (0.0, 0.06)  # extra Gaussian noise, fraction of the map-type scale
    blur_p: float = 0.2  # occasional blur (partial-volume / lower resolution)
    nan_p: float = 0.1  # occasional NaN speckle (failed fits)
    anywhere_p: float = 0.25  # crop centred anywhere in the field of view (teaches "no heart here" far out)


def heart_centre_mm(s: LabelledSlice) -> tuple[float, float]:
    """(y, x) of the labelled heart's centroid in mm from the image centre (0, 0 if unlabelled)."""
    rr, cc = np.nonzero(s.labels)
    if rr.size == 0:
        return 0.0, 0.0
    h, w = s.labels.shape
    return (float(rr.mean()) - (h - 1) / 2) * s.spacing_mm[0], (float(cc.mean()) - (w - 1) / 2) * s.spacing_mm[1]


def sample(
    s: LabelledSlice, rng: np.random.Generator, spec: pp.GridSpec, cfg: AugmentConfig, centre=None
) -> tuple[np.ndarray, np.ndarray]:
    """One augmented training pair: x float32 (C, crop, crop), y uint8 (crop, crop)."""
    if cfg.anywhere_p > 0 and rng.random() < cfg.anywhere_p:
        h, w = s.labels.shape
        off = (rng.uniform(-0.5, 0.5) * h * s.spacing_mm[0], rng.uniform(-0.5, 0.5) * w * s.spacing_mm[1])
    else:
        cy, cx = centre if centre is not None else heart_centre_mm(s)
        off = (cy + rng.uniform(-cfg.jitter_mm, cfg.jitter_mm), cx + rng.uniform(-cfg.jitter_mm, cfg.jitter_mm))
    canvas = (cfg.crop, cfg.crop)
    m = pp.native_to_canvas_matrix(
        s.labels.shape,
        s.spacing_mm,
        canvas,
        spec.grid_mm,
        offset_mm=off,
        rotation_deg=rng.uniform(-cfg.rotation_deg, cfg.rotation_deg),
        scale=float(np.exp(rng.uniform(np.log(cfg.scale[0]), np.log(cfg.scale[1])))),
        flip_rows=bool(rng.random() < cfg.flip_p),
        flip_cols=bool(rng.random() < cfg.flip_p),
    )
    values = s.map_ms * np.float32(rng.uniform(*cfg.gain))
    if rng.random() < cfg.nan_p:
        values = values.copy()
        values[rng.random(values.shape) < rng.uniform(0.0, 0.02)] = np.nan
    prep = pp.to_canvas(values, s.spacing_mm, s.map_type, spec, canvas=canvas, matrix=m)
    x = prep.x
    if rng.random() < cfg.blur_p:
        x[0] = cv2.GaussianBlur(x[0], (0, 0), sigmaX=float(rng.uniform(0.4, 1.0)))
    sd = rng.uniform(*cfg.noise_sd)
    if sd > 0:
        x[0] += rng.normal(0.0, sd, x[0].shape).astype(np.float32)
    y = pp.labels_to_canvas(s.labels, m, canvas)
    return x, y


def full_view(s: LabelledSlice, spec: pp.GridSpec) -> tuple[np.ndarray, np.ndarray]:
    """The un-augmented inference input of a slice and its labels on the same canvas (validation)."""
    prep = pp.to_canvas(s.map_ms, s.spacing_mm, s.map_type, spec)
    y = pp.labels_to_canvas(s.labels, prep.matrix, prep.x.shape[1:])
    return prep.x, y

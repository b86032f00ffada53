"""Smooth random fields in 3D (sums of random plane waves): deformations, textures, shading, trabeculae.

A field is defined in continuous space, so every plane cut through one subject (SAX levels and 4Ch) sees the
same anatomy. Evaluation cost is n_waves x n_points cosines, so callers evaluate only where a field matters.
"""

from __future__ import annotations

import numpy as np


class SmoothField:
    """f(p) = sqrt(2/n) * sum_k cos(k_k . p + phi_k): zero mean, unit variance, wavelengths in [lo, hi] mm."""

    def __init__(self, rng: np.random.Generator, wavelength_mm: tuple[float, float], n_waves: int = 8) -> None:
        directions = rng.normal(size=(n_waves, 3))
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        wavelengths = rng.uniform(wavelength_mm[0], wavelength_mm[1], size=n_waves)
        self.k = (directions * (2.0 * np.pi / wavelengths)[:, None]).astype(np.float32)
        self.phase = rng.uniform(0.0, 2.0 * np.pi, size=n_waves).astype(np.float32)
        self.norm = np.float32(np.sqrt(2.0 / n_waves))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """points: (N, 3) mm -> (N,) float32."""
        arg = points.astype(np.float32, copy=False) @ self.k.T + self.phase
        return (np.cos(arg).sum(axis=1) * self.norm).astype(np.float32)


class SmoothDisplacement:
    """A smooth random 3D displacement field with a given RMS amplitude per component (mm)."""

    def __init__(self, rng: np.random.Generator, amplitude_mm: float, wavelength_mm=(40.0, 120.0), n_waves=6):
        self.amplitude = float(amplitude_mm)
        self.components = [SmoothField(rng, wavelength_mm, n_waves) for _ in range(3)]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        if self.amplitude == 0.0:
            return np.zeros_like(points, dtype=np.float32)
        return np.stack([c(points) for c in self.components], axis=1) * np.float32(self.amplitude)


def _axis_weights(n: int, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    knots = np.arange(0, n, step)
    if knots[-1] != n - 1:
        knots = np.append(knots, n - 1)
    pos = np.arange(n)
    hi = np.clip(np.searchsorted(knots, pos, side="right"), 1, len(knots) - 1)
    lo = hi - 1
    w = ((pos - knots[lo]) / (knots[hi] - knots[lo])).astype(np.float32)
    return knots, lo, hi, w


def on_grid(fn, grid: np.ndarray, step: int = 4) -> np.ndarray:
    """Evaluate a smooth function of points on a (..., R, C, 3) grid at every `step`-th row/column and
    interpolate bilinearly: exact enough for fields whose wavelengths are many grid steps long."""
    r, c = grid.shape[-3], grid.shape[-2]
    rk, rlo, rhi, rw = _axis_weights(r, step)
    ck, clo, chi, cw = _axis_weights(c, step)
    sub = grid[..., rk, :, :][..., :, ck, :]
    lead = sub.shape[:-1]
    vals = fn(sub.reshape(-1, 3))
    vals = vals.reshape(lead + vals.shape[1:])  # (..., nr, nc[, k])
    extra = vals.ndim - len(lead)
    rw_ = rw.reshape((-1, 1) + (1,) * extra)
    cw_ = cw.reshape((-1,) + (1,) * extra)
    top = np.take(vals, rlo, axis=len(lead) - 2)
    bot = np.take(vals, rhi, axis=len(lead) - 2)
    v = top * (1 - rw_) + bot * rw_
    left = np.take(v, clo, axis=len(lead) - 1)
    right = np.take(v, chi, axis=len(lead) - 1)
    return (left * (1 - cw_) + right * cw_).astype(np.float32)

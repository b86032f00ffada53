"""Percentiles of latency samples, the one summary every case reports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    """n, p50, p95, p99, mean, max in ms (linear-interpolated percentiles); empty -> {}."""
    if not samples_ms:
        return {}
    a = np.asarray(samples_ms, dtype=np.float64)
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return {"n": int(a.size), "p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99),
            "mean_ms": float(a.mean()), "max_ms": float(a.max())}

"""Per-slice segmentation confidence, 0..1 (higher is better), without ground truth.

The idea of Hann et al. 2021 and Puyol-Anton et al. 2020: when predictions that should agree disagree,
the segmentation is likely wrong. The parts (each 0..1):
- `tta`: mean myocardium Dice between the main prediction and each test-time-augmented (flipped) one;
- `confidence`: mean max-probability inside the predicted myocardium, rescaled so 0.5 -> 0 and 1 -> 1;
- `refine`: myocardium Dice between the raw prediction and the refined labels before any erosion
  (a refinement that had to change much means the raw prediction was implausible).
The score is the smallest of `tta` (or `confidence` when TTA is off) and `refine`; all parts go into the
meta so a physicist can see why a slice is marked for review.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from myoseg.core.types import Label

DEFAULT_THRESHOLD = 0.9  # calibrated on 400 held-out simulated slices with the shipped model (docs/results.md)


@dataclass
class QualityReport:
    score: float
    parts: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        return " ".join(f"{k}={v:.2f}" for k, v in self.parts.items())


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / total


def slice_quality(
    raw_labels: np.ndarray,
    refined_labels: np.ndarray,
    probabilities: np.ndarray | None = None,
    tta_labels: Sequence[np.ndarray] = (),
) -> QualityReport:
    raw_myo = np.asarray(raw_labels) == Label.MYOCARDIUM
    ref_myo = np.asarray(refined_labels) == Label.MYOCARDIUM
    if not ref_myo.any():
        return QualityReport(0.0, {"myocardium": 0.0})
    parts: dict[str, float] = {}
    if len(tta_labels):
        parts["tta"] = float(np.mean([dice(raw_myo, np.asarray(t) == Label.MYOCARDIUM) for t in tta_labels]))
    if probabilities is not None and raw_myo.any():
        top = np.asarray(probabilities).max(axis=0)[raw_myo]
        parts["confidence"] = float(np.clip((float(np.mean(top)) - 0.5) / 0.5, 0.0, 1.0))
    parts["refine"] = dice(raw_myo, ref_myo)
    main = parts.get("tta", parts.get("confidence", 1.0))
    return QualityReport(float(np.clip(min(main, parts["refine"]), 0.0, 1.0)), parts)

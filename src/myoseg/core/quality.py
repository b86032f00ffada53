"""Per-slice segmentation confidence, 0..1 (higher is better), without ground truth.

The idea of Hann et al. 2021 and Puyol-Anton et al. 2020: when predictions that should agree disagree,
the segmentation is likely wrong. Every part is a Dice-like agreement (0..1), so they share one scale:
- `confidence`: the expected Dice of the mask under the network's own probabilities, i.e. the soft Dice
  between the myocardium probability and the refined myocardium (before erosion). Unsure pixels, or a mask
  that refinement had to move away from what the network believed, lower it;
- `refine`: myocardium Dice between the raw prediction and the refined labels before any erosion
  (a refinement that had to change much means the raw prediction was implausible);
- `tta` (only when the flip passes ran): mean myocardium Dice between the main prediction and each
  test-time-augmented (flipped) one.
The score is the smallest part; all parts go into the meta so a physicist can see why a slice is marked for
review. On held-out simulated slices the one-pass score (confidence, refine) predicts the true Dice better than
the flip agreement does (docs/results.md), which is why the segment gadget runs the flips only for slices whose
one-pass score is low (`tta=auto`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from myoseg.core.types import Label

DEFAULT_THRESHOLD = 0.85  # calibrated on 200 held-out simulated slices with the shipped model (docs/results.md)


@dataclass
class QualityReport:
    score: float
    parts: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        return " ".join(f"{k}={v:.2f}" for k, v in self.parts.items())


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    total = int(np.count_nonzero(a)) + int(np.count_nonzero(b))
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / total


def expected_dice(probability: np.ndarray, mask: np.ndarray) -> float:
    """Soft Dice between a class probability map (0..1) and a binary mask of that class (1.0 if both empty)."""
    p = np.asarray(probability, dtype=np.float32)
    m = np.asarray(mask, bool)
    total = float(p.sum(dtype=np.float64)) + int(np.count_nonzero(m))
    if total <= 0.0:
        return 1.0
    value = 2.0 * float(p[m].sum(dtype=np.float64)) / total
    return float(np.clip(value, 0.0, 1.0)) if np.isfinite(value) else 0.0


def slice_quality(
    raw_labels: np.ndarray,
    refined_labels: np.ndarray,
    probabilities: np.ndarray | None = None,
    tta_labels: Sequence[np.ndarray] = (),
) -> QualityReport:
    """`raw_labels`: the network's labels; `refined_labels`: after refinement, before erosion;
    `probabilities`: (classes, rows, cols) on the same grid; `tta_labels`: each flip pass's labels."""
    raw_myo = np.asarray(raw_labels) == Label.MYOCARDIUM
    ref_myo = np.asarray(refined_labels) == Label.MYOCARDIUM
    if not ref_myo.any():
        return QualityReport(0.0, {"myocardium": 0.0})
    parts: dict[str, float] = {}
    if len(tta_labels):
        parts["tta"] = float(np.mean([dice(raw_myo, np.asarray(t) == Label.MYOCARDIUM) for t in tta_labels]))
    if probabilities is not None:
        parts["confidence"] = expected_dice(np.asarray(probabilities)[Label.MYOCARDIUM], ref_myo)
    parts["refine"] = dice(raw_myo, ref_myo)
    return QualityReport(float(np.clip(min(parts.values()), 0.0, 1.0)), parts)

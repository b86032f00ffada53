"""The per-slice quality score: every part is a Dice-like agreement in 0..1, and the score is the smallest."""

from __future__ import annotations

import numpy as np
import pytest
from results_fixtures import one_hot, phantom_labels

from myoseg.core.quality import dice, expected_dice, slice_quality
from myoseg.core.types import NUM_CLASSES, Label


def test_dice_and_expected_dice_basics() -> None:
    a = np.zeros((10, 10), bool)
    a[2:6, 2:6] = True
    assert dice(a, a) == 1.0 and dice(a, ~a) == 0.0 and dice(np.zeros_like(a), np.zeros_like(a)) == 1.0
    assert expected_dice(a.astype(np.float32), a) == pytest.approx(1.0)
    assert expected_dice(np.full(a.shape, 0.5, np.float32), a) == pytest.approx(2 * 8 / (50 + 16))
    assert expected_dice(np.zeros(a.shape, np.float32), np.zeros_like(a)) == 1.0
    assert expected_dice(np.full(a.shape, np.nan, np.float32), a) == 0.0  # never NaN into the meta


def test_a_sure_network_whose_mask_refinement_kept_scores_one() -> None:
    labels = phantom_labels()
    report = slice_quality(labels, labels, one_hot(labels))
    assert report.score == 1.0 and set(report.parts) == {"confidence", "refine"}


def test_unsure_probabilities_lower_the_confidence_part_only() -> None:
    labels = phantom_labels()
    blurred = 0.5 * one_hot(labels) + 0.5 / NUM_CLASSES
    report = slice_quality(labels, labels, blurred)
    assert report.parts["refine"] == 1.0
    assert 0.0 < report.parts["confidence"] < 0.8 and report.score == report.parts["confidence"]


def test_a_mask_that_refinement_moved_scores_low_on_both_parts() -> None:
    labels = phantom_labels()
    moved = np.roll(labels, 12, axis=1)  # the refined mask is not where the network put the myocardium
    report = slice_quality(labels, moved, one_hot(labels))
    assert report.parts["refine"] < 0.8 and report.parts["confidence"] == pytest.approx(report.parts["refine"])


def test_flip_disagreement_is_a_part_when_the_flips_ran() -> None:
    labels = phantom_labels()
    empty = np.zeros_like(labels)
    report = slice_quality(labels, labels, one_hot(labels), [labels, empty, empty, labels])
    assert report.parts["tta"] == pytest.approx(0.5) and report.score == pytest.approx(0.5)
    assert report.describe().startswith("tta=0.50 confidence=1.00 refine=1.00")


def test_no_myocardium_after_refinement_is_zero() -> None:
    labels = phantom_labels()
    nothing = np.where(labels == Label.MYOCARDIUM, 0, labels).astype(np.uint8)
    assert slice_quality(labels, nothing, one_hot(labels)).score == 0.0

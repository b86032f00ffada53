"""RV insertion points, AHA segment numbering (also on flipped images) and the septal ROI."""

from __future__ import annotations

import numpy as np
import pytest
from results_fixtures import phantom_labels

from myoseg.core.aha import segment_map, septal_frame, septal_roi
from myoseg.core.types import Geometry, Label, View

CENTRE = (71.5, 79.5)  # exact pixel symmetry, so flipped images map pixel for pixel
STANDARD = Geometry(spacing_mm=(1.5, 1.5))  # rows -> posterior, columns -> patient's left


def _labels(**kw) -> np.ndarray:
    return phantom_labels(centre=CENTRE, **kw)


def _ring_pixel(angle_deg: float, radius_mm: float = 24.5) -> tuple[int, int]:
    """(row, col) in the wall at an image angle (0 = right, 90 = up)."""
    a = np.radians(angle_deg)
    return int(round(CENTRE[0] - radius_mm / 1.5 * np.sin(a))), int(round(CENTRE[1] + radius_mm / 1.5 * np.cos(a)))


def test_insertion_points_standard_orientation() -> None:
    labels = _labels()
    frame, why = septal_frame(labels, STANDARD)
    assert frame is not None, why
    assert frame.anterior_rc[0] < CENTRE[0] < frame.inferior_rc[0]  # anterior = up in the standard display
    assert frame.anterior_rc[1] < CENTRE[1] and frame.inferior_rc[1] < CENTRE[1]  # RV on the image left
    assert 100 < frame.septal_arc_deg < 150


@pytest.mark.parametrize(
    ("view", "expected"),
    [
        (View.MID, {90: 7, 150: 8, 210: 9, 270: 10, 330: 11, 30: 12}),
        (View.BASAL, {90: 1, 150: 2, 210: 3, 270: 4, 330: 5, 30: 6}),
        (View.APICAL, {90: 13, 180: 14, 270: 15, 0: 16}),
    ],
)
def test_segment_numbering(view: View, expected: dict[int, int]) -> None:
    labels = _labels()
    frame, _ = septal_frame(labels, STANDARD)
    seg, numbers = segment_map(labels == Label.MYOCARDIUM, frame, view)
    assert sorted(set(np.unique(seg)) - {0}) == numbers
    for angle, number in expected.items():
        assert seg[_ring_pixel(angle)] == number, (angle, number)
    assert np.all((seg > 0) == (labels == Label.MYOCARDIUM))


@pytest.mark.parametrize("flip", ["lr", "ud"])
def test_numbering_follows_the_patient_not_the_pixels(flip: str) -> None:
    labels = _labels()
    frame, _ = septal_frame(labels, STANDARD)
    seg, _ = segment_map(labels == Label.MYOCARDIUM, frame, View.MID)
    if flip == "lr":
        flipped, geometry = labels[:, ::-1], Geometry(spacing_mm=(1.5, 1.5), read_dir=(-1.0, 0.0, 0.0))
        expected = seg[:, ::-1]
    else:
        flipped, geometry = labels[::-1], Geometry(spacing_mm=(1.5, 1.5), phase_dir=(0.0, -1.0, 0.0))
        expected = seg[::-1]
    frame2, _ = septal_frame(np.ascontiguousarray(flipped), geometry)
    seg2, _ = segment_map(np.ascontiguousarray(flipped) == Label.MYOCARDIUM, frame2, View.MID)
    assert np.mean(seg2 == expected) > 0.999


def test_septal_roi_is_inside_the_septum() -> None:
    labels = _labels()
    myo = labels == Label.MYOCARDIUM
    frame, _ = septal_frame(labels, STANDARD)
    roi = septal_roi(myo, frame, trim_deg=10)
    assert roi.sum() > 30 and not (roi & ~myo).any()
    rows, cols = np.nonzero(roi)
    phi = frame.angles_deg(rows, cols)
    assert np.abs(phi).max() < frame.septal_arc_deg / 2 - 10 + 1e-6
    assert cols.max() < CENTRE[1]  # septum on the RV side (image left)
    # conservative: no pixel touches the blood or the outside
    from scipy import ndimage as ndi

    assert not (roi & ~ndi.binary_erosion(myo, structure=ndi.generate_binary_structure(2, 1))).any()


def test_without_rv_septum_and_segments_are_undefined() -> None:
    frame, why = septal_frame(_labels(rv=False), STANDARD)
    assert frame is None and "RV" in why


def test_an_rv_wrapping_far_round_still_gives_sensible_segments() -> None:
    labels = _labels(rv=False)
    yy, xx = np.mgrid[0:labels.shape[0], 0:labels.shape[1]]
    big_rv = np.hypot((yy - CENTRE[0]) * 1.5, (xx - CENTRE[1]) * 1.5 + 25.0) < 42.0
    labels[big_rv & (labels == 0)] = Label.RV
    frame, why = septal_frame(labels, STANDARD)
    assert frame is not None, why
    assert frame.contact_arc_deg > 150 and frame.septal_arc_deg == 150.0
    seg, numbers = segment_map(labels == Label.MYOCARDIUM, frame, View.MID)
    sizes = [int((seg == n).sum()) for n in numbers]
    assert min(sizes) > 0.5 * max(sizes)

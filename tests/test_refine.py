"""Refinement (components, ring/U topology, holes, C-shape, erosion) and contour extraction."""

from __future__ import annotations

import numpy as np
import pytest
from results_fixtures import phantom_labels
from scipy import ndimage as ndi

from myoseg.core.contours import distance_to_border, extract_contours, to_patient
from myoseg.core.refine import refine, refine_labels
from myoseg.core.types import Geometry, Label, View

SPACING = (1.5, 1.5)


def _ring_closed(labels: np.ndarray) -> bool:
    myo = labels == Label.MYOCARDIUM
    inside = ndi.binary_fill_holes(myo, structure=ndi.generate_binary_structure(2, 1)) & ~myo
    cav = labels == Label.LV_CAVITY
    return bool(cav.any()) and bool(np.all(inside[cav]))


def test_clean_ring_is_unchanged() -> None:
    labels = phantom_labels()
    np.testing.assert_array_equal(refine_labels(labels, View.MID, SPACING), labels)


def test_islands_removed_holes_filled_papillary_to_cavity() -> None:
    labels = phantom_labels()
    noisy = labels.copy()
    noisy[5:12, 5:12] = Label.MYOCARDIUM  # a far-away island
    noisy[5:9, 140:146] = Label.LV_CAVITY  # a stray cavity blob
    assert np.all(labels[53:59, 80] == Label.MYOCARDIUM)
    noisy[55, 80] = Label.BACKGROUND  # a hole in the wall
    noisy[70:74, 78:82] = Label.MYOCARDIUM  # a papillary muscle labelled myocardium inside the cavity
    result = refine(noisy, View.MID, SPACING)
    out = result.labels
    assert out[8, 8] == Label.BACKGROUND and out[6, 142] == Label.BACKGROUND
    assert out[55, 80] == Label.MYOCARDIUM
    assert np.all(out[70:74, 78:82] == Label.LV_CAVITY)
    assert ndi.label(out == Label.MYOCARDIUM, structure=np.ones((3, 3)))[1] == 1
    assert _ring_closed(out) and result.ring_closed


def test_c_shaped_apex_is_closed_with_the_convex_hull() -> None:
    labels = phantom_labels(r_endo_mm=10, wall_mm=5, gap_deg=50)
    assert not _ring_closed(labels)
    result = refine(labels, View.APICAL, SPACING)
    assert _ring_closed(result.labels) and result.ring_closed
    assert any("C-shaped" in n for n in result.notes)
    # the gap is bridged in the lateral wall, and the rest of the wall is kept
    full = phantom_labels(r_endo_mm=10, wall_mm=5)
    kept = (labels == Label.MYOCARDIUM) & (result.labels == Label.MYOCARDIUM)
    assert kept.sum() == (labels == Label.MYOCARDIUM).sum()
    added = (result.labels == Label.MYOCARDIUM) & (labels != Label.MYOCARDIUM)
    assert added.sum() < 0.6 * (full == Label.MYOCARDIUM).sum()


def test_four_chamber_u_stays_open() -> None:
    labels = phantom_labels(four_chamber=True, r_endo_mm=18, wall_mm=8)
    myo = labels == Label.MYOCARDIUM
    holey = labels.copy()
    r, c = np.nonzero(myo)
    holey[r[len(r) // 2], c[len(c) // 2]] = Label.BACKGROUND
    out = refine_labels(holey, View.FOUR_CH, SPACING)
    np.testing.assert_array_equal(out, labels)
    assert not _ring_closed(out)  # the cavity is open towards the base: no ring forced


def test_open_ring_without_fix_is_flagged() -> None:
    labels = phantom_labels(rv=False)
    labels[labels == Label.LV_CAVITY] = Label.BACKGROUND  # no cavity to close around: nothing to anchor
    labels[:, 80:] = Label.BACKGROUND  # half a ring
    result = refine(labels, View.MID, SPACING)
    assert result.ring_closed is False
    assert any("closed ring" in r for r in result.review)


def test_empty_prediction() -> None:
    result = refine(np.zeros((64, 64), np.uint8), View.MID, SPACING)
    assert not result.labels.any() and result.review


@pytest.mark.parametrize("erode_mm", [1.0, 2.0])
def test_erosion_moves_the_blood_border(erode_mm: float) -> None:
    labels = phantom_labels()
    eroded = refine_labels(labels, View.MID, SPACING, erode_mm=erode_mm)
    myo0, myo1 = labels == Label.MYOCARDIUM, eroded == Label.MYOCARDIUM
    assert myo1.sum() < myo0.sum() and not (myo1 & ~myo0).any()
    # removed pixels went to the blood they touched, never to background
    removed = myo0 & ~myo1
    assert set(np.unique(eroded[removed])) <= {Label.LV_CAVITY, Label.RV}
    # every remaining myocardium pixel centre is at least erode_mm from the blood border
    blood = (labels == Label.LV_CAVITY) | (labels == Label.RV)
    dist = ndi.distance_transform_edt(~blood, sampling=SPACING) - 0.5 * SPACING[0]
    assert dist[myo1].min() >= erode_mm - 1e-9
    # the epicardial border (towards background) is not eroded
    outside = ~ndi.binary_fill_holes(myo0 | (labels == Label.LV_CAVITY)) & (labels == 0)
    touching_bg = myo0 & ndi.binary_dilation(outside) & ~ndi.binary_dilation(blood, iterations=4)
    assert np.all(myo1[touching_bg])


def test_contours_lie_on_the_mask_border_and_map_to_patient() -> None:
    labels = phantom_labels()
    contours = extract_contours(labels)
    assert contours.endo is not None and contours.epi is not None
    cav = labels == Label.LV_CAVITY
    epi_region = ndi.binary_fill_holes((labels == Label.MYOCARDIUM) | cav)
    assert distance_to_border(contours.endo, cav).max() < 0.75
    assert distance_to_border(contours.epi, epi_region).max() < 0.75
    # closed, smooth polygons: consecutive points about 1 pixel apart
    step = np.hypot(*np.diff(np.vstack([contours.epi, contours.epi[:1]]), axis=0).T)
    assert step.max() < 1.6
    geometry = Geometry(spacing_mm=SPACING, position=(1.0, 2.0, 3.0))
    patient = to_patient(contours.epi, geometry, labels.shape)
    assert patient.shape == (len(contours.epi), 3)
    np.testing.assert_allclose(patient[:, 2], 3.0)
    radius = np.hypot(patient[:, 0] - 1.0, patient[:, 1] - 2.0)
    assert radius.mean() == pytest.approx(29.0, abs=1.0)  # r_epi = 20 + 9 mm around the image centre


def test_basal_ring_open_at_the_outflow_tract_is_kept_open() -> None:
    labels = phantom_labels(r_endo_mm=22, wall_mm=9, gap_deg=30)
    result = refine(labels, View.BASAL, SPACING)
    np.testing.assert_array_equal(result.labels, labels)
    assert result.ring_closed is False and not result.review
    assert any("outflow" in n for n in result.notes)


def test_a_wide_gap_is_flagged_not_bridged() -> None:
    labels = phantom_labels(gap_deg=150)
    result = refine(labels, View.MID, SPACING)
    assert result.ring_closed is False
    assert any("closed ring" in r for r in result.review)
    assert (result.labels == Label.MYOCARDIUM).sum() == (labels == Label.MYOCARDIUM).sum()


def test_a_spurious_ring_away_from_the_rv_is_dropped() -> None:
    heart = phantom_labels(r_endo_mm=14, wall_mm=5, centre=(40, 50))
    stomach = phantom_labels(rv=False, r_endo_mm=10, wall_mm=12, centre=(110, 110))
    labels = np.where(stomach > 0, stomach, heart).astype(np.uint8)
    assert (stomach == Label.MYOCARDIUM).sum() > (heart == Label.MYOCARDIUM).sum()  # the wrong ring is bigger
    out = refine_labels(labels, View.MID, SPACING)
    np.testing.assert_array_equal(out, heart)


def test_fill_holes_and_label_box_match_the_whole_image_computation() -> None:
    from scipy import ndimage as ndi

    from myoseg.core.refine import centre_of_mass, fill_holes, label_box

    rng = np.random.default_rng(3)
    for _ in range(300):
        mask = rng.random(tuple(rng.integers(1, 30, 2))) < rng.uniform(0.2, 0.8)
        np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(mask))
        if mask.any():
            box = label_box(mask, margin=1)
            assert box is not None and mask[box].sum() == mask.sum()
            assert centre_of_mass(mask[box], (box[0].start, box[1].start)) == tuple(ndi.center_of_mass(mask))
    assert label_box(np.zeros((5, 5))) is None

"""Refinement of a predicted label map into anatomically plausible labels.

Steps (`refine`):
1. Keep the most plausible myocardium component: it touches the LV cavity, is not a thin streak
   (Kalapos 2023: bounding box not more elongated than 1:3 in short axis), lies beside the RV, and belongs to
   the largest myocardium + cavity + RV blob (a spurious ring in the stomach has no RV beside it); with a prior
   position of the LV (from the study's other slices) the component near it wins first.
   Keep the cavity component that touches it most, and the RV component that touches it most.
2. Short axis: the myocardium must be a closed ring around the cavity. A ring with a gap of up to 90 degrees
   (the thin-apex "C-shape" of Kalapos 2023) is closed with the convex hull of the endocardial region,
   keeping a wall of the slice's own median thickness across the gap; a wider gap is flagged for review.
   Basal slices are left open: there the ring is open where the LV outflow tract leaves. Everything inside the ring that is not myocardium is
   LV cavity (papillary muscles and trabeculation belong to the cavity); cavity outside it is dropped.
   Long axis (4Ch): a U; small holes in the wall are filled, the cavity stays open towards the base.
3. Optional erosion of the blood/myocardium border (LV cavity and RV blood) by `erode_mm`: myocardium
   pixels whose centre lies closer than erode_mm to the border go to the neighbouring blood label.
   Default 0 mm: the mask is the segmentation itself, like the expert contours the model learned from
   (which already keep off the border zone); set 1-2 mm for a conservative, partial-volume-free ROI.

`refine_labels` is the plain array API (used by evaluation); `refine` also returns what it changed.

Speed: every step works inside the bounding box of the labels plus a background margin (`label_box`), about
a tenth of a 256x218 map; the result is pasted back into a full-size array. Only where absolute positions
matter (the prior, the LV centre) are the box's coordinates shifted back, in integers, so every number is the
one the full grid gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage as ndi

from myoseg.core.types import Label, View

DEFAULT_ERODE_MM = 0.0
_EIGHT = np.ones((3, 3), dtype=bool)
_FOUR = ndi.generate_binary_structure(2, 1)
MIN_MYO_AREA_MM2 = 30.0
PRIOR_RADIUS_MM = 30.0  # the LV centre moves less than this between the slices of a study (breath-holds)
MAX_HULL_GAP_DEG = 90.0  # a wider gap in a short-axis ring is not a thin-apex C-shape: flagged, not closed
BOX_MARGIN = 2  # background rows/columns kept around the labels' bounding box (>= 1 is what exactness needs)

Box = tuple[slice, slice]


def label_box(labels: np.ndarray, margin: int = BOX_MARGIN) -> Box | None:
    """The bounding box of the non-zero pixels grown by `margin` (clipped to the image); None when all zero.

    Morphology inside it equals morphology on the whole image restricted to it: every labelled pixel lies
    inside, and each side of the box either keeps `margin` >= 1 background rows/columns or is the image border.
    So hole filling (the border is background either way), distance transforms (the box border is background,
    and clamping a point into the box brings it no farther), 3x3 filters, dilations and erosions (zero beyond
    the box either way), connected components (raster order is kept, hence their numbering) and OpenCV
    contour tracing all give the same answer.
    """
    occupied = np.asarray(labels) != 0
    rows = np.flatnonzero(occupied.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(occupied.any(axis=0))
    height, width = occupied.shape
    return (slice(max(int(rows[0]) - margin, 0), min(int(rows[-1]) + margin + 1, height)),
            slice(max(int(cols[0]) - margin, 0), min(int(cols[-1]) + margin + 1, width)))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """ndi.binary_fill_holes(mask) (4-connected background) from one labelling pass instead of a flood that
    sweeps the image once per pixel of distance: background components that touch the array's edge stay
    background, every other one is a hole."""
    mask = np.asarray(mask, dtype=bool)
    if mask.size == 0:
        return mask.copy()
    background, n = ndi.label(~mask, structure=_FOUR)
    keep = np.ones(n + 1, dtype=bool)  # label 0 is the mask itself
    for edge in (background[0, :], background[-1, :], background[:, 0], background[:, -1]):
        keep[edge] = False
    keep[0] = True
    return keep[background]


def centre_of_mass(mask: np.ndarray, origin: tuple[int, int] = (0, 0)) -> tuple[float, float]:
    """(row, col) centroid of a non-empty mask whose top-left pixel is `origin` in the full image. Integer sums
    and one correctly rounded division: bit for bit what ndi.center_of_mass gives on the full image."""
    rows, cols = np.nonzero(mask)
    n = int(rows.size)
    return ((int(rows.sum()) + origin[0] * n) / n, (int(cols.sum()) + origin[1] * n) / n)


@dataclass
class RefineResult:
    labels: np.ndarray  # uint8, Label values
    notes: list[str] = field(default_factory=list)  # what refinement did (for logs and MYOSEG_Warnings)
    review: list[str] = field(default_factory=list)  # findings that need a human look
    ring_closed: bool | None = None  # short axis only
    before_erosion: np.ndarray | None = None  # labels after the topology steps, before erosion


def refine_labels(labels: np.ndarray, view: View | str, spacing_mm: tuple[float, float], erode_mm: float = 0.0) -> np.ndarray:
    """Refined labels (uint8); see the module docstring."""
    return refine(labels, view, spacing_mm, erode_mm).labels


def refine(labels: np.ndarray, view: View | str, spacing_mm: tuple[float, float], erode_mm: float = 0.0,
           prior_rc: tuple[float, float] | None = None) -> RefineResult:
    """`prior_rc`: where the LV is expected (row, col), e.g. from the other slices of the study: a
    myocardium component more than PRIOR_RADIUS_MM from it is chosen only when none is nearer."""
    view = View.parse(view)
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"refine: expected a 2D label map, got shape {labels.shape}")
    spacing = (float(spacing_mm[0]), float(spacing_mm[1]))
    if erode_mm < 0 or not np.isfinite(erode_mm):
        raise ValueError(f"refine: erode_mm must be >= 0, got {erode_mm}")
    result = RefineResult(labels=np.zeros(labels.shape, np.uint8))
    box = label_box(labels)
    sub = labels[box] if box is not None else labels
    origin = (box[0].start, box[1].start) if box is not None else (0, 0)
    myo = sub == Label.MYOCARDIUM
    cav = sub == Label.LV_CAVITY
    rv = sub == Label.RV

    myo = _pick_myocardium(myo, cav, rv, view, spacing, prior_rc, result, origin)
    if box is None or not myo.any():
        result.review.append("no myocardium found")
        result.notes.append("no myocardium found")
        result.before_erosion = result.labels
        return result
    cav = _best_touching(cav, myo)
    if view.is_short_axis:
        myo, cav = _close_ring(myo, cav, view, spacing, result, origin)
    else:
        myo = _fill_wall_holes(myo, cav)
        cav = cav & ~myo
    rv = _best_touching(rv & ~myo & ~cav, myo)

    out_sub = np.zeros(sub.shape, np.uint8)
    out_sub[rv] = Label.RV
    out_sub[cav] = Label.LV_CAVITY
    out_sub[myo] = Label.MYOCARDIUM
    out = result.labels
    out[box] = out_sub
    result.before_erosion = out
    if erode_mm > 0:
        eroded = _erode_blood_border(out_sub, spacing, erode_mm, result)
        if eroded is not out_sub:
            out = np.zeros(labels.shape, np.uint8)
            out[box] = eroded
    result.labels = out
    return result


# --- components -----------------------------------------------------------------------------------


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    return ndi.label(mask, structure=_EIGHT)


def _touch_count(region: np.ndarray, other: np.ndarray) -> int:
    if not other.any():
        return 0
    return int(np.count_nonzero(region & ndi.binary_dilation(other, structure=_EIGHT)))


def _pick_myocardium(myo: np.ndarray, cav: np.ndarray, rv: np.ndarray, view: View, spacing: tuple[float, float],
                     prior_rc: tuple[float, float] | None, result: RefineResult,
                     origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    comp, n = _components(myo)
    if n == 0:
        return myo
    # The heart is the largest connected myocardium + cavity + RV blob: a spurious ring elsewhere (stomach,
    # bowel) has no RV beside it and less around it.
    blobs, _ = _components(myo | cav | rv)
    blob_area = np.bincount(blobs.ravel())
    best, best_key = 0, None
    for i in range(1, n + 1):
        region = comp == i
        area = int(region.sum())
        touches = _touch_count(region, cav) > 0
        rows, cols = np.nonzero(region)
        h, w = int(np.ptp(rows)) + 1, int(np.ptp(cols)) + 1
        compact = not view.is_short_axis or max(h, w) <= 3 * min(h, w)
        plausible = area * spacing[0] * spacing[1] >= MIN_MYO_AREA_MM2
        # Full-image coordinates for the distance to the prior (integers shifted: the same means).
        near = prior_rc is None or float(np.hypot(((rows + origin[0]).mean() - prior_rc[0]) * spacing[0],
                                                  ((cols + origin[1]).mean() - prior_rc[1]) * spacing[1])) <= PRIOR_RADIUS_MM
        beside_rv = _touch_count(region, rv) > 0
        key = (plausible, touches, compact, near, beside_rv, int(blob_area[blobs[rows[0], cols[0]]]), area)
        if best_key is None or key > best_key:
            best, best_key = i, key
    if n > 1:
        result.notes.append(f"kept 1 of {n} myocardium components")
    chosen = comp == best
    if best_key is not None and not best_key[0]:
        result.review.append(f"myocardium very small ({int(chosen.sum())} pixels)")
    return chosen


def _best_touching(region: np.ndarray, anchor: np.ndarray) -> np.ndarray:
    """The component of `region` that touches `anchor` most (the largest one when none touches)."""
    comp, n = _components(region)
    if n <= 1:
        return region
    grown = ndi.binary_dilation(anchor, structure=_EIGHT, iterations=2)
    ids = np.arange(1, n + 1)
    touch = ndi.sum(grown, comp, ids)
    size = ndi.sum(np.ones_like(region), comp, ids)
    best = int(ids[np.lexsort((size, touch))[-1]])
    return comp == best


# --- short axis: the ring -------------------------------------------------------------------------


def _ring_interior(myo: np.ndarray) -> np.ndarray:
    """Pixels enclosed by the myocardium (4-connected holes, since the ring is 8-connected)."""
    return fill_holes(myo) & ~myo


def _encloses(inside: np.ndarray, cav: np.ndarray) -> bool:
    """The ring encloses (at least 90% of) the cavity."""
    return bool(np.count_nonzero(inside & cav) >= 0.9 * np.count_nonzero(cav))


def _gap_deg(myo: np.ndarray, cav: np.ndarray, spacing: tuple[float, float], origin: tuple[int, int] = (0, 0)) -> float:
    """The widest angle (degrees, around the LV centre) without myocardium: ~0 for a closed ring."""
    centre = centre_of_mass(myo | cav, origin)
    rows, cols = np.nonzero(myo)
    rows, cols = rows + origin[0], cols + origin[1]
    theta = np.sort(np.arctan2((rows - centre[0]) * spacing[0], (cols - centre[1]) * spacing[1]))
    gaps = np.diff(np.concatenate([theta, theta[:1] + 2 * np.pi]))
    return float(np.degrees(gaps.max()))


def _close_ring(myo: np.ndarray, cav: np.ndarray, view: View, spacing: tuple[float, float],
                result: RefineResult, origin: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    inside = _ring_interior(myo)
    closed = bool(cav.any()) and _encloses(inside, cav)
    if not closed and cav.any():
        gap = _gap_deg(myo, cav, spacing, origin)
        if view is View.BASAL:
            # At the base the ring is open where the LV outflow tract leaves: anatomy, not an error.
            result.notes.append(f"basal ring open over {gap:.0f} deg (LV outflow tract): not closed")
            result.ring_closed = False
            return myo, cav & ~myo
        if gap <= MAX_HULL_GAP_DEG:
            myo = _hull_close(myo, cav, result)
            cav = cav & ~myo
            inside = _ring_interior(myo)
            closed = _encloses(inside, cav)
        else:
            result.notes.append(f"ring open over {gap:.0f} deg: too wide to close with the convex hull")
    if not cav.any():
        closed = bool(inside.any())
    result.ring_closed = bool(closed)
    if not closed:
        result.review.append("myocardium is not a closed ring")
        return myo, cav & ~myo
    # Holes in the wall that hold no cavity belong to the wall; the main interior is the cavity.
    comp, n = ndi.label(inside, structure=_FOUR)
    cavity = np.zeros_like(myo)
    if n:
        ids = np.arange(1, n + 1)
        overlap = ndi.sum(cav, comp, ids) if cav.any() else ndi.sum(inside, comp, ids)
        main = int(ids[int(np.argmax(overlap))])
        cavity = comp == main
        myo = myo | (inside & ~cavity)
    return myo, cavity


def _hull_close(myo: np.ndarray, cav: np.ndarray, result: RefineResult) -> np.ndarray:
    """Close a C-shaped ring: endocardium = convex hull of the cavity, epicardium = hull of both."""
    thickness = _wall_thickness_px(myo)
    endo = _convex_hull_mask(cav)
    epi = _convex_hull_mask(myo | endo)
    # Keep a wall where the cavity reaches the outer border (the gap).
    core = ndi.binary_erosion(epi, structure=_EIGHT, iterations=max(1, int(round(thickness))))
    endo &= core
    ring = epi & ~endo
    added = ring & ~myo
    result.notes.append(f"closed a C-shaped ring with the convex hull ({int(added.sum())} pixels added)")
    return myo | ring


def _wall_thickness_px(myo: np.ndarray) -> float:
    """Median wall thickness in pixels: twice the distance-to-border on the wall's medial line."""
    dist = ndi.distance_transform_edt(myo)
    ridge = (dist >= ndi.maximum_filter(dist, size=3)) & myo
    values = dist[ridge]
    if values.size == 0:
        return 2.0
    return float(np.clip(2.0 * np.median(values) - 1.0, 2.0, 12.0))


def _convex_hull_mask(mask: np.ndarray) -> np.ndarray:
    if not mask.any():
        return mask.copy()
    rows, cols = np.nonzero(mask)
    points = np.stack([cols, rows], axis=1).astype(np.int32)
    hull = cv2.convexHull(points)
    out = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out.astype(bool) | mask


# --- long axis ------------------------------------------------------------------------------------


def _fill_wall_holes(myo: np.ndarray, cav: np.ndarray) -> np.ndarray:
    """Fill holes in the wall that hold no cavity (the U stays open: the cavity is not a hole)."""
    inside = _ring_interior(myo)
    if not inside.any():
        return myo
    comp, n = ndi.label(inside, structure=_FOUR)
    ids = np.arange(1, n + 1)
    has_cav = ndi.sum(cav, comp, ids) if cav.any() else np.zeros(n)
    fill = np.isin(comp, ids[has_cav == 0])
    return myo | fill


# --- erosion --------------------------------------------------------------------------------------


def _erode_blood_border(labels: np.ndarray, spacing: tuple[float, float], erode_mm: float, result: RefineResult) -> np.ndarray:
    myo = labels == Label.MYOCARDIUM
    blood = (labels == Label.LV_CAVITY) | (labels == Label.RV)
    if not blood.any():
        return labels
    dist, (ri, ci) = ndi.distance_transform_edt(~blood, sampling=spacing, return_indices=True)
    # Distance from a myocardium pixel centre to the blood border (half a pixel short of the blood pixel centre).
    half = 0.5 * min(spacing)
    strip = myo & (dist - half < erode_mm)
    if np.count_nonzero(strip) >= np.count_nonzero(myo):
        result.review.append(f"erosion by {erode_mm:g} mm would remove the whole myocardium; not eroded")
        return labels
    out = labels.copy()
    out[strip] = labels[ri[strip], ci[strip]]
    result.notes.append(f"eroded {int(strip.sum())} border pixels ({erode_mm:g} mm)")
    return out

"""RV insertion points, the SCMR septal ROI and AHA segments of a short-axis slice.

Angles are measured in millimetres (real pixel spacing) around the centre of the LV (centroid of
myocardium + cavity). The RV insertion points are the two ends of the arc along which the LV myocardium
touches the RV label. Which one is anterior comes from the patient geometry (the anterior direction
projected into the slice), so flipped or rotated images are numbered correctly; without usable geometry the
upper one in the image is anterior (standard display).

AHA 17-segment model (Cerqueira et al., Circulation 2002), from the insertion points. The septum is centred
on the mid-line between the insertion points; its width is the insertion-point arc, clipped to 90-150 degrees
so that an RV that wraps far round the LV (or barely touches it) still gives segments of sensible size:
- basal (1-6) and mid (7-12): the septum is split in two halves
  (anteroseptal 2/8, inferoseptal 3/9); the free wall is split into four equal parts
  (anterior 1/7, anterolateral 6/12, inferolateral 5/11, inferior 4/10);
- apical (13-16): septal 14 = the septum; anterior 13, lateral 16 and
  inferior 15 split the rest into three equal parts.
Segment values are listed in segment-number order.

Septal ROI (SCMR 2020 post-processing recommendations): mid-ventricular septum (as above), kept away from
its ends at the insertion points (`trim_deg` at each end) and, where the septum is thick
enough, from the blood and epicardial borders (one pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from myoseg.core.refine import centre_of_mass, fill_holes, label_box
from myoseg.core.types import Geometry, Label, View

ANTERIOR_LPS = np.array([0.0, -1.0, 0.0])  # LPS: +y is posterior
MIN_CONTACT_DEG, MAX_CONTACT_DEG = 40.0, 300.0  # an RV contact arc outside this is not a septum
SEPTAL_ARC_DEG = (90.0, 150.0)  # the septum's angular width is the contact arc clipped to this
_CROSS = ndi.generate_binary_structure(2, 1)


@dataclass
class SeptalFrame:
    """Where the septum is: the LV centre, the insertion points and signed angles around the centre."""

    centre_rc: tuple[float, float]  # (row, col)
    anterior_rc: tuple[float, float]  # anterior RV insertion point (row, col)
    inferior_rc: tuple[float, float]
    septal_arc_deg: float  # angular width of the septum: the RV contact arc clipped to SEPTAL_ARC_DEG
    contact_arc_deg: float  # angular width of the RV contact (between the insertion points)
    _bisector: float  # image angle (radians) of the septal mid-line
    _sign: float  # +1 or -1: the sign that makes the anterior insertion point positive
    spacing: tuple[float, float]

    def angles_deg(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Signed angle (degrees, -180..180) from the septal mid-line, positive towards anterior."""
        theta = _image_angle(rows, cols, self.centre_rc, self.spacing)
        return np.degrees(_wrap(self._sign * (theta - self._bisector)))


def _image_angle(rows: np.ndarray, cols: np.ndarray, centre: tuple[float, float], spacing: tuple[float, float]) -> np.ndarray:
    dy = (np.asarray(rows, float) - centre[0]) * spacing[0]
    dx = (np.asarray(cols, float) - centre[1]) * spacing[1]
    return np.arctan2(dy, dx)


def _wrap(angle: np.ndarray | float) -> np.ndarray:
    return (np.asarray(angle) + np.pi) % (2 * np.pi) - np.pi


def septal_frame(labels: np.ndarray, geometry: Geometry) -> tuple[SeptalFrame | None, str]:
    """The septal frame of a short-axis label map, or (None, why not)."""
    labels = np.asarray(labels)
    shape = labels.shape
    # The morphology runs inside the labels' bounding box (+ margin); positions go back to image coordinates
    # in integers, so the frame is the one the whole image gives (refine.label_box).
    box = label_box(labels)
    if box is None:
        return None, "no myocardium"
    origin = (box[0].start, box[1].start)
    sub = labels[box]
    myo = sub == Label.MYOCARDIUM
    rv = sub == Label.RV
    if not myo.any():
        return None, "no myocardium"
    if not rv.any():
        return None, "no RV in the slice: insertion points undefined"
    spacing = geometry.spacing_mm
    lv = fill_holes(myo | (sub == Label.LV_CAVITY))
    centre = centre_of_mass(lv, origin)
    reach = max(1, int(round(2.5 / min(spacing))))  # contact within ~2.5 mm
    contact = myo & ndi.binary_dilation(rv, structure=np.ones((3, 3), bool), iterations=reach)
    rows, cols = np.nonzero(contact)
    rows, cols = rows + origin[0], cols + origin[1]
    if rows.size < 3:
        return None, "RV does not touch the LV myocardium: insertion points undefined"
    theta = _image_angle(rows, cols, centre, spacing)  # type: ignore[arg-type]
    order = np.argsort(theta)
    ts = theta[order]
    gaps = np.diff(np.concatenate([ts, ts[:1] + 2 * np.pi]))
    k = int(np.argmax(gaps))  # the largest gap is the free wall; the arc starts after it
    start_i, end_i = order[(k + 1) % ts.size], order[k]
    start, end = float(theta[start_i]), float(theta[end_i])
    arc = float((end - start) % (2 * np.pi))
    arc_deg = math.degrees(arc)
    if not MIN_CONTACT_DEG <= arc_deg <= MAX_CONTACT_DEG:
        return None, f"RV contact arc {arc_deg:.0f} deg is implausible for a septum"
    bisector = float(_wrap(start + arc / 2))
    p_start = (float(rows[start_i]), float(cols[start_i]))
    p_end = (float(rows[end_i]), float(cols[end_i]))
    pts = geometry.pixel_to_patient(np.array([p_start[0], p_end[0]]), np.array([p_start[1], p_end[1]]), shape)
    delta = pts[0] - pts[1]
    along = float(delta @ ANTERIOR_LPS)
    if abs(along) >= 0.2 * max(float(np.linalg.norm(delta)), 1e-6):
        start_is_anterior = along > 0
    else:  # geometry cannot tell: the upper one in the image
        start_is_anterior = p_start[0] < p_end[0]
    # Angles measured from the bisector in image orientation: start is at -arc/2, end at +arc/2.
    sign = -1.0 if start_is_anterior else 1.0
    anterior, inferior = (p_start, p_end) if start_is_anterior else (p_end, p_start)
    frame = SeptalFrame(
        centre_rc=(centre[0], centre[1]),
        anterior_rc=anterior,
        inferior_rc=inferior,
        septal_arc_deg=float(np.clip(arc_deg, *SEPTAL_ARC_DEG)),
        contact_arc_deg=arc_deg,
        _bisector=bisector,
        _sign=sign,
        spacing=spacing,
    )
    return frame, ""


def segment_map(myo: np.ndarray, frame: SeptalFrame, view: View) -> tuple[np.ndarray, list[int]]:
    """Per-pixel AHA segment number (0 outside the myocardium) and the segment numbers of this level."""
    rows, cols = np.nonzero(myo)
    phi = frame.angles_deg(rows, cols)
    half = frame.septal_arc_deg / 2
    seg = np.zeros(myo.shape, np.int16)
    # Angle along the free wall: 0 at the anterior insertion point, growing away from the septum.
    free = (phi - half) % 360.0
    free_span = 360.0 - frame.septal_arc_deg
    if view is View.APICAL:
        numbers = [13, 14, 15, 16]
        part = np.minimum((free / free_span * 3).astype(int), 2)
        wall = np.array([13, 16, 15])[part]  # anterior, lateral, inferior
        values = np.where(np.abs(phi) < half, 14, wall)
    elif view in (View.BASAL, View.MID):
        base = 0 if view is View.BASAL else 6
        numbers = [base + i for i in range(1, 7)]
        part = np.minimum((free / free_span * 4).astype(int), 3)
        wall = np.array([1, 6, 5, 4])[part] + base  # anterior, anterolateral, inferolateral, inferior
        septal = np.where(phi >= 0, 2, 3) + base  # anteroseptal, inferoseptal
        values = np.where(np.abs(phi) < half, septal, wall)
    else:
        raise ValueError(f"AHA segments need a basal, mid or apical slice, got {view.value}")
    seg[rows, cols] = values
    return seg, numbers


def septal_roi(myo: np.ndarray, frame: SeptalFrame, trim_deg: float = 10.0, min_pixels: int = 10) -> np.ndarray:
    """Septal ROI mask: septal myocardium between the insertion points, trimmed at both ends."""
    rows, cols = np.nonzero(myo)
    phi = frame.angles_deg(rows, cols)
    half = frame.septal_arc_deg / 2 - max(trim_deg, 0.0)
    sector = np.zeros(myo.shape, bool)
    sector[rows[np.abs(phi) < half], cols[np.abs(phi) < half]] = True
    core = np.zeros(myo.shape, bool)
    box = label_box(myo, margin=1)
    if box is not None:  # erosion inside the myocardium's box: zero beyond it either way
        core[box] = sector[box] & ndi.binary_erosion(myo[box], structure=_CROSS)
    return core if np.count_nonzero(core) >= min_pixels else sector

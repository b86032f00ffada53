"""Topology checks of label maps: a closed myocardial ring in SAX, a U open towards the base in 4Ch."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from myoseg.core.types import Label

_EIGHT = np.ones((3, 3), dtype=bool)


def _holes(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Components (4-connected) of ~mask that do not touch the border."""
    comp, n = ndimage.label(~mask)
    border = np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))
    holes = np.isin(comp, [i for i in range(1, n + 1) if i not in set(border.tolist())])
    lab, n_holes = ndimage.label(holes)
    return lab, n_holes


def is_closed_ring(labels: np.ndarray) -> bool:
    """One myocardium component (8-connected) with exactly one hole, which holds all of the LV cavity."""
    myo = labels == Label.MYOCARDIUM
    cav = labels == Label.LV_CAVITY
    if not cav.any() or ndimage.label(myo, structure=_EIGHT)[1] != 1:
        return False
    holes, n_holes = _holes(myo)
    return n_holes == 1 and bool(np.all(holes[cav] == 1))


def is_open_u(labels: np.ndarray, base_down: bool = True) -> bool:
    """One myocardium component that does not enclose the cavity; the cavity opens (to non-RV background)
    on the base side (larger row index when the image shows the apex up)."""
    myo = labels == Label.MYOCARDIUM
    cav = labels == Label.LV_CAVITY
    if not cav.any() or ndimage.label(myo, structure=_EIGHT)[1] != 1:
        return False
    holes, _ = _holes(myo)
    if (holes[cav] > 0).any():
        return False
    bg = labels == Label.BACKGROUND
    opening = cav & ndimage.binary_dilation(bg)
    if not opening.any():
        return False
    rows = np.nonzero(cav)[0]
    open_rows = np.nonzero(opening)[0]
    return bool(open_rows.mean() > rows.mean()) if base_down else bool(open_rows.mean() < rows.mean())

"""Tiny drawn test slices (rings / U shapes) for unit tests and smoke runs; not a simulator."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from myoseg.core.data import LabelledSlice, slice_filename
from myoseg.core.types import Label, MapType, View

VALUES = {MapType.T1: (1600.0, 980.0, 1600.0, 600.0), MapType.T2: (220.0, 50.0, 220.0, 40.0)}  # cav, myo, rv, bg


def ring_slice(
    rng: np.random.Generator,
    shape: tuple[int, int] = (96, 80),
    spacing_mm: tuple[float, float] = (2.0, 2.0),
    map_type: MapType = MapType.T1,
    view: View = View.MID,
    subject: str = "s000",
) -> LabelledSlice:
    """A SAX-like ring (or a 4Ch-like U) with an RV crescent, in ms with noise."""
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w]
    cy, cx = h / 2 + rng.uniform(-3, 3), w / 2 + rng.uniform(-3, 3)
    y_mm, x_mm = (yy - cy) * spacing_mm[0], (xx - cx) * spacing_mm[1]
    r = np.hypot(y_mm, x_mm)
    r_endo = rng.uniform(14, 22)
    r_epi = r_endo + rng.uniform(7, 11)
    labels = np.zeros(shape, np.uint8)
    rv = (np.hypot(y_mm, x_mm + r_epi * 0.9) < r_epi * 0.85) & (r >= r_epi)
    labels[rv] = Label.RV
    labels[r < r_epi] = Label.MYOCARDIUM
    labels[r < r_endo] = Label.LV_CAVITY
    if view == View.FOUR_CH:  # open towards the base: remove the top part of the ring
        top = (y_mm < -r_endo * 0.4) & (labels == Label.MYOCARDIUM)
        labels[top] = Label.LV_CAVITY
    cav, myo, rvv, bg = VALUES[map_type]
    true = np.full(shape, bg, np.float32)
    true[labels == Label.LV_CAVITY] = cav
    true[labels == Label.MYOCARDIUM] = myo
    true[labels == Label.RV] = rvv
    noise = rng.normal(0, 0.03 * myo, shape).astype(np.float32)
    return LabelledSlice(
        map_ms=true + noise, labels=labels, spacing_mm=spacing_mm, map_type=map_type, view=view,
        subject=subject, true_ms=true,
    )


def write_dataset(root: Path, subjects: int = 6, seed: int = 0, shape: tuple[int, int] = (96, 80)) -> Path:
    """A tiny dataset in the `myoseg simulate` layout (slices/<split>/*.npz, split by subject)."""
    import json

    rng = np.random.default_rng(seed)
    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for k in range(subjects):
        split = "train" if k < subjects - 2 else ("val" if k == subjects - 2 else "test")
        sid = f"s{k:03d}"
        splits[split].append(sid)
        for view in (View.BASAL, View.MID, View.APICAL, View.FOUR_CH):
            for mt in (MapType.T1, MapType.T2):
                s = ring_slice(rng, shape, (2.0, 2.0), mt, view, sid)
                s.save(Path(root) / "slices" / split / slice_filename(sid, view, mt))
    (Path(root) / "manifest.json").write_text(json.dumps({"seed": seed, "subjects": subjects, "splits": splits}))
    return Path(root)

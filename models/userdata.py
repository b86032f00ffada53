"""Import a user's own labelled maps into the training dataset format (LabelledSlice .npz, split by patient).

Folder layout (also in models/README.md):

    USER_DIR/
      labels.json                       optional: {"<value in your masks>": "lv_cavity" | "myocardium" | "rv" | "background"}
      <patient>/                        one folder per patient: the unit of the train/val/test split
        <series>/                       DICOM files of ONE T1 or T2 map series (classic or enhanced MR)
        <series>.nii.gz | .nii | .nrrd  a label volume drawn on that series (ITK-SNAP style, as Manzke 2024), or
        <series>.contours.json          contour point lists (as Kalapos 2023), see below
        <series>.json                   optional: {"map_type": "T1", "views": ["basal", "mid", "apical"]}

Label volumes are matched to the DICOM slices through patient coordinates (the NIfTI affine / NRRD space
directions, RAS or LPS), nearest neighbour, so the volume may be stored in any orientation ITK-SNAP writes.
Default label values: 0 background, 1 LV cavity, 2 myocardium, 3 RV.

contours.json: {"slices": [{"index": 0, "view": "mid", "endo": [[x, y], ...], "epi": [[x, y], ...],
"rv": [[x, y], ...]}]} with x = column, y = row in pixels of that slice (pixel centres at integers),
`index` the slice's position in the series sorted along the slice normal (or "instance": InstanceNumber).
Rasterised: inside epi = myocardium, inside endo = LV cavity, inside rv (outside epi) = RV.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from myoseg.core.data import LabelledSlice
from myoseg.core.types import Label, MapType, View

log = logging.getLogger("myoseg.userdata")
LABEL_NAMES = {"background": Label.BACKGROUND, "lv_cavity": Label.LV_CAVITY, "cavity": Label.LV_CAVITY,
               "myocardium": Label.MYOCARDIUM, "myo": Label.MYOCARDIUM, "rv": Label.RV}
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".seg.nrrd", ".nrrd")


def _pixel_points_lps(frame_geom, rows: int, cols: int) -> np.ndarray:
    """(rows*cols, 3) patient coordinates (LPS, mm) of every pixel centre of a slice."""
    dy, dx = frame_geom.spacing_mm
    rr, cc = np.mgrid[0:rows, 0:cols]
    u = (cc.ravel() - (cols - 1) / 2.0) * dx
    v = (rr.ravel() - (rows - 1) / 2.0) * dy
    return (np.asarray(frame_geom.position)[None] + u[:, None] * np.asarray(frame_geom.read_dir)[None]
            + v[:, None] * np.asarray(frame_geom.phase_dir)[None])


def load_label_volume(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(volume (i, j, k), 4x4 voxel -> LPS mm) from NIfTI or NRRD."""
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):
        import nibabel as nib

        img: Any = nib.load(str(path))  # a Nifti1Image; the stubs say FileBasedImage
        vol = np.asarray(img.dataobj)
        ras = np.asarray(img.affine, dtype=np.float64)
        to_lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras
        return vol.reshape(vol.shape[:3]) if vol.ndim > 3 else vol, to_lps
    if name.endswith(".nrrd"):
        import nrrd

        vol, hdr = nrrd.read(str(path))
        dirs = np.asarray(hdr.get("space directions"), float)
        dirs = dirs[~np.isnan(dirs).any(axis=1)] if dirs.ndim == 2 else np.eye(3)
        origin = np.asarray(hdr.get("space origin", [0.0, 0.0, 0.0]), float)
        m = np.eye(4)
        m[:3, :3] = dirs.T  # column i = direction of axis i
        m[:3, 3] = origin
        space = str(hdr.get("space", "left-posterior-superior")).lower()
        if space.startswith(("right-anterior", "ras")):
            m = np.diag([-1.0, -1.0, 1.0, 1.0]) @ m
        if vol.ndim == 2:
            vol = vol[:, :, None]
        return vol, m
    raise ValueError(f"unsupported label volume {path} (use .nii, .nii.gz or .nrrd)")


def sample_volume(vol: np.ndarray, vox_to_lps: np.ndarray, frame_geom, rows: int, cols: int) -> np.ndarray:
    pts = _pixel_points_lps(frame_geom, rows, cols)
    inv = np.linalg.inv(vox_to_lps)
    ijk = (inv[:3, :3] @ pts.T + inv[:3, 3:4]).T
    idx = np.rint(ijk).astype(np.int64)
    ok = np.all((idx >= 0) & (idx < np.asarray(vol.shape[:3])[None]), axis=1)
    out = np.zeros(rows * cols, dtype=np.int64)
    out[ok] = vol[idx[ok, 0], idx[ok, 1], idx[ok, 2]]
    return out.reshape(rows, cols)


def rasterise_contours(entry: dict, shape: tuple[int, int]) -> np.ndarray:
    """Kalapos-style contour point lists -> label map (0..3)."""
    def fill(points) -> np.ndarray:
        m = np.zeros(shape, np.uint8)
        if points is not None and len(points) >= 3:
            pts = np.round(np.asarray(points, float) * 16).astype(np.int32)  # sub-pixel precision (shift 4)
            cv2.fillPoly(m, [pts.reshape(-1, 1, 2)], 1, lineType=cv2.LINE_8, shift=4)
        return m.astype(bool)

    labels = np.zeros(shape, np.uint8)
    epi, endo, rv = fill(entry.get("epi")), fill(entry.get("endo")), fill(entry.get("rv"))
    labels[rv & ~epi] = Label.RV
    labels[epi] = Label.MYOCARDIUM
    labels[endo] = Label.LV_CAVITY
    return labels


def _remap(labels: np.ndarray, mapping: dict[int, int] | None) -> np.ndarray:
    if not mapping:
        bad = set(np.unique(labels).tolist()) - {0, 1, 2, 3}
        if bad:
            raise ValueError(f"label values {sorted(bad)} are not 0..3; add a labels.json mapping")
        return labels.astype(np.uint8)
    out = np.zeros(labels.shape, np.uint8)
    for src, dst in mapping.items():
        out[labels == src] = dst
    return out


def _view_for(i: int, n: int, series_meta: dict, entry: dict | None, description: str) -> View:
    if entry and entry.get("view"):
        return View.parse(entry["view"])
    views = series_meta.get("views")
    if views and i < len(views):
        return View.parse(views[i])
    d = description.lower()
    if any(k in d for k in ("4ch", "4cv", "4-ch", "four")):
        return View.FOUR_CH
    return View.SAX


def read_patient_series(series_dir: Path, mapping: dict[int, int] | None = None) -> list[LabelledSlice]:
    """One DICOM series folder + its label volume or contours -> labelled slices."""
    from myoseg.dicomio.reader import collect_map_series

    patient = series_dir.parent.name
    meta_path = series_dir.parent / f"{series_dir.name}.json"
    series_meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    series = collect_map_series(series_dir, map_type=series_meta.get("map_type"))
    if len(series) != 1:
        raise ValueError(f"{series_dir}: expected one map series, found {len(series)}")
    ms = series[0]
    frames = ms.frames
    volume = next((series_dir.parent / f"{series_dir.name}{s}" for s in VOLUME_SUFFIXES
                   if (series_dir.parent / f"{series_dir.name}{s}").is_file()), None)
    contours_path = series_dir.parent / f"{series_dir.name}.contours.json"
    if volume is None and not contours_path.is_file():
        raise FileNotFoundError(f"{series_dir}: no label volume ({'/'.join(VOLUME_SUFFIXES)}) or .contours.json next to it")
    out: list[LabelledSlice] = []
    if volume is not None:
        vol, m = load_label_volume(volume)
        for i, f in enumerate(frames):
            rows, cols = f.raw.shape
            lab = _remap(sample_volume(vol, m, f.geometry, rows, cols), mapping)
            out.append(LabelledSlice(f.values_ms, lab, (float(f.geometry.spacing_mm[0]), float(f.geometry.spacing_mm[1])), ms.map_type,
                                     _view_for(i, len(frames), series_meta, None, ms.description),
                                     patient, None, f.field_strength_t or 1.5))
    else:
        spec = json.loads(contours_path.read_text())
        by_instance = {f.instance_number: i for i, f in enumerate(frames)}
        for entry in spec.get("slices", []):
            i = int(entry["index"]) if "index" in entry else by_instance[int(entry["instance"])]
            f = frames[i]
            lab = rasterise_contours(entry, f.raw.shape)
            view = _view_for(i, len(frames), series_meta, entry if entry.get("view") else
                             ({"view": spec["view"]} if spec.get("view") else None), ms.description)
            out.append(LabelledSlice(f.values_ms, lab, (float(f.geometry.spacing_mm[0]), float(f.geometry.spacing_mm[1])), ms.map_type, view,
                                     patient, None, f.field_strength_t or 1.5))
    return out


def split_patients(patients: list[str], seed: int, fractions=(0.8, 0.1, 0.1)) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    order = sorted(patients)
    rng.shuffle(order)
    n = len(order)
    n_val = max(1, round(n * fractions[1])) if n >= 3 else 0
    n_test = max(1, round(n * fractions[2])) if n >= 3 else 0
    return {"train": sorted(order[: n - n_val - n_test]), "val": sorted(order[n - n_val - n_test : n - n_test]),
            "test": sorted(order[n - n_test :])}


def import_user_data(src: Path, out: Path, seed: int = 0) -> Path:
    """USER_DIR (layout above) -> dataset folder in the `myoseg simulate` format; returns `out`."""
    src, out = Path(src), Path(out)
    mapping = None
    if (src / "labels.json").is_file():
        raw = json.loads((src / "labels.json").read_text())
        mapping = {int(k): int(LABEL_NAMES[str(v).lower()]) for k, v in raw.items()}
    patients = sorted(p for p in src.iterdir() if p.is_dir())
    if not patients:
        raise FileNotFoundError(f"no patient folders under {src}")
    splits = split_patients([p.name for p in patients], seed)
    where = {pid: s for s, ids in splits.items() for pid in ids}
    count = 0
    for p in patients:
        for series_dir in sorted(d for d in p.iterdir() if d.is_dir()):
            for k, s in enumerate(read_patient_series(series_dir, mapping)):
                s.save(out / "slices" / where[p.name] / f"{p.name}_{series_dir.name}_{k:03d}_{s.map_type.value}.npz")
                count += 1
    (out / "manifest.json").write_text(json.dumps({"source": str(src), "seed": seed, "splits": splits,
                                                    "slices": count}, indent=1))
    log.info("imported %d labelled slices from %d patients into %s", count, len(patients), out)
    return out


__all__ = ["import_user_data", "load_label_volume", "rasterise_contours", "read_patient_series", "split_patients",
           "MapType"]

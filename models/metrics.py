"""Segmentation metrics as the papers report them, on the native grid with the real pixel spacing (numpy/scipy).

- Dice and IoU per label.
- dT (ms): mean map value inside the predicted myocardium minus that inside the true myocardium (NaN excluded).
- HD95 and mean surface distance (mm) between the myocardium borders: border pixels = mask minus its
  erosion; distances from scipy.ndimage.distance_transform_edt with `sampling=spacing_mm`. HD95 is the larger
  of the two directed 95th percentiles (as MONAI), MSD the mean of all border-to-border distances pooled.
- Bland-Altman: bias and 95% limits of agreement (bias +- 1.96 SD) of predicted vs reference means.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from myoseg.core.types import Label


def dice_iou(pred: np.ndarray, true: np.ndarray) -> tuple[float, float]:
    p, t = pred.astype(bool), true.astype(bool)
    inter = np.logical_and(p, t).sum()
    tot = p.sum() + t.sum()
    union = np.logical_or(p, t).sum()
    if tot == 0:
        return 1.0, 1.0  # both empty: perfect agreement
    return float(2 * inter / tot), float(inter / union)


def border(mask: np.ndarray) -> np.ndarray:
    mask = mask.astype(bool)
    return mask & ~ndi.binary_erosion(mask, structure=np.ones((3, 3), bool), border_value=0)


def surface_distances(pred: np.ndarray, true: np.ndarray, spacing_mm: tuple[float, float]) -> tuple[float, float]:
    """(HD95, MSD) in mm between two masks' borders; (nan, nan) when either mask is empty."""
    bp, bt = border(pred), border(true)
    if not bp.any() or not bt.any():
        return math.nan, math.nan
    dt_t = ndi.distance_transform_edt(~bt, sampling=spacing_mm)
    dt_p = ndi.distance_transform_edt(~bp, sampling=spacing_mm)
    d_pt = dt_t[bp]  # from each predicted border pixel to the true border
    d_tp = dt_p[bt]
    hd95 = max(float(np.percentile(d_pt, 95)), float(np.percentile(d_tp, 95)))
    msd = float(np.concatenate([d_pt, d_tp]).mean())
    return hd95, msd


def mean_in(values: np.ndarray, mask: np.ndarray) -> float:
    v = values[mask.astype(bool)]
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else math.nan


def slice_metrics(pred: np.ndarray, true: np.ndarray, map_ms: np.ndarray, spacing_mm: tuple[float, float]) -> dict:
    out: dict[str, float] = {}
    for name, lab in (("myo", Label.MYOCARDIUM), ("cavity", Label.LV_CAVITY), ("rv", Label.RV)):
        d, j = dice_iou(pred == lab, true == lab)
        out[f"dice_{name}"], out[f"iou_{name}"] = d, j
    pm, tm = pred == Label.MYOCARDIUM, true == Label.MYOCARDIUM
    out["hd95_mm"], out["msd_mm"] = surface_distances(pm, tm, spacing_mm)
    out["mean_pred_ms"], out["mean_true_ms"] = mean_in(map_ms, pm), mean_in(map_ms, tm)
    out["delta_ms"] = out["mean_pred_ms"] - out["mean_true_ms"]
    out["myo_pixels_pred"], out["myo_pixels_true"] = int(pm.sum()), int(tm.sum())
    return out


def bland_altman(pred: np.ndarray, ref: np.ndarray) -> dict:
    pred, ref = np.asarray(pred, float), np.asarray(ref, float)
    ok = np.isfinite(pred) & np.isfinite(ref)
    d = pred[ok] - ref[ok]
    if d.size < 2:
        return {"n": int(d.size), "bias": math.nan, "sd": math.nan, "loa_low": math.nan, "loa_high": math.nan}
    bias, sd = float(d.mean()), float(d.std(ddof=1))
    return {"n": int(d.size), "bias": bias, "sd": sd, "loa_low": bias - 1.96 * sd, "loa_high": bias + 1.96 * sd}


def summarise(values: list[float]) -> dict:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return {"n": 0, "mean": math.nan, "sd": math.nan, "median": math.nan, "q1": math.nan, "q3": math.nan}
    return {
        "n": int(v.size), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "median": float(np.median(v)), "q1": float(np.percentile(v, 25)), "q3": float(np.percentile(v, 75)),
    }

"""`myoseg evaluate` core: run a segmenter over a held-out split and report like Manzke 2024 / Kalapos 2023."""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
from myoseg.models import metrics as mx
from myoseg.models.api import SegmentationInput

from myoseg.core.data import LabelledSlice, iter_split
from myoseg.core.types import View

log = logging.getLogger("myoseg.evaluate")

VIEWS = [View.BASAL, View.MID, View.APICAL, View.FOUR_CH]
GOALS = {
    "dice_myo_overall": ("mean Dice (myocardium), all slices", ">", 0.90),
    "dice_myo_apical": ("mean Dice (myocardium), apical", ">", 0.85),
    "abs_dT1_ms": ("mean |dT1| (ms)", "<=", 10.0),
    "abs_dT2_ms": ("mean |dT2| (ms)", "<=", 2.0),
    "hd95_mm": ("mean HD95 (mm)", "<=", 3.0),
}
# Paper numbers for the card/report (Manzke 2024 SAX+4Ch; Kalapos 2023 SAX T1+T2).
PAPERS = {
    "Manzke 2024": {"dice": 0.88, "dice_apical": 0.84, "abs_dT1_ms": 10.6, "iou": 0.79},
    "Kalapos 2023": {"dice": 0.864, "dice_apical": 0.7986, "hd_mm": 4.68, "msd_mm": 2.10},
}
METRICS = ["dice_myo", "iou_myo", "dice_cavity", "dice_rv", "hd95_mm", "msd_mm", "delta_ms", "abs_delta_ms"]


def _refiner():
    try:
        from myoseg.core.refine import refine_labels
    except ImportError:
        return None
    return refine_labels


def evaluate_rows(slices: list[LabelledSlice], segmenter, tta: bool = False, batch: int = 8, refine: bool = True) -> list[dict]:
    refine_labels = _refiner() if refine else None
    rows: list[dict] = []
    for k in range(0, len(slices), batch):
        chunk = slices[k : k + batch]
        results = segmenter.segment(
            [SegmentationInput(s.map_ms, s.spacing_mm, s.map_type) for s in chunk], tta=tta
        )
        for s, r in zip(chunk, results, strict=True):
            base = {"subject": s.subject, "view": s.view.value, "map_type": s.map_type.value,
                    "field_strength_t": s.field_strength_t, "infer_ms": r.timings_ms.get("inference", math.nan)}
            m = mx.slice_metrics(r.labels, s.labels, s.map_ms, s.spacing_mm)
            m["abs_delta_ms"] = abs(m["delta_ms"]) if np.isfinite(m["delta_ms"]) else math.nan
            rows.append({**base, "variant": "raw", **m})
            if refine_labels is not None:
                t0 = time.perf_counter()
                ref = refine_labels(r.labels, s.view, s.spacing_mm, 0.0)
                m2 = mx.slice_metrics(ref, s.labels, s.map_ms, s.spacing_mm)
                m2["abs_delta_ms"] = abs(m2["delta_ms"]) if np.isfinite(m2["delta_ms"]) else math.nan
                rows.append({**base, "variant": "refined", "refine_ms": (time.perf_counter() - t0) * 1e3, **m2})
    return rows


def aggregate(rows: list[dict]) -> dict:
    """Per variant: overall, per map type, per view, per view x map type, + Bland-Altman + goals."""
    out: dict = {}
    for variant in sorted({r["variant"] for r in rows}):
        rs = [r for r in rows if r["variant"] == variant]
        groups: dict[str, list[dict]] = {"all": rs}
        for mt in ("T1", "T2"):
            groups[mt] = [r for r in rs if r["map_type"] == mt]
        for v in VIEWS:
            groups[v.value] = [r for r in rs if r["view"] == v.value]
            for mt in ("T1", "T2"):
                groups[f"{v.value}/{mt}"] = [r for r in rs if r["view"] == v.value and r["map_type"] == mt]
        table = {
            g: {m: mx.summarise([r[m] for r in grp]) for m in METRICS} | {"n": len(grp)}
            for g, grp in groups.items() if grp
        }
        ba = {
            mt: mx.bland_altman([r["mean_pred_ms"] for r in groups[mt]], [r["mean_true_ms"] for r in groups[mt]])
            for mt in ("T1", "T2") if groups[mt]
        }
        failures = sum(1 for r in rs if r["myo_pixels_pred"] == 0 and r["myo_pixels_true"] > 0)

        def mean(g: str, m: str, table: dict = table) -> float:
            return table.get(g, {}).get(m, {}).get("mean", math.nan)

        reached = {
            "dice_myo_overall": mean("all", "dice_myo"),
            "dice_myo_apical": mean("apical", "dice_myo"),
            "abs_dT1_ms": mean("T1", "abs_delta_ms"),
            "abs_dT2_ms": mean("T2", "abs_delta_ms"),
            "hd95_mm": mean("all", "hd95_mm"),
        }
        goals = {}
        for key, (text, op, target) in GOALS.items():
            value = reached[key]
            ok = bool(np.isfinite(value) and (value > target if op == ">" else value <= target))
            goals[key] = {"text": text, "target": f"{op} {target}", "value": value, "met": ok}
        out[variant] = {"table": table, "bland_altman": ba, "goals": goals, "missed_myocardium": failures}
    return out


def _fmt(s: dict, digits: int = 3) -> str:
    if not s or s.get("n", 0) == 0 or not np.isfinite(s["mean"]):
        return "-"
    return f"{s['mean']:.{digits}f} ± {s['sd']:.{digits}f} ({s['median']:.{digits}f})"


def markdown(report: dict) -> str:
    lines = [f"# Evaluation: {report['model_id']} on {report['data']} ({report['split']})", ""]
    lines += [f"Backend {report['backend']}, TTA {report['tta']}, {report['slices']} slices, "
              f"median inference {report['median_infer_ms']:.1f} ms/slice (batch {report['batch']}).", ""]
    for variant, agg in report["variants"].items():
        title = "raw network output" if variant == "raw" else "after refinement (what the console gets)"
        lines += [f"## {variant}: {title}", "", "| goal | target | reached | met |", "|---|---|---|---|"]
        for g in agg["goals"].values():
            lines.append(f"| {g['text']} | {g['target']} | {g['value']:.3f} | {'yes' if g['met'] else 'NO'} |")
        lines += ["", "Cells: mean ± SD (median).", "", "| group | n | Dice myo | IoU myo | Dice cavity | Dice RV | HD95 mm | MSD mm | dT ms | abs dT ms |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for g, t in agg["table"].items():
            lines.append(
                f"| {g} | {t['n']} | {_fmt(t['dice_myo'])} | {_fmt(t['iou_myo'])} | {_fmt(t['dice_cavity'])} | "
                f"{_fmt(t['dice_rv'])} | {_fmt(t['hd95_mm'], 2)} | {_fmt(t['msd_mm'], 2)} | {_fmt(t['delta_ms'], 1)} | "
                f"{_fmt(t['abs_delta_ms'], 1)} |"
            )
        lines += ["", "Bland-Altman (mean map value in predicted vs true myocardium):", ""]
        for mt, b in agg["bland_altman"].items():
            lines.append(f"- {mt}: n={b['n']}, bias {b['bias']:+.2f} ms, limits of agreement "
                         f"{b['loa_low']:+.2f} … {b['loa_high']:+.2f} ms")
        lines += [f"- slices where the myocardium was missed entirely: {agg['missed_myocardium']}", ""]
    lines += ["Papers (clinical data, not directly comparable): " + json.dumps(PAPERS), ""]
    return "\n".join(lines)


def plots(rows: list[dict], report: dict, out_dir: Path, variant: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = [r for r in rows if r["variant"] == variant]
    paths = []
    colours = {"basal": "tab:blue", "mid": "tab:green", "apical": "tab:red", "4ch": "tab:purple"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
    for ax, mt in zip(axes, ("T1", "T2"), strict=True):
        sub = [r for r in rs if r["map_type"] == mt and np.isfinite(r["delta_ms"])]
        b = report["variants"][variant]["bland_altman"].get(mt)
        for v, c in colours.items():
            pts = [r for r in sub if r["view"] == v]
            ax.scatter([(r["mean_pred_ms"] + r["mean_true_ms"]) / 2 for r in pts], [r["delta_ms"] for r in pts],
                       s=10, c=c, alpha=0.7, label=v)
        if b and np.isfinite(b["bias"]):
            for y, ls, lab in ((b["bias"], "-", f"bias {b['bias']:+.1f}"), (b["loa_low"], "--", f"-1.96 SD {b['loa_low']:+.1f}"),
                               (b["loa_high"], "--", f"+1.96 SD {b['loa_high']:+.1f}")):
                ax.axhline(y, color="k", ls=ls, lw=1)
                ax.annotate(lab, xy=(1.0, y), xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8)
        ax.set_title(f"Bland-Altman {mt} ({variant})")
        ax.set_xlabel(f"mean of predicted and true-mask {mt} (ms)")
        ax.set_ylabel(f"{mt}(pred mask) - {mt}(true mask) (ms)")
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    p = out_dir / f"bland_altman_{variant}.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)

    # Box plots like Manzke 2024 Fig. 6: per view, per metric, T1 and T2 side by side.
    panels = [("delta_ms", "dT (ms)"), ("dice_myo", "Dice (myocardium)"), ("iou_myo", "IoU (myocardium)"), ("hd95_mm", "HD95 (mm)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 4.2))
    views = [v.value for v in VIEWS]
    for ax, (m, label) in zip(axes, panels, strict=True):
        data, pos, cols = [], [], []
        for i, v in enumerate(views):
            for j, (mt, c) in enumerate((("T1", "tab:orange"), ("T2", "tab:cyan"))):
                vals = [r[m] for r in rs if r["view"] == v and r["map_type"] == mt and np.isfinite(r[m])]
                data.append(vals if vals else [np.nan])
                pos.append(i * 3 + j)
                cols.append(c)
        bp = ax.boxplot(data, positions=pos, widths=0.8, patch_artist=True, showfliers=True,
                        flierprops={"markersize": 3})
        for patch, c in zip(bp["boxes"], cols, strict=True):
            patch.set_facecolor(c)
        ax.set_xticks([i * 3 + 0.5 for i in range(len(views))], views)
        ax.set_title(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend([plt.Rectangle((0, 0), 1, 1, fc="tab:orange"), plt.Rectangle((0, 0), 1, 1, fc="tab:cyan")],
                   ["T1", "T2"], fontsize=8)
    fig.suptitle(f"{report['model_id']} on {report['split']} ({variant})")
    fig.tight_layout()
    p = out_dir / f"boxplot_{variant}.png"
    fig.savefig(p, dpi=110)
    plt.close(fig)
    paths.append(p)
    return paths


def run(data: Path, split: str, out_dir: Path, model=None, backend: str = "onnxruntime", threads: int | None = None,
        tta: bool = False, refine: bool = True, batch: int = 1, limit: int | None = None) -> dict:
    from myoseg.models.segmenter import load_segmenter

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = list(iter_split(data, split))
    if limit:
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no slices in {data}/slices/{split}")
    slices = [LabelledSlice.load(p) for p in paths]
    seg = load_segmenter(model, backend=backend, threads=threads)
    t0 = time.perf_counter()
    rows = evaluate_rows(slices, seg, tta=tta, batch=batch, refine=refine)
    elapsed = time.perf_counter() - t0
    report = {
        "model_id": seg.model_id, "backend": seg.backend_name, "data": str(data), "split": split, "tta": tta,
        "batch": batch, "slices": len(slices), "elapsed_s": elapsed,
        "median_infer_ms": float(np.median([r["infer_ms"] for r in rows if r["variant"] == "raw"])),
        "map_types": sorted({s.map_type.value for s in slices}),
        "variants": aggregate(rows),
    }
    (out_dir / "report.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    (out_dir / "slices.json").write_text(json.dumps(rows, default=float) + "\n")
    (out_dir / "report.md").write_text(markdown(report))
    for variant in report["variants"]:
        plots(rows, report, out_dir, variant)
    return report

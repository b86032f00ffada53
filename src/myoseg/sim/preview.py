"""`myoseg simulate --preview`: a PNG grid of simulated maps with their label contours."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from myoseg.core.types import MapType
from myoseg.sim.dataset import subject_name
from myoseg.sim.subject import SimSubject, simulate_subject, subject_seed
from myoseg.sim.views import SIM_VIEWS

_CONTOURS = ((1, "#ff4040"), (2, "#ffffff"), (3, "#ff40ff"))


def _crop(ax, m, crop: bool) -> None:
    """Zoom to 140 x 140 mm around the heart (labels > 0)."""
    if not crop:
        return
    ys, xs = np.nonzero(m.labels > 0)
    if ys.size:
        cy, cx, half = ys.mean(), xs.mean(), 70.0 / m.plane.spacing_mm
        ax.set_xlim(cx - half, cx + half)
        ax.set_ylim(cy + half, cy - half)


def _window(sub: SimSubject, mt: MapType) -> tuple[float, float]:
    if mt is MapType.T2:
        return 0.0, 120.0
    if sub.contrast:
        return 0.0, 900.0
    return (0.0, 2000.0) if sub.field_strength_t < 2 else (0.0, 2300.0)


_LABEL_COLOURS = ("#000000", "#e03030", "#f0f0f0", "#c040c0")


def write_preview(path: Path, seed: int = 0, n_subjects: int = 3, dpi: int = 70, crop: bool = False) -> None:
    """Per subject three rows: T1 maps and T2 maps with label contours, then the label maps themselves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    subjects = [simulate_subject(subject_seed(seed, i), subject_name(i)) for i in range(n_subjects)]
    ncols = len(SIM_VIEWS)
    fig, axes = plt.subplots(3 * n_subjects, ncols, figsize=(3.2 * ncols, 2.75 * 3 * n_subjects), squeeze=False)
    for si, sub in enumerate(subjects):
        for m in sub.maps:
            if m.map_type is MapType.T1:
                ax = axes[3 * si + 2, SIM_VIEWS.index(m.view)]
                ax.imshow(m.labels, cmap=ListedColormap(_LABEL_COLOURS), vmin=-0.5, vmax=3.5, interpolation="nearest")
                ax.set_title(f"{sub.subject} {m.view.value} labels: LV cavity, myocardium, RV", fontsize=7)
                _crop(ax, m, crop)
                ax.axis("off")
            ax = axes[3 * si + (0 if m.map_type is MapType.T1 else 1), SIM_VIEWS.index(m.view)]
            lo, hi = _window(sub, m.map_type)
            img = m.map_ms
            ax.imshow(img, cmap="turbo" if m.map_type is MapType.T1 else "viridis", vmin=lo, vmax=hi,
                      interpolation="nearest")
            for value, colour in _CONTOURS:
                if (m.labels == value).any():
                    ax.contour(m.labels == value, [0.5], colors=colour, linewidths=0.7)
            myo = m.labels == 2
            med = float(np.median(m.map_ms[myo])) if myo.any() else float("nan")
            kind = "post" if (sub.contrast and m.map_type is MapType.T1) else "native"
            ax.set_title(
                f"{sub.subject} {m.view.value} {m.map_type.value} {sub.field_strength_t:g}T {kind}\n"
                f"{sub.body.heart.phenotype}/{sub.tissues.disease}  myo median {med:.0f} ms",
                fontsize=7,
            )
            _crop(ax, m, crop)
            ax.axis("off")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    _shrink_png(path)


def _shrink_png(path: Path) -> None:
    """Palette PNG (256 colours): about 3x smaller, visually the same for these plots."""
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)

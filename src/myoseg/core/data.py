"""Labelled 2D slices on disk: the one format that the simulator writes and training/evaluation read.

Dataset layout (written by `myoseg simulate`, also produced by the importers of a user's own data):

    DIR/manifest.json            {"seed", "subjects", "splits": {"train": [...subject ids], ...}, ...}
    DIR/slices/<split>/<subject>_<view>_<maptype>.npz   one LabelledSlice each
    DIR/mrd/<subject>.h5         ISMRMRD files as the scanner would stream them (maps + GT mask series)

Each .npz holds the keys of LabelledSlice; strings are stored as 0-d unicode arrays.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from myoseg.core.types import MapType, View

SPLITS = ("train", "val", "test")


@dataclass
class LabelledSlice:
    map_ms: np.ndarray  # float32 (rows, cols): the fitted map in ms, as the scanner would produce it
    labels: np.ndarray  # uint8 (rows, cols): myoseg.core.types.Label values
    spacing_mm: tuple[float, float]  # (row, col)
    map_type: MapType
    view: View
    subject: str
    true_ms: np.ndarray | None = None  # float32 (rows, cols): true tissue value (simulation only)
    field_strength_t: float = 1.5

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "map_ms": self.map_ms.astype(np.float32, copy=False),
            "labels": self.labels.astype(np.uint8, copy=False),
            "spacing_mm": np.asarray(self.spacing_mm, dtype=np.float64),
            "map_type": np.asarray(self.map_type.value),
            "view": np.asarray(self.view.value),
            "subject": np.asarray(self.subject),
            "field_strength_t": np.asarray(self.field_strength_t, dtype=np.float64),
        }
        if self.true_ms is not None:
            arrays["true_ms"] = self.true_ms.astype(np.float32, copy=False)
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy stubs mistype **kwds

    @classmethod
    def load(cls, path: Path) -> LabelledSlice:
        # allow_pickle=False: these files may come from elsewhere; never unpickle.
        with np.load(path, allow_pickle=False) as z:
            return cls(
                map_ms=z["map_ms"].astype(np.float32),
                labels=z["labels"].astype(np.uint8),
                spacing_mm=(float(z["spacing_mm"][0]), float(z["spacing_mm"][1])),
                map_type=MapType.parse(str(z["map_type"])),
                view=View.parse(str(z["view"])),
                subject=str(z["subject"]),
                true_ms=z["true_ms"].astype(np.float32) if "true_ms" in z.files else None,
                field_strength_t=float(z["field_strength_t"]) if "field_strength_t" in z.files else 1.5,
            )


def slice_filename(subject: str, view: View, map_type: MapType) -> str:
    return f"{subject}_{view.value}_{map_type.value}.npz"


def iter_split(root: Path, split: str) -> Iterator[Path]:
    """Paths of the slices of one split, sorted so that runs are reproducible."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    folder = Path(root) / "slices" / split
    if not folder.is_dir():
        raise FileNotFoundError(f"no split folder {folder} (is {root} a dataset from `myoseg simulate`?)")
    yield from sorted(folder.glob("*.npz"))

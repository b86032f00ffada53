"""The contract between the segment gadget and the model: no torch here, no streaming here.

`load_segmenter` returns a Segmenter bound to one backend (onnxruntime | torch | tensorrt | auto).
The gadget hands it a map in ms on its native grid with its pixel spacing; the segmenter resamples to its
fixed mm grid, normalises per map type, runs the network and returns probabilities on the native grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from myoseg.core.types import MapType


@dataclass
class SegmentationInput:
    values_ms: np.ndarray  # float32 (rows, cols), NaN allowed (treated as background)
    spacing_mm: tuple[float, float]  # (row, col)
    map_type: MapType


@dataclass
class Segmentation:
    probabilities: np.ndarray  # float32 (NUM_CLASSES, rows, cols) on the native grid, sums to 1
    labels: np.ndarray  # uint8 (rows, cols): argmax of probabilities, myoseg.core.types.Label values
    # With test-time augmentation: the label map of each augmented pass (mapped back to the native grid).
    tta_labels: list[np.ndarray] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)  # e.g. resample, inference, restore


class Segmenter(Protocol):
    model_id: str  # "<name>@<sha256 prefix>", goes into MYOSEG_Model
    backend_name: str  # onnxruntime | torch-cpu | torch-cuda | tensorrt

    def segment(self, inputs: Sequence[SegmentationInput], tta: bool = False) -> list[Segmentation]:
        """Segment a batch (one slice = a batch of one). Raises ValueError with a clear text on bad input."""
        ...

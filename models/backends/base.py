"""The one interface every inference backend implements: NCHW float32 in, NCHW float32 logits out."""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("myoseg.models.backends")


class BackendUnavailable(RuntimeError):
    """The backend cannot run here (package missing, no GPU, ...). `auto` falls back on this."""


@dataclass(frozen=True)
class ModelFiles:
    """What a backend may load: the ONNX graph (always), the safetensors weights (torch backend)."""

    onnx: Path
    sha256: str  # of the ONNX file, verified by the loader before any backend sees it
    safetensors: Path | None = None
    architecture: dict | None = None  # UNet(**architecture) for the torch backend


class InferenceBackend(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    def run(self, batch: np.ndarray) -> np.ndarray:
        """batch: float32 (N, C, H, W), H and W multiples of 16 -> float32 logits (N, classes, H, W)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (sessions, GPU memory)."""


def check_batch(batch: np.ndarray) -> np.ndarray:
    if not isinstance(batch, np.ndarray) or batch.ndim != 4:
        raise ValueError(f"expected a float32 NCHW batch, got {type(batch).__name__} {getattr(batch, 'shape', '')}")
    if batch.shape[2] % 16 or batch.shape[3] % 16:
        raise ValueError(f"H and W must be multiples of 16, got {batch.shape[2:]}")
    return np.ascontiguousarray(batch, dtype=np.float32)

"""Test fixtures for the results path: drawn short-axis / 4Ch phantoms, MRD map images with Gadgetron meta,
and a fake Segmenter that returns known labels, so no test needs a trained model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import ismrmrd
import numpy as np
from myoseg.models.api import Segmentation, SegmentationInput

from myoseg.core import metakeys as mk
from myoseg.core.types import NUM_CLASSES, Label, MapType

VALUES_MS = {MapType.T1: {"bg": 400.0, "cav": 1600.0, "myo": 1000.0, "rv": 1550.0},
             MapType.T2: {"bg": 30.0, "cav": 220.0, "myo": 50.0, "rv": 210.0}}


def phantom_labels(shape: tuple[int, int] = (144, 160), spacing: tuple[float, float] = (1.5, 1.5),
                   r_endo_mm: float = 20.0, wall_mm: float = 9.0, rv: bool = True, rv_side: str = "left",
                   gap_deg: float = 0.0, four_chamber: bool = False, centre: tuple[float, float] | None = None) -> np.ndarray:
    """A short-axis ring (cavity inside) with an RV crescent on `rv_side` of the image (patient's right in
    the standard display is image left). gap_deg > 0 cuts a gap in the lateral wall (a C-shape).
    four_chamber=True: an elongated U open at the top (towards the base)."""
    rows, cols = shape
    cy, cx = centre if centre is not None else (rows / 2, cols / 2)
    yy, xx = np.mgrid[0:rows, 0:cols]
    y, x = (yy - cy) * spacing[0], (xx - cx) * spacing[1]
    labels = np.zeros(shape, np.uint8)
    if four_chamber:
        r_epi = r_endo_mm + wall_mm
        outer = (x / r_epi) ** 2 + (y / (2.2 * r_epi)) ** 2 < 1
        inner = (x / r_endo_mm) ** 2 + (y / (2.2 * r_endo_mm)) ** 2 < 1
        labels[outer] = Label.MYOCARDIUM
        labels[inner] = Label.LV_CAVITY
        labels[y < -0.55 * 2.2 * r_epi] = 0  # cut at the valve plane: the U opens towards the base
        if rv:
            rv_mask = ((x + 1.7 * r_epi) / (0.8 * r_epi)) ** 2 + (y / (1.6 * r_epi)) ** 2 < 1
            labels[rv_mask & (labels == 0)] = Label.RV
        return labels
    r = np.hypot(x, y)
    r_epi = r_endo_mm + wall_mm
    labels[r < r_epi] = Label.MYOCARDIUM
    labels[r < r_endo_mm] = Label.LV_CAVITY
    if gap_deg > 0:
        angle = np.degrees(np.arctan2(y, x))  # 0 deg = image right (lateral wall)
        labels[(np.abs(angle) < gap_deg / 2) & (labels == Label.MYOCARDIUM)] = Label.LV_CAVITY
    if rv:
        sign = -1.0 if rv_side == "left" else 1.0
        rv_mask = np.hypot(x - sign * 1.25 * r_epi, y) < 1.1 * r_epi
        labels[rv_mask & (labels == 0)] = Label.RV
    return labels


def phantom_values(labels: np.ndarray, map_type: MapType = MapType.T1, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    v = VALUES_MS[map_type]
    out = np.full(labels.shape, v["bg"], np.float64)
    out[labels == Label.LV_CAVITY] = v["cav"]
    out[labels == Label.MYOCARDIUM] = v["myo"]
    out[labels == Label.RV] = v["rv"]
    if noise:
        out += np.random.default_rng(seed).normal(0.0, noise * v["myo"], labels.shape)
    return out


@dataclass
class Orientation:
    """Standard short-axis display: rows run towards the patient's back, columns towards the patient's left."""

    read_dir: tuple[float, float, float] = (1.0, 0.0, 0.0)
    phase_dir: tuple[float, float, float] = (0.0, 1.0, 0.0)
    slice_dir: tuple[float, float, float] = (0.0, 0.0, 1.0)
    position: tuple[float, float, float] = (10.0, -20.0, 30.0)


def map_image(values_ms: np.ndarray, map_type: MapType = MapType.T1, spacing: tuple[float, float] = (1.5, 1.5),
              ratio: float = 1.0, dtype: type = np.uint16, series: int = 5, slice_: int = 0, image_index: int = 1,
              orientation: Orientation | None = None, comment: str | None = None,
              extra_meta: dict | None = None, role: str | None = "default") -> ismrmrd.Image:
    """An MRD map as Gadgetron's mapping chain sends it: stored pixel = value_ms * ratio."""
    stored = np.asarray(values_ms, np.float64) * ratio
    if np.issubdtype(dtype, np.integer):
        stored = np.clip(np.round(np.nan_to_num(stored, nan=0.0)), 0, np.iinfo(dtype).max)
    image = ismrmrd.Image.from_array(stored.astype(dtype)[None, None])
    rows, cols = values_ms.shape
    o = orientation or Orientation()
    image.field_of_view[:] = (cols * spacing[1], rows * spacing[0], 8.0)
    image.read_dir[:] = o.read_dir
    image.phase_dir[:] = o.phase_dir
    image.slice_dir[:] = o.slice_dir
    image.position[:] = o.position
    image.image_series_index = series
    image.slice = slice_
    image.image_index = image_index
    image.image_type = ismrmrd.IMTYPE_MAGNITUDE
    meta = {mk.GT_SCALE_RATIO: ratio, mk.GT_WINDOW_CENTER: 1300 * ratio if map_type is MapType.T1 else 60 * ratio,
            mk.GT_WINDOW_WIDTH: 1300 * ratio if map_type is MapType.T1 else 120 * ratio}
    if role == "default":
        meta[mk.GT_DATA_ROLE] = map_type.value
    elif role is not None:
        meta[mk.GT_DATA_ROLE] = role
    if comment is not None:
        meta[mk.GT_IMAGE_COMMENT] = comment
    meta.update(extra_meta or {})
    image.meta = ismrmrd.Meta(meta)
    return image


def header_bytes(image: ismrmrd.Image) -> bytes:
    """The fixed MRD image header, without attribute_string_len (serialisation rewrites it)."""
    head = image.getHead()
    head.attribute_string_len = 0
    return bytes(head)


def one_hot(labels: np.ndarray) -> np.ndarray:
    return np.stack([(labels == k).astype(np.float32) for k in range(NUM_CLASSES)])


@dataclass
class FakeSegmenter:
    """Returns the labels registered for a map (matched by its values in ms); `fail` raises instead."""

    known: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    tta_labels: Sequence[np.ndarray] | None = None  # override the TTA passes (default: = the labels)
    fail: Exception | None = None
    model_id: str = "fake-rings@000000000000"
    backend_name: str = "fake"
    calls: int = 0

    def expect(self, values_ms: np.ndarray, labels: np.ndarray) -> None:
        self.known.append((np.asarray(values_ms, np.float64), np.asarray(labels, np.uint8)))

    def segment(self, inputs: Sequence[SegmentationInput], tta: bool = False) -> list[Segmentation]:
        self.calls += 1
        if self.fail is not None:
            raise self.fail
        out = []
        for item in inputs:
            labels = self._find(item.values_ms)
            tta_labels = list(self.tta_labels) if self.tta_labels is not None else [labels.copy()] * 3
            out.append(Segmentation(one_hot(labels), labels, tta_labels if tta else [], {"inference": 1.0}))
        return out

    def _find(self, values: np.ndarray) -> np.ndarray:
        for known_values, labels in self.known:
            if known_values.shape == values.shape and np.allclose(
                    np.nan_to_num(known_values, nan=-1), np.nan_to_num(values, nan=-1), atol=0.51):
                return labels
        raise ValueError("FakeSegmenter: no labels registered for this map")


def installed_fake_segmenter() -> Iterator[FakeSegmenter]:
    """Body of a pytest fixture: a FakeSegmenter in the segment gadget's model cache for one test.
    Use as `fake = pytest.fixture(name="fake")(installed_fake_segmenter)`."""
    from myoseg.gadgets import segment

    segment.clear_cache()
    fake = FakeSegmenter()
    segment.cache_segmenter(fake)
    yield fake
    segment.clear_cache()

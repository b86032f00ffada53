"""Segment gadget: each T1/T2 map -> intake -> U-Net (Segmenter) -> refine -> the map + its mask.

For every map it yields the original (pixels and header untouched; meta added: MYOSEG_MapType, MYOSEG_View,
MYOSEG_Quality, MYOSEG_Model, MYOSEG_Status, ...) followed at once by its mask (uint16 labels, same slice,
image_index and geometry, series = source + mask_series_offset, MYOSEG_Role=mask). Everything else passes
through. A map we cannot process (complex, 3D, tiny, constant, unknown scale...) goes back with
MYOSEG_Status=error and the reason, plus an "ERROR ..." text. A model that cannot be loaded raises here, and
run_gadget returns the map marked as an error.

The fast path is ONE forward pass. With `tta=auto` (the default) the flipped test-time-augmentation passes
run only for a slice whose one-pass quality score is below `tta_below` (default 0.8): the
doubtful slice gets the averaged prediction and the flip-agreement check, every other slice costs one pass.
`tta=always` runs them for every slice, `tta=off` never. The model calls of one map share a processing budget
(`budget_ms`): when the first pass overruns it, the map goes back unprocessed with MYOSEG_Status=error and an
"ERROR ..." text and the connection goes on; when only the flip check would overrun it, the one-pass result
stands (noted in MYOSEG_Warnings).

Within a connection (a study) the LV centre of each segmented slice is remembered in patient coordinates; it
tells refinement which ring is the LV when the network also found a spurious one elsewhere (the prior).

The Segmenter is loaded lazily on the first map (or by `warm_up`) and cached once per process, keyed by
(model, backend, threads), so a warm server pays the load once for all connections.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import ismrmrd
import numpy as np
from myoseg.gadgets.base import (
    BudgetExceeded,
    Gadget,
    GadgetConfig,
    Item,
    StreamContext,
    TextMessage,
    call_with_budget,
)
from myoseg.models.api import Segmentation, SegmentationInput, Segmenter

from myoseg.core import metakeys as mk
from myoseg.core.contours import from_patient, to_patient
from myoseg.core.derived import add_time, append_list, mask_image, set_review
from myoseg.core.intake import MAX_MATRIX, MIN_MATRIX, read_map
from myoseg.core.quality import DEFAULT_THRESHOLD, QualityReport, slice_quality
from myoseg.core.refine import DEFAULT_ERODE_MM, RefineResult, refine
from myoseg.core.roi import ROI_MYOSEG
from myoseg.core.types import NUM_CLASSES, Geometry, Label, MapType, View
from myoseg.stream.external import gadgetron_target

log = logging.getLogger("myoseg.gadgets.segment")


class Backend(StrEnum):
    AUTO = "auto"
    ONNXRUNTIME = "onnxruntime"
    TORCH = "torch"
    TENSORRT = "tensorrt"

    @classmethod
    def parse(cls, value: str) -> Backend:
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise ValueError(f"expected one of {[b.value for b in cls]}") from None


class TtaMode(StrEnum):
    """Flip test-time augmentation: never, only for doubtful slices, or for every slice."""

    OFF = "off"
    AUTO = "auto"
    ALWAYS = "always"

    @classmethod
    def parse(cls, value: str) -> TtaMode:
        text = str(value).strip().lower()
        # Pipelines written before tta had three values say true/false.
        text = {"true": "always", "yes": "always", "on": "always", "1": "always",
                "false": "off", "no": "off", "0": "off"}.get(text, text)
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f"expected one of {[m.value for m in cls]} (or true/false)") from None


DEFAULT_BUDGET_MS = 5000.0
# One-pass quality below which tta=auto runs the flip passes. On 200 held-out simulated slices 4% fall below
# it (so p95 latency stays one pass) and they hold most of what TTA adds to the mean Dice (docs/results.md).
DEFAULT_TTA_BELOW = 0.8


@dataclass(frozen=True)
class SegmentConfig(GadgetConfig):
    model: str | None = None  # sidecar .json / .onnx / folder; None = the shipped model
    backend: Backend = Backend.AUTO
    threads: int | None = None  # intra-op threads; None = the backend's choice
    tta: TtaMode = TtaMode.AUTO  # flip test-time augmentation: off | auto (doubtful slices only) | always
    tta_below: float = DEFAULT_TTA_BELOW  # auto: flip passes when the one-pass quality is below this
    quality_threshold: float = DEFAULT_THRESHOLD  # quality below this -> MYOSEG_Status=review
    budget_ms: float = DEFAULT_BUDGET_MS  # model time per map; over it the map goes back marked error (0 = none)
    erode_mm: float = DEFAULT_ERODE_MM  # erode the blood/myocardium border by this much (mm)
    mask_series_offset: int = 100  # mask series = source series + this
    map_type: MapType | None = None  # override: treat every map as T1 or T2
    view: View | None = None  # override: basal|mid|apical|sax|4ch
    min_matrix: int = MIN_MATRIX  # smaller maps are returned unprocessed
    max_matrix: int = MAX_MATRIX  # larger maps are returned unprocessed

    def __post_init__(self) -> None:
        if not 0.0 <= self.quality_threshold <= 1.0:
            raise ValueError(f"quality_threshold must be within 0..1, got {self.quality_threshold}")
        if not 0.0 <= self.tta_below <= 1.0:
            raise ValueError(f"tta_below must be within 0..1, got {self.tta_below}")
        if not (math.isfinite(self.budget_ms) and self.budget_ms >= 0.0):
            raise ValueError(f"budget_ms must be >= 0 (0 = no budget), got {self.budget_ms}")
        if not 0.0 <= self.erode_mm <= 5.0:
            raise ValueError(f"erode_mm must be within 0..5 mm, got {self.erode_mm}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.mask_series_offset == 0:
            raise ValueError("mask_series_offset must not be 0 (the mask would share the map's series)")
        if not 8 <= self.min_matrix <= self.max_matrix:
            raise ValueError("need 8 <= min_matrix <= max_matrix")


# --- the per-process model cache ----------------------------------------------------------------------

_CACHE: dict[tuple[str | None, str, int | None], Segmenter] = {}
_CACHE_LOCK = threading.Lock()


def get_segmenter(model: str | None, backend: str, threads: int | None) -> Segmenter:
    """The cached Segmenter for (model, backend, threads); loaded on first use. Raises a clear error."""
    key = (model, backend, threads)
    with _CACHE_LOCK:
        segmenter = _CACHE.get(key)
        if segmenter is None:
            try:
                from myoseg.models.segmenter import load_segmenter

                segmenter = load_segmenter(model=model, backend=backend, threads=threads)
            except Exception as exc:
                raise RuntimeError(f"cannot load the model (model={model or 'shipped default'}, backend={backend}): "
                                   f"{type(exc).__name__}: {exc}") from exc
            _CACHE[key] = segmenter
            log.info("model %s loaded on %s", segmenter.model_id, segmenter.backend_name)
    return segmenter


def cache_segmenter(segmenter: Segmenter, model: str | None = None, backend: str = "auto", threads: int | None = None) -> None:
    """Put a ready Segmenter in the cache (tests, or an embedding application)."""
    with _CACHE_LOCK:
        _CACHE[(model, backend, threads)] = segmenter


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


# --- the gadget ---------------------------------------------------------------------------------------


@dataclass
class _Outcome:
    refined: RefineResult
    quality: QualityReport
    ms: float  # refine + quality


def _run_model(segmenter: Segmenter, inputs: list[SegmentationInput], tta: bool, deadline: float | None) -> Segmentation:
    """One model call within what is left of the map's budget (raises BudgetExceeded)."""
    if deadline is None:
        return segmenter.segment(inputs, tta=tta)[0]
    left_ms = (deadline - time.perf_counter()) * 1e3
    if left_ms <= 0:
        raise BudgetExceeded("no time left in the processing budget")
    return call_with_budget(left_ms, segmenter.segment, inputs, tta=tta)[0]


class Segment(Gadget):
    Config = SegmentConfig
    name = "segment"
    config: SegmentConfig

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        self._lv_centres: list[np.ndarray] = []  # patient coordinates (mm) of the LV in this study's slices

    def _lv_prior(self, geometry: Geometry, shape: tuple[int, int]) -> tuple[float, float] | None:
        """Where the study's earlier slices put the LV, projected into this slice (row, col)."""
        if not self._lv_centres:
            return None
        rc = from_patient(np.array(self._lv_centres), geometry, shape)
        row, col = (float(v) for v in np.median(rc, axis=0))
        return (row, col) if 0 <= row < shape[0] and 0 <= col < shape[1] else None

    def _judge(self, result: Segmentation, shape: tuple[int, int], view: View, spacing_mm: tuple[float, float],
               prior: tuple[float, float] | None, where: str) -> _Outcome:
        """Check the model's labels, refine them and score the slice."""
        t0 = time.perf_counter()
        labels = np.asarray(result.labels)
        if labels.shape != shape:
            raise ValueError(f"model returned labels of shape {labels.shape} for a {shape} map ({where})")
        if labels.size and int(labels.max()) >= NUM_CLASSES:
            raise ValueError(f"model returned label {int(labels.max())} (expected 0..{NUM_CLASSES - 1})")
        refined = refine(labels, view, spacing_mm, self.config.erode_mm, prior_rc=prior)
        topology = refined.before_erosion if refined.before_erosion is not None else refined.labels
        quality = slice_quality(labels, topology, result.probabilities, result.tta_labels)
        return _Outcome(refined, quality, (time.perf_counter() - t0) * 1e3)

    @classmethod
    def warm_up(cls, config: GadgetConfig) -> None:
        cfg = config if isinstance(config, SegmentConfig) else SegmentConfig()
        get_segmenter(cfg.model, cfg.backend.value, cfg.threads)

    def handle(self, item: Item) -> Iterable[Item]:
        if not isinstance(item, ismrmrd.Image):
            return [item]
        started = time.perf_counter()
        cfg = self.config
        intake = read_map(item, cfg.map_type, cfg.view, self.context.header, cfg.min_matrix, cfg.max_matrix)
        where = f"series {item.image_series_index}, slice {item.slice}, image {item.image_index}"
        if intake.map is None:
            if not intake.is_map:
                log.debug("pass-through (%s): %s", where, intake.reason)
                return [item]
            message = f"ERROR myoseg segment: {where}: {intake.reason}; the map is returned unprocessed"
            log.warning("%s [conn %s]", message, self.context.connection_id)
            if intake.map_type is not None:
                item.meta[mk.MAP_TYPE] = intake.map_type.value
            item.meta[mk.STATUS] = mk.STATUS_ERROR
            item.meta[mk.ERROR] = str(intake.reason)[:500]
            return [item, TextMessage(message)]

        mapped = intake.map
        meta = item.meta
        for key in [k for k in meta if k.startswith("MYOSEG_") or k.startswith(ROI_MYOSEG)]:
            del meta[key]  # results of an earlier pass (a replayed output file) are replaced, not mixed
        meta[mk.MAP_TYPE] = mapped.map_type.value  # known even if the model step fails below
        meta[mk.VIEW] = mapped.view.value

        segmenter = get_segmenter(cfg.model, cfg.backend.value, cfg.threads)
        inputs = [SegmentationInput(mapped.values_ms, mapped.geometry.spacing_mm, mapped.map_type)]
        deadline = time.perf_counter() + cfg.budget_ms / 1e3 if cfg.budget_ms > 0 else None
        prior = self._lv_prior(mapped.geometry, mapped.shape)
        result = _run_model(segmenter, inputs, cfg.tta is TtaMode.ALWAYS, deadline)
        outcome = self._judge(result, mapped.shape, mapped.view, mapped.geometry.spacing_mm, prior, where)
        stage_ms = dict(result.timings_ms)
        stage_ms["refine"] = outcome.ms
        extra_notes: list[str] = []
        if cfg.tta is TtaMode.AUTO and outcome.quality.score < cfg.tta_below:
            # A doubtful slice: the flip passes give the averaged prediction and the agreement check.
            try:
                checked = _run_model(segmenter, inputs, True, deadline)
            except BudgetExceeded as exc:
                extra_notes.append(f"flip check of a one-pass quality of {outcome.quality.score:.2f} skipped: {exc}")
            else:
                outcome = self._judge(checked, mapped.shape, mapped.view, mapped.geometry.spacing_mm, prior, where)
                for stage, ms in checked.timings_ms.items():
                    stage_ms[stage] = stage_ms.get(stage, 0.0) + float(ms)
                stage_ms["refine"] += outcome.ms
        refined, quality = outcome.refined, outcome.quality
        lv = refined.labels == Label.MYOCARDIUM
        if lv.any():
            rows, cols = np.nonzero(lv)
            self._lv_centres.append(to_patient(np.array([[cols.mean(), rows.mean()]]), mapped.geometry, mapped.shape)[0])

        review = list(intake.review) + list(refined.review)
        if quality.score < cfg.quality_threshold:
            review.append(f"low segmentation quality {quality.score:.2f} < {cfg.quality_threshold:.2f} ({quality.describe()})")
        notes = [w for w in intake.warnings if w not in intake.review] + refined.notes + extra_notes
        notes.append(f"{mapped.map_type.value} map from {intake.map_type_source}")
        if intake.view_source:
            notes.append(f"view {mapped.view.value} from {intake.view_source}")

        meta[mk.QUALITY] = round(quality.score, 3)
        meta[mk.QUALITY_PARTS] = quality.describe()
        meta[mk.MODEL] = segmenter.model_id
        meta[mk.BACKEND] = segmenter.backend_name
        meta[mk.STATUS] = mk.STATUS_OK
        set_review(meta, review)
        append_list(meta, mk.WARNINGS, notes)
        mask = mask_image(item, refined.labels, cfg.mask_series_offset)
        add_time(meta, (time.perf_counter() - started) * 1e3)
        for stage, ms in stage_ms.items():
            self.context.record(f"segment.{stage}", float(ms))
        if review:
            log.info("review (%s): %s", where, "; ".join(review))
        return [item, mask]


# Gadgetron target: <execute name="myoseg.gadgets.segment" target="segment" type="python"/>
segment = gadgetron_target(Segment)

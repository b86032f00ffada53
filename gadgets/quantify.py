"""Quantify gadget: myocardial T1/T2 of each processed map, from the mask that follows it.

Adds to the map's meta: MYOSEG_Mean_ms, MYOSEG_Median_ms, MYOSEG_SD_ms, MYOSEG_IQR_ms, MYOSEG_Pixels,
MYOSEG_NaNPixels, MYOSEG_Septal_ms (+ MYOSEG_SeptalPixels and the ROI_myoseg_septal contour) for mid (or
level-unknown short-axis) slices, MYOSEG_AHA_ms with MYOSEG_AHA_Segments for basal/mid/apical slices,
MYOSEG_RVInsertion. Values are in ms after undoing GADGETRON_ScaleRatio, computed over the mask's
myocardium (label 2) with NaN/Inf pixels excluded and counted. Implausible values set MYOSEG_Status=review
with the reason in MYOSEG_Review. At the end of the stream: a per-study summary as a text message and a
log line.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import ismrmrd
from myoseg.gadgets._paired import PairedGadget
from myoseg.gadgets.base import GadgetConfig, Item, StreamContext, TextMessage

from myoseg.core import metakeys as mk
from myoseg.core.contours import region_contour
from myoseg.core.derived import add_time, append_list, mask_labels, put_number, set_review
from myoseg.core.intake import meta_number, meta_str, read_map
from myoseg.core.quantify import MIN_PIXELS, PLAUSIBLE_MS, quantify_slice
from myoseg.core.roi import ROI_SEPTAL, YELLOW, encode_roi
from myoseg.core.summary import SliceRecord, StudySummary
from myoseg.core.types import MapType
from myoseg.stream.external import gadgetron_target

log = logging.getLogger("myoseg.gadgets.quantify")


@dataclass(frozen=True)
class QuantifyConfig(GadgetConfig):
    septal_trim_deg: float = 10.0  # septal ROI keeps this far (degrees) from each RV insertion point
    min_pixels: int = MIN_PIXELS  # fewer myocardial pixels -> review
    t1_min_ms: float = PLAUSIBLE_MS[MapType.T1][0]  # plausible myocardial T1 range; outside -> review
    t1_max_ms: float = PLAUSIBLE_MS[MapType.T1][1]
    t2_min_ms: float = PLAUSIBLE_MS[MapType.T2][0]  # plausible myocardial T2 range; outside -> review
    t2_max_ms: float = PLAUSIBLE_MS[MapType.T2][1]
    summary: bool = True  # per-study summary text message at the end of the stream

    def __post_init__(self) -> None:
        if not 0.0 <= self.septal_trim_deg < 45.0:
            raise ValueError(f"septal_trim_deg must be within 0..45, got {self.septal_trim_deg}")
        if not (0 <= self.t1_min_ms < self.t1_max_ms and 0 <= self.t2_min_ms < self.t2_max_ms):
            raise ValueError("plausible ranges need 0 <= min < max")

    @property
    def ranges(self) -> dict[MapType, tuple[float, float]]:
        return {MapType.T1: (self.t1_min_ms, self.t1_max_ms), MapType.T2: (self.t2_min_ms, self.t2_max_ms)}


class Quantify(PairedGadget):
    Config = QuantifyConfig
    name = "quantify"
    config: QuantifyConfig

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        self.study = StudySummary()

    def handle(self, item: Item) -> Iterable[Item]:
        if isinstance(item, ismrmrd.Image) and mk.ROLE not in item.meta and mk.MAP_TYPE in item.meta \
                and meta_str(item.meta, mk.STATUS) == mk.STATUS_ERROR:
            self._record(item)
        return super().handle(item)

    def handle_pair(self, image: ismrmrd.Image, mask: ismrmrd.Image) -> Iterable[Item]:
        started = time.perf_counter()
        cfg = self.config
        intake = read_map(image, header=self.context.header)
        if intake.map is None:
            raise ValueError(f"cannot read the map back: {intake.reason}")
        mapped = intake.map
        values = quantify_slice(mapped.values_ms, mask_labels(mask), mapped.map_type, mapped.view, mapped.geometry,
                                cfg.ranges, cfg.septal_trim_deg, cfg.min_pixels)
        septal_roi = region_contour(values.septal_mask) if values.septal_mask is not None else None

        meta = image.meta
        stats = values.myo
        put_number(meta, mk.MEAN_MS, stats.mean)
        put_number(meta, mk.MEDIAN_MS, stats.median)
        put_number(meta, mk.SD_MS, stats.sd)
        put_number(meta, mk.IQR_MS, stats.iqr)
        meta[mk.PIXELS] = stats.pixels
        meta[mk.NAN_PIXELS] = stats.nan_pixels
        if values.septal is not None and values.septal.pixels:
            put_number(meta, mk.SEPTAL_MS, values.septal.mean)
            meta[mk.SEPTAL_PIXELS] = values.septal.pixels
            if septal_roi is not None:
                meta[ROI_SEPTAL] = encode_roi(septal_roi, YELLOW, thickness=1.0, style=1)
        if values.aha_segments:
            meta[mk.AHA_MS] = [round(v, 1) for v in values.aha_ms]  # 'nan' where a segment has no pixel
            meta[mk.AHA_SEGMENTS] = list(values.aha_segments)
        if values.frame is not None:
            (ar, ac), (ir, ic) = values.frame.anterior_rc, values.frame.inferior_rc
            meta[mk.RV_INSERTION] = [ac, ar, ic, ir]
        append_list(meta, mk.WARNINGS, values.notes)
        set_review(meta, values.review)
        add_time(meta, (time.perf_counter() - started) * 1e3)
        self._record(image, values.aha_segments, values.aha_ms)
        return [image, mask]

    def _record(self, image: ismrmrd.Image, segments: list[int] | None = None, aha_ms: list[float] | None = None) -> None:
        meta = image.meta
        number = partial(meta_number, meta)
        self.study.add(SliceRecord(
            series=int(image.image_series_index),
            slice=int(image.slice),
            image_index=int(image.image_index),
            map_type=meta_str(meta, mk.MAP_TYPE) or "?",
            view=meta_str(meta, mk.VIEW) or "?",
            status=meta_str(meta, mk.STATUS) or mk.STATUS_ERROR,
            mean_ms=number(mk.MEAN_MS),
            pixels=int(number(mk.PIXELS) or 0),
            septal_ms=number(mk.SEPTAL_MS),
            quality=number(mk.QUALITY),
            aha=dict(zip(segments or [], aha_ms or [], strict=True)),
        ))

    def close(self) -> Iterable[Item]:
        out = list(super().close())
        if self.config.summary and self.study:
            lines = self.study.lines()
            for line in lines:
                log.info("%s [conn %s]", line, self.context.connection_id)
            out.append(TextMessage("\n".join(lines)))
        return out


# Gadgetron target: <execute name="myoseg.gadgets.quantify" target="quantify" type="python"/>
quantify = gadgetron_target(Quantify)

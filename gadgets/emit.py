"""Emit gadget: what the console shows for each processed map.

For each map and its mask it adds, on the map: endo/epicardial contours as FIRE `ROI_` meta
(ROI_myoseg_endo red, ROI_myoseg_epi green; quantify adds ROI_myoseg_septal), the console text in
ImageComments ("T1 myo 1012 ms | sept 998 | Q ok"; a map's own ImageComments is kept in
MYOSEG_OriginalImageComments) and the final MYOSEG_Time_ms. After the map and its mask it yields an RGB
overlay (the windowed map with the contours burned in and the values printed), series = source +
overlay_series_offset, MYOSEG_Role=overlay, same slice, image_index, position, orientation and field of
view (matrix x overlay_scale). Maps returned with an error get "myoseg error" in ImageComments.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import ismrmrd
import numpy as np
from myoseg.gadgets._paired import PairedGadget
from myoseg.gadgets.base import GadgetConfig, Item, StreamContext

from myoseg.core import metakeys as mk
from myoseg.core.contours import extract_contours
from myoseg.core.derived import add_time, mask_labels, overlay_image
from myoseg.core.intake import meta_number, meta_str, meta_values, read_map
from myoseg.core.overlay import choose_window, render_overlay
from myoseg.core.roi import GREEN, RED, ROI_ENDO, ROI_EPI, ROI_SEPTAL, decode_roi, encode_roi
from myoseg.stream.external import gadgetron_target

log = logging.getLogger("myoseg.gadgets.emit")

MAX_COMMENT = 64  # what fits the console's comment field


@dataclass(frozen=True)
class EmitConfig(GadgetConfig):
    overlay: bool = True  # send the RGB overlay series
    overlay_series_offset: int = 200  # overlay series = source series + this
    overlay_scale: int = 2  # overlay matrix = map matrix x this (same field of view); 1..4
    rois: bool = True  # ROI_ contour meta on the map
    roi_thickness: float = 1.0
    comments: bool = True  # console text in ImageComments
    smooth_px: float = 1.0  # contour smoothing (Gaussian sigma, pixels of arc)

    def __post_init__(self) -> None:
        if not 1 <= self.overlay_scale <= 4:
            raise ValueError(f"overlay_scale must be within 1..4, got {self.overlay_scale}")
        if self.overlay_series_offset == 0:
            raise ValueError("overlay_series_offset must not be 0 (the overlay would share the map's series)")
        if not 0.0 <= self.smooth_px <= 5.0:
            raise ValueError(f"smooth_px must be within 0..5, got {self.smooth_px}")


def console_text(meta: ismrmrd.Meta) -> str:
    """'T1 myo 1012 ms | sept 998 | Q ok'; a '?' and 'review' when the slice needs a human look ('Q 0.62 review'
    when the segmentation quality is the reason)."""
    kind = meta_str(meta, mk.MAP_TYPE) or "map"
    status = meta_str(meta, mk.STATUS) or ""
    if status == mk.STATUS_ERROR:
        return f"{kind} myoseg error (map unchanged)"[:MAX_COMMENT]
    mean, septal, quality = meta_number(meta, mk.MEAN_MS), meta_number(meta, mk.SEPTAL_MS), meta_number(meta, mk.QUALITY)
    mark = "?" if status == mk.STATUS_REVIEW else ""
    parts = [f"{kind} myo {mean:.0f} ms{mark}" if mean is not None else f"{kind} myo --"]
    if septal is not None:
        parts.append(f"sept {septal:.0f}")
    if status == mk.STATUS_REVIEW:
        low_quality = any(r.startswith("low segmentation quality") for r in meta_values(meta, mk.REVIEW))
        parts.append(f"Q {quality:.2f} review" if low_quality and quality is not None else "review")
    else:
        parts.append("Q ok")
    return " | ".join(parts)[:MAX_COMMENT]


def _set_comment(meta: ismrmrd.Meta, text: str) -> None:
    if mk.IMAGE_COMMENTS in meta and mk.ORIGINAL_IMAGE_COMMENTS not in meta:
        meta[mk.ORIGINAL_IMAGE_COMMENTS] = meta[mk.IMAGE_COMMENTS]
    meta[mk.IMAGE_COMMENTS] = text


def _window_ms(meta: ismrmrd.Meta, scale_ratio: float) -> tuple[float, float] | None:
    """The map's display window in ms (Gadgetron windows are in stored-pixel units)."""
    for centre_key, width_key in ((mk.GT_WINDOW_CENTER, mk.GT_WINDOW_WIDTH), (mk.WINDOW_CENTER, mk.WINDOW_WIDTH)):
        centre, width = meta_number(meta, centre_key), meta_number(meta, width_key)
        if centre is not None and width is not None and width > 0:
            return centre / scale_ratio, width / scale_ratio
    return None


class Emit(PairedGadget):
    Config = EmitConfig
    name = "emit"
    config: EmitConfig

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        if self.config.overlay:
            # OpenCV's first putText in a thread costs ~20 ms (font set-up); pay it when the connection opens,
            # not on the connection's first slice (it was the p95 tail over TCP).
            cv2.putText(np.zeros((16, 16, 3), np.uint8), "0", (0, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255))

    def handle(self, item: Item) -> Iterable[Item]:
        if self.config.comments and isinstance(item, ismrmrd.Image) and mk.ROLE not in item.meta \
                and meta_str(item.meta, mk.STATUS) == mk.STATUS_ERROR:
            _set_comment(item.meta, console_text(item.meta))
        return super().handle(item)

    def handle_pair(self, image: ismrmrd.Image, mask: ismrmrd.Image) -> Iterable[Item]:
        started = time.perf_counter()
        cfg = self.config
        labels = mask_labels(mask)
        contours = extract_contours(labels, cfg.smooth_px)
        text = console_text(image.meta)
        overlay = self._overlay(image, labels, contours.items(), text) if cfg.overlay else None

        meta = image.meta
        if cfg.rois:
            for key, points, colour in ((ROI_ENDO, contours.endo, RED), (ROI_EPI, contours.epi, GREEN)):
                if points is not None:
                    meta[key] = encode_roi(points, colour, cfg.roi_thickness)
        if cfg.comments:
            _set_comment(meta, text)
        add_time(meta, (time.perf_counter() - started) * 1e3)
        out: list[Item] = [image, mask]
        if overlay is not None:
            if cfg.comments:
                overlay.meta[mk.IMAGE_COMMENTS] = text
            overlay.meta[mk.MAP_TYPE] = meta_str(meta, mk.MAP_TYPE) or ""
            out.append(overlay)
        return out

    def _overlay(self, image: ismrmrd.Image, labels: np.ndarray, contours: list[tuple[str, np.ndarray]],
                 text: str) -> ismrmrd.Image:
        intake = read_map(image, header=self.context.header)
        if intake.map is None:
            raise ValueError(f"cannot read the map back for the overlay: {intake.reason}")
        mapped = intake.map
        meta = image.meta
        window = choose_window(mapped.values_ms, mapped.map_type, _window_ms(meta, mapped.scale_ratio))
        drawn = [(xy, "red" if name == "endo" else "green") for name, xy in contours]
        if ROI_SEPTAL in meta:
            drawn.append((decode_roi(meta_values(meta, ROI_SEPTAL)).points_xy[:-1], "yellow"))
        points = []
        insertion = [float(v) for v in meta_values(meta, mk.RV_INSERTION)]
        if len(insertion) == 4:
            points = [((insertion[1], insertion[0]), "cyan"), ((insertion[3], insertion[2]), "cyan")]
        status = meta_str(meta, mk.STATUS)
        lines = [(part.strip(), "white") for part in text.split("|")]
        if status == mk.STATUS_REVIEW:
            lines = [(line, "orange") for line, _ in lines]
        rgb = render_overlay(mapped.values_ms, window, drawn, points, lines, scale=self.config.overlay_scale)
        overlay = overlay_image(image, rgb, self.config.overlay_series_offset)
        overlay.meta["MYOSEG_Window_ms"] = [round(window[0], 1), round(window[1], 1)]  # centre, width
        return overlay


# Gadgetron target: <execute name="myoseg.gadgets.emit" target="emit" type="python"/>
emit = gadgetron_target(Emit)

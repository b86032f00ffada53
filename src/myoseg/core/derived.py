"""Derived MRD images (mask, overlay) built from a source map, and how to recognise maps and their masks.

A derived image copies the source's header (slice, image_index, position, directions, field of view,
time stamps...), then sets its own data type, channels, image type, matrix and series index. The source
itself is never modified here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import ismrmrd
import ismrmrd.image
import numpy as np

from myoseg.core import metakeys as mk
from myoseg.core.intake import meta_number, meta_str

MASK_DESCRIPTION = "myoseg_mask"
OVERLAY_DESCRIPTION = "myoseg_overlay"


def derived_image(source: ismrmrd.Image, pixels: np.ndarray, series_index: int, role: str,
                  image_type: int = ismrmrd.IMTYPE_MAGNITUDE) -> ismrmrd.Image:
    """An image with the source's header and geometry and `pixels` of shape (channels, rows, cols)."""
    pixels = np.ascontiguousarray(pixels)
    channels, rows, cols = pixels.shape
    head = ismrmrd.ImageHeader.from_buffer_copy(bytes(source.getHead()))
    head.data_type = ismrmrd.image.get_data_type_from_dtype(pixels.dtype)
    head.channels = channels
    head.matrix_size[0], head.matrix_size[1], head.matrix_size[2] = cols, rows, 1
    head.image_type = image_type
    head.image_series_index = int(series_index)
    head.attribute_string_len = 0
    image = ismrmrd.Image(head=head)
    image.data[:] = pixels[:, None, :, :]
    image.meta = ismrmrd.Meta(
        {
            mk.ROLE: role,
            mk.SOURCE_SERIES: int(source.image_series_index),
            mk.KEEP_IMAGE_GEOMETRY: 1,
        }
    )
    return image


def mask_image(source: ismrmrd.Image, labels: np.ndarray, offset: int) -> ismrmrd.Image:
    image = derived_image(source, np.asarray(labels, np.uint16)[None], int(source.image_series_index) + offset, mk.ROLE_MASK)
    image.meta[mk.SEQUENCE_DESCRIPTION_ADDITIONAL] = MASK_DESCRIPTION
    image.meta[mk.WINDOW_CENTER] = 2
    image.meta[mk.WINDOW_WIDTH] = 4
    for key in (mk.MAP_TYPE, mk.VIEW, mk.MODEL):
        if key in source.meta:
            image.meta[key] = source.meta[key]
    return image


def overlay_image(source: ismrmrd.Image, rgb: np.ndarray, offset: int) -> ismrmrd.Image:
    """RGB overlay (uint16 0..255, 3 channels, image_type RGB), same field of view as the source."""
    pixels = np.moveaxis(np.asarray(rgb, np.uint16), -1, 0)
    image = derived_image(source, pixels, int(source.image_series_index) + offset, mk.ROLE_OVERLAY, ismrmrd.IMTYPE_RGB)
    image.meta[mk.SEQUENCE_DESCRIPTION_ADDITIONAL] = OVERLAY_DESCRIPTION
    image.meta["InternalSend"] = 1  # FIRE: no further processing (orientation/distortion correction) of RGB
    return image


# --- recognising what flows through the chain --------------------------------------------------------


def is_processed_map(item: Any) -> bool:
    """A map the segment gadget processed (has a mask following it)."""
    return (
        isinstance(item, ismrmrd.Image)
        and mk.ROLE not in item.meta
        and mk.MAP_TYPE in item.meta
        and meta_str(item.meta, mk.STATUS) in (mk.STATUS_OK, mk.STATUS_REVIEW)
    )


def is_mask_of(item: Any, source: ismrmrd.Image) -> bool:
    if not isinstance(item, ismrmrd.Image) or meta_str(item.meta, mk.ROLE) != mk.ROLE_MASK:
        return False
    try:
        series = int(float(meta_str(item.meta, mk.SOURCE_SERIES) or "nan"))
    except ValueError:
        return False
    return (
        series == int(source.image_series_index)
        and int(item.slice) == int(source.slice)
        and int(item.image_index) == int(source.image_index)
        and tuple(item.matrix_size) == tuple(source.matrix_size)
    )


def mask_labels(mask: ismrmrd.Image) -> np.ndarray:
    return np.asarray(mask.data[0, 0])


# --- meta values --------------------------------------------------------------------------------------


def put_number(meta: Any, key: str, value: float | None, digits: int = 1) -> None:
    """Write a finite number; remove the key when undefined (None/NaN): never report NaN as a value."""
    if value is None or not math.isfinite(value):
        meta.pop(key, None)
    else:
        meta[key] = round(float(value), digits)


def add_time(meta: Any, elapsed_ms: float) -> None:
    """Processing time accumulates over the steps (segment + quantify + emit)."""
    before = meta_number(meta, mk.TIME_MS) or 0.0
    meta[mk.TIME_MS] = round(before + elapsed_ms, 1)


def append_list(meta: Any, key: str, values: Iterable[str]) -> None:
    items = [str(v) for v in values if str(v)]
    if not items:
        return
    existing = meta.get(key)
    current = [] if existing is None else (list(existing) if isinstance(existing, list) else [existing])
    for item in items:
        if item not in current:
            current.append(item)
    meta[key] = current if len(current) > 1 else current[0]


def set_review(meta: Any, reasons: Iterable[str]) -> None:
    reasons = [r for r in reasons if r]
    if not reasons:
        return
    append_list(meta, mk.REVIEW, reasons)
    if meta_str(meta, mk.STATUS) != mk.STATUS_ERROR:
        meta[mk.STATUS] = mk.STATUS_REVIEW

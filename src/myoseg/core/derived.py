"""Derived MRD images (mask, overlay) built from a source map, and how to recognise maps and their masks.

A derived image copies the source's header (slice, image_index, position, directions, field of view,
time stamps...), then sets its own data type, channels, image type, matrix and series index. The source
itself is never modified here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import cv2
import ismrmrd
import ismrmrd.image
import numpy as np

from myoseg.core import metakeys as mk
from myoseg.core.intake import meta_number, meta_str

MASK_DESCRIPTION = "myoseg_mask"
OVERLAY_DESCRIPTION = "myoseg_overlay"


def derived_image(source: ismrmrd.Image, pixels: np.ndarray, series_index: int, role: str,
                  image_type: int = ismrmrd.IMTYPE_MAGNITUDE, dtype: np.dtype | type | None = None) -> ismrmrd.Image:
    """An image with the source's header and geometry and `pixels` of shape (channels, rows, cols), any memory
    layout, stored as `dtype` (default: the pixels' own)."""
    pixels = np.asarray(pixels)
    channels, rows, cols = pixels.shape
    image = _blank_like(source, channels, rows, cols, np.dtype(pixels.dtype if dtype is None else dtype), series_index, role, image_type)
    image.data[:] = pixels[:, None, :, :]  # one pass: gathers any layout and converts the type on the way
    return image


def _blank_like(source: ismrmrd.Image, channels: int, rows: int, cols: int, dtype: np.dtype, series_index: int,
                role: str, image_type: int) -> ismrmrd.Image:
    """A new image (pixels not yet written) with the source's header and geometry and our meta."""
    head = ismrmrd.ImageHeader.from_buffer_copy(bytes(source.getHead()))
    head.data_type = ismrmrd.image.get_data_type_from_dtype(dtype)
    head.channels = channels
    head.matrix_size[0], head.matrix_size[1], head.matrix_size[2] = cols, rows, 1
    head.image_type = image_type
    head.image_series_index = int(series_index)
    head.attribute_string_len = 0
    image = ismrmrd.Image(head=head)
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
    rgb = np.asarray(rgb)
    rows, cols, channels = rgb.shape
    image = _blank_like(source, channels, rows, cols, np.dtype(np.uint16), int(source.image_series_index) + offset,
                        mk.ROLE_OVERLAY, ismrmrd.IMTYPE_RGB)
    # Channel-first from the interleaved canvas: contiguous planes (cv2.split) are copied ~15x faster than a
    # strided gather of the whole array.
    planes = cv2.split(rgb) if rgb.dtype == np.uint8 and channels <= 4 else [rgb[:, :, k] for k in range(channels)]
    data = image.data
    for k, plane in enumerate(planes):
        data[k, 0] = plane  # uint8 -> uint16 (0..255) on the copy
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

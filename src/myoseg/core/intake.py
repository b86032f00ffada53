"""Intake: decide whether an ismrmrd.Image is a T1/T2 map we can segment, and read it into a MapImage.

`read_map(image)` never modifies the image. It returns an IntakeResult:
- `map` set: a MapImage in ms (NaN where the map is undefined) with its geometry, view and warnings;
- `map` None and `is_map` False: not a map (magnitude images, SD maps, our own derived series...);
  the image passes through silently;
- `map` None and `is_map` True: a T1/T2 map we cannot process (complex, 3D, tiny, constant, unknown
  scale ratio...): `reason` says why, and the gadget passes it through with MYOSEG_Status=error.

`review` lists the findings that make a result need a human look (contradictory meta, implausible
values for the labelled map type, missing geometry...); `warnings` lists every finding.

Each map is read three times in a chain (segment, quantify, emit). The costly part, pixels -> ms plus the
whole-image value checks, is remembered per image object for as long as it lives, and reused only when its
pixel bytes, dtype, scale ratio and map type are exactly those it was computed from (so a changed image is
decoded afresh). The values array is then shared between the reads and made read-only.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import ismrmrd
import numpy as np

from myoseg.core import metakeys as mk
from myoseg.core.types import Geometry, MapImage, MapType, View

# Limits of what we segment. The network works at ~1.5 mm; maps are 128-384 pixels a side in practice.
MIN_MATRIX = 32
MAX_MATRIX = 1024
DEFAULT_SPACING_MM = 1.5
DEFAULT_SLICE_MM = 8.0

_REAL_TYPES = {
    ismrmrd.DATATYPE_USHORT,
    ismrmrd.DATATYPE_SHORT,
    ismrmrd.DATATYPE_UINT,
    ismrmrd.DATATYPE_INT,
    ismrmrd.DATATYPE_FLOAT,
    ismrmrd.DATATYPE_DOUBLE,
}
_COMPLEX_TYPES = {ismrmrd.DATATYPE_CXFLOAT, ismrmrd.DATATYPE_CXDOUBLE}

# Meta keys whose text may name the map type or view, in order of trust.
_TEXT_KEYS = (
    mk.GT_IMAGE_COMMENT,
    mk.IMAGE_COMMENTS,
    mk.GT_SERIES_DESCRIPTION,
    mk.SERIES_DESCRIPTION,
    "SequenceDescription",
)
_VIEW_KEYS = (mk.VIEW, "View", "GADGETRON_View", "SliceView")

# Words are delimited by anything but a letter or digit: "T1MAP_MOLLI_basal" holds "T1" and "basal".
_L, _R = r"(?<![A-Za-z0-9])", r"(?![A-Za-z])"
_SD_TEXT = re.compile(rf"({_L}T[12]\s*_?SD{_R}|{_L}SD{_R}|std\s*dev|standard\s+deviation)", re.IGNORECASE)
_T2STAR_TEXT = re.compile(r"T2\s*(\*|star)", re.IGNORECASE)
_T1_TEXT = re.compile(rf"({_L}T1(?![0-9])(?!\s*w{_R})|MOLLI|SASHA|SAPPHIRE)", re.IGNORECASE)
_T2_TEXT = re.compile(rf"{_L}T2(?![0-9*])(?!\s*w{_R})(?!\s*star)", re.IGNORECASE)
_WEIGHTED_TEXT = re.compile(rf"{_L}(STIR|TSE|HASTE|cine|LGE|PSIR|MAG|weighted)(?![A-Za-z])", re.IGNORECASE)
_MAP_WORD = re.compile(r"map", re.IGNORECASE)
_SCALE_TEXT = re.compile(rf"{_L}x\s*(\d+(?:\.\d+)?)(?![0-9])", re.IGNORECASE)
_VIEW_TEXT = (
    (View.FOUR_CH, re.compile(rf"({_L}4\s*-?\s*ch{_R}|four[\s_-]*chamber|{_L}4CV{_R}|{_L}LAX{_R}|long[\s_-]*axis)",
                              re.IGNORECASE)),
    (View.BASAL, re.compile(rf"{_L}bas(al|e){_R}", re.IGNORECASE)),
    (View.MID, re.compile(rf"{_L}mid(dle)?{_R}|mid[\s_-]*ventric", re.IGNORECASE)),
    (View.APICAL, re.compile(rf"{_L}api(cal|ex){_R}", re.IGNORECASE)),
    (View.SAX, re.compile(rf"({_L}SAX{_R}|short[\s_-]*axis)", re.IGNORECASE)),
)

# A nominal LV long axis (base -> apex) in patient LPS coordinates: leftward, anterior, inferior.
# Short-axis planes have their normal near it, long-axis planes (4Ch) perpendicular to it.
LV_AXIS_LPS = np.array([0.6, -0.5, -0.62]) / np.linalg.norm([0.6, -0.5, -0.62])


@dataclass
class IntakeResult:
    map: MapImage | None = None
    is_map: bool = False  # recognised as a T1/T2 map
    map_type: MapType | None = None
    reason: str | None = None  # why it is not processed (an error when is_map)
    warnings: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)  # subset of warnings that need a human look
    map_type_source: str = ""
    view_source: str = ""
    nonfinite_pixels: int = 0

    def warn(self, message: str, review: bool = False) -> None:
        self.warnings.append(message)
        if review:
            self.review.append(message)


# --- meta helpers ---------------------------------------------------------------------------------


def meta_values(meta: Mapping[str, Any], key: str) -> list[str]:
    """A meta entry as a list of strings ([] when absent). Meta read from the wire holds strings."""
    if key not in meta:
        return []
    value = meta[key]
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v).strip() for v in items if v is not None and str(v).strip() != ""]


def meta_str(meta: Mapping[str, Any], key: str) -> str | None:
    values = meta_values(meta, key)
    return " ".join(values) if values else None


def meta_float(meta: Mapping[str, Any], key: str) -> float | None:
    """First value of a meta entry as float; None when absent; raises ValueError when not a number."""
    values = meta_values(meta, key)
    if not values:
        return None
    return float(values[0])


def meta_number(meta: Mapping[str, Any], key: str) -> float | None:
    """First value of a meta entry as a finite float; None when absent, not a number, NaN or Inf."""
    try:
        value = meta_float(meta, key)
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


# --- map type -------------------------------------------------------------------------------------


def _type_from_text(text: str) -> tuple[MapType | None, str | None]:
    """(map type, reason it is not a map) from free text; (None, None) when the text says nothing."""
    if _T2STAR_TEXT.search(text):
        return None, "T2* map (not supported)"
    if _SD_TEXT.search(text):
        return None, "standard-deviation map"
    if _WEIGHTED_TEXT.search(text) and not _MAP_WORD.search(text):
        return None, "a weighted image, not a map"
    t1, t2 = bool(_T1_TEXT.search(text)), bool(_T2_TEXT.search(text))
    if t1 and not t2:
        return MapType.T1, None
    if t2 and not t1:
        return MapType.T2, None
    return None, None


def detect_map_type(
    meta: Mapping[str, Any], override: MapType | None = None
) -> tuple[MapType | None, str, str | None, list[str]]:
    """(map type, source, not-a-map reason, contradictions) from meta (+ a pipeline override)."""
    if mk.ROLE in meta:
        return None, "", f"myoseg {meta_str(meta, mk.ROLE)} image", []
    if mk.MAP_TYPE in meta:  # already processed upstream by myoseg: that decision stands
        try:
            return MapType.parse(meta_str(meta, mk.MAP_TYPE) or ""), mk.MAP_TYPE, None, []
        except ValueError:
            pass
    found: list[tuple[str, MapType]] = []
    for role in meta_values(meta, mk.GT_DATA_ROLE) + meta_values(meta, mk.DATA_ROLE):
        token = role.upper().replace(" ", "")
        if token in ("T1SD", "T2SD") or token.endswith("SD"):
            return None, "", f"standard-deviation map (DataRole {role})", []
        if token in ("T1", "T1MAP"):
            found.append((f"DataRole={role}", MapType.T1))
        elif token in ("T2", "T2MAP"):
            found.append((f"DataRole={role}", MapType.T2))
        elif token in ("T2*", "T2STAR"):
            return None, "", "T2* map (not supported)", []
    for key in _TEXT_KEYS:
        text = meta_str(meta, key)
        if not text:
            continue
        kind, not_map = _type_from_text(text)
        if not_map and not found:
            return None, "", f"{not_map} ({key}={text!r})", []
        if kind is not None:
            found.append((f"{key}={text!r}", kind))
    contradictions: list[str] = []
    kinds = {k for _, k in found}
    if len(kinds) > 1:
        contradictions.append("contradictory map type in meta: " + ", ".join(f"{s} -> {k.value}" for s, k in found))
    if override is not None:
        if found and override not in kinds:
            contradictions.append(f"pipeline map_type={override.value} overrides meta ({found[0][0]})")
        return override, "pipeline property map_type", None, contradictions
    if not found:
        return None, "", "no T1/T2 map type in meta (GADGETRON_DataRole, ImageComments, SeriesDescription)", []
    source, kind = found[0]
    return kind, source, None, contradictions


# --- view -----------------------------------------------------------------------------------------


def view_from_meta(meta: Mapping[str, Any]) -> tuple[View | None, str]:
    for key in _VIEW_KEYS:
        text = meta_str(meta, key)
        if text:
            try:
                return View.parse(text), key
            except ValueError:
                for view, pattern in _VIEW_TEXT:
                    if pattern.search(text):
                        return view, key
    for key in _TEXT_KEYS:
        text = meta_str(meta, key)
        if not text:
            continue
        for view, pattern in _VIEW_TEXT:
            if pattern.search(text):
                return view, f"{key}={text!r}"
    return None, ""


def view_from_geometry(geometry: Geometry) -> View | None:
    """Short- vs long-axis from the slice normal against a nominal LV axis; None when ambiguous."""
    normal = np.asarray(geometry.slice_dir, dtype=float)
    cos = abs(float(normal @ LV_AXIS_LPS))
    if cos > 0.8:
        return View.SAX
    if cos < 0.35:
        return View.FOUR_CH
    return None


# --- geometry -------------------------------------------------------------------------------------


def _unit(vec: Any) -> np.ndarray | None:
    v = np.asarray([float(x) for x in vec], dtype=float)
    n = float(np.linalg.norm(v))
    if not math.isfinite(n) or n < 1e-6:
        return None
    return v / n


def read_geometry(image: ismrmrd.Image, result: IntakeResult, header: Any = None) -> Geometry:
    nx, ny, _ = (int(v) for v in image.matrix_size)
    fov = [float(v) for v in image.field_of_view]
    spacing: tuple[float, float] | None = None
    if all(math.isfinite(v) and v > 0 for v in fov[:2]):
        spacing = (fov[1] / ny, fov[0] / nx)
    else:
        recon = _recon_fov(header)
        if recon is not None:
            spacing = (recon[1] / ny, recon[0] / nx)
            result.warn("image field_of_view missing; pixel spacing taken from the MRD header reconSpace")
        else:
            spacing = (DEFAULT_SPACING_MM, DEFAULT_SPACING_MM)
            result.warn(f"field_of_view missing: pixel spacing unknown, assuming {DEFAULT_SPACING_MM} mm", review=True)
    if not all(0.2 <= s <= 6.0 for s in spacing):
        result.warn(f"implausible pixel spacing {spacing[0]:.3g} x {spacing[1]:.3g} mm", review=True)
    ratio = max(spacing) / min(spacing)
    if ratio > 1.02:
        result.warn(f"non-square pixels {spacing[0]:.3g} x {spacing[1]:.3g} mm (handled)", review=ratio > 2.0)
    thickness = fov[2] if math.isfinite(fov[2]) and fov[2] > 0 else DEFAULT_SLICE_MM

    read, phase, normal = _unit(image.read_dir), _unit(image.phase_dir), _unit(image.slice_dir)
    if read is None or phase is None:
        result.warn("read_dir/phase_dir missing: orientation unknown, assuming the standard display orientation")
        read, phase = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
        normal = None
    elif abs(float(read @ phase)) > 0.05:
        result.warn(f"read_dir and phase_dir not orthogonal (cos {float(read @ phase):.2f})")
    cross = np.cross(read, phase)
    if normal is None:
        normal = cross / max(float(np.linalg.norm(cross)), 1e-9)
    elif float(normal @ cross) < 0:
        result.warn("left-handed image orientation (slice_dir opposite read x phase): a flipped image")
    position = [float(v) for v in image.position]
    if not all(math.isfinite(v) for v in position):
        result.warn("non-finite position: using the isocentre")
        position = [0.0, 0.0, 0.0]
    return Geometry(
        spacing_mm=(float(spacing[0]), float(spacing[1])),
        slice_thickness_mm=float(thickness),
        position=(position[0], position[1], position[2]),
        read_dir=tuple(float(v) for v in read),  # type: ignore[arg-type]
        phase_dir=tuple(float(v) for v in phase),  # type: ignore[arg-type]
        slice_dir=tuple(float(v) for v in normal),  # type: ignore[arg-type]
    )


def _recon_fov(header: Any) -> tuple[float, float] | None:
    try:
        fov = header.encoding[0].reconSpace.fieldOfView_mm
        x, y = float(fov.x), float(fov.y)
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def field_strength(header: Any) -> float | None:
    try:
        value = float(header.acquisitionSystemInformation.systemFieldStrength_T)
    except (AttributeError, TypeError, ValueError):
        return None
    return value if 0.1 <= value <= 12 else None


# --- values ---------------------------------------------------------------------------------------


def read_scale_ratio(meta: Mapping[str, Any], result: IntakeResult) -> float | None:
    """stored pixel = value_ms * ratio. None (with result.reason) when the ratio is unusable."""
    try:
        ratio = meta_float(meta, mk.GT_SCALE_RATIO)
    except ValueError:
        result.reason = f"unknown scale ratio {meta_str(meta, mk.GT_SCALE_RATIO)!r} ({mk.GT_SCALE_RATIO} is not a number)"
        return None
    if ratio is None:
        comment = meta_str(meta, mk.GT_IMAGE_COMMENT) or ""
        match = _SCALE_TEXT.search(comment)
        if match:
            ratio = float(match.group(1))
            result.warn(f"no {mk.GT_SCALE_RATIO}: scale ratio {ratio:g} taken from the image comment {comment!r}")
        else:
            result.warn(f"no {mk.GT_SCALE_RATIO}: assuming stored pixel = value in ms")
            ratio = 1.0
    if not math.isfinite(ratio) or ratio <= 0:
        result.reason = f"unknown scale ratio {ratio!r} ({mk.GT_SCALE_RATIO} must be a positive number)"
        return None
    return ratio


def check_plausible_map(values_ms: np.ndarray, map_type: MapType, result: IntakeResult) -> None:
    """Whole-image sanity of the value range for the labelled type (a T2 map labelled T1, a wrong scale)."""
    finite = values_ms[np.isfinite(values_ms) & (values_ms > 0)]
    if finite.size < 0.05 * values_ms.size:
        result.warn("fewer than 5% of the pixels hold positive values", review=True)
        return
    p50, p95 = (float(v) for v in np.percentile(finite, [50, 95]))
    if map_type is MapType.T1 and p95 < 250:
        result.warn(f"values implausible for a T1 map (95th percentile {p95:.0f} ms): "
                    "a T2 map labelled T1, or a wrong scale ratio?", review=True)
    elif map_type is MapType.T2 and p50 > 300:
        result.warn(f"values implausible for a T2 map (median {p50:.0f} ms): "
                    "a T1 map labelled T2, or a wrong scale ratio?", review=True)
    if p95 > 20000:
        result.warn(f"values implausibly large (95th percentile {p95:.0f} ms): wrong scale ratio?", review=True)


@dataclass(frozen=True)
class _Decoded:
    """Pixels -> ms and the whole-image value checks of one map, with what they were computed from."""

    raw: bytes
    dtype: str
    shape: tuple[int, ...]
    ratio: float
    kind: MapType
    values: np.ndarray | None  # float32 ms, NaN where undefined, read-only; None when unusable (reason)
    reason: str | None
    nonfinite_pixels: int
    findings: tuple[tuple[str, bool], ...]  # (warning, needs review), in the order read_map reports them


def _decode(raw: np.ndarray, ratio: float, kind: MapType) -> tuple[np.ndarray | None, str | None, int, list[tuple[str, bool]]]:
    """(values, reason, non-finite pixels, findings) of a 2D pixel array."""
    values = np.asarray(raw, dtype=np.float64)  # a converted copy: the original is not touched
    with np.errstate(invalid="ignore", over="ignore"):
        values = values / ratio
    finite = np.isfinite(values)
    bad = int(values.size - int(np.count_nonzero(finite)))
    if bad == values.size:
        return None, "no finite pixel (all NaN/Inf)", 0, []
    noted = IntakeResult()
    if bad:
        values = np.where(finite, values, np.nan)
        noted.warn(f"{bad} NaN/Inf pixel(s) masked (excluded from all values)")
        finite_values = values[finite]
    else:
        finite_values = values  # every pixel is finite: no copy needed for the range
    if float(finite_values.max()) == float(finite_values.min()):
        reason = f"constant image (every finite pixel = {float(finite_values.min()):g})"
        return None, reason, bad, [(w, w in noted.review) for w in noted.warnings]
    values32 = values.astype(np.float32)
    check_plausible_map(values32, kind, noted)
    return values32, None, bad, [(w, w in noted.review) for w in noted.warnings]


# id(image) -> (weak reference to it, what its pixels decoded to). Entries go when the image is collected.
# Only single dict operations touch it (atomic under the GIL): the warm server's connection threads and the
# collector's callbacks may use it at any time, and a lock taken inside a callback could deadlock.
_DECODED: dict[int, tuple[weakref.ref[ismrmrd.Image], _Decoded]] = {}


def _forget(key: int) -> None:
    _DECODED.pop(key, None)


def _decoded_values(image: ismrmrd.Image, ratio: float, kind: MapType) -> _Decoded:
    """The image's decoded values: remembered from an earlier read of the same, unchanged pixels, or new."""
    pixels = image.data[0, 0]
    raw = pixels.tobytes()
    key = id(image)
    entry = _DECODED.get(key)
    if entry is not None:
        ref, known = entry
        if (ref() is image and known.raw == raw and known.dtype == pixels.dtype.str and known.shape == pixels.shape
                and known.ratio == ratio and known.kind is kind):
            return known
    values, reason, bad, findings = _decode(pixels, ratio, kind)
    if values is not None:
        values.flags.writeable = False  # shared by later reads of this image: nobody may change it in place
    known = _Decoded(raw, pixels.dtype.str, pixels.shape, ratio, kind, values, reason, bad, tuple(findings))

    def forget(_ref: object, key: int = key) -> None:
        _forget(key)

    _DECODED[key] = (weakref.ref(image, forget), known)
    return known


def read_map(
    image: ismrmrd.Image,
    map_type: MapType | None = None,
    view: View | None = None,
    header: Any = None,
    min_matrix: int = MIN_MATRIX,
    max_matrix: int = MAX_MATRIX,
) -> IntakeResult:
    """Read an image as a map; see the module docstring. `map_type`/`view` are pipeline overrides."""
    result = IntakeResult()
    meta = image.meta
    kind, source, not_map, contradictions = detect_map_type(meta, map_type)
    if kind is None:
        result.reason = not_map
        return result
    result.is_map = True
    result.map_type = kind
    result.map_type_source = source
    for message in contradictions:
        result.warn(message, review=True)

    data_type = int(image.data_type)
    if data_type in _COMPLEX_TYPES or int(image.image_type) in (ismrmrd.IMTYPE_COMPLEX, ismrmrd.IMTYPE_PHASE):
        result.reason = f"complex or phase {kind.value} map (data_type {data_type}, image_type {int(image.image_type)}): expected real values"
        return result
    if int(image.image_type) == ismrmrd.IMTYPE_RGB:
        result.reason = "RGB image labelled as a map"
        return result
    if data_type not in _REAL_TYPES:
        result.reason = f"unsupported pixel data type {data_type}"
        return result
    nx, ny, nz = (int(v) for v in image.matrix_size)
    channels = int(image.channels)
    if channels != 1:
        result.reason = f"multi-channel image ({channels} channels): expected one 2D map"
        return result
    if nz != 1:
        result.reason = f"3D volume ({nx}x{ny}x{nz}): expected one 2D slice per image"
        return result
    if min(nx, ny) < min_matrix:
        result.reason = f"image too small ({ny}x{nx} pixels; at least {min_matrix} a side)"
        return result
    if max(nx, ny) > max_matrix:
        result.reason = f"image too large ({ny}x{nx} pixels; at most {max_matrix} a side)"
        return result

    ratio = read_scale_ratio(meta, result)
    if ratio is None:
        return result
    decoded = _decoded_values(image, float(ratio), kind)
    result.nonfinite_pixels = decoded.nonfinite_pixels
    for message, review in decoded.findings:
        result.warn(message, review=review)
    if decoded.values is None:
        result.reason = decoded.reason
        return result
    values = decoded.values

    geometry = read_geometry(image, result, header)
    chosen_view, view_source = (view, "pipeline property view") if view is not None else view_from_meta(meta)
    if chosen_view is None:
        chosen_view = view_from_geometry(geometry)
        view_source = "slice orientation" if chosen_view is not None else ""
    if chosen_view is None or chosen_view is View.UNKNOWN:
        chosen_view, view_source = View.SAX, "default (short axis, level unknown)"
    result.view_source = view_source

    result.map = MapImage(
        values_ms=values,
        map_type=kind,
        geometry=geometry,
        scale_ratio=float(ratio),
        view=chosen_view,
        series_index=int(image.image_series_index),
        slice_index=int(image.slice),
        image_index=int(image.image_index),
        field_strength_t=field_strength(header),
        warnings=list(result.warnings),
    )
    return result

"""Import DICOM T1/T2 map series into ISMRMRD images (Gadgetron CMR-mapping style) for replay and training.

    images = read_map_series(Path("study/"))            # list[ismrmrd.Image], sorted per series and slice
    header_xml = mrd_header_for(images)                  # ismrmrd.xsd header with non-empty encodingLimits
    maps = read_map_images(Path("study/"))               # list[MapImage]: values in ms + Geometry

What is read
- classic MR / MR-like single-frame objects (any SOP class with pixel data, geometry and rescale), and
  Enhanced MR / Legacy-converted multi-frame objects (per-frame and shared functional groups);
- geometry: PixelSpacing, ImagePositionPatient, ImageOrientationPatient, SliceThickness -> MRD field_of_view,
  position (image centre), read/phase/slice dirs (see myoseg.dicomio.geometry);
- values: a Real World Value Mapping in ms or s when present, else RescaleSlope/Intercept -> ms.
  Integer pixels with intercept 0 and slope 1/k (k a positive integer) are kept as uint16 with
  GADGETRON_ScaleRatio = k (stored pixel = value_ms * k, like Gadgetron's "T2 x10 ms" maps); anything else
  is stored as float32 ms with GADGETRON_ScaleRatio = 1;
- map type from (in order) the RWVM quantity code (DCM 113063 T1 / 113065 T2), ImageType, SeriesDescription,
  ImageComments, ProtocolName, or a forced `map_type`. Series that are not recognisably a T1/T2 map
  (weighted images, SD maps, T2*) are skipped with a log line naming the series, never the patient.

The MRD series index follows Gadgetron: T1 maps 5, T2 maps 11; further series of one type add 100.
No patient name/ID goes into the MRD header unless `keep_patient=True`; none ever goes to the log.
"""

from __future__ import annotations

import logging
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd
import numpy as np

from myoseg.core import metakeys as mk
from myoseg.core.types import Geometry, MapImage, MapType
from myoseg.dicomio.geometry import PlaneGeometry

log = logging.getLogger("myoseg.dicom")

SERIES_INDEX = {MapType.T1: 5, MapType.T2: 11}
SERIES_STEP = 100
GYROMAGNETIC_HZ_PER_T = 42.577478e6

# Extra meta written on imported maps (not part of the output contract; informative).
META_SOURCE = "MYOSEG_Source"  # "dicom"
META_DICOM_SERIES_NUMBER = "DICOM_SeriesNumber"
META_DICOM_INSTANCE_NUMBER = "DICOM_InstanceNumber"


_NOT_IMAGE_MODALITIES = {"SEG", "SR", "RTSTRUCT", "PR", "KO", "REG", "DOC"}


class DicomImportError(ValueError):
    """Nothing importable, or a file/series that cannot be turned into a map."""


@dataclass
class DicomFrame:
    """One 2D frame of a DICOM object, with everything needed to make an MRD map image."""

    raw: np.ndarray  # stored pixels (rows, cols)
    slope: float
    intercept: float
    geometry: PlaneGeometry
    series_key: str
    series_number: int
    series_description: str
    texts: list[str]  # strings used to recognise the map type
    quantity: MapType | None  # from a coded RWVM quantity, if any
    units_ms: bool  # the value mapping says ms (or s, converted)
    instance_number: int
    frame_number: int
    window: tuple[float, float] | None  # (centre, width) in ms
    study_uid: str | None = None
    frame_of_reference_uid: str | None = None
    field_strength_t: float | None = None
    manufacturer: str | None = None
    model: str | None = None
    protocol_name: str | None = None
    patient_position: str | None = None
    patient: dict[str, str] = field(default_factory=dict)  # never logged

    @property
    def values_ms(self) -> np.ndarray:
        return (self.raw.astype(np.float64) * self.slope + self.intercept).astype(np.float32)


@dataclass
class MapSeries:
    map_type: MapType
    series_index: int
    frames: list[DicomFrame]
    description: str


# ----------------------------------------------------------------------------------------------- reading


def _iter_files(path: Path) -> Iterable[Path]:
    path = Path(path)
    if path.is_file():
        yield path
        return
    if not path.is_dir():
        raise FileNotFoundError(f"no such file or folder: {path}")
    for p in sorted(path.rglob("*")):
        if p.is_file() and p.name.upper() != "DICOMDIR" and not p.name.startswith("."):
            yield p


def _read_datasets(path: Path) -> list:
    import pydicom
    from pydicom.errors import InvalidDicomError

    datasets = []
    skipped = 0
    for p in _iter_files(path):
        try:
            ds = pydicom.dcmread(p)
        except (InvalidDicomError, OSError, EOFError, ValueError, TypeError, KeyError, AttributeError):
            skipped += 1
            continue
        if "PixelData" not in ds or str(_get(ds, "Modality", "")) in _NOT_IMAGE_MODALITIES \
                or int(_get(ds, "SamplesPerPixel", 1)) != 1:
            skipped += 1  # SEG, SR, RT objects, colour captures: never maps
            continue
        datasets.append(ds)
    log.info("DICOM import: %d greyscale image object(s) under %s (%d other file(s) skipped)",
             len(datasets), path, skipped)
    return datasets


def _get(ds, keyword: str, default=None):
    value = getattr(ds, keyword, None)
    return default if value is None or value == "" else value


def _first(seq_parent, keyword: str):
    seq = getattr(seq_parent, keyword, None)
    if seq is None or len(seq) == 0:
        return None
    return seq[0]


def _group(ds, frame_idx: int, keyword: str):
    """Functional group item for one frame: per-frame first, then shared."""
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None)
    if per_frame is not None and frame_idx < len(per_frame):
        item = _first(per_frame[frame_idx], keyword)
        if item is not None:
            return item
    shared = getattr(ds, "SharedFunctionalGroupsSequence", None)
    if shared is not None and len(shared) > 0:
        return _first(shared[0], keyword)
    return None


def _texts(ds, extra: Iterable[str] = ()) -> list[str]:
    out: list[str] = []
    image_type = _get(ds, "ImageType")
    if image_type is not None:
        out.extend(str(v) for v in (image_type if not isinstance(image_type, str) else [image_type]))
    for kw in ("SeriesDescription", "ImageComments", "ProtocolName", "DerivationDescription",
               "ContentLabel", "SequenceName"):
        v = _get(ds, kw)
        if v is not None:
            out.append(str(v))
    out.extend(extra)
    return out


def _rwvm(ds, frame_idx: int | None):
    """(slope, intercept, quantity, in_ms, texts) from a Real World Value Mapping with time units, or None."""
    items = []
    if frame_idx is not None:
        fg = _group(ds, frame_idx, "RealWorldValueMappingSequence")
        if fg is not None:
            items.append(fg)
    items.extend(getattr(ds, "RealWorldValueMappingSequence", []) or [])
    for item in items:
        units = _first(item, "MeasurementUnitsCodeSequence")
        code = str(getattr(units, "CodeValue", "")) if units is not None else ""
        if code not in ("ms", "s"):
            continue
        factor = 1000.0 if code == "s" else 1.0
        slope = float(_get(item, "RealWorldValueSlope", 1.0)) * factor
        intercept = float(_get(item, "RealWorldValueIntercept", 0.0)) * factor
        quantity = None
        texts = [str(_get(item, kw, "")) for kw in ("LUTLabel", "LUTExplanation")]
        for q in getattr(item, "QuantityDefinitionSequence", []) or []:
            concept = _first(q, "ConceptCodeSequence")
            if concept is None:
                continue
            value = str(getattr(concept, "CodeValue", ""))
            if value == "113063":
                quantity = MapType.T1
            elif value == "113065":
                quantity = MapType.T2
            texts.append(str(getattr(concept, "CodeMeaning", "")))
        return slope, intercept, quantity, True, [t for t in texts if t]
    return None


def _window(ds, frame_idx: int | None, slope: float, intercept: float, rescaled: bool):
    src = _group(ds, frame_idx, "FrameVOILUTSequence") if frame_idx is not None else None
    src = src if src is not None else ds
    c, w = _get(src, "WindowCenter"), _get(src, "WindowWidth")
    if c is None or w is None:
        return None
    c = float(c[0] if not isinstance(c, (int, float)) else c)
    w = float(w[0] if not isinstance(w, (int, float)) else w)
    if not rescaled:  # window given in stored units, values mapped by an RWVM
        c, w = c * slope + intercept, w * abs(slope)
    return (c, w)


def _common(ds) -> dict:
    field_strength = _get(ds, "MagneticFieldStrength")
    patient = {}
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex"):
        v = _get(ds, kw)
        if v is not None:
            patient[kw] = str(v)
    return dict(
        study_uid=_get(ds, "StudyInstanceUID"),
        frame_of_reference_uid=_get(ds, "FrameOfReferenceUID"),
        field_strength_t=float(field_strength) if field_strength is not None else None,
        manufacturer=_get(ds, "Manufacturer"),
        model=_get(ds, "ManufacturerModelName"),
        protocol_name=_get(ds, "ProtocolName"),
        patient_position=_get(ds, "PatientPosition"),
        patient=patient,
    )


def _series_key(ds) -> tuple[str, int, str]:
    uid = str(_get(ds, "SeriesInstanceUID", ""))
    number = int(_get(ds, "SeriesNumber", 0) or 0)
    desc = str(_get(ds, "SeriesDescription", ""))
    return (uid or f"series-{number}-{desc}", number, desc)


def frames_of(ds) -> list[DicomFrame]:
    """All 2D frames of one DICOM object (classic single-frame or enhanced multi-frame)."""
    key, number, desc = _series_key(ds)
    common = _common(ds)
    rows, cols = int(ds.Rows), int(ds.Columns)
    if int(getattr(ds, "SamplesPerPixel", 1)) != 1:
        raise DicomImportError("colour images are not maps")
    pixels = ds.pixel_array
    n_frames = int(_get(ds, "NumberOfFrames", 1) or 1)
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    if n_frames == 1:
        pixels = pixels.reshape(1, rows, cols)
    if pixels.shape != (n_frames, rows, cols):
        raise DicomImportError(f"unexpected pixel array shape {pixels.shape}")
    frames = []
    for i in range(n_frames):
        if enhanced:
            pos = _group(ds, i, "PlanePositionSequence")
            ori = _group(ds, i, "PlaneOrientationSequence")
            meas = _group(ds, i, "PixelMeasuresSequence")
            pvt = _group(ds, i, "PixelValueTransformationSequence")
            ipp = _get(pos, "ImagePositionPatient") if pos is not None else None
            iop = _get(ori, "ImageOrientationPatient") if ori is not None else None
            spacing = _get(meas, "PixelSpacing") if meas is not None else None
            thickness = _get(meas, "SliceThickness") if meas is not None else None
            slope = _get(pvt, "RescaleSlope", 1.0) if pvt is not None else _get(ds, "RescaleSlope", 1.0)
            intercept = _get(pvt, "RescaleIntercept", 0.0) if pvt is not None else _get(ds, "RescaleIntercept", 0.0)
            frame_idx: int | None = i
        else:
            ipp, iop = _get(ds, "ImagePositionPatient"), _get(ds, "ImageOrientationPatient")
            spacing, thickness = _get(ds, "PixelSpacing"), _get(ds, "SliceThickness")
            slope, intercept = _get(ds, "RescaleSlope", 1.0), _get(ds, "RescaleIntercept", 0.0)
            frame_idx = None
        if ipp is None or iop is None or spacing is None:
            raise DicomImportError("no ImagePositionPatient/ImageOrientationPatient/PixelSpacing: not a "
                                   "geometrically defined image")
        geometry = PlaneGeometry.from_dicom(rows, cols, ipp, iop, spacing,
                                            float(thickness) if thickness is not None else 8.0)
        slope, intercept = float(slope), float(intercept)
        rwvm = _rwvm(ds, frame_idx)
        extra: list[str] = []
        quantity = None
        units_ms = False
        rescaled = True
        if rwvm is not None:
            slope, intercept, quantity, units_ms, extra = rwvm
            rescaled = False
        if not (math.isfinite(slope) and math.isfinite(intercept)) or slope == 0:
            raise DicomImportError(f"bad value mapping slope={slope} intercept={intercept}")
        frames.append(DicomFrame(
            raw=np.asarray(pixels[i]),
            slope=slope,
            intercept=intercept,
            geometry=geometry,
            series_key=key,
            series_number=number,
            series_description=desc,
            texts=_texts(ds, extra),
            quantity=quantity,
            units_ms=units_ms,
            instance_number=int(_get(ds, "InstanceNumber", 0) or 0),
            frame_number=i + 1,
            window=_window(ds, frame_idx, slope, intercept, rescaled),
            **common,
        ))
    return frames


# ---------------------------------------------------------------------------------------- map recognition

_T1 = re.compile(r"(?<![A-Z0-9])T1(?![0-9*])|MOLLI|SASHA|SAPPHIRE")
_T2 = re.compile(r"(?<![A-Z0-9])T2(?![0-9*]|\s*\*|STAR|_STAR| STAR)")
_MAP = re.compile(r"MAP|(?<![A-Z])MS(?![A-Z])|QUANT|RELAX")
_NOT_A_MAP = re.compile(r"(?<![A-Z])(SD|STD|STDDEV|ERR|ERROR|RSQ|R2|CHI|FITERR|T2\s*\*|T2STAR|T1W|T2W|"
                        r"WEIGHTED|PD|PSIR|MAG|MAGNITUDE|PHASE|RAW|MOCO_RAW)(?![A-Z])")


def recognise_map_type(texts: Iterable[str], quantity: MapType | None = None,
                       units_ms: bool = False) -> tuple[MapType | None, str]:
    """Map type from DICOM strings. Returns (type or None, reason)."""
    if quantity is not None:
        return quantity, "RWVM quantity code"
    joined = " | ".join(t for t in texts if t).upper().replace("-", "_")
    not_a_map = _NOT_A_MAP.search(joined.replace("_", " "))
    if not_a_map is not None and not units_ms:
        return None, f"looks like a non-map image ({not_a_map.group(0)})"
    is_map = units_ms or bool(_MAP.search(joined))
    t1, t2 = bool(_T1.search(joined)), bool(_T2.search(joined))
    if not is_map:
        return None, "no map indicator (MAP/ms/RWVM) in ImageType, SeriesDescription or ImageComments"
    if t1 and not t2:
        return MapType.T1, "text"
    if t2 and not t1:
        return MapType.T2, "text"
    return None, "ambiguous (T1 and T2)" if t1 and t2 else "no T1/T2 in the texts"


# ------------------------------------------------------------------------------------- series assembly


def collect_map_series(path: Path, map_type: MapType | str | None = None) -> list[MapSeries]:
    """Read DICOM under `path`, group frames by series, keep map series, sort slices."""
    forced = MapType.parse(map_type) if map_type is not None else None
    by_series: dict[str, list[DicomFrame]] = defaultdict(list)
    bad = 0
    for ds in _read_datasets(Path(path)):
        try:
            for frame in frames_of(ds):
                by_series[frame.series_key].append(frame)
        except Exception as exc:  # noqa: BLE001 - one bad object must not stop the import
            bad += 1
            _, number, _ = _series_key(ds)
            # our own messages are safe to log; a library's may quote element values (names, IDs): type only
            why = str(exc) if isinstance(exc, DicomImportError) else f"{type(exc).__name__} while decoding"
            log.warning("DICOM import: series %s instance %s skipped: %s", number,
                        _get(ds, "InstanceNumber", "?"), why)
    result: list[MapSeries] = []
    used: dict[MapType, int] = defaultdict(int)
    for key in sorted(by_series, key=lambda k: (by_series[k][0].series_number, by_series[k][0].series_description, k)):
        frames = by_series[key]
        f0 = frames[0]
        if forced is not None:
            mt, why = forced, "forced"
        else:
            votes = [recognise_map_type(f.texts, f.quantity, f.units_ms) for f in frames]
            types = {v[0] for v in votes}
            first, why = votes[0]
            if len(types) == 1 and first is not None:
                mt = first
            else:
                reasons = sorted({v[1] for v in votes if v[0] is None}) or ["mixed T1/T2 frames"]
                log.info("DICOM import: series %d %r skipped: %s (use --map-type T1|T2 to force)",
                         f0.series_number, f0.series_description, "; ".join(reasons))
                continue
        frames = _sort_frames(frames)
        index = SERIES_INDEX[mt] + SERIES_STEP * used[mt]
        used[mt] += 1
        log.info("DICOM import: series %d %r -> %s map, MRD series %d, %d slice(s) (%s)",
                 f0.series_number, f0.series_description, mt.value, index, len(frames), why)
        result.append(MapSeries(map_type=mt, series_index=index, frames=frames,
                                description=f0.series_description))
    if not result:
        raise DicomImportError(f"no T1/T2 map series found under {path}"
                               + (f" ({bad} unreadable object(s))" if bad else "")
                               + "; pass map_type (--map-type) if the maps are not labelled")
    return result


def _orientation(f: DicomFrame) -> tuple[float, ...]:
    return tuple(round(v, 3) for v in f.geometry.image_orientation_patient)


def _sort_frames(frames: list[DicomFrame]) -> list[DicomFrame]:
    """Group by orientation (the largest group, e.g. the short-axis stack, first; single long-axis views after),
    then order by position along the slice normal, then instance/frame number."""
    sizes: dict[tuple[float, ...], int] = defaultdict(int)
    for f in frames:
        sizes[_orientation(f)] += 1

    def key(f: DicomFrame):
        g = f.geometry
        ori = _orientation(f)
        along = float(np.dot(np.asarray(g.position), np.asarray(g.slice_dir)))
        return (-sizes[ori], ori, round(along, 2), f.instance_number, f.frame_number)

    return sorted(frames, key=key)


def _slice_indices(frames: list[DicomFrame]) -> list[int]:
    out, last, index = [], None, -1
    for f in frames:
        g = f.geometry
        k = (_orientation(f), round(float(np.dot(np.asarray(g.position), np.asarray(g.slice_dir))), 2))
        if k != last:
            index += 1
            last = k
        out.append(index)
    return out


def _storage(frame: DicomFrame, dtype: str) -> tuple[np.ndarray, float]:
    """(stored pixels, scale ratio) with stored = value_ms * ratio."""
    raw = frame.raw
    if dtype in ("auto", "uint16") and np.issubdtype(raw.dtype, np.integer) and frame.intercept == 0 \
            and frame.slope > 0:
        k = 1.0 / frame.slope
        if abs(k - round(k)) < 1e-3 * max(1.0, k) and round(k) >= 1 and raw.min() >= 0 and raw.max() <= 65535:
            return raw.astype(np.uint16), float(round(k))
    values = frame.values_ms
    if dtype == "uint16":
        finite = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        ratio = 10.0 if float(finite.max(initial=0.0)) * 10 <= 65535 else 1.0
        return np.clip(np.rint(finite * ratio), 0, 65535).astype(np.uint16), ratio
    return values.astype(np.float32), 1.0


def _fmt(v: float) -> str:
    return f"{v:g}"


def series_to_images(series: MapSeries, dtype: str = "auto") -> list[ismrmrd.Image]:
    if dtype not in ("auto", "float32", "uint16"):
        raise ValueError(f"dtype must be auto, float32 or uint16, not {dtype!r}")
    images = []
    slices = _slice_indices(series.frames)
    for n, (frame, slice_index) in enumerate(zip(series.frames, slices, strict=True)):
        pixels, ratio = _storage(frame, dtype)
        image = ismrmrd.Image.from_array(pixels)
        image.image_type = ismrmrd.IMTYPE_MAGNITUDE
        frame.geometry.apply_to(image)
        image.image_series_index = series.series_index
        image.image_index = n + 1
        image.slice = slice_index
        mt = series.map_type.value
        image.meta[mk.GT_DATA_ROLE] = mt
        image.meta[mk.GT_SCALE_RATIO] = _fmt(ratio)
        image.meta[mk.GT_IMAGE_COMMENT] = f"{mt} map" if ratio == 1 else f"{mt} x{_fmt(ratio)} ms"
        if series.description:
            image.meta[mk.GT_SERIES_DESCRIPTION] = series.description
            image.meta[mk.SERIES_DESCRIPTION] = series.description
        if frame.window is not None:
            c, w = frame.window
            image.meta[mk.GT_WINDOW_CENTER] = _fmt(round(c * ratio, 3))
            image.meta[mk.GT_WINDOW_WIDTH] = _fmt(round(w * ratio, 3))
        image.meta[META_SOURCE] = "dicom"
        image.meta[META_DICOM_SERIES_NUMBER] = str(frame.series_number)
        image.meta[META_DICOM_INSTANCE_NUMBER] = str(frame.instance_number)
        images.append(image)
    return images


def read_map_series(path: Path, map_type: MapType | str | None = None, dtype: str = "auto") -> list[ismrmrd.Image]:
    """DICOM T1/T2 map series under `path` (file or folder) -> MRD images, series by series, slice order."""
    images: list[ismrmrd.Image] = []
    for series in collect_map_series(path, map_type):
        images.extend(series_to_images(series, dtype))
    return images


def read_map_images(path: Path, map_type: MapType | str | None = None) -> list[MapImage]:
    """The same maps as myoseg.core.types.MapImage (values in ms + Geometry), e.g. to import user data."""
    out = []
    for series in collect_map_series(path, map_type):
        for frame, slice_index, n in zip(series.frames, _slice_indices(series.frames),
                                         range(len(series.frames)), strict=True):
            g = frame.geometry
            out.append(MapImage(
                values_ms=frame.values_ms,
                map_type=series.map_type,
                geometry=Geometry(spacing_mm=g.spacing_mm, slice_thickness_mm=g.thickness_mm,
                                  position=g.position, read_dir=g.read_dir, phase_dir=g.phase_dir,
                                  slice_dir=g.slice_dir),
                scale_ratio=1.0,
                series_index=series.series_index,
                slice_index=slice_index,
                image_index=n + 1,
                field_strength_t=frame.field_strength_t,
            ))
    return out


# ---------------------------------------------------------------------------------------------- header


def mrd_header_for(images: list[ismrmrd.Image], series: list[MapSeries] | None = None,
                   keep_patient: bool = False, field_strength_t: float | None = None,
                   protocol_name: str | None = None) -> str:
    """An ismrmrd.xsd header for a set of map images: field strength, protocol, encoded/recon space of the
    first image, and encodingLimits with the slice range (Gadgetron rejects an empty encodingLimits)."""
    from ismrmrd import xsd

    if not images:
        raise ValueError("no images")
    first_frame = series[0].frames[0] if series else None
    b0 = field_strength_t or (first_frame.field_strength_t if first_frame else None) or 1.5
    nx, ny = int(images[0].matrix_size[0]), int(images[0].matrix_size[1])
    fov = [float(v) for v in images[0].field_of_view]
    n_slices = max(int(im.slice) for im in images) + 1
    header = xsd.ismrmrdHeader(experimentalConditions=xsd.experimentalConditionsType(
        H1resonanceFrequency_Hz=int(round(GYROMAGNETIC_HZ_PER_T * b0))))
    header.version = 1
    position = (first_frame.patient_position if first_frame else None) or "HFS"
    try:
        patient_position = xsd.patientPositionType(position)
    except (ValueError, KeyError):
        patient_position = xsd.patientPositionType("HFS")
    header.measurementInformation = xsd.measurementInformationType(
        patientPosition=patient_position,
        protocolName=protocol_name or (first_frame.protocol_name if first_frame else None) or "myoseg dicom import",
        frameOfReferenceUID=first_frame.frame_of_reference_uid if first_frame else None,
    )
    if first_frame is not None and first_frame.study_uid:
        header.studyInformation = xsd.studyInformationType(studyInstanceUID=str(first_frame.study_uid))
    if keep_patient and first_frame is not None and first_frame.patient:
        p = first_frame.patient
        header.subjectInformation = xsd.subjectInformationType(
            patientName=p.get("PatientName"), patientID=p.get("PatientID"))
    header.acquisitionSystemInformation = xsd.acquisitionSystemInformationType(
        systemVendor=first_frame.manufacturer if first_frame else None,
        systemModel=first_frame.model if first_frame else None,
        systemFieldStrength_T=float(b0),
    )
    space = xsd.encodingSpaceType(matrixSize=xsd.matrixSizeType(x=nx, y=ny, z=1),
                                  fieldOfView_mm=xsd.fieldOfViewMm(x=fov[0], y=fov[1], z=fov[2]))
    limits = xsd.encodingLimitsType(
        kspace_encoding_step_1=xsd.limitType(minimum=0, maximum=ny - 1, center=ny // 2),
        kspace_encoding_step_2=xsd.limitType(minimum=0, maximum=0, center=0),
        slice=xsd.limitType(minimum=0, maximum=n_slices - 1, center=n_slices // 2),
        contrast=xsd.limitType(minimum=0, maximum=0, center=0),
    )
    header.encoding.append(xsd.encodingType(encodedSpace=space, reconSpace=space, encodingLimits=limits,
                                            trajectory=xsd.trajectoryType("cartesian")))
    xml = xsd.ToXML(header)
    return xml.decode("utf-8") if isinstance(xml, bytes) else str(xml)


def import_dicom(path: Path, output: Path, map_type: MapType | str | None = None, dtype: str = "auto",
                 keep_patient: bool = False) -> tuple[int, list[MapSeries]]:
    """`myoseg dicom import`: DICOM folder -> ISMRMRD HDF5 (maps + header). Returns (image count, series)."""
    from myoseg.core.mrdio import write_mrd

    series = collect_map_series(path, map_type)
    images = [im for s in series for im in series_to_images(s, dtype)]
    # one header per file: the first series' geometry; slice limits cover every series
    header = mrd_header_for(images, series, keep_patient=keep_patient)
    count = write_mrd(Path(output), images, header_xml=header)
    log.info("DICOM import: wrote %d map image(s) in %d series to %s", count, len(series), output)
    return count, series

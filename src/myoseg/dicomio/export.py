"""Export a myoseg result (maps + mask series + MYOSEG_* meta) as DICOM for PACS.

    files = export_results(Path("result.h5"), Path("dicom_out/"))
    files = export_images(images, header_xml, Path("dicom_out/"))     # the same from memory (DicomWriter gadget)

Written, per study (one result file or one stream):
- `MR_<series>_<nnn>.dcm`: each map as a classic MR Image (uint16 with RescaleSlope = 1/GADGETRON_ScaleRatio,
  so modality values are ms; ImageType DERIVED/PRIMARY/T1 MAP or T2 MAP; ImageComments = the myoseg result text).
- `SEG_<series>.dcm`: a DICOM Segmentation (highdicom, BINARY) of the mask series of each map series, with the
  segments of the output contract: 1 LV cavity, 2 LV myocardium, 3 RV. It references the MR maps above.
- `SR.dcm`: a Comprehensive 3D SR, TID 1500 Measurement Report, one planar-ROI measurement group per processed
  map, referencing the myocardium segment of its SEG frame: T1 or T2 (DCM 113063 / 113065) mean, median, SD,
  IQR in ms, myocardial area (mm2, = MYOSEG_Pixels x pixel area), septal value (finding site
  interventricular septum) and AHA segment values (finding site = the AHA segment) where present, and the
  myoseg status/quality in the tracking identifier text.
- `SC_<series>_<nnn>.dcm`: overlay images (MYOSEG_Role=overlay, RGB) as Secondary Capture, if present.

UIDs are synthetic (pydicom generate_uid); the StudyInstanceUID and FrameOfReferenceUID of the MRD header are
kept when present (so PACS files the results with the original study). Patient name/ID come from the MRD
header's subjectInformation when present (else "ANONYMOUS"); they are written into the DICOM files only, never
logged.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ismrmrd
import numpy as np

from myoseg import __version__
from myoseg.core import metakeys as mk
from myoseg.core.types import Label, MapType
from myoseg.dicomio.geometry import PlaneGeometry

log = logging.getLogger("myoseg.dicom")
# highdicom logs every copied module at INFO (a dozen lines per SEG/SR): too much for a scanner-side log.
if logging.getLogger("highdicom").level == logging.NOTSET:
    logging.getLogger("highdicom").setLevel(logging.WARNING)

MANUFACTURER = "myoseg"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
SEG_SERIES_OFFSET = 50  # DICOM SeriesNumber of a SEG = map series + this
SR_SERIES_NUMBER = 99
SC_SERIES_OFFSET = 60

SEGMENTS: dict[Label, tuple[str, str]] = {  # label -> (segment label, SCT code attribute name)
    Label.LV_CAVITY: ("LV cavity", "LeftVentricle"),
    Label.MYOCARDIUM: ("LV myocardium", "LeftVentricleMyocardium"),
    Label.RV: ("RV", "RightVentricle"),
}

# AHA 17-segment model without the apex (1..16), SCT code attribute names in pydicom's codes.SCT
AHA_CODES = [
    "LeftVentricleBasalAnteriorSegment", "LeftVentricleBasalAnteroseptalSegment",
    "LeftVentricleBasalInferoseptalSegment", "LeftVentricleBasalInferiorSegment",
    "LeftVentricleBasalInferolateralSegment", "LeftVentricleBasalAnterolateralSegment",
    "LeftVentricleMidAnteriorSegment", "LeftVentricleMidAnteroseptalSegment",
    "LeftVentricleMidInferoseptalSegment", "LeftVentricleMidInferiorSegment",
    "LeftVentricleMidInferolateralSegment", "LeftVentricleMidAnterolateralSegment",
    "LeftVentricleApicalAnteriorSegment", "LeftVentricleApicalSeptalSegment",
    "LeftVentricleApicalInferiorSegment", "LeftVentricleApicalLateralSegment",
]


AHA_SEGMENTS_KEY = getattr(mk, "AHA_SEGMENTS", "MYOSEG_AHA_Segments")  # segment numbers of MYOSEG_AHA_ms


class DicomExportError(ValueError):
    pass


# ------------------------------------------------------------------------------------------------ meta


def meta_str(image: ismrmrd.Image, key: str) -> str | None:
    try:
        value = image.meta[key]
    except KeyError:
        return None
    if isinstance(value, (list, tuple)):
        if not value:
            return None
        value = value[0] if len(value) == 1 else ",".join(str(v) for v in value)
    text = str(value).strip()
    return text or None


def meta_float(image: ismrmrd.Image, key: str) -> float | None:
    text = meta_str(image, key)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def meta_floats(image: ismrmrd.Image, key: str) -> list[float | None]:
    try:
        value = image.meta[key]
    except KeyError:
        return []
    parts = value if isinstance(value, (list, tuple)) else re.split(r"[,\s;\[\]]+", str(value))
    out: list[float | None] = []
    for p in parts:
        p = str(p).strip()
        if not p:
            continue
        try:
            v = float(p)
        except ValueError:
            v = None
        out.append(v if v is not None and math.isfinite(v) else None)
    return out


def map_type_of(image: ismrmrd.Image) -> MapType | None:
    for key in (mk.MAP_TYPE, mk.GT_DATA_ROLE):
        text = meta_str(image, key)
        if text and text.upper() in ("T1", "T2"):
            return MapType(text.upper())
    return None


def role_of(image: ismrmrd.Image) -> str | None:
    return meta_str(image, mk.ROLE)


def scale_ratio(image: ismrmrd.Image) -> float:
    ratio = meta_float(image, mk.GT_SCALE_RATIO)
    return ratio if ratio is not None and ratio > 0 else 1.0


def pixels_2d(image: ismrmrd.Image) -> np.ndarray:
    data = np.asarray(image.data)
    if data.ndim == 4:
        if data.shape[0] != 1 or data.shape[1] != 1:
            raise DicomExportError(f"expected a 2D single-channel image, got data shape {data.shape}")
        return data[0, 0]
    return data.reshape(data.shape[-2], data.shape[-1])


# ------------------------------------------------------------------------------------------------ study


@dataclass
class StudyInfo:
    study_uid: str
    frame_of_reference_uid: str
    patient_name: str = "ANONYMOUS^"
    patient_id: str = "ANONYMOUS"
    field_strength_t: float | None = None
    manufacturer_of_scan: str | None = None
    date: str = ""
    time: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_header(cls, header_xml: str | None) -> StudyInfo:
        from pydicom.uid import generate_uid

        now = _dt.datetime.now()
        info = cls(study_uid=generate_uid(), frame_of_reference_uid=generate_uid(),
                   date=now.strftime("%Y%m%d"), time=now.strftime("%H%M%S"))
        if not header_xml:
            return info
        try:
            from ismrmrd import xsd

            header = xsd.CreateFromDocument(header_xml)
        except Exception as exc:  # noqa: BLE001 - a bad header only loses the study linkage
            log.warning("DICOM export: MRD header not parsable (%s); synthetic study UIDs", type(exc).__name__)
            return info
        study = getattr(header, "studyInformation", None)
        if study is not None and getattr(study, "studyInstanceUID", None):
            info.study_uid = str(study.studyInstanceUID)
        meas = getattr(header, "measurementInformation", None)
        if meas is not None and getattr(meas, "frameOfReferenceUID", None):
            info.frame_of_reference_uid = str(meas.frameOfReferenceUID)
        subject = getattr(header, "subjectInformation", None)
        if subject is not None:
            if getattr(subject, "patientName", None):
                info.patient_name = str(subject.patientName)
            if getattr(subject, "patientID", None):
                info.patient_id = str(subject.patientID)
        system = getattr(header, "acquisitionSystemInformation", None)
        if system is not None:
            if getattr(system, "systemFieldStrength_T", None):
                info.field_strength_t = float(system.systemFieldStrength_T)
            if getattr(system, "systemVendor", None):
                info.manufacturer_of_scan = str(system.systemVendor)
        return info


def _base_dataset(sop_class: Any, study: StudyInfo, series_uid: str, series_number: int, instance: int,
                  modality: str, description: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    sop_uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = study.patient_name
    ds.PatientID = study.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study.study_uid
    ds.StudyDate = study.date
    ds.StudyTime = study.time
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.SeriesDescription = description[:64]
    ds.Modality = modality
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "myoseg"
    ds.SoftwareVersions = __version__
    ds.InstanceNumber = instance
    ds.ContentDate = study.date
    ds.ContentTime = study.time
    return ds


def mr_dataset(image: ismrmrd.Image, study: StudyInfo, series_uid: str, series_number: int, instance: int,
               map_type: MapType):
    """One map as a classic MR Image: uint16 pixels, RescaleSlope = 1/ratio so that values are ms."""
    geometry = PlaneGeometry.from_mrd(image)
    raw = pixels_2d(image)
    ratio = scale_ratio(image)
    if np.issubdtype(raw.dtype, np.integer) and raw.min(initial=0) >= 0 and raw.max(initial=0) <= 65535:
        stored, k = raw.astype(np.uint16), ratio
    else:
        ms = np.nan_to_num(raw.astype(np.float64) / ratio, nan=0.0, posinf=0.0, neginf=0.0)
        k = 10.0 if float(ms.max(initial=0.0)) * 10 <= 65535 else 1.0
        stored = np.clip(np.rint(ms * k), 0, 65535).astype(np.uint16)
    desc = meta_str(image, mk.GT_SERIES_DESCRIPTION) or meta_str(image, mk.SERIES_DESCRIPTION) \
        or f"{map_type.value} map"
    ds = _base_dataset(MR_IMAGE_STORAGE, study, series_uid, series_number, instance, "MR", desc)
    ds.ImageType = ["DERIVED", "PRIMARY", f"{map_type.value} MAP"]
    ds.FrameOfReferenceUID = study.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [round(v, 6) for v in geometry.image_position_patient]
    ds.ImageOrientationPatient = [round(v, 8) for v in geometry.image_orientation_patient]
    ds.PixelSpacing = [round(geometry.spacing_mm[0], 6), round(geometry.spacing_mm[1], 6)]
    ds.SliceThickness = round(geometry.thickness_mm, 6)
    ds.SliceLocation = round(float(np.dot(geometry.position, geometry.slice_dir)), 6)
    ds.ScanningSequence = "RM"
    ds.SequenceVariant = "NONE"
    ds.ScanOptions = ""
    ds.MRAcquisitionType = "2D"
    ds.EchoTime = None
    ds.RepetitionTime = None
    ds.EchoTrainLength = None
    if study.field_strength_t:
        ds.MagneticFieldStrength = study.field_strength_t
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(stored.shape[0]), int(stored.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = f"{1.0 / k:.10g}"
    ds.RescaleIntercept = "0"
    ds.RescaleType = "MS"
    centre, width = meta_float(image, mk.GT_WINDOW_CENTER), meta_float(image, mk.GT_WINDOW_WIDTH)
    if centre is not None and width is not None and width > 0:
        ds.WindowCenter = f"{centre / ratio:.6g}"
        ds.WindowWidth = f"{width / ratio:.6g}"
    comment = meta_str(image, mk.IMAGE_COMMENTS) or meta_str(image, mk.SEQUENCE_DESCRIPTION_ADDITIONAL)
    ds.ImageComments = (comment or f"{map_type.value} map")[:10240]
    ds.PixelData = np.ascontiguousarray(stored).tobytes()
    return ds


def sc_dataset(image: ismrmrd.Image, study: StudyInfo, series_uid: str, series_number: int, instance: int):
    """An RGB overlay (MRD channels = 3) as a Secondary Capture image."""
    data = np.asarray(image.data)
    if data.ndim != 4 or data.shape[0] != 3:
        raise DicomExportError(f"overlay is not a 3-channel RGB image (shape {data.shape})")
    rgb = np.moveaxis(data[:, 0], 0, -1).astype(np.float64)
    top = float(rgb.max(initial=0.0))
    if top > 255:
        rgb = rgb * (255.0 / top)
    rgb8 = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    geometry = PlaneGeometry.from_mrd(image)
    ds = _base_dataset(SC_IMAGE_STORAGE, study, series_uid, series_number, instance, "OT", "myoseg overlay")
    ds.ConversionType = "WSD"
    ds.ImageType = ["DERIVED", "SECONDARY", "OVERLAY"]
    ds.PixelSpacing = [round(geometry.spacing_mm[0], 6), round(geometry.spacing_mm[1], 6)]
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = int(rgb8.shape[0]), int(rgb8.shape[1])
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    comment = meta_str(image, mk.IMAGE_COMMENTS)
    if comment:
        ds.ImageComments = comment[:10240]
    ds.PixelData = np.ascontiguousarray(rgb8).tobytes()
    return ds


# ----------------------------------------------------------------------------------------------- export


@dataclass
class _MapEntry:
    image: ismrmrd.Image
    map_type: MapType
    dataset: Any = None  # pydicom Dataset once written
    mask: np.ndarray | None = None
    seg: Any = None  # the SEG holding this map's mask, once written


def _key(image: ismrmrd.Image) -> tuple[int, int, int]:
    return (int(image.image_series_index), int(image.slice), int(image.image_index))


def export_images(images: list[ismrmrd.Image], header_xml: str | None, out_dir: Path,
                  write_sr: bool = True, write_overlays: bool = True) -> list[Path]:
    """Write the DICOM of one study (see module docstring). Returns the files written."""
    with warnings.catch_warnings():
        # highdicom warns about "unusual" person names and quotes the name: that would put it in the log
        warnings.filterwarnings("ignore", message=".*person name.*")
        return _export_images(images, header_xml, out_dir, write_sr, write_overlays)


def _export_images(images: list[ismrmrd.Image], header_xml: str | None, out_dir: Path,
                   write_sr: bool, write_overlays: bool) -> list[Path]:
    import highdicom as hd
    from pydicom.uid import generate_uid

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    study = StudyInfo.from_header(header_xml)

    maps: dict[int, list[_MapEntry]] = defaultdict(list)
    masks: dict[tuple[int, int, int], np.ndarray] = {}
    overlays: list[ismrmrd.Image] = []
    other = 0
    for image in images:
        role = role_of(image)
        if role == mk.ROLE_MASK:
            source = meta_float(image, mk.SOURCE_SERIES)
            series = int(source) if source is not None else int(image.image_series_index)
            masks[(series, int(image.slice), int(image.image_index))] = pixels_2d(image)
        elif role == mk.ROLE_OVERLAY:
            overlays.append(image)
        elif (mt := map_type_of(image)) is not None and int(image.channels) == 1:
            maps[int(image.image_series_index)].append(_MapEntry(image=image, map_type=mt))
        else:
            other += 1
    if not maps:
        raise DicomExportError("no T1/T2 maps in the input (GADGETRON_DataRole or MYOSEG_MapType T1/T2)")

    written: list[Path] = []
    segs: list[Any] = []
    for series_index in sorted(maps):
        entries = sorted(maps[series_index], key=lambda e: (int(e.image.slice), int(e.image.image_index)))
        series_uid = generate_uid()
        for n, entry in enumerate(entries, start=1):
            entry.dataset = mr_dataset(entry.image, study, series_uid, series_index, n, entry.map_type)
            path = out_dir / f"MR_{series_index:04d}_{n:03d}.dcm"
            entry.dataset.save_as(path, enforce_file_format=True)
            written.append(path)
            entry.mask = masks.get(_key(entry.image))
        # a SEG needs one orientation: a series with short-axis slices and a 4-chamber view gets one per plane
        planes: dict[tuple[float, ...], list[_MapEntry]] = defaultdict(list)
        for e in entries:
            if e.mask is not None:
                planes[tuple(round(float(v), 3) for v in e.dataset.ImageOrientationPatient)].append(e)
        for n, group in enumerate(planes.values(), start=1):
            try:
                seg = _segmentation(hd, group, series_index, generate_uid)
            except Exception as exc:  # noqa: BLE001 - a SEG that cannot be made must not cost the other files
                log.warning("DICOM export: no SEG for series %d (%d image(s)): %s: %s", series_index, len(group),
                            type(exc).__name__, exc)
                continue
            path = out_dir / (f"SEG_{series_index:04d}.dcm" if n == 1 else f"SEG_{series_index:04d}_{n}.dcm")
            seg.save_as(path)
            written.append(path)
            segs.append(seg)
            for e in group:
                e.seg = seg
    if write_overlays and overlays:
        by_series: dict[int, list[ismrmrd.Image]] = defaultdict(list)
        for image in overlays:
            by_series[int(image.image_series_index)].append(image)
        for series_index, series_overlays in sorted(by_series.items()):
            uid = generate_uid()
            ordered = sorted(series_overlays, key=lambda i: (int(i.slice), int(i.image_index)))
            for n, image in enumerate(ordered, start=1):
                try:
                    ds = sc_dataset(image, study, uid, series_index + SC_SERIES_OFFSET, n)
                except DicomExportError as exc:
                    log.warning("DICOM export: overlay series %d image %d skipped: %s", series_index, n, exc)
                    continue
                path = out_dir / f"SC_{series_index:04d}_{n:03d}.dcm"
                ds.save_as(path, enforce_file_format=True)
                written.append(path)
    if write_sr:
        sr = _structured_report(hd, maps, segs, study, generate_uid)
        if sr is not None:
            path = out_dir / "SR.dcm"
            sr.save_as(path)
            written.append(path)
    n_maps = sum(len(v) for v in maps.values())
    log.info("DICOM export: %d map(s) in %d series, %d SEG, %d overlay(s), SR %s -> %s (%d other image(s) "
             "ignored)", n_maps, len(maps), len(segs), sum(p.name.startswith("SC_") for p in written),
             "yes" if any(p.name == "SR.dcm" for p in written) else "no", out_dir, other)
    return written


def _segmentation(hd, entries: list[_MapEntry], series_index: int, generate_uid):
    from pydicom.sr.codedict import codes

    labels = np.stack([e.mask for e in entries if e.mask is not None]).astype(np.uint8)
    descriptions = []
    algorithm = hd.AlgorithmIdentificationSequence(
        name="myoseg", version=__version__, family=codes.cid7162.ArtificialIntelligence)
    for label, (text, code_name) in SEGMENTS.items():
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=int(label),
            segment_label=text,
            segmented_property_category=codes.SCT.AnatomicalStructure,
            segmented_property_type=getattr(codes.SCT, code_name),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm,
        ))
    labels[labels > max(int(label) for label in SEGMENTS)] = 0
    return hd.seg.Segmentation(
        source_images=[e.dataset for e in entries],
        pixel_array=labels,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions,
        series_instance_uid=generate_uid(),
        series_number=series_index + SEG_SERIES_OFFSET,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name="myoseg",
        software_versions=__version__,
        device_serial_number="0",
        series_description=f"myoseg SEG {entries[0].map_type.value}",
        omit_empty_frames=True,
    )


def _seg_frame(seg, source_sop_uid: str, segment_number: int) -> int | None:
    for n, frame in enumerate(seg.PerFrameFunctionalGroupsSequence, start=1):
        seg_id = frame.SegmentIdentificationSequence[0].ReferencedSegmentNumber
        refs = [s.ReferencedSOPInstanceUID for d in frame.DerivationImageSequence for s in d.SourceImageSequence]
        if int(seg_id) == segment_number and source_sop_uid in refs:
            return n
    return None


def _structured_report(hd, maps: dict[int, list[_MapEntry]], segs: list[Any], study: StudyInfo,
                       generate_uid):
    from pydicom.sr.codedict import codes

    ms = codes.UCUM.Millisecond
    groups = []
    evidence = []
    for series_index in sorted(maps):
        for entry in maps[series_index]:
            evidence.append(entry.dataset)
            image = entry.image
            mean = meta_float(image, mk.MEAN_MS)
            if mean is None:
                continue
            quantity = codes.DCM.T1 if entry.map_type is MapType.T1 else codes.DCM.T2
            measurements = [hd.sr.Measurement(name=quantity, value=mean, unit=ms, derivation=codes.SCT.Mean)]
            for key, derivation in ((mk.MEDIAN_MS, codes.DCM.Median), (mk.SD_MS, codes.DCM.StandardDeviation),
                                    (mk.IQR_MS, codes.DCM.InterquartileRangeOfPopulation)):
                value = meta_float(image, key)
                if value is not None:
                    measurements.append(hd.sr.Measurement(name=quantity, value=value, unit=ms,
                                                          derivation=derivation))
            pixels = meta_float(image, mk.PIXELS)
            if pixels is not None:
                g = PlaneGeometry.from_mrd(image)
                measurements.append(hd.sr.Measurement(
                    name=codes.SCT.Area, value=round(pixels * g.spacing_mm[0] * g.spacing_mm[1], 3),
                    unit=codes.UCUM.SquareMillimeter))
            septal = meta_float(image, mk.SEPTAL_MS)
            if septal is not None:
                measurements.append(hd.sr.Measurement(
                    name=quantity, value=septal, unit=ms, derivation=codes.SCT.Mean,
                    finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.InterventricularSeptum)]))
            for segment, value in _aha_values(image):
                measurements.append(hd.sr.Measurement(
                    name=quantity, value=value, unit=ms, derivation=codes.SCT.Mean,
                    finding_sites=[hd.sr.FindingSite(anatomic_location=getattr(codes.SCT, AHA_CODES[segment - 1]))]))
            status = meta_str(image, mk.STATUS) or "ok"
            quality = meta_float(image, mk.QUALITY)
            text = f"{entry.map_type.value} myocardium slice {int(image.slice)} image {int(image.image_index)}" \
                   f" status {status}" + (f" quality {quality:.2f}" if quality is not None else "")
            tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=text[:64])
            seg = entry.seg
            frame = _seg_frame(seg, entry.dataset.SOPInstanceUID, int(Label.MYOCARDIUM)) if seg is not None else None
            if frame is not None:
                group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    referenced_segment=hd.sr.ReferencedSegmentationFrame.from_segmentation(
                        seg, frame_number=frame),
                    finding_type=codes.SCT.LeftVentricleMyocardium,
                    finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.LeftVentricleMyocardium)],
                    measurements=measurements,
                )
            else:
                group = hd.sr.MeasurementsAndQualitativeEvaluations(
                    tracking_identifier=tracking,
                    finding_type=codes.SCT.LeftVentricleMyocardium,
                    finding_sites=[hd.sr.FindingSite(anatomic_location=codes.SCT.LeftVentricleMyocardium)],
                    measurements=measurements,
                    source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(entry.dataset)],
                )
            groups.append(group)
    if not groups:
        log.info("DICOM export: no MYOSEG_Mean_ms values in the input; no SR written")
        return None
    evidence.extend(segs)
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="myoseg", manufacturer_name=MANUFACTURER, model_name="myoseg"))
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.SCT.MagneticResonanceImagingOfHeart,
        imaging_measurements=groups,
    )
    return hd.sr.Comprehensive3DSR(
        evidence=evidence,
        content=report,
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description="myoseg T1/T2 report",
    )


def _aha_values(image: ismrmrd.Image) -> list[tuple[int, float]]:
    """(AHA segment 1..16, value) from MYOSEG_AHA_ms, numbered by MYOSEG_AHA_Segments when present; else
    16 values (segments 1..16), or 6 / 4 values for the slice's level (MYOSEG_View basal/mid -> 1-6 / 7-12,
    apical -> 13-16). NaN/empty entries are skipped."""
    values = meta_floats(image, mk.AHA_MS)
    if not values:
        return []
    numbers = meta_floats(image, AHA_SEGMENTS_KEY)
    if numbers and len(numbers) == len(values) and all(n is not None and 1 <= n <= 16 for n in numbers):
        return [(int(n), v) for n, v in zip(numbers, values, strict=True) if n is not None and v is not None]
    view = (meta_str(image, mk.VIEW) or "").lower()
    if len(values) == 16:
        first = 1
    elif len(values) == 6 and view in ("basal", "mid"):
        first = 1 if view == "basal" else 7
    elif len(values) == 4 and view == "apical":
        first = 13
    else:
        log.debug("DICOM export: MYOSEG_AHA_ms with %d values for view %r not mapped", len(values), view)
        return []
    return [(first + i, v) for i, v in enumerate(values) if v is not None]


def export_results(result: Path, out_dir: Path, write_sr: bool = True, write_overlays: bool = True) -> list[Path]:
    """`myoseg dicom export RESULT.h5 -o DIR`."""
    from myoseg.core.mrdio import read_mrd

    contents = read_mrd(Path(result))
    return export_images(contents.images, contents.header_xml, out_dir, write_sr=write_sr,
                         write_overlays=write_overlays)

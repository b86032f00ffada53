"""DICOM export of simulated maps (classic MR Image Storage, one file per map, one series per map type).

Values: uint16 pixels with RescaleSlope/Intercept giving ms (T1: slope 1, T2: slope 0.1). Geometry follows
the MRD image: ImageOrientationPatient = read_dir (along a row, i.e. increasing column) + phase_dir,
ImagePositionPatient = centre of the first transmitted pixel, PixelSpacing = [row spacing, column spacing].
UIDs are derived from the subject seed, so exports are reproducible.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from myoseg.core.types import MapType
from myoseg.sim.mrd import SERIES, VIEW_ORDER, WINDOW
from myoseg.sim.subject import SimMap, SimSubject

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SLOPE = {MapType.T1: 1.0, MapType.T2: 0.1}


def first_pixel_position(sim_map: SimMap) -> np.ndarray:
    p = sim_map.plane
    return (
        np.asarray(p.centre)
        - (p.cols - 1) / 2.0 * p.spacing_mm * np.asarray(p.read_dir)
        - (p.rows - 1) / 2.0 * p.spacing_mm * np.asarray(p.phase_dir)
    )


def map_dataset(sim_map: SimMap, sub: SimSubject):
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    def uid(*parts: object) -> UID:
        return generate_uid(entropy_srcs=["myoseg-sim", sub.subject, str(sub.seed), *map(str, parts)])

    mt = sim_map.map_type
    p = sim_map.plane
    slope = SLOPE[mt]
    pixels = np.clip(np.round(sim_map.map_ms / slope), 0, 65535).astype(np.uint16)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(MR_IMAGE_STORAGE)
    meta.MediaStorageSOPInstanceUID = uid(mt.value, sim_map.view.value)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid("study")
    ds.SeriesInstanceUID = uid("series", mt.value)
    ds.FrameOfReferenceUID = uid("frame")
    ds.Modality = "MR"
    # type 2 patient / study / equipment attributes (empty is valid) and the MR image module's type 1/2 ones
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = "20260101"
    ds.StudyTime = "120000"
    ds.SeriesDate = ds.StudyDate
    ds.ContentDate = ds.StudyDate
    ds.ContentTime = ds.StudyTime
    ds.ReferringPhysicianName = ""
    ds.AccessionNumber = ""
    ds.PositionReferenceIndicator = ""
    ds.ScanningSequence = "GR"
    ds.SequenceVariant = "SS"
    ds.ScanOptions = "" if mt is MapType.T2 else "IR"
    ds.MRAcquisitionType = "2D"
    ro = sub.molli.readout if mt is MapType.T1 else sub.t2prep.readout
    ds.RepetitionTime = f"{ro.tr_ms:.2f}"
    ds.EchoTime = f"{ro.tr_ms / 2:.2f}"
    ds.EchoTrainLength = 1
    ds.FlipAngle = f"{ro.flip_deg:.1f}"
    ds.ProtocolName = sub.molli.name if mt is MapType.T1 else "T2-prep bSSFP 0/25/55 ms"
    ds.Manufacturer = "myoseg-sim"
    ds.PatientName = sub.subject
    ds.PatientID = sub.subject
    ds.StudyID = "1"
    ds.SeriesNumber = SERIES[mt]
    ds.InstanceNumber = VIEW_ORDER[sim_map.view] + 1
    ds.SeriesDescription = f"{mt.value}MAP_{'MOLLI' if mt is MapType.T1 else 'T2PREP'}"
    ds.ImageComments = f"{mt.value} map {sim_map.view.value}"
    ds.ImageType = ["DERIVED", "PRIMARY", f"{mt.value} MAP"]
    ds.MagneticFieldStrength = sub.field_strength_t
    ds.SliceThickness = p.thickness_mm
    ds.PixelSpacing = [p.spacing_mm, p.spacing_mm]
    ds.ImagePositionPatient = [float(x) for x in first_pixel_position(sim_map)]
    ds.ImageOrientationPatient = [float(x) for x in (*p.read_dir, *p.phase_dir)]
    ds.SliceLocation = float(np.dot(p.centre, p.slice_dir))
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = "0"
    ds.RescaleType = "ms"
    centre, width = WINDOW[mt]
    ds.WindowCenter = f"{centre:g}"
    ds.WindowWidth = f"{width:g}"
    ds.PixelData = pixels.tobytes()
    return ds


def write_subject_dicom(sub: SimSubject, folder: Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in sub.maps:
        ds = map_dataset(m, sub)
        path = folder / f"{m.map_type.value}_{VIEW_ORDER[m.view] + 1:02d}_{m.view.value}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths

"""DICOM import (maps -> MRD), export (MR + SEG + SR + SC) and the DicomWriter gadget, on small fixtures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
hd = pytest.importorskip("highdicom")

import ismrmrd  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.sequence import Sequence  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from myoseg.core import metakeys as mk  # noqa: E402
from myoseg.core.mrdio import read_mrd, write_mrd  # noqa: E402
from myoseg.core.types import MapType  # noqa: E402
from myoseg.dicomio.export import export_results  # noqa: E402
from myoseg.dicomio.reader import (  # noqa: E402
    DicomImportError,
    import_dicom,
    read_map_images,
    read_map_series,
    recognise_map_type,
)

PATIENT = "Zebedee^Quux"
PATIENT_ID = "PID-778899"
IOP = [0.8, 0.6, 0.0, 0.0, 0.0, -1.0]  # oblique: row dir in the x-y plane, column dir = -z
SPACING = (1.5, 1.25)  # (row spacing, column spacing)
ROWS, COLS = 40, 48
IPP0 = np.array([10.0, -20.0, 30.0])


def _normal() -> np.ndarray:
    return np.cross(IOP[:3], IOP[3:])


def _raw(i: int) -> np.ndarray:
    yy, xx = np.mgrid[:ROWS, :COLS]
    return (500 + 10 * yy + xx + 100 * i).astype(np.uint16)


def _file_meta(sop_class: str, uid: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _common(ds: Dataset, series_uid: str, description: str, image_type: list[str]) -> None:
    ds.PatientName = PATIENT
    ds.PatientID = PATIENT_ID
    ds.StudyInstanceUID = "1.2.3.4.5.6"
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = "1.2.3.4.5.7"
    ds.Modality = "MR"
    ds.SeriesNumber = 7
    ds.SeriesDescription = description
    ds.ImageType = image_type
    ds.MagneticFieldStrength = 3.0
    ds.Rows, ds.Columns = ROWS, COLS
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0


def write_classic_series(folder: Path, description: str = "MOLLI_T1MAP", image_type=("DERIVED", "PRIMARY", "T1 MAP"),
                         n: int = 3, slope: float = 1.0, intercept: float = 0.0) -> list[Dataset]:
    """n classic MR images, written in reverse slice order (instance n..1), slices 8 mm apart along the normal."""
    folder.mkdir(parents=True, exist_ok=True)
    series_uid = generate_uid()
    out = []
    for i in range(n):
        uid = generate_uid()
        ds = Dataset()
        ds.file_meta = _file_meta("1.2.840.10008.5.1.4.1.1.4", uid)
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.4", uid
        _common(ds, series_uid, description, list(image_type))
        ds.InstanceNumber = n - i
        ds.PixelSpacing = list(SPACING)
        ds.SliceThickness = 8.0
        ds.ImageOrientationPatient = IOP
        ds.ImagePositionPatient = list(IPP0 + _normal() * 8.0 * i)
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
        ds.WindowCenter, ds.WindowWidth = 1000, 800
        ds.PixelData = _raw(i).tobytes()
        ds.save_as(folder / f"IM{n - i:04d}", enforce_file_format=True)
        out.append(ds)
    return out


def write_enhanced_t2(folder: Path, n: int = 2) -> Dataset:
    """One Enhanced MR object: n frames, a Real World Value Mapping in ms coded as T2 (DCM 113065)."""
    folder.mkdir(parents=True, exist_ok=True)
    uid = generate_uid()
    sop = "1.2.840.10008.5.1.4.1.1.4.1"
    ds = Dataset()
    ds.file_meta = _file_meta(sop, uid)
    ds.SOPClassUID, ds.SOPInstanceUID = sop, uid
    _common(ds, generate_uid(), "quant", ["DERIVED", "PRIMARY", "QUANT", "NONE"])
    ds.InstanceNumber = 1
    ds.NumberOfFrames = n
    measures = Dataset()
    measures.PixelSpacing = list(SPACING)
    measures.SliceThickness = 6.0
    orientation = Dataset()
    orientation.ImageOrientationPatient = IOP
    mapping = Dataset()
    mapping.RealWorldValueSlope = 0.1
    mapping.RealWorldValueIntercept = 0.0
    mapping.LUTLabel = "T2"
    units = Dataset()
    units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = "ms", "UCUM", "millisecond"
    mapping.MeasurementUnitsCodeSequence = Sequence([units])
    concept = Dataset()
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = "113065", "DCM", "T2"
    quantity = Dataset()
    quantity.ConceptCodeSequence = Sequence([concept])
    mapping.QuantityDefinitionSequence = Sequence([quantity])
    shared = Dataset()
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.RealWorldValueMappingSequence = Sequence([mapping])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for i in range(n):
        position = Dataset()
        position.ImagePositionPatient = list(IPP0 + _normal() * 6.0 * i)
        item = Dataset()
        item.PlanePositionSequence = Sequence([position])
        frames.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = np.stack([_raw(i) for i in range(n)]).tobytes()
    ds.save_as(folder / "ENH0001", enforce_file_format=True)
    return ds


def _expected_centre(i: int, step: float = 8.0) -> np.ndarray:
    dy, dx = SPACING
    ipp = IPP0 + _normal() * step * i
    return ipp + (COLS - 1) / 2 * dx * np.array(IOP[:3]) + (ROWS - 1) / 2 * dy * np.array(IOP[3:])


# ------------------------------------------------------------------------------------------------ import


def test_classic_import_keeps_values_geometry_and_order(tmp_path: Path) -> None:
    write_classic_series(tmp_path / "t1", slope=1.0)
    images = read_map_series(tmp_path / "t1")
    assert [im.slice for im in images] == [0, 1, 2] and [im.image_index for im in images] == [1, 2, 3]
    for i, im in enumerate(images):
        assert im.image_series_index == 5 and im.meta[mk.GT_DATA_ROLE] == "T1"
        assert im.data.dtype == np.uint16 and float(im.meta[mk.GT_SCALE_RATIO]) == 1.0
        np.testing.assert_array_equal(im.data[0, 0], _raw(i))
        assert list(im.matrix_size) == [COLS, ROWS, 1]
        np.testing.assert_allclose(list(im.field_of_view), [COLS * SPACING[1], ROWS * SPACING[0], 8.0])
        np.testing.assert_allclose(list(im.read_dir), IOP[:3], atol=1e-6)
        np.testing.assert_allclose(list(im.phase_dir), IOP[3:], atol=1e-6)
        np.testing.assert_allclose(list(im.slice_dir), _normal(), atol=1e-6)
        np.testing.assert_allclose(list(im.position), _expected_centre(i), atol=1e-4)
        assert float(im.meta[mk.GT_WINDOW_CENTER]) == 1000


def test_rescale_slope_becomes_scale_ratio_or_float_ms(tmp_path: Path) -> None:
    write_classic_series(tmp_path / "x10", description="T2 map", image_type=("DERIVED", "PRIMARY", "T2 MAP"),
                         slope=0.1)
    (im, *_) = read_map_series(tmp_path / "x10")
    assert im.image_series_index == 11 and im.meta[mk.GT_DATA_ROLE] == "T2"
    ratio = float(im.meta[mk.GT_SCALE_RATIO])
    assert ratio == 10 and im.data.dtype == np.uint16
    np.testing.assert_allclose(im.data[0, 0] / ratio, _raw(0) * 0.1)  # ms after undoing the ratio

    write_classic_series(tmp_path / "odd", slope=0.5, intercept=20.0)
    (im, *_) = read_map_series(tmp_path / "odd")
    assert im.data.dtype == np.float32 and float(im.meta[mk.GT_SCALE_RATIO]) == 1.0
    np.testing.assert_allclose(im.data[0, 0], _raw(0) * 0.5 + 20.0, rtol=1e-6)

    (as_float, *_) = read_map_series(tmp_path / "x10", dtype="float32")
    np.testing.assert_allclose(as_float.data[0, 0], _raw(0) * 0.1, rtol=1e-5)


def test_enhanced_mr_with_real_world_value_mapping(tmp_path: Path) -> None:
    write_enhanced_t2(tmp_path / "enh", n=2)
    images = read_map_series(tmp_path / "enh")
    assert len(images) == 2
    for i, im in enumerate(images):
        assert im.meta[mk.GT_DATA_ROLE] == "T2" and float(im.meta[mk.GT_SCALE_RATIO]) == 10
        np.testing.assert_allclose(im.data[0, 0] / 10.0, _raw(i) * 0.1)
        np.testing.assert_allclose(list(im.position), _expected_centre(i, step=6.0), atol=1e-4)
        assert im.field_of_view[2] == pytest.approx(6.0)
    maps = read_map_images(tmp_path / "enh")
    assert maps[0].map_type is MapType.T2 and maps[0].geometry.spacing_mm == SPACING
    np.testing.assert_allclose(maps[1].values_ms, _raw(1) * 0.1, rtol=1e-6)


def test_map_type_recognition_and_skipping(tmp_path: Path) -> None:
    assert recognise_map_type(["DERIVED", "PRIMARY", "T1 MAP", "MOLLI_T1MAP"])[0] is MapType.T1
    assert recognise_map_type(["T2map_FLASH"])[0] is MapType.T2
    assert recognise_map_type(["GT T2 x10 ms"])[0] is MapType.T2
    assert recognise_map_type(["ShMOLLI map"])[0] is MapType.T1
    assert recognise_map_type(["T2* map"])[0] is None
    assert recognise_map_type(["T1_MAP_SD"])[0] is None
    assert recognise_map_type(["T1w TSE"])[0] is None
    assert recognise_map_type(["cine"])[0] is None
    write_classic_series(tmp_path / "cine", description="cine_retro", image_type=("ORIGINAL", "PRIMARY", "M"))
    with pytest.raises(DicomImportError, match="no T1/T2 map"):
        read_map_series(tmp_path / "cine")
    forced = read_map_series(tmp_path / "cine", map_type="t1")
    assert len(forced) == 3 and forced[0].meta[mk.GT_DATA_ROLE] == "T1"


def test_import_file_has_valid_header_without_patient(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from ismrmrd import xsd

    write_classic_series(tmp_path / "dcm" / "t1")
    write_enhanced_t2(tmp_path / "dcm" / "t2")
    (tmp_path / "dcm" / "notes.txt").write_text("not dicom")
    caplog.set_level(logging.DEBUG)
    count, series = import_dicom(tmp_path / "dcm", tmp_path / "maps.h5")
    assert count == 5 and sorted(s.map_type.value for s in series) == ["T1", "T2"]
    contents = read_mrd(tmp_path / "maps.h5")
    assert len(contents.images) == 5 and {im.image_series_index for im in contents.images} == {5, 11}
    header = xsd.CreateFromDocument(contents.header_xml)
    limits = header.encoding[0].encodingLimits
    assert limits.slice is not None and limits.slice.maximum == 2
    assert header.acquisitionSystemInformation.systemFieldStrength_T == pytest.approx(3.0)
    assert header.subjectInformation is None
    assert PATIENT not in contents.header_xml and PATIENT_ID not in contents.header_xml
    assert "Zebedee" not in caplog.text and PATIENT_ID not in caplog.text
    assert "series 7" in caplog.text  # the log names series, not people


# ------------------------------------------------------------------------------------------------ export


def _ring_labels(rows: int, cols: int, shift: int = 0) -> np.ndarray:
    yy, xx = np.mgrid[:rows, :cols]
    r = np.hypot(yy - rows / 2, xx - cols / 2 - shift)
    labels = np.zeros((rows, cols), np.uint16)
    labels[r < 6] = 1
    labels[(r >= 6) & (r < 10)] = 2
    labels[(r >= 11) & (r < 15) & (xx < cols / 2)] = 3
    return labels


def _copy_geometry(dst: ismrmrd.Image, src: ismrmrd.Image) -> None:
    dst.slice, dst.image_index = src.slice, src.image_index
    for name in ("field_of_view", "position", "read_dir", "phase_dir", "slice_dir"):
        getattr(dst, name)[:] = getattr(src, name)


def make_result(maps: list[ismrmrd.Image]) -> list[ismrmrd.Image]:
    """What a replay through segment/quantify/emit returns: maps with MYOSEG_* meta, masks, overlays."""
    out = []
    for n, im in enumerate(maps):
        rows, cols = im.data.shape[-2:]
        labels = _ring_labels(rows, cols, shift=n)
        ms = im.data[0, 0].astype(np.float64) / float(im.meta[mk.GT_SCALE_RATIO])
        myo = ms[labels == 2]
        im.meta[mk.MAP_TYPE] = im.meta[mk.GT_DATA_ROLE]
        im.meta[mk.VIEW] = "mid"
        im.meta[mk.MEAN_MS] = f"{myo.mean():.2f}"
        im.meta[mk.MEDIAN_MS] = f"{np.median(myo):.2f}"
        im.meta[mk.SD_MS] = f"{myo.std():.2f}"
        q1, q3 = np.percentile(myo, [25, 75])
        im.meta[mk.IQR_MS] = f"{q3 - q1:.2f}"
        im.meta[mk.PIXELS] = str(int(myo.size))
        im.meta[mk.SEPTAL_MS] = "987.5"
        im.meta[mk.AHA_MS] = ["1001", "1002", "nan", "1004", "1005", "1006"]
        if n == 0:  # as gadgets/quantify.py writes it: values numbered by MYOSEG_AHA_Segments
            im.meta["MYOSEG_AHA_Segments"] = ["1", "2", "3", "4", "5", "6"]  # (basal, whatever the view says)
        im.meta[mk.QUALITY] = "0.91"
        im.meta[mk.STATUS] = "ok"
        im.meta[mk.IMAGE_COMMENTS] = f"T1 myo {myo.mean():.0f} ms | sept 988 | Q ok"
        out.append(im)
        mask = ismrmrd.Image.from_array(labels)
        _copy_geometry(mask, im)
        mask.image_series_index = im.image_series_index + 1000
        mask.meta[mk.ROLE] = mk.ROLE_MASK
        mask.meta[mk.SOURCE_SERIES] = str(im.image_series_index)
        out.append(mask)
        rgb = np.zeros((3, 1, rows, cols), np.uint16)
        rgb[0, 0][labels == 2] = 255
        overlay = ismrmrd.Image.from_array(rgb)
        _copy_geometry(overlay, im)
        overlay.image_series_index = im.image_series_index + 2000
        overlay.meta[mk.ROLE] = mk.ROLE_OVERLAY
        overlay.meta[mk.SOURCE_SERIES] = str(im.image_series_index)
        out.append(overlay)
    return out


@pytest.fixture()
def result_file(tmp_path: Path) -> Path:
    from ismrmrd import xsd

    write_classic_series(tmp_path / "dcm", n=3)
    count, _ = import_dicom(tmp_path / "dcm", tmp_path / "maps.h5", keep_patient=True)
    contents = read_mrd(tmp_path / "maps.h5")
    header = xsd.CreateFromDocument(contents.header_xml)
    assert header.subjectInformation.patientName == PATIENT  # kept on request, for PACS
    write_mrd(tmp_path / "result.h5", make_result(contents.images), header_xml=contents.header_xml)
    return tmp_path / "result.h5"


def test_export_seg_sr_and_maps(result_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                capsys: pytest.CaptureFixture[str], recwarn: pytest.WarningsRecorder) -> None:
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    files = export_results(result_file, out)
    names = sorted(f.name for f in files)
    assert names.count("SEG_0005.dcm") == 1 and "SR.dcm" in names
    assert len([n for n in names if n.startswith("MR_")]) == 3
    assert len([n for n in names if n.startswith("SC_")]) == 3

    # maps: values in ms and geometry survive MRD -> DICOM -> MRD
    source = {(int(im.slice)): im for im in read_mrd(result_file).images if mk.ROLE not in im.meta}
    again = read_map_series(out)
    assert len(again) == 3
    for im in again:
        src = source[int(im.slice)]
        np.testing.assert_allclose(im.data[0, 0] / float(im.meta[mk.GT_SCALE_RATIO]), src.data[0, 0], atol=1e-3)
        np.testing.assert_allclose(list(im.position), list(src.position), atol=1e-3)
        np.testing.assert_allclose(list(im.read_dir), list(src.read_dir), atol=1e-6)

    # SEG: highdicom reads it back, 3 segments, the mask pixels of each map
    seg = hd.seg.segread(out / "SEG_0005.dcm")
    assert seg.number_of_segments == 3
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["LV cavity", "LV myocardium", "RV"]
    masks = {int(im.slice): im for im in read_mrd(result_file).images if im.meta.get(mk.ROLE) == mk.ROLE_MASK}
    for path in sorted(out.glob("MR_*.dcm")):
        mr = pydicom.dcmread(path)
        labels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[mr.SOPInstanceUID], segment_numbers=[1, 2, 3], combine_segments=True)
        slice_index = int(round(float(np.dot(
            np.asarray(mr.ImagePositionPatient, float) - IPP0, _normal()) / 8.0)))
        np.testing.assert_array_equal(labels[0], masks[slice_index].data[0, 0])
        assert mr.PatientName == PATIENT and mr.ImageComments.startswith("T1 myo")

    # SR: one planar ROI group per map, referencing the myocardium segment, with the values
    sr = hd.sr.srread(out / "SR.dcm")
    groups = sr.content.get_planar_roi_measurement_groups()
    assert len(groups) == 3
    maps = sorted(source.values(), key=lambda im: int(im.slice))
    for group in groups:
        assert group.reference_type.value == "121214"  # Referenced Segmentation Frame
        slice_index = int(str(group.tracking_identifier).split("slice ")[1].split()[0])
        meta = maps[slice_index].meta
        by_derivation = {m.derivation.meaning if m.derivation else m.name.meaning: m
                         for m in group.get_measurements() if not m.finding_sites}
        assert by_derivation["Mean"].value == pytest.approx(float(meta[mk.MEAN_MS]))
        assert by_derivation["Mean"].unit.value == "ms" and by_derivation["Mean"].name.value == "113063"
        assert by_derivation["Median"].value == pytest.approx(float(meta[mk.MEDIAN_MS]))
        assert by_derivation["Standard Deviation"].value == pytest.approx(float(meta[mk.SD_MS]))
        assert by_derivation["Area"].value == pytest.approx(int(meta[mk.PIXELS]) * SPACING[0] * SPACING[1])
        sited = [m for m in group.get_measurements() if m.finding_sites]
        septal = [m for m in sited if m.finding_sites[0].value.value == "589001"]
        assert len(septal) == 1 and septal[0].value == pytest.approx(987.5)
        assert len(sited) == 1 + 5  # septal + the 5 defined AHA segments
        from pydicom.sr.codedict import codes

        sites = {m.finding_sites[0].value.value for m in sited}
        expected = codes.SCT.LeftVentricleBasalAnteriorSegment if slice_index == 0 \
            else codes.SCT.LeftVentricleMidAnteriorSegment
        assert expected.value in sites

    # no patient identifiers in logs, warnings or console output
    captured = capsys.readouterr()
    everything = caplog.text + captured.out + captured.err + " ".join(str(w.message) for w in recwarn)
    assert "Zebedee" not in everything and PATIENT_ID not in everything


def test_export_without_results_writes_maps_only(tmp_path: Path) -> None:
    write_classic_series(tmp_path / "dcm", n=2)
    import_dicom(tmp_path / "dcm", tmp_path / "maps.h5")
    files = export_results(tmp_path / "maps.h5", tmp_path / "out")
    assert sorted(f.name for f in files) == ["MR_0005_001.dcm", "MR_0005_002.dcm"]
    mr = pydicom.dcmread(files[0])
    assert str(mr.PatientName) == "ANONYMOUS^"


def test_cli_import_and_export(result_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from myoseg.cli import app

    runner = CliRunner()
    write_classic_series(tmp_path / "cli_dcm", n=2)
    res = runner.invoke(app, ["dicom", "import", str(tmp_path / "cli_dcm"), "-o", str(tmp_path / "cli.h5")])
    assert res.exit_code == 0, res.output
    assert "T1 map: MRD series 5, 2 image(s)" in res.output and "Zebedee" not in res.output
    res = runner.invoke(app, ["dicom", "export", str(result_file), "-o", str(tmp_path / "cli_out")])
    assert res.exit_code == 0, res.output
    assert "1 SEG" in res.output and "1 SR" in res.output
    res = runner.invoke(app, ["dicom", "import", str(tmp_path / "missing"), "-o", str(tmp_path / "x.h5")])
    assert res.exit_code == 2 and "no such file" in res.output


# ------------------------------------------------------------------------------------------------ gadget


def test_dicom_writer_gadget_passes_everything_through(result_file: Path, tmp_path: Path) -> None:
    from myoseg.gadgets.base import PropertyError, StreamContext, TextMessage, build, run_gadget
    from myoseg.gadgets.dicom import DicomWriter, dicom

    assert dicom.gadget_class is DicomWriter
    contents = read_mrd(result_file)
    items = [*contents.images, TextMessage("hello")]
    before = [(it.to_bytes() if isinstance(it, ismrmrd.Image) else it) for it in items]
    from ismrmrd import xsd

    # as the stream layer hands it over: the parsed header object
    context = StreamContext(header=xsd.CreateFromDocument(contents.header_xml), connection_id="t")
    gadget = build(DicomWriter, {"folder": str(tmp_path / "pacs")}, context)
    out = list(run_gadget(gadget, items))
    assert len(out) == len(items)
    for o, it, b in zip(out, items, before, strict=True):
        assert o is it
        assert (o.to_bytes() if isinstance(o, ismrmrd.Image) else o) == b
    (study,) = list((tmp_path / "pacs").iterdir())
    names = sorted(p.name for p in study.iterdir())
    assert "SR.dcm" in names and "SEG_0005.dcm" in names and len([n for n in names if n.startswith("MR_")]) == 3
    assert "Zebedee" not in study.name
    mr = pydicom.dcmread(study / "MR_0005_001.dcm")
    assert mr.StudyInstanceUID == "1.2.3.4.5.6" and mr.FrameOfReferenceUID == "1.2.3.4.5.7"  # kept from the header
    assert mr.PatientName == PATIENT  # for PACS; the header had it (keep_patient=True)

    with pytest.raises(PropertyError, match="folder"):
        build(DicomWriter, {}, StreamContext())


def test_dicom_writer_failure_is_reported_not_fatal(result_file: Path, tmp_path: Path) -> None:
    from myoseg.gadgets.base import StreamContext, TextMessage, build, run_gadget
    from myoseg.gadgets.dicom import DicomWriter

    blocker = tmp_path / "file_not_folder"
    blocker.write_text("x")
    images = read_mrd(result_file).images
    gadget = build(DicomWriter, {"folder": str(blocker)}, StreamContext(connection_id="t"))
    out = list(run_gadget(gadget, images))
    assert out[: len(images)] == images
    assert len(out) == len(images) + 1 and isinstance(out[-1], TextMessage)
    assert out[-1].text.startswith("ERROR myoseg dicom")


def test_series_with_short_axis_and_long_axis_gets_one_seg_per_plane(tmp_path: Path) -> None:
    datasets = write_classic_series(tmp_path / "dcm", n=3)
    lax = datasets[0]  # a 4-chamber-like view in the same series: other orientation
    lax.SOPInstanceUID = lax.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    lax.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    lax.InstanceNumber = 4
    lax.save_as(tmp_path / "dcm" / "IM0004", enforce_file_format=True)
    count, _ = import_dicom(tmp_path / "dcm", tmp_path / "maps.h5")
    images = read_mrd(tmp_path / "maps.h5").images
    assert count == 4 and [int(im.slice) for im in images] == [0, 1, 2, 3]
    assert list(images[3].read_dir) == [1.0, 0.0, 0.0]  # the single long-axis view comes after the stack
    write_mrd(tmp_path / "result.h5", make_result(images), header_xml=read_mrd(tmp_path / "maps.h5").header_xml)
    files = export_results(tmp_path / "result.h5", tmp_path / "out")
    segs = sorted(f.name for f in files if f.name.startswith("SEG_"))
    assert segs == ["SEG_0005.dcm", "SEG_0005_2.dcm"]
    assert sum(len(hd.seg.segread(tmp_path / "out" / name).SourceImageSequence) for name in segs) == 4
    groups = hd.sr.srread(tmp_path / "out" / "SR.dcm").content.get_planar_roi_measurement_groups()
    assert len(groups) == 4


def test_broken_objects_are_skipped_and_seconds_become_ms(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    datasets = write_classic_series(tmp_path / "dcm", n=3, description="T1 quantitative",
                                    image_type=("DERIVED", "PRIMARY", "OTHER"))
    for ds in datasets:  # a Real World Value Mapping in seconds: values are converted to ms
        mapping = Dataset()
        mapping.RealWorldValueSlope, mapping.RealWorldValueIntercept = 0.001, 0.0
        units = Dataset()
        units.CodeValue, units.CodingSchemeDesignator, units.CodeMeaning = "s", "UCUM", "second"
        mapping.MeasurementUnitsCodeSequence = Sequence([units])
        ds.RealWorldValueMappingSequence = Sequence([mapping])
        ds.save_as(tmp_path / "dcm" / f"IM{int(ds.InstanceNumber):04d}", enforce_file_format=True)
    data = (tmp_path / "dcm" / "IM0001").read_bytes()
    (tmp_path / "dcm" / "TRUNCATED").write_bytes(data[: len(data) - 1000])  # pixel data cut short
    caplog.set_level(logging.INFO)
    images = read_map_series(tmp_path / "dcm")
    assert len(images) == 3 and images[0].meta[mk.GT_DATA_ROLE] == "T1"  # "T1" + units ms -> a T1 map
    np.testing.assert_allclose(images[0].data[0, 0] / float(images[0].meta[mk.GT_SCALE_RATIO]), _raw(0) * 1.0)
    assert "instance 1 skipped" in caplog.text and "Zebedee" not in caplog.text

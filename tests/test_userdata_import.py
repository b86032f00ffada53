"""User data for fine-tuning: DICOM maps + ITK-SNAP label volumes (NIfTI/NRRD) or contour lists -> dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")
nrrd = pytest.importorskip("nrrd")

from myoseg.models import userdata as ud  # noqa: E402
from myoseg.models.synthetic import ring_slice  # noqa: E402

from myoseg.core.data import LabelledSlice, iter_split  # noqa: E402
from myoseg.core.types import Label, MapType, View  # noqa: E402

ROWS, COLS, DY, DX, DZ = 64, 56, 1.8, 1.6, 8.0
IPP0 = np.array([-40.0, -60.0, 20.0])
READ, PHASE, NORMAL = np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([0, 0, 1.0])


def _write_dicom_series(folder, slices, desc="T1 MAP MOLLI"):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

    folder.mkdir(parents=True)
    series_uid = generate_uid()
    for k, s in enumerate(slices):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"{k}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.Modality, ds.SeriesInstanceUID, ds.StudyInstanceUID = "MR", series_uid, generate_uid()
        ds.SeriesNumber, ds.InstanceNumber, ds.SeriesDescription = 5, k + 1, desc
        ds.ImageType = ["DERIVED", "PRIMARY", "MAP", "T1"]
        ds.Rows, ds.Columns = ROWS, COLS
        ds.PixelSpacing = [DY, DX]
        ds.SliceThickness = DZ
        ds.ImagePositionPatient = list(map(float, IPP0 + k * DZ * NORMAL))
        ds.ImageOrientationPatient = [*map(float, READ), *map(float, PHASE)]
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = 1.0, 0.0
        ds.PixelData = np.clip(s.map_ms, 0, 4000).astype(np.uint16).tobytes()
        ds.save_as(str(folder / f"{k}.dcm"), enforce_file_format=True)


def _slices():
    rng = np.random.default_rng(0)
    return [ring_slice(rng, shape=(ROWS, COLS), spacing_mm=(DY, DX), view=View.MID) for _ in range(2)]


def _volume(slices):
    vol = np.zeros((COLS, ROWS, len(slices)), np.uint8)  # i = column, j = row, k = slice (ITK-SNAP / DICOM order)
    for k, s in enumerate(slices):
        vol[:, :, k] = s.labels.T
    lps = np.eye(4)
    lps[:3, 0], lps[:3, 1], lps[:3, 2], lps[:3, 3] = DX * READ, DY * PHASE, DZ * NORMAL, IPP0
    return vol, lps


@pytest.mark.parametrize("fmt", ["nii.gz", "nrrd"])
def test_dicom_with_label_volume(tmp_path, fmt):
    slices = _slices()
    _write_dicom_series(tmp_path / "p01" / "t1map", slices)
    vol, lps = _volume(slices)
    if fmt == "nii.gz":
        nib.save(nib.Nifti1Image(vol, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps), str(tmp_path / "p01" / "t1map.nii.gz"))
    else:
        nrrd.write(str(tmp_path / "p01" / "t1map.nrrd"), vol, {
            "space": "left-posterior-superior", "space directions": lps[:3, :3].T, "space origin": lps[:3, 3]})
    got = ud.read_patient_series(tmp_path / "p01" / "t1map")
    assert len(got) == 2
    for g, s in zip(got, slices, strict=True):
        assert g.map_type == MapType.T1 and g.subject == "p01"
        assert g.spacing_mm == pytest.approx((DY, DX))
        assert np.array_equal(g.labels, s.labels)
        assert np.allclose(g.map_ms, np.clip(s.map_ms, 0, 4000).astype(np.uint16))


def test_contour_lists_are_rasterised(tmp_path):
    slices = _slices()
    _write_dicom_series(tmp_path / "p02" / "t1", slices)
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    circle = lambda r: [[28 + r * np.cos(a), 32 + r * np.sin(a)] for a in t]  # noqa: E731
    (tmp_path / "p02" / "t1.contours.json").write_text(json.dumps(
        {"slices": [{"index": 1, "view": "apical", "endo": circle(8), "epi": circle(13), "rv": circle(20)}]}))
    got = ud.read_patient_series(tmp_path / "p02" / "t1")
    assert len(got) == 1 and got[0].view == View.APICAL
    lab = got[0].labels
    rr, cc = np.mgrid[0:ROWS, 0:COLS]
    r = np.hypot(rr - 32, cc - 28)
    assert (lab[r < 7] == Label.LV_CAVITY).all()
    assert (lab[(r > 9) & (r < 12)] == Label.MYOCARDIUM).all()
    assert (lab[(r > 14) & (r < 19)] == Label.RV).all()
    assert (lab[r > 21] == 0).all()


def test_import_user_data_splits_by_patient(tmp_path):
    src = tmp_path / "user"
    for p in ("pa", "pb", "pc", "pd"):
        slices = _slices()
        _write_dicom_series(src / p / "t1map", slices)
        vol, lps = _volume(slices)
        nib.save(nib.Nifti1Image(vol, np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps), str(src / p / "t1map.nii.gz"))
    out = ud.import_user_data(src, tmp_path / "ds", seed=0)
    manifest = json.loads((out / "manifest.json").read_text())
    seen = {}
    for split in ("train", "val", "test"):
        for path in iter_split(out, split):
            s = LabelledSlice.load(path)
            seen.setdefault(s.subject, set()).add(split)
    assert all(len(v) == 1 for v in seen.values())  # no patient in two splits
    assert sorted(seen) == ["pa", "pb", "pc", "pd"]
    assert sum(len(v) for v in manifest["splits"].values()) == 4


def test_label_mapping_and_bad_labels(tmp_path):
    assert ud._remap(np.array([0, 1]), {1: 2})[1] == 2
    with pytest.raises(ValueError, match="labels.json"):
        ud._remap(np.array([0, 7]), None)

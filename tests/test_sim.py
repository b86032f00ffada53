"""Simulator: anatomy topology, file formats (ISMRMRD, DICOM, .npz dataset), seed reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import ismrmrd
import ismrmrd.xsd
import numpy as np
import pytest

from myoseg.core import metakeys as mk
from myoseg.core.data import LabelledSlice, iter_split
from myoseg.core.mrdio import read_mrd
from myoseg.core.types import Label, MapType, View
from myoseg.sim.dataset import generate_dataset, subject_name
from myoseg.sim.study import labels_path, simulate_study, write_study
from myoseg.sim.subject import simulate_subject, subject_seed
from myoseg.sim.topology import is_closed_ring, is_open_u

SMALL = (128, 104)  # (cols, rows): fast; spacing is clipped to 2.0 mm, FOV 256 x 208 mm


@pytest.fixture(scope="module")
def subjects():
    return [
        simulate_subject(subject_seed(123, i), subject_name(i), views=(View.MID, View.FOUR_CH, View.APICAL),
                         map_types=(MapType.T1,), matrix=SMALL)
        for i in range(6)
    ]


def test_sax_mid_is_a_closed_ring_and_4ch_an_open_u(subjects) -> None:
    for sub in subjects:
        for m in sub.maps:
            if m.view is View.MID:
                assert is_closed_ring(m.labels), f"{sub.subject} mid: myocardium is not one ring around the cavity"
            elif m.view is View.FOUR_CH:
                assert is_open_u(m.labels), f"{sub.subject} 4ch: myocardium is not a U open towards the base"
                assert not is_closed_ring(m.labels)


def test_labels_and_values_are_plausible(subjects) -> None:
    for sub in subjects:
        for m in sub.maps:
            assert m.labels.dtype == np.uint8 and set(np.unique(m.labels)) <= {0, 1, 2, 3}
            for label in (Label.LV_CAVITY, Label.MYOCARDIUM, Label.RV):
                if m.view is not View.APICAL:
                    assert (m.labels == label).sum() > 20, (sub.subject, m.view, label)
            myo = m.labels == Label.MYOCARDIUM
            assert np.isfinite(m.map_ms).all() and np.isfinite(m.true_ms).all()
            med = float(np.median(m.map_ms[myo]))
            if sub.contrast:
                assert 250 < med < 800
            elif sub.field_strength_t < 2:
                assert 850 < med < 1250, (sub.subject, med)
            else:
                assert 1000 < med < 1500, (sub.subject, med)


def test_wall_thickness_range(subjects) -> None:
    from scipy import ndimage

    for sub in subjects:
        assert 6.0 <= sub.body.heart.t_base <= 14.0
        (mid,) = [m for m in sub.maps if m.view is View.MID]
        myo = mid.labels == Label.MYOCARDIUM
        # ring thickness ~ 2 x max inscribed radius; allow partial volume and obliquity
        thick = 2 * ndimage.distance_transform_edt(myo).max() * mid.plane.spacing_mm
        assert 3.0 < thick < 26.0, (sub.subject, thick)


def test_seed_reproducibility() -> None:
    a = simulate_subject(7, views=(View.MID,), matrix=SMALL)
    b = simulate_subject(7, views=(View.MID,), matrix=SMALL)
    c = simulate_subject(8, views=(View.MID,), matrix=SMALL)
    for ma, mb in zip(a.maps, b.maps, strict=True):
        np.testing.assert_array_equal(ma.map_ms, mb.map_ms)
        np.testing.assert_array_equal(ma.labels, mb.labels)
    assert not np.array_equal(a.maps[0].map_ms, c.maps[0].map_ms)


@pytest.mark.parametrize("storage", ["float32", "uint16"])
def test_study_roundtrips_through_ismrmrd(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "study.h5"
    maps, xml, labels = simulate_study(seed=5, matrix=SMALL, storage=storage)
    assert len(maps) == 8 and len(labels) == 8
    write_study(path, seed=5, matrix=SMALL, storage=storage)
    back = read_mrd(path)
    gt = read_mrd(labels_path(path))
    header = ismrmrd.xsd.CreateFromDocument(back.header_xml)
    assert header.acquisitionSystemInformation.systemFieldStrength_T in (1.5, 3.0)
    assert header.measurementInformation.protocolName
    limits = header.encoding[0].encodingLimits
    assert limits.slice is not None and limits.slice.maximum == 3
    assert len(back.images) == 8
    by_key = {(im.image_series_index, im.slice): im for im in back.images}
    assert {k[0] for k in by_key} == {5, 11}
    for orig in maps:
        im = by_key[(orig.image_series_index, orig.slice)]
        role = im.meta[mk.GT_DATA_ROLE]
        assert role == ("T1" if im.image_series_index == 5 else "T2")
        ratio = float(im.meta[mk.GT_SCALE_RATIO])
        assert im.data.dtype == (np.uint16 if storage == "uint16" else np.float32)
        np.testing.assert_array_equal(im.data, orig.data)
        keys = set(im.meta.keys())
        assert {mk.GT_WINDOW_CENTER, mk.GT_WINDOW_WIDTH, mk.GT_IMAGE_COMMENT, mk.GT_SERIES_DESCRIPTION} <= keys
        assert ratio == 1.0 if storage == "float32" else ratio in (1.0, 10.0)
        fov = np.array(im.field_of_view[:])
        mat = np.array(im.matrix_size[:])
        assert mat[0] == SMALL[0] and mat[1] == SMALL[1]
        spacing = fov[:2] / mat[:2]
        assert np.all((spacing >= 1.2 - 1e-6) & (spacing <= 2.0 + 1e-6))
        assert 6.0 <= fov[2] <= 8.0
        assert abs(np.dot(im.read_dir[:], im.phase_dir[:])) < 1e-6
        assert im.image_type == ismrmrd.IMTYPE_MAGNITUDE
    # the label images pair with the maps by series offset, slice and image_index
    for lab in gt.images:
        src = by_key[(lab.image_series_index - 100, lab.slice)]
        assert lab.image_index == src.image_index and lab.meta[mk.ROLE] == mk.ROLE_MASK
        assert lab.data.dtype == np.uint16 and lab.data.max() <= 3
        np.testing.assert_allclose(lab.position[:], src.position[:])


def test_views_have_the_right_geometry() -> None:
    maps, _, _ = simulate_study(seed=2, matrix=SMALL)
    t1 = {im.slice: im for im in maps if im.image_series_index == 5}
    normals = {s: np.cross(im.read_dir[:], im.phase_dir[:]) for s, im in t1.items()}
    # SAX slices are parallel and stacked along their normal; the 4Ch plane is a different orientation
    for s in (1, 2):
        assert abs(abs(np.dot(normals[0], normals[s])) - 1) < 1e-6
    steps = [np.dot(np.array(t1[s].position[:]) - np.array(t1[0].position[:]), normals[0]) for s in (1, 2)]
    assert abs(steps[0]) > 10 and abs(steps[1]) > abs(steps[0])
    assert abs(np.dot(normals[0], normals[3])) < 0.3


def test_dicom_export_roundtrips(tmp_path: Path) -> None:
    pydicom = pytest.importorskip("pydicom")
    from myoseg.sim.dicom import write_subject_dicom

    sub = simulate_subject(4, views=(View.MID, View.FOUR_CH), matrix=SMALL)
    paths = write_subject_dicom(sub, tmp_path)
    assert len(paths) == 4
    for path, m in zip(paths, sub.maps, strict=True):
        ds = pydicom.dcmread(path)
        values = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        np.testing.assert_allclose(values, m.map_ms, atol=float(ds.RescaleSlope) / 2 + 1e-3)
        assert [float(x) for x in ds.PixelSpacing] == pytest.approx([m.plane.spacing_mm] * 2)
        row_dir, col_dir = np.array(ds.ImageOrientationPatient[:3]), np.array(ds.ImageOrientationPatient[3:])
        centre = (np.array(ds.ImagePositionPatient, dtype=float) + (ds.Columns - 1) / 2 * m.plane.spacing_mm * row_dir
                  + (ds.Rows - 1) / 2 * m.plane.spacing_mm * col_dir)
        np.testing.assert_allclose(centre, m.plane.centre, atol=1e-3)
        assert ds.SeriesNumber == (5 if m.map_type is MapType.T1 else 11)


def test_dataset_layout_and_worker_independence(tmp_path: Path) -> None:
    manifest = generate_dataset(tmp_path, subjects=3, seed=9, workers=2, matrix=SMALL)
    stored = json.loads((tmp_path / "manifest.json").read_text())
    assert stored["splits"] == manifest["splits"]
    assert sum(len(v) for v in stored["splits"].values()) == 3
    assert all(len(v) == 1 for v in stored["splits"].values())
    files = [p for split in ("train", "val", "test") for p in iter_split(tmp_path, split)]
    assert len(files) == 3 * 8
    for name in manifest["subjects"]:
        assert (tmp_path / "mrd" / f"{name}.h5").is_file() and (tmp_path / "mrd" / f"{name}_labels.h5").is_file()
    # any subject regenerates alone, identically, whatever the worker count was
    (train_name,) = stored["splits"]["train"]
    index = int(train_name[3:])
    alone = simulate_subject(subject_seed(9, index), train_name, matrix=SMALL)
    for m in alone.maps:
        s = LabelledSlice.load(tmp_path / "slices" / "train" / f"{train_name}_{m.view.value}_{m.map_type.value}.npz")
        np.testing.assert_array_equal(s.map_ms, m.map_ms)
        np.testing.assert_array_equal(s.labels, m.labels)
        assert s.true_ms is not None and s.spacing_mm[0] == pytest.approx(m.plane.spacing_mm)
        assert s.subject == train_name and s.view is m.view and s.map_type is m.map_type


def test_cli_study_and_errors(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from myoseg.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["simulate", "--study", str(tmp_path / "s.h5"), "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.h5").is_file() and (tmp_path / "s_labels.h5").is_file()
    assert len(read_mrd(tmp_path / "s.h5").images) == 8
    result = runner.invoke(app, ["simulate"])
    assert result.exit_code != 0
    result = runner.invoke(app, ["simulate", "--subjects", "2"])
    assert result.exit_code != 0 and "--out" in result.output
    (tmp_path / "ds" / "slices").mkdir(parents=True)
    (tmp_path / "ds" / "slices" / "x.npz").write_bytes(b"")
    result = runner.invoke(app, ["simulate", "--subjects", "1", "--out", str(tmp_path / "ds")])
    assert result.exit_code != 0 and "--overwrite" in result.output


def test_existing_dataset_is_not_mixed_with_a_new_one(tmp_path: Path) -> None:
    generate_dataset(tmp_path, subjects=1, seed=1, matrix=SMALL)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_dataset(tmp_path, subjects=1, seed=2, matrix=SMALL)
    manifest = generate_dataset(tmp_path, subjects=1, seed=2, matrix=SMALL, overwrite=True)
    assert manifest["seed"] == 2 and len(list((tmp_path / "slices").rglob("*.npz"))) == 8
    assert (tmp_path / "notes.txt").read_text() == "mine"

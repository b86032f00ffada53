"""The real results chain (segment -> quantify -> emit, fake model) followed by the DicomWriter gadget: the DICOM
SEG and SR agree with what the chain returned (mask pixels, MYOSEG_* values), and nothing is held back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

hd = pytest.importorskip("highdicom")
pydicom = pytest.importorskip("pydicom")
seg_mod = pytest.importorskip("myoseg.gadgets.segment")

import ismrmrd  # noqa: E402
from myoseg.gadgets.base import StreamContext, build, run_gadget  # noqa: E402
from myoseg.gadgets.dicom import DicomWriter  # noqa: E402
from myoseg.gadgets.emit import Emit  # noqa: E402
from myoseg.gadgets.quantify import Quantify  # noqa: E402
from myoseg.gadgets.segment import Segment  # noqa: E402
from results_fixtures import FakeSegmenter, Orientation, map_image, phantom_labels, phantom_values  # noqa: E402

from myoseg.core import metakeys as mk  # noqa: E402
from myoseg.core.types import MapType  # noqa: E402


@pytest.fixture
def fake() -> Iterator[FakeSegmenter]:
    seg_mod.clear_cache()
    fake = FakeSegmenter()
    seg_mod.cache_segmenter(fake)
    yield fake
    seg_mod.clear_cache()


def test_chain_then_dicom_writer(fake: FakeSegmenter, tmp_path: Path) -> None:
    items = []
    for k, (view, kw) in enumerate([("basal", {}), ("mid", {"r_endo_mm": 18}), ("apical", {"r_endo_mm": 11})]):
        labels = phantom_labels(**kw)
        values = phantom_values(labels, MapType.T1, noise=0.03, seed=k)
        image = map_image(values, MapType.T1, ratio=1.0, series=5, slice_=k, image_index=k + 1,
                          comment=f"T1 map {view}", orientation=Orientation(position=(0.0, 0.0, 10.0 * k)))
        fake.expect(image.data[0, 0].astype(np.float64), labels)
        items.append(image)
    context = StreamContext(connection_id="dicom-chain")
    stages = [build(Segment, {}, context), build(Quantify, {}, context), build(Emit, {}, context),
              build(DicomWriter, {"folder": str(tmp_path / "pacs")}, context)]
    stream = iter(items)
    for gadget in stages:
        stream = run_gadget(gadget, stream)
    out = list(stream)

    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    maps = [im for im in images if mk.ROLE not in im.meta]
    masks = {int(im.slice): im for im in images if im.meta.get(mk.ROLE) == mk.ROLE_MASK}
    assert len(maps) == 3 and len(masks) == 3
    assert all(m.meta.get(mk.STATUS) != mk.STATUS_ERROR for m in maps)

    (study,) = list((tmp_path / "pacs").iterdir())
    names = sorted(p.name for p in study.iterdir())
    assert [n for n in names if n.startswith("SEG_")] == ["SEG_0005.dcm"] and "SR.dcm" in names
    assert len([n for n in names if n.startswith("SC_")]) == 3  # emit's RGB overlays as Secondary Capture

    seg = hd.seg.segread(study / "SEG_0005.dcm")
    assert seg.number_of_segments == 3
    by_sop = {}
    for path in study.glob("MR_*.dcm"):
        mr = pydicom.dcmread(path)
        by_sop[mr.SOPInstanceUID] = mr
        z = float(mr.ImagePositionPatient[2])
        slice_index = int(round(z / 10.0))
        labels = seg.get_pixels_by_source_instance(
            source_sop_instance_uids=[mr.SOPInstanceUID], segment_numbers=[1, 2, 3], combine_segments=True)
        np.testing.assert_array_equal(labels[0], masks[slice_index].data[0, 0])

    groups = hd.sr.srread(study / "SR.dcm").content.get_planar_roi_measurement_groups()
    assert len(groups) == 3
    for group in groups:
        slice_index = int(str(group.tracking_identifier).split("slice ")[1].split()[0])
        source = next(m for m in maps if int(m.slice) == slice_index)
        mean = next(m for m in group.get_measurements() if m.derivation is not None
                    and m.derivation.meaning == "Mean" and not m.finding_sites)
        assert mean.value == pytest.approx(float(source.meta[mk.MEAN_MS]), abs=1e-6)

"""segment -> quantify -> emit without sockets: the output contract of issue 5, checked for presence and
consistency (values recomputed from the returned mask and map, contours on the mask border, derived images
on the source's slice and geometry, maps unchanged), also after MRD serialisation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import ismrmrd
import numpy as np
import pytest
from myoseg.gadgets.base import StreamContext, TextMessage, build, run_gadget
from myoseg.gadgets.emit import Emit
from myoseg.gadgets.quantify import Quantify
from myoseg.gadgets.segment import Segment
from results_fixtures import (
    FakeSegmenter,
    Orientation,
    header_bytes,
    installed_fake_segmenter,
    map_image,
    phantom_labels,
    phantom_values,
)
from scipy import ndimage as ndi

from myoseg.core import metakeys as mk
from myoseg.core.contours import distance_to_border
from myoseg.core.intake import meta_float, meta_str, meta_values
from myoseg.core.mrdio import read_mrd, write_mrd
from myoseg.core.quantify import RegionStats, quantify_slice
from myoseg.core.roi import ROI_ENDO, ROI_EPI, ROI_SEPTAL, decode_roi
from myoseg.core.types import Geometry, Label, MapType, View

SERIES = {MapType.T1: 5, MapType.T2: 11}
RATIO = {MapType.T1: 1.0, MapType.T2: 10.0}


fake = pytest.fixture(name="fake")(installed_fake_segmenter)


def _over_the_wire(items: Iterator) -> Iterator:
    """What a separate Gadgetron external process receives: every image serialised and read back."""
    for item in items:
        yield ismrmrd.Image.from_bytes(item.to_bytes()) if isinstance(item, ismrmrd.Image) else item


def chain(items: list, segment: dict | None = None, quantify: dict | None = None, emit: dict | None = None,
          wire: bool = False) -> list:
    context = StreamContext()
    stages = [build(Segment, segment or {}, context), build(Quantify, quantify or {}, context),
              build(Emit, emit or {}, context)]
    stream: Iterator = iter(items)
    for k, gadget in enumerate(stages):
        stream = run_gadget(gadget, _over_the_wire(stream) if wire and k else stream)
    return list(stream)


def study(fake: FakeSegmenter) -> list:
    """3 SAX T1 slices, a mid T2 slice (uint16 x10), a 4Ch T1 view, plus a magnitude image and an SD map."""
    items = []
    specs = [(MapType.T1, "basal", 0, {}), (MapType.T1, "mid", 1, {"r_endo_mm": 18}),
             (MapType.T1, "apical", 2, {"r_endo_mm": 11, "wall_mm": 7}), (MapType.T2, "mid", 1, {}),
             (MapType.T1, "4ch", 3, {"four_chamber": True, "r_endo_mm": 17})]
    for k, (map_type, view, slice_, shape_kw) in enumerate(specs):
        labels = phantom_labels(**shape_kw)
        values = phantom_values(labels, map_type, noise=0.03, seed=k)
        image = map_image(values, map_type, ratio=RATIO[map_type], series=SERIES[map_type], slice_=slice_,
                          image_index=k + 1, comment=f"{map_type.value} map {view}",
                          orientation=Orientation(position=(0.0, 0.0, 10.0 * slice_)))
        fake.expect(image.data[0, 0].astype(np.float64) / RATIO[map_type], labels)
        items.append(image)
    items.insert(2, ismrmrd.Image.from_array(np.ones((1, 1, 32, 32), np.uint16)))
    items.append(map_image(phantom_values(phantom_labels()), role="T1SD", series=4))
    return items


def check_contract(out: list, originals: list[ismrmrd.Image], snapshots: dict, n_maps: int = 5,
                   fake_model: bool = True) -> None:
    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    maps = [i for i in images if mk.MAP_TYPE in i.meta and mk.ROLE not in i.meta]
    by_role = {role: [i for i in images if meta_str(i.meta, mk.ROLE) == role] for role in ("mask", "overlay")}
    assert len(maps) == n_maps and len(by_role["mask"]) == n_maps and len(by_role["overlay"]) == n_maps
    # every original comes back, in order, with its pixels and header unchanged
    returned = [i for i in images if mk.ROLE not in i.meta]
    assert len(returned) == len(originals)
    for image, original in zip(returned, originals, strict=True):
        data, head = snapshots[id(original)]
        np.testing.assert_array_equal(image.data, data)
        assert header_bytes(image) == head
    for source in maps:
        i = images.index(source)
        mask, overlay = images[i + 1], images[i + 2]  # the map, its mask, its overlay
        assert meta_str(mask.meta, mk.ROLE) == "mask" and meta_str(overlay.meta, mk.ROLE) == "overlay"
        check_map(source, mask, overlay, fake_model)


def check_map(source: ismrmrd.Image, mask: ismrmrd.Image, overlay: ismrmrd.Image, fake_model: bool = True) -> None:
    meta = source.meta
    series = int(source.image_series_index)
    for derived, offset in ((mask, 100), (overlay, 200)):
        assert int(float(meta_str(derived.meta, mk.SOURCE_SERIES))) == series
        assert derived.image_series_index == series + offset
        assert (derived.slice, derived.image_index) == (source.slice, source.image_index)
        for field in ("position", "read_dir", "phase_dir", "slice_dir", "field_of_view"):
            np.testing.assert_allclose(tuple(getattr(derived, field)), tuple(getattr(source, field)))
    # mask: uint16 labels 0..3 on the map's grid
    assert mask.data.dtype == np.uint16 and tuple(mask.matrix_size) == tuple(source.matrix_size)
    labels = mask.data[0, 0]
    assert set(np.unique(labels)) <= {0, 1, 2, 3}
    # overlay: RGB, 3 channels uint16 0..255, 2x matrix over the same field of view
    assert overlay.image_type == ismrmrd.IMTYPE_RGB and overlay.channels == 3
    assert overlay.data.dtype == np.uint16 and overlay.data.max() <= 255
    assert tuple(overlay.matrix_size[:2]) == tuple(2 * v for v in source.matrix_size[:2])

    # values: recomputed from the returned map (stored / scale ratio) and mask
    values = source.data[0, 0].astype(np.float64) / meta_float(meta, mk.GT_SCALE_RATIO)
    myo = labels == Label.MYOCARDIUM
    stats = RegionStats.of(values, myo)
    assert int(float(meta_str(meta, mk.PIXELS))) == stats.pixels == int(np.count_nonzero(myo & np.isfinite(values)
                                                                                        & (values > 0)))
    for key, value in ((mk.MEAN_MS, stats.mean), (mk.MEDIAN_MS, stats.median), (mk.SD_MS, stats.sd),
                       (mk.IQR_MS, stats.iqr)):
        assert meta_float(meta, key) == pytest.approx(value, abs=0.051), key
    map_type = MapType(meta_str(meta, mk.MAP_TYPE))
    view = View(meta_str(meta, mk.VIEW))
    fov, matrix = tuple(source.field_of_view), tuple(source.matrix_size)
    geometry = Geometry(spacing_mm=(fov[1] / matrix[1], fov[0] / matrix[0]), position=tuple(source.position),
                        read_dir=tuple(source.read_dir),
                        phase_dir=tuple(source.phase_dir), slice_dir=tuple(source.slice_dir))
    expected = quantify_slice(values, labels, map_type, view, geometry)
    if expected.septal is not None:
        assert meta_float(meta, mk.SEPTAL_MS) == pytest.approx(expected.septal.mean, abs=0.051)
        septal = decode_roi(meta_values(meta, ROI_SEPTAL))
        assert distance_to_border(septal.points_xy, expected.septal_mask).max() < 0.75
    else:
        assert mk.SEPTAL_MS not in meta
    if expected.aha_segments:
        assert [int(v) for v in meta_values(meta, mk.AHA_SEGMENTS)] == expected.aha_segments
        np.testing.assert_allclose([float(v) for v in meta_values(meta, mk.AHA_MS)], expected.aha_ms, atol=0.051)
    else:
        assert mk.AHA_MS not in meta

    # ROI contours lie on the mask border
    cav = labels == Label.LV_CAVITY
    endo, epi = decode_roi(meta_values(meta, ROI_ENDO)), decode_roi(meta_values(meta, ROI_EPI))
    assert endo.rgb == (1.0, 0.0, 0.0) and epi.rgb == (0.0, 1.0, 0.0)
    assert np.array_equal(endo.points_xy[0], endo.points_xy[-1])  # closed
    assert distance_to_border(endo.points_xy, cav).max() < 0.75
    assert distance_to_border(epi.points_xy, ndi.binary_fill_holes(myo | cav)).max() < 0.75

    # status, quality, model, time, console text
    status = meta_str(meta, mk.STATUS)
    assert status == mk.STATUS_OK if fake_model else status in (mk.STATUS_OK, mk.STATUS_REVIEW)
    assert 0.0 <= meta_float(meta, mk.QUALITY) <= 1.0
    assert "@" in meta_str(meta, mk.MODEL) and (meta_str(meta, mk.MODEL).startswith("fake-rings@") or not fake_model)
    assert meta_float(meta, mk.TIME_MS) > 0
    text = meta_str(meta, mk.IMAGE_COMMENTS)
    assert len(text) <= 64 and text.startswith(f"{map_type.value} myo {meta_float(meta, mk.MEAN_MS):.0f} ms")
    assert text.endswith("Q ok") if status == mk.STATUS_OK else "review" in text
    assert meta_str(overlay.meta, mk.IMAGE_COMMENTS) == text


def _snap(items: list) -> dict:
    return {id(i): (i.data.copy(), header_bytes(i)) for i in items if isinstance(i, ismrmrd.Image)}


def test_contract_in_process(fake: FakeSegmenter) -> None:
    items = study(fake)
    snapshots = _snap(items)
    out = chain(items)
    check_contract(out, items, snapshots)
    texts = [o.text for o in out if isinstance(o, TextMessage)]
    assert len(texts) == 1 and out[-1] == TextMessage(texts[0])  # the study summary, at the end
    assert "T1 series 5: 4 slice(s) (4 ok, 0 review, 0 error)" in texts[0]
    assert "T2 series 11: 1 slice(s)" in texts[0] and "septal" in texts[0] and "AHA 1:" in texts[0]
    views = {int(i.slice): meta_str(i.meta, mk.VIEW) for i in out
             if isinstance(i, ismrmrd.Image) and i.image_series_index == 5}
    assert views == {0: "basal", 1: "mid", 2: "apical", 3: "4ch"}


def test_contract_survives_mrd_serialisation(fake: FakeSegmenter, tmp_path: Path) -> None:
    """Meta travels as text: everything must still parse after the wire and after an HDF5 file."""
    items = study(fake)
    snapshots = _snap(items)
    out = chain(items)
    wire = [ismrmrd.Image.from_bytes(o.to_bytes()) if isinstance(o, ismrmrd.Image) else o for o in out]
    originals = [w for w in wire if isinstance(w, ismrmrd.Image) and mk.ROLE not in w.meta]
    snapshots = {id(w): snapshots[id(o)] for w, o in zip(originals, [i for i in items if isinstance(i, ismrmrd.Image)], strict=True)}
    check_contract(wire, originals, snapshots)
    path = tmp_path / "out.h5"
    write_mrd(path, [w for w in wire if isinstance(w, ismrmrd.Image)])
    back = read_mrd(path).images
    assert len(back) == len([w for w in wire if isinstance(w, ismrmrd.Image)])
    masks = [b for b in back if meta_str(b.meta, mk.ROLE) == "mask"]
    assert len(masks) == 5 and all(b.data.dtype == np.uint16 for b in masks)


def test_contract_with_each_step_in_its_own_process(fake: FakeSegmenter) -> None:
    """Under Gadgetron each step is a separate process: meta reaches quantify and emit as text."""
    items = study(fake)
    snapshots = _snap(items)
    out = chain(items, wire=True)
    returned = [o for o in out if isinstance(o, ismrmrd.Image) and mk.ROLE not in o.meta]
    originals = [i for i in items if isinstance(i, ismrmrd.Image)]
    check_contract(out, returned, {id(r): snapshots[id(o)] for r, o in zip(returned, originals, strict=True)})
    assert "T1 series 5: 4 slice(s) (4 ok" in out[-1].text


def test_model_failure_still_returns_every_original(fake: FakeSegmenter) -> None:
    items = study(fake)
    snapshots = _snap(items)
    fake.fail = RuntimeError("inference crashed")
    out = chain(items)
    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert images == [i for i in items if isinstance(i, ismrmrd.Image)]  # no mask, no overlay, nothing lost
    for image in images:
        data, head = snapshots[id(image)]
        np.testing.assert_array_equal(image.data, data)
        assert header_bytes(image) == head
    maps = [i for i in images if mk.MAP_TYPE in i.meta]
    assert len(maps) == 5
    for image in maps:
        assert image.meta[mk.STATUS] == mk.STATUS_ERROR and "inference crashed" in image.meta[mk.ERROR]
        assert meta_str(image.meta, mk.IMAGE_COMMENTS).endswith("myoseg error (map unchanged)")
        assert mk.MEAN_MS not in image.meta
    texts = [o.text for o in out if isinstance(o, TextMessage)]
    assert sum(t.startswith("ERROR") for t in texts) == 5
    assert "(0 ok, 0 review, 4 error)" in texts[-1]


def test_failure_in_quantify_or_emit_keeps_the_pair(fake: FakeSegmenter, monkeypatch: pytest.MonkeyPatch) -> None:
    items = study(fake)[:1]
    import myoseg.gadgets.emit as emit_mod

    def broken(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(emit_mod, "extract_contours", broken)
    out = chain(items)
    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert [meta_str(i.meta, mk.ROLE) for i in images] == [None, "mask"]  # map and mask, in order; no overlay
    assert images[0].meta[mk.STATUS] == mk.STATUS_ERROR and "emit" in images[0].meta[mk.ERROR]
    assert meta_float(images[0].meta, mk.MEAN_MS) is not None  # quantify had finished


def test_odd_images_through_the_chain(fake: FakeSegmenter) -> None:
    """Issue 7 item 1 end to end: every odd image comes back unchanged with a clear status."""
    odd = []
    for kind, array in [("tiny", np.full((1, 1, 8, 8), 900, np.float32)),
                        ("complex", np.ones((1, 1, 64, 64), np.complex64)),
                        ("volume", np.ones((1, 4, 64, 64), np.float32)),
                        ("multichannel", np.ones((2, 1, 64, 64), np.float32)),
                        ("zeros", np.zeros((1, 1, 64, 64), np.uint16)),
                        ("nan", np.full((1, 1, 64, 64), np.nan, np.float32))]:
        image = ismrmrd.Image.from_array(array)
        image.meta = ismrmrd.Meta({mk.GT_DATA_ROLE: "T1", "kind": kind})
        odd.append(image)
    no_ratio = map_image(phantom_values(phantom_labels()), extra_meta={mk.GT_SCALE_RATIO: "n/a"})
    odd.append(no_ratio)
    snapshots = _snap(odd)
    out = chain(odd)
    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert images == odd
    for image in images:
        data, head = snapshots[id(image)]
        np.testing.assert_array_equal(image.data, data)
        assert header_bytes(image) == head
        assert image.meta[mk.STATUS] == mk.STATUS_ERROR and image.meta[mk.ERROR]
    assert fake.calls == 0


def test_review_is_visible_in_text_and_summary(fake: FakeSegmenter) -> None:
    labels = phantom_labels()
    t2 = map_image(phantom_values(labels, MapType.T2), MapType.T2, role="T1", comment="T1 map mid")
    fake.expect(t2.data[0, 0].astype(np.float64), labels)
    out = chain([t2])
    meta = t2.meta
    assert meta[mk.STATUS] == mk.STATUS_REVIEW
    assert meta_str(meta, mk.IMAGE_COMMENTS).startswith("T1 myo 50 ms? |")
    assert "review" in meta_str(meta, mk.IMAGE_COMMENTS)
    assert "1 review" in out[-1].text


def test_properties_reach_the_outputs(fake: FakeSegmenter) -> None:
    items = study(fake)[:1]
    out = chain(items, segment={"mask_series_offset": "30"}, emit={"overlay_series_offset": "60", "overlay_scale": "1",
                                                                  "rois": "false"}, quantify={"summary": "false"})
    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert [i.image_series_index for i in images] == [5, 35, 65]
    assert tuple(images[2].matrix_size) == tuple(images[0].matrix_size)
    assert ROI_ENDO not in images[0].meta and not any(isinstance(o, TextMessage) for o in out)

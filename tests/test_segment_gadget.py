"""The segment gadget on its own: properties, map + mask output, pass-through, odd images, model failures."""

from __future__ import annotations

import ismrmrd
import numpy as np
import pytest
from myoseg.gadgets import segment as seg_mod
from myoseg.gadgets.base import PropertyError, StreamContext, TextMessage, build, run_gadget
from myoseg.gadgets.segment import Backend, Segment, SegmentConfig
from results_fixtures import (
    FakeSegmenter,
    header_bytes,
    installed_fake_segmenter,
    map_image,
    phantom_labels,
    phantom_values,
)

from myoseg.core import metakeys as mk
from myoseg.core.types import Label, MapType, View

fake = pytest.fixture(name="fake")(installed_fake_segmenter)


def _map(fake: FakeSegmenter, map_type: MapType = MapType.T1, labels: np.ndarray | None = None, **kw) -> ismrmrd.Image:
    labels = phantom_labels() if labels is None else labels
    ratio = kw.pop("ratio", 1.0)
    image = map_image(phantom_values(labels, map_type, noise=0.02), map_type, ratio=ratio, **kw)
    fake.expect(image.data[0, 0].astype(np.float64) / ratio, labels)
    return image


def _run(items: list, **props: str) -> list:
    gadget = build(Segment, props, StreamContext())
    return list(run_gadget(gadget, items))


def test_properties_are_typed_and_checked() -> None:
    cfg = SegmentConfig.from_properties({"backend": "ONNXRuntime", "threads": "2", "tta": "false",
                                         "quality_threshold": "0.6", "erode_mm": "1.5", "map_type": "t2",
                                         "view": "4ch", "mask_series_offset": "50", "model": "none"})
    assert cfg.backend is Backend.ONNXRUNTIME and cfg.threads == 2 and cfg.tta is False
    assert cfg.map_type is MapType.T2 and cfg.view is View.FOUR_CH and cfg.model is None
    for bad in ({"backend": "cuda"}, {"quality_threshold": "1.5"}, {"erode_mm": "-1"}, {"threads": "0"},
                {"mask_series_offset": "0"}, {"treshold": "1"}):
        with pytest.raises(PropertyError):
            SegmentConfig.from_properties(bad)


def test_map_then_mask(fake: FakeSegmenter) -> None:
    labels = phantom_labels()
    image = _map(fake, labels=labels, series=5, slice_=2, image_index=7)
    data, head = image.data.copy(), header_bytes(image)
    out = _run([image], mask_series_offset="40")
    assert len(out) == 2 and out[0] is image
    np.testing.assert_array_equal(image.data, data)
    assert header_bytes(image) == head
    meta = image.meta
    assert meta[mk.MAP_TYPE] == "T1" and meta[mk.STATUS] == mk.STATUS_OK
    assert meta[mk.QUALITY] == 1.0 and meta[mk.MODEL] == fake.model_id
    assert float(meta[mk.TIME_MS]) > 0
    mask = out[1]
    assert mask.data.dtype == np.uint16 and mask.meta[mk.ROLE] == mk.ROLE_MASK
    assert mask.meta[mk.SOURCE_SERIES] == 5 and mask.image_series_index == 45
    assert (mask.slice, mask.image_index) == (2, 7)
    for field in ("position", "read_dir", "phase_dir", "slice_dir", "field_of_view", "matrix_size"):
        assert tuple(getattr(mask, field)) == tuple(getattr(image, field)), field
    np.testing.assert_array_equal(mask.data[0, 0], labels)


def test_non_maps_pass_through_untouched(fake: FakeSegmenter) -> None:
    magnitude = ismrmrd.Image.from_array(np.ones((1, 1, 64, 64), np.uint16))
    sd_map = map_image(phantom_values(phantom_labels()), role="T1SD")
    acquisition = ismrmrd.Acquisition()
    text = TextMessage("hello")
    items = [magnitude, sd_map, acquisition, text]
    metas = [dict(i.meta) if isinstance(i, ismrmrd.Image) else None for i in items]
    out = _run(items)
    assert out == items and fake.calls == 0
    assert [dict(i.meta) if isinstance(i, ismrmrd.Image) else None for i in out] == metas


def test_bad_maps_come_back_marked_with_an_error_text(fake: FakeSegmenter) -> None:
    tiny = ismrmrd.Image.from_array(np.full((1, 1, 8, 8), 1000, np.float32))
    complex_map = ismrmrd.Image.from_array(np.ones((1, 1, 64, 64), np.complex64))
    volume = ismrmrd.Image.from_array(np.ones((1, 3, 64, 64), np.float32))
    for image in (tiny, complex_map, volume):
        image.meta = ismrmrd.Meta({mk.GT_DATA_ROLE: "T1"})
    items = [tiny, complex_map, volume]
    data = [i.data.copy() for i in items]
    out = _run(items)
    images = [o for o in out if isinstance(o, ismrmrd.Image)]
    texts = [o.text for o in out if isinstance(o, TextMessage)]
    assert images == items and len(texts) == 3 and all(t.startswith("ERROR myoseg segment") for t in texts)
    for image, original in zip(images, data, strict=True):
        np.testing.assert_array_equal(image.data, original)
        assert image.meta[mk.STATUS] == mk.STATUS_ERROR and image.meta[mk.ERROR]
    assert fake.calls == 0


def test_model_exception_returns_every_original(fake: FakeSegmenter) -> None:
    images = [_map(fake, slice_=k) for k in range(3)]
    data = [i.data.copy() for i in images]
    fake.fail = RuntimeError("backend died")
    out = _run(images)
    returned = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert returned == images
    for image, original in zip(returned, data, strict=True):
        np.testing.assert_array_equal(image.data, original)
        assert image.meta[mk.STATUS] == mk.STATUS_ERROR and "backend died" in image.meta[mk.ERROR]
        assert image.meta[mk.MAP_TYPE] == "T1"
    assert sum(isinstance(o, TextMessage) and o.text.startswith("ERROR") for o in out) == 3


def test_missing_model_file_is_a_clear_error_and_the_map_comes_back(tmp_path) -> None:
    seg_mod.clear_cache()
    image = map_image(phantom_values(phantom_labels()))
    missing = tmp_path / "nope.json"
    out = _run([image], model=str(missing))
    assert out[0] is image and image.meta[mk.STATUS] == mk.STATUS_ERROR
    assert "cannot load the model" in image.meta[mk.ERROR] and "nope" in image.meta[mk.ERROR]
    assert isinstance(out[1], TextMessage) and out[1].text.startswith("ERROR")
    with pytest.raises(RuntimeError, match="nope"):
        Segment.warm_up(SegmentConfig(model=str(missing)))


def test_model_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    seg_mod.clear_cache()
    import myoseg.models.segmenter as real

    loads: list[tuple] = []
    fake = FakeSegmenter()

    def load_segmenter(model=None, backend="auto", threads=None):
        loads.append((model, backend, threads))
        return fake

    monkeypatch.setattr(real, "load_segmenter", load_segmenter)
    images = [_map(fake, slice_=k) for k in range(3)]
    for image in images:  # a new gadget (connection) per image: still one load
        _run([image], threads="1")
    Segment.warm_up(SegmentConfig(threads=1))
    assert loads == [(None, "auto", 1)]
    seg_mod.clear_cache()


def test_low_tta_agreement_means_review(fake: FakeSegmenter) -> None:
    image = _map(fake)
    fake.tta_labels = [np.zeros_like(phantom_labels())] * 3  # the flipped passes find nothing
    out = _run([image])
    assert image.meta[mk.STATUS] == mk.STATUS_REVIEW and float(image.meta[mk.QUALITY]) < 0.75
    assert "low segmentation quality" in str(image.meta[mk.REVIEW])
    assert out[1].meta[mk.ROLE] == mk.ROLE_MASK  # still a mask: review is not an error


def test_odd_but_usable_maps_are_processed_with_flags(fake: FakeSegmenter) -> None:
    labels = phantom_labels((120, 100), (1.2, 2.0), r_endo_mm=18)
    values = phantom_values(labels, noise=0.02)
    values[0, :10] = np.nan
    nonsquare = map_image(values, spacing=(1.2, 2.0), dtype=np.float32)
    fake.expect(nonsquare.data[0, 0].astype(np.float64), labels)
    t2_as_t1 = _map(fake, MapType.T2, role="T1", slice_=1)
    out = _run([nonsquare, t2_as_t1])
    assert [o.meta.get(mk.ROLE) for o in out] == [None, mk.ROLE_MASK, None, mk.ROLE_MASK]
    assert nonsquare.meta[mk.STATUS] == mk.STATUS_OK
    assert "NaN/Inf" in str(nonsquare.meta[mk.WARNINGS]) and "non-square" in str(nonsquare.meta[mk.WARNINGS])
    assert t2_as_t1.meta[mk.STATUS] == mk.STATUS_REVIEW
    assert "implausible for a T1 map" in str(t2_as_t1.meta[mk.REVIEW])


def test_erosion_property_reaches_the_mask(fake: FakeSegmenter) -> None:
    labels = phantom_labels()
    image = _map(fake, labels=labels)
    out = _run([image], erode_mm="1.5")
    myo = out[1].data[0, 0] == Label.MYOCARDIUM
    assert 0 < myo.sum() < (labels == Label.MYOCARDIUM).sum()
    assert image.meta[mk.QUALITY] == 1.0  # quality compares before erosion


def test_the_study_remembers_where_the_lv_is(fake: FakeSegmenter) -> None:
    heart = phantom_labels(r_endo_mm=14, wall_mm=6, centre=(40, 50))
    first = _map(fake, labels=heart, slice_=0)
    apex = phantom_labels(rv=False, r_endo_mm=8, wall_mm=6, centre=(42, 52))
    ring = phantom_labels(rv=False, r_endo_mm=12, wall_mm=8, centre=(110, 120))  # bigger, far from the LV
    second = _map(fake, labels=np.where(ring > 0, ring, apex).astype(np.uint8), slice_=1, image_index=2)
    out = _run([first, second])
    np.testing.assert_array_equal(out[3].data[0, 0], apex)
    alone = _run([second])  # without the first slice nothing says which ring is the LV: the bigger one wins
    np.testing.assert_array_equal(alone[1].data[0, 0], ring)

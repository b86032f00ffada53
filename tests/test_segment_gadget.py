"""The segment gadget on its own: properties, map + mask output, pass-through, odd images, model failures."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import ismrmrd
import numpy as np
import pytest
from myoseg.gadgets import segment as seg_mod
from myoseg.gadgets.base import PropertyError, StreamContext, TextMessage, build, run_gadget
from myoseg.gadgets.segment import Backend, Segment, SegmentConfig, TtaMode
from myoseg.models.api import Segmentation, SegmentationInput
from results_fixtures import (
    FakeSegmenter,
    header_bytes,
    installed_fake_segmenter,
    map_image,
    phantom_labels,
    phantom_values,
)

from myoseg.core import metakeys as mk
from myoseg.core.types import NUM_CLASSES, Label, MapType, View

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
    assert cfg.backend is Backend.ONNXRUNTIME and cfg.threads == 2 and cfg.tta is TtaMode.OFF
    assert cfg.map_type is MapType.T2 and cfg.view is View.FOUR_CH and cfg.model is None
    for bad in ({"backend": "cuda"}, {"quality_threshold": "1.5"}, {"erode_mm": "-1"}, {"threads": "0"},
                {"mask_series_offset": "0"}, {"treshold": "1"}, {"tta": "sometimes"}, {"tta_below": "1.2"},
                {"budget_ms": "-1"}, {"budget_ms": "inf"}):
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
    for attr in ("position", "read_dir", "phase_dir", "slice_dir", "field_of_view", "matrix_size"):
        assert tuple(getattr(mask, attr)) == tuple(getattr(image, attr)), attr
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


def test_tta_property_values() -> None:
    default = SegmentConfig()
    assert default.tta is TtaMode.AUTO and default.tta_below <= default.quality_threshold and default.budget_ms > 0
    for raw, want in (("auto", TtaMode.AUTO), ("Always", TtaMode.ALWAYS), ("off", TtaMode.OFF), ("true", TtaMode.ALWAYS),
                      ("false", TtaMode.OFF)):
        assert SegmentConfig.from_properties({"tta": raw}).tta is want
    cfg = SegmentConfig.from_properties({"tta_below": "0.7", "budget_ms": "0"})
    assert cfg.tta_below == 0.7 and cfg.budget_ms == 0


def test_low_tta_agreement_means_review(fake: FakeSegmenter) -> None:
    image = _map(fake)
    fake.tta_labels = [np.zeros_like(phantom_labels())] * 3  # the flipped passes find nothing
    out = _run([image], tta="always")
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


# --- adaptive TTA and the processing budget ---------------------------------------------------------------


@dataclass
class ProbingFake(FakeSegmenter):
    """A FakeSegmenter that records each call's tta flag, can blur the one-pass probabilities (an unsure
    network) and can take its time (a slow backend)."""

    flags: list[bool] = field(default_factory=list)
    blur_one_pass: float = 0.0  # 0 = one-hot probabilities; 1 = uniform
    delay_s: dict[bool, float] = field(default_factory=dict)  # per tta flag

    def segment(self, inputs: Sequence[SegmentationInput], tta: bool = False) -> list[Segmentation]:
        self.flags.append(tta)
        time.sleep(self.delay_s.get(tta, 0.0))
        out = super().segment(inputs, tta)
        if not tta and self.blur_one_pass:
            for r in out:
                r.probabilities = (1 - self.blur_one_pass) * r.probabilities + self.blur_one_pass / NUM_CLASSES
        return out


@pytest.fixture(name="probe")
def _probe() -> Iterator[ProbingFake]:
    seg_mod.clear_cache()
    probe = ProbingFake()
    seg_mod.cache_segmenter(probe)
    yield probe
    seg_mod.clear_cache()


def test_auto_tta_runs_one_pass_for_a_confident_slice(probe: ProbingFake) -> None:
    image = _map(probe)
    out = _run([image])
    assert probe.flags == [False]
    assert image.meta[mk.STATUS] == mk.STATUS_OK and image.meta[mk.QUALITY] == 1.0
    assert "tta=" not in str(image.meta[mk.QUALITY_PARTS]) and out[1].meta[mk.ROLE] == mk.ROLE_MASK


def test_auto_tta_checks_a_doubtful_slice_with_the_flip_passes(probe: ProbingFake) -> None:
    image = _map(probe)
    probe.blur_one_pass = 0.6  # the one pass is unsure; the flip passes (one-hot, agreeing) are sure
    _run([image])
    assert probe.flags == [False, True]
    assert "tta=1.00" in str(image.meta[mk.QUALITY_PARTS])
    assert image.meta[mk.STATUS] == mk.STATUS_OK and image.meta[mk.QUALITY] == 1.0  # the check cleared it


def test_auto_tta_keeps_a_slice_marked_when_the_flips_disagree(probe: ProbingFake) -> None:
    image = _map(probe)
    probe.blur_one_pass = 0.6
    probe.tta_labels = [np.zeros_like(phantom_labels())] * 3
    _run([image])
    assert probe.flags == [False, True] and image.meta[mk.STATUS] == mk.STATUS_REVIEW
    assert "tta=0.00" in str(image.meta[mk.REVIEW])


def test_tta_off_and_bound_zero_never_run_the_flips(probe: ProbingFake) -> None:
    probe.blur_one_pass = 0.6
    first, second = _map(probe, slice_=0), _map(probe, slice_=1)
    _run([first], tta="off")
    _run([second], tta_below="0")
    assert probe.flags == [False, False]
    assert first.meta[mk.STATUS] == mk.STATUS_REVIEW and "confidence=" in str(first.meta[mk.REVIEW])


def test_a_map_over_budget_comes_back_marked_and_the_connection_goes_on(probe: ProbingFake) -> None:
    slow, fast = _map(probe, slice_=0), _map(probe, MapType.T2, slice_=1)
    slow_data = slow.data.copy()
    calls = {"n": 0}
    original = probe.segment

    def first_call_slow(inputs, tta=False):  # noqa: ANN001, ANN202 - a stand-in with the Segmenter signature
        calls["n"] += 1
        if calls["n"] == 1:
            time.sleep(0.6)
        return original(inputs, tta)

    probe.segment = first_call_slow  # type: ignore[method-assign]
    started = time.perf_counter()
    out = _run([slow, fast], budget_ms="150")
    assert time.perf_counter() - started < 0.55  # the scanner did not wait for the slow call
    assert [type(o).__name__ for o in out] == ["Image", "TextMessage", "Image", "Image"]
    assert out[0] is slow and slow.meta[mk.STATUS] == mk.STATUS_ERROR and "budget of 150 ms" in slow.meta[mk.ERROR]
    np.testing.assert_array_equal(slow.data, slow_data)
    assert out[1].text.startswith("ERROR myoseg segment") and "budget" in out[1].text
    assert out[2] is fast and fast.meta[mk.STATUS] == mk.STATUS_OK and out[3].meta[mk.ROLE] == mk.ROLE_MASK


def test_a_flip_check_over_budget_keeps_the_one_pass_result(probe: ProbingFake) -> None:
    image = _map(probe)
    probe.blur_one_pass = 0.6
    probe.delay_s = {True: 0.6}
    started = time.perf_counter()
    out = _run([image], budget_ms="200")
    assert time.perf_counter() - started < 0.55
    assert probe.flags == [False, True] and len(out) == 2 and out[1].meta[mk.ROLE] == mk.ROLE_MASK
    assert image.meta[mk.STATUS] == mk.STATUS_REVIEW  # the unsure one pass stands, marked as it was
    assert "flip check" in str(image.meta[mk.WARNINGS]) and "tta=" not in str(image.meta[mk.QUALITY_PARTS])


def test_no_budget_calls_the_model_directly(probe: ProbingFake) -> None:
    import threading

    threads: list[str] = []
    original = probe.segment

    def spy(inputs, tta=False):  # noqa: ANN001, ANN202
        threads.append(threading.current_thread().name)
        return original(inputs, tta)

    probe.segment = spy  # type: ignore[method-assign]
    _run([_map(probe)], budget_ms="0")
    _run([_map(probe, slice_=1)])
    assert threads[0] == threading.current_thread().name and threads[1].startswith("myoseg-budget")


def test_the_segmenter_argmax_matches_numpy_including_ties() -> None:
    from myoseg.models.segmenter import _argmax_classes

    rng = np.random.default_rng(3)
    probabilities = rng.random((NUM_CLASSES, 40, 30)).astype(np.float32)
    probabilities[:, :5] = 0.25  # four-way ties: the lowest class, as np.argmax
    probabilities[1:3, 5:10] = 0.9  # two-way ties
    labels = _argmax_classes(probabilities)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, probabilities.argmax(axis=0))


def test_with_the_shipped_model_a_clean_study_costs_one_pass_per_slice() -> None:
    """tta=auto on real model output: confident slices of a clean simulated study never run the flips."""
    from myoseg.models.segmenter import DEFAULT_MODEL, load_segmenter

    from myoseg.sim.study import simulate_study
    from myoseg.stream.connection import parse_header

    if not DEFAULT_MODEL.is_file():
        pytest.skip("no shipped model in models/weights")
    real = load_segmenter(backend="onnxruntime", threads=1)
    flags: list[bool] = []

    class Counting:
        model_id, backend_name = real.model_id, real.backend_name

        def segment(self, inputs: Sequence[SegmentationInput], tta: bool = False) -> list[Segmentation]:
            flags.append(tta)
            return real.segment(inputs, tta)

    seg_mod.clear_cache()
    seg_mod.cache_segmenter(Counting())
    try:
        maps, header_xml, _ = simulate_study(seed=13)
        gadget = build(Segment, {}, StreamContext(header=parse_header(header_xml)))
        out = list(run_gadget(gadget, maps))
    finally:
        seg_mod.clear_cache()
    assert flags == [False] * len(maps)
    for image in maps:
        assert image.meta[mk.STATUS] == mk.STATUS_OK, image.meta.get(mk.REVIEW)
        assert float(image.meta[mk.QUALITY]) >= 0.85 and "tta=" not in str(image.meta[mk.QUALITY_PARTS])
    assert sum(isinstance(o, ismrmrd.Image) and o.meta.get(mk.ROLE) == mk.ROLE_MASK for o in out) == len(maps)

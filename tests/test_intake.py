"""Intake: which images are maps, map type, scale ratio, spacing, geometry, view; bad and odd images."""

from __future__ import annotations

import ismrmrd
import numpy as np
import pytest
from results_fixtures import Orientation, header_bytes, map_image, phantom_labels, phantom_values

from myoseg.core import metakeys as mk
from myoseg.core.intake import detect_map_type, read_map
from myoseg.core.types import MapType, View


def _t1(**kw) -> ismrmrd.Image:
    return map_image(phantom_values(phantom_labels()), MapType.T1, **kw)


@pytest.mark.parametrize(
    ("meta", "expected"),
    [
        ({mk.GT_DATA_ROLE: "T1"}, MapType.T1),
        ({mk.GT_DATA_ROLE: "T2"}, MapType.T2),
        ({mk.GT_IMAGE_COMMENT: "T2 x10 ms"}, MapType.T2),
        ({mk.IMAGE_COMMENTS: "MOLLI T1 map"}, MapType.T1),
        ({mk.SERIES_DESCRIPTION: "T2MAP_SAX"}, MapType.T2),
        ({mk.GT_SERIES_DESCRIPTION: "T1map"}, MapType.T1),
        ({mk.GT_DATA_ROLE: ["T1", "Image"]}, MapType.T1),
        ({mk.GT_SERIES_DESCRIPTION: "T1MAP_MOLLI_basal"}, MapType.T1),
        ({mk.GT_DATA_ROLE: "T2", mk.DATA_ROLE: "Quantitative"}, MapType.T2),
    ],
)
def test_map_type_sources(meta: dict, expected: MapType) -> None:
    kind, _, reason, contradictions = detect_map_type(meta)
    assert kind is expected and reason is None and not contradictions


@pytest.mark.parametrize(
    "meta",
    [
        {mk.GT_DATA_ROLE: "T1SD"},
        {mk.GT_DATA_ROLE: "T2SD"},
        {mk.GT_IMAGE_COMMENT: "T1SD map"},
        {mk.IMAGE_COMMENTS: "T2* map"},
        {mk.SERIES_DESCRIPTION: "cine bSSFP"},
        {mk.SERIES_DESCRIPTION: "T2 STIR SAX"},
        {mk.SERIES_DESCRIPTION: "T1w_TSE"},
        {mk.ROLE: "mask", mk.GT_DATA_ROLE: "T1"},
        {},
    ],
)
def test_not_maps_pass_through(meta: dict) -> None:
    image = _t1(role=None, extra_meta=meta)
    result = read_map(image)
    assert result.map is None and not result.is_map and result.reason


def test_values_spacing_geometry() -> None:
    values = phantom_values(phantom_labels((120, 100), (1.2, 2.0), r_endo_mm=18), MapType.T2)
    image = map_image(values, MapType.T2, spacing=(1.2, 2.0), ratio=10.0, comment="T2 map mid")
    result = read_map(image)
    m = result.map
    assert m is not None and m.map_type is MapType.T2 and m.view is View.MID
    np.testing.assert_allclose(m.values_ms, values, atol=0.05)  # stored as uint16 of value x 10
    assert m.geometry.spacing_mm == pytest.approx((1.2, 2.0))
    assert m.scale_ratio == 10.0 and m.shape == (120, 100)
    assert any("non-square" in w for w in result.warnings) and not result.review  # handled, no review
    assert m.geometry.position == pytest.approx((10.0, -20.0, 30.0))


def test_scale_ratio_from_comment_or_assumed() -> None:
    values = phantom_values(phantom_labels(), MapType.T2)
    image = map_image(values, MapType.T2, ratio=10.0, comment="T2 x10 ms")
    del image.meta[mk.GT_SCALE_RATIO]
    result = read_map(image)
    assert result.map is not None and result.map.scale_ratio == 10.0
    image = _t1()
    del image.meta[mk.GT_SCALE_RATIO]
    result = read_map(image)
    assert result.map is not None and result.map.scale_ratio == 1.0
    assert any("assuming" in w for w in result.warnings)


@pytest.mark.parametrize("ratio", ["abc", "0", "-3", "inf", "nan"])
def test_unknown_scale_ratio_is_an_error(ratio: str) -> None:
    image = _t1(extra_meta={mk.GT_SCALE_RATIO: ratio})
    result = read_map(image)
    assert result.map is None and result.is_map and "scale ratio" in (result.reason or "")


def _odd(kind: str) -> ismrmrd.Image:
    values = phantom_values(phantom_labels())
    if kind == "complex":
        image = ismrmrd.Image.from_array(values.astype(np.complex64)[None, None])
    elif kind == "3d":
        image = ismrmrd.Image.from_array(np.stack([values] * 3).astype(np.float32)[None])
    elif kind == "multichannel":
        image = ismrmrd.Image.from_array(np.stack([values] * 2).astype(np.float32)[:, None])
    elif kind == "tiny":
        image = ismrmrd.Image.from_array(np.full((1, 1, 8, 8), 1000, np.float32))
    elif kind == "huge":
        image = ismrmrd.Image.from_array(np.ones((1, 1, 64, 1100), np.uint16))
    elif kind == "zeros":
        image = ismrmrd.Image.from_array(np.zeros((1, 1, 64, 64), np.uint16))
    elif kind == "constant":
        image = ismrmrd.Image.from_array(np.full((1, 1, 64, 64), 950.0, np.float32))
    elif kind == "allnan":
        image = ismrmrd.Image.from_array(np.full((1, 1, 64, 64), np.nan, np.float32))
    else:
        raise AssertionError(kind)
    image.meta = ismrmrd.Meta({mk.GT_DATA_ROLE: "T1", mk.GT_SCALE_RATIO: 1})
    return image


@pytest.mark.parametrize(
    ("kind", "words"),
    [("complex", "complex"), ("3d", "3D"), ("multichannel", "channel"), ("tiny", "too small"),
     ("huge", "too large"), ("zeros", "constant"), ("constant", "constant"), ("allnan", "finite")],
)
def test_bad_images_give_a_clear_reason_and_stay_untouched(kind: str, words: str) -> None:
    image = _odd(kind)
    data, head = image.data.copy(), header_bytes(image)
    result = read_map(image)
    assert result.map is None and result.is_map
    assert words.lower() in (result.reason or "").lower()
    np.testing.assert_array_equal(image.data, data)
    assert header_bytes(image) == head


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint32, np.int64, np.float32, np.float64])
def test_real_data_types_are_accepted(dtype: type) -> None:
    values = phantom_values(phantom_labels())
    result = read_map(map_image(values, dtype=dtype))
    assert result.map is not None and result.map.values_ms.dtype == np.float32
    np.testing.assert_allclose(result.map.values_ms, values, atol=0.5)


def test_nan_inf_are_masked_counted_and_the_original_kept() -> None:
    values = phantom_values(phantom_labels())
    values[0, :5] = np.nan
    values[1, :3] = np.inf
    image = map_image(values, dtype=np.float32)
    original = image.data.copy()
    result = read_map(image)
    assert result.map is not None and result.nonfinite_pixels == 8
    assert np.isnan(result.map.values_ms).sum() == 8
    assert any("NaN/Inf" in w for w in result.warnings)
    np.testing.assert_array_equal(image.data, original)  # NaN == NaN here (same positions)


def test_t2_map_labelled_t1_is_flagged() -> None:
    values = phantom_values(phantom_labels(), MapType.T2)
    result = read_map(map_image(values, MapType.T2, role="T1"))
    assert result.map is not None and result.map.map_type is MapType.T1
    assert any("implausible for a T1 map" in r for r in result.review)


def test_contradictory_meta_is_flagged() -> None:
    image = _t1(comment="T2 map")
    result = read_map(image)
    assert result.map is not None and result.map.map_type is MapType.T1  # DataRole is trusted first
    assert any("contradictory" in r for r in result.review)


def test_pipeline_override() -> None:
    image = _t1(role=None)
    assert read_map(image).map is None
    result = read_map(image, map_type=MapType.T1, view=View.APICAL)
    assert result.map is not None and result.map.view is View.APICAL


def test_missing_geometry_is_a_review_warning() -> None:
    image = _t1()
    image.field_of_view[:] = (0.0, 0.0, 0.0)
    image.read_dir[:] = (0.0, 0.0, 0.0)
    result = read_map(image)
    assert result.map is not None
    assert result.map.geometry.spacing_mm == (1.5, 1.5)
    assert any("field_of_view" in r for r in result.review)
    assert any("orientation unknown" in w for w in result.warnings)


def test_odd_orientation_is_read_as_is() -> None:
    flipped = Orientation(read_dir=(-1.0, 0.0, 0.0), phase_dir=(0.0, 1.0, 0.0), slice_dir=(0.0, 0.0, 1.0))
    result = read_map(_t1(orientation=flipped))
    assert result.map is not None and result.map.geometry.read_dir == (-1.0, 0.0, 0.0)
    assert any("left-handed" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("meta", "view"),
    [({mk.VIEW: "apical"}, View.APICAL), ({mk.GT_SERIES_DESCRIPTION: "T1MAP_MOLLI_basal"}, View.BASAL),
     ({mk.SERIES_DESCRIPTION: "MOLLI 4CH"}, View.FOUR_CH), ({mk.IMAGE_COMMENTS: "mid-ventricular"}, View.MID),
     ({}, View.SAX)],
)
def test_view_from_meta(meta: dict, view: View) -> None:
    assert read_map(_t1(extra_meta=meta)).map.view is view


def test_view_from_geometry() -> None:
    axis = np.array([0.6, -0.5, -0.62]) / np.linalg.norm([0.6, -0.5, -0.62])
    read = np.cross(axis, [0.0, 0.0, 1.0])
    read /= np.linalg.norm(read)
    phase = np.cross(axis, read)
    sax = Orientation(tuple(read), tuple(phase), tuple(axis))
    assert read_map(_t1(orientation=sax)).map.view is View.SAX
    lax = Orientation(tuple(axis), tuple(read), tuple(np.cross(axis, read)))
    result = read_map(_t1(orientation=lax))
    assert result.map.view is View.FOUR_CH and result.view_source == "slice orientation"


def test_a_second_read_reuses_the_decoded_values_only_while_the_pixels_are_unchanged() -> None:
    values = phantom_values(phantom_labels())
    values[0, :4] = np.nan
    image = map_image(values, dtype=np.float32)
    first = read_map(image)
    again = read_map(image)
    assert first.map is not None and again.map is not None
    assert again.map.values_ms is first.map.values_ms  # decoded once
    assert again.warnings == first.warnings and again.review == first.review and again.nonfinite_pixels == 4
    with pytest.raises(ValueError, match="read-only"):
        first.map.values_ms[5, 5] = 0.0  # shared by both reads: nobody may change it in place
    # The same image object with other pixels, another scale ratio or another map type is decoded afresh.
    image.data[0, 0, 5, 5] = 12345.0
    changed = read_map(image)
    assert changed.map is not None and changed.map.values_ms is not first.map.values_ms
    assert changed.map.values_ms[5, 5] == pytest.approx(12345.0)
    as_t2 = read_map(image, map_type=MapType.T2)  # the value checks depend on the map type
    assert as_t2.map is not None and any("implausible for a T2 map" in r for r in as_t2.review)
    assert not any("implausible" in r for r in changed.review)
    image.meta[mk.GT_SCALE_RATIO] = 10
    rescaled = read_map(image)
    assert rescaled.map is not None and rescaled.map.values_ms[5, 5] == pytest.approx(1234.5)


def test_decoded_values_are_forgotten_with_their_image() -> None:
    import gc

    from myoseg.core import intake

    image = _t1()
    assert read_map(image).map is not None
    key = id(image)
    assert key in intake._DECODED
    del image
    gc.collect()
    assert key not in intake._DECODED

"""Intake never raises and never touches the image, whatever the meta, pixel type or geometry (bounded, CI-safe)."""

from __future__ import annotations

import ismrmrd
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from results_fixtures import header_bytes

from myoseg.core import metakeys as mk
from myoseg.core.intake import read_map

_TEXT = st.one_of(
    st.sampled_from(["T1", "T2", "T1SD", "T2*", "T1 map", "T2 x10 ms", "x0", "nan", "inf", "-1", "0", "1e400",
                     "MOLLI basal", "4ch", "cine", "", " ", "SAX mid"]),
    st.text(max_size=12),
)
_VALUE = st.one_of(_TEXT, st.floats(allow_nan=True, allow_infinity=True), st.integers(-10, 10**6),
                   st.lists(_TEXT, max_size=3))
_KEYS = st.sampled_from([mk.GT_DATA_ROLE, mk.GT_SCALE_RATIO, mk.GT_IMAGE_COMMENT, mk.IMAGE_COMMENTS,
                         mk.SERIES_DESCRIPTION, mk.DATA_ROLE, mk.VIEW, mk.MAP_TYPE, mk.ROLE, mk.GT_WINDOW_CENTER])
_DTYPES = st.sampled_from([np.uint16, np.int16, np.uint32, np.float32, np.float64, np.complex64])
_ODD = st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0])
_VEC = st.tuples(*[st.one_of(st.floats(-2, 2), _ODD)] * 3)


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    meta=st.dictionaries(_KEYS, _VALUE, max_size=5),
    dtype=_DTYPES,
    shape=st.tuples(st.integers(1, 2), st.integers(1, 2), st.integers(1, 70), st.integers(1, 70)),
    fill=st.sampled_from(["random", "zeros", "nan", "huge", "negative"]),
    fov=st.tuples(*[st.one_of(st.floats(-10, 500), _ODD)] * 3),
    read_dir=_VEC,
    phase_dir=_VEC,
)
def test_read_map_never_raises_nor_modifies(meta, dtype, shape, fill, fov, read_dir, phase_dir) -> None:
    rng = np.random.default_rng(0)
    data = {"random": rng.uniform(0, 2000, shape), "zeros": np.zeros(shape), "nan": np.full(shape, np.nan),
            "huge": np.full(shape, 1e30), "negative": -rng.uniform(0, 10, shape)}[fill]
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        data = np.clip(np.nan_to_num(data, nan=0.0), info.min, info.max)
    image = ismrmrd.Image.from_array(data.astype(dtype))
    image.field_of_view[:] = fov
    image.read_dir[:] = read_dir
    image.phase_dir[:] = phase_dir
    image.meta = ismrmrd.Meta(meta)
    before_data, before_head, before_meta = image.data.copy(), header_bytes(image), dict(image.meta)
    result = read_map(image)
    assert (result.map is None) == (result.reason is not None)
    if result.map is not None:
        assert result.map.values_ms.shape == (shape[2], shape[3]) and result.map.values_ms.dtype == np.float32
        assert all(np.isfinite(result.map.geometry.spacing_mm)) and min(result.map.geometry.spacing_mm) > 0
    np.testing.assert_array_equal(image.data, before_data)
    assert header_bytes(image) == before_head and dict(image.meta) == before_meta

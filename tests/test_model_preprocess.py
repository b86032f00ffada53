"""models/preprocess.py: fixed-scale normalisation, no-stretch resampling, and the native round trip."""

from __future__ import annotations

import numpy as np
import pytest
from myoseg.models import preprocess as pp
from myoseg.models.synthetic import ring_slice

from myoseg.core.types import Label, MapType, View


def test_normalisation_is_fixed_scale_not_per_image():
    spec = pp.GridSpec()
    a = pp.normalise(np.array([[1000.0, 1500.0]], np.float32), MapType.T1, spec)
    b = pp.normalise(np.array([[1000.0, 3000.0]], np.float32), MapType.T1, spec)
    assert a[0, 0] == b[0, 0] == pytest.approx(0.0)  # 1000 ms means the same whatever else is in the image
    t2 = pp.normalise(np.array([50.0, 80.0], np.float32), MapType.T2, spec)
    assert t2 == pytest.approx([0.0, 1.0])


def test_nan_and_inf_become_background():
    v = np.array([np.nan, np.inf, -np.inf, 0.0], np.float32)
    out = pp.normalise(v, MapType.T1)
    assert np.all(np.isfinite(out)) and np.all(out == out[3])
    assert pp.background_value(MapType.T1) == pytest.approx(float(out[3]))


def test_canvas_multiple_of_16_capped_and_not_stretched():
    spec = pp.GridSpec(grid_mm=1.5, max_canvas=192)
    assert pp.canvas_shape((256, 218), (1.41, 1.41), spec) == (192, 192)
    h, w = pp.canvas_shape((144, 192), (1.2, 1.2), spec)  # 173 x 230 mm
    assert h % 16 == 0 and w % 16 == 0 and h < w
    # a disk keeps its physical size along both axes although native pixels are not square
    rows, cols = np.mgrid[0:120, 0:90]
    disk = (((rows - 59.5) * 1.0) ** 2 + ((cols - 44.5) * 1.6) ** 2) < 30.0**2
    prep = pp.to_canvas(np.where(disk, 1500.0, 500.0).astype(np.float32), (1.0, 1.6), MapType.T1, spec)
    fg = prep.x[0] > 0
    r, c = np.nonzero(fg)
    extent_rows = (r.max() - r.min() + 1) * spec.grid_mm
    extent_cols = (c.max() - c.min() + 1) * spec.grid_mm
    assert extent_rows == pytest.approx(60, abs=3.5) and extent_cols == pytest.approx(60, abs=3.5)


def test_channels_encode_map_type():
    s = ring_slice(np.random.default_rng(0), map_type=MapType.T2)
    x = pp.to_canvas(s.map_ms, s.spacing_mm, s.map_type, pp.GridSpec()).x
    assert x.shape[0] == pp.IN_CHANNELS == 3
    assert np.all(x[1] == 0) and np.all(x[2] == 1)


@pytest.mark.parametrize("spacing", [(1.41, 1.41), (1.2, 1.7), (2.1, 2.1)])
def test_round_trip_keeps_geometry(spacing):
    """One-hot labels -> canvas -> native: same labels (up to border pixels), same centroid in mm."""
    rng = np.random.default_rng(1)
    s = ring_slice(rng, shape=(150, 130), spacing_mm=spacing, view=View.MID)
    spec = pp.GridSpec()
    prep = pp.to_canvas(s.map_ms, s.spacing_mm, s.map_type, spec)
    onehot = np.stack([(s.labels == k).astype(np.float32) for k in range(len(Label))])
    import cv2

    canvas = np.stack([
        cv2.warpAffine(onehot[k], prep.matrix, prep.x.shape[:0:-1], flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=1.0 if k == 0 else 0.0)
        for k in range(len(Label))
    ])
    back = pp.to_native(canvas, prep)
    assert back.shape == (len(Label), *s.labels.shape)
    assert np.allclose(back.sum(0), 1.0, atol=1e-5)
    labels = back.argmax(0)
    agree = (labels == s.labels).mean()
    assert agree > 0.97
    for lab in (Label.MYOCARDIUM, Label.LV_CAVITY):
        r0, c0 = np.argwhere(s.labels == lab).mean(0)
        r1, c1 = np.argwhere(labels == lab).mean(0)
        assert abs(r0 - r1) * spacing[0] < 0.5 and abs(c0 - c1) * spacing[1] < 0.5


def test_labels_to_canvas_matches_map_geometry():
    s = ring_slice(np.random.default_rng(2), shape=(100, 100), spacing_mm=(1.5, 1.5))
    prep = pp.to_canvas(s.map_ms, s.spacing_mm, s.map_type, pp.GridSpec())
    y = pp.labels_to_canvas(s.labels, prep.matrix, prep.x.shape[1:])
    # same grid spacing and centre: the label canvas is the native labels padded/cropped
    assert (y == Label.MYOCARDIUM).sum() == pytest.approx((s.labels == Label.MYOCARDIUM).sum(), rel=0.02)


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="2D"):
        pp.to_canvas(np.zeros((4, 4, 2), np.float32), (1.5, 1.5), MapType.T1, pp.GridSpec())
    with pytest.raises(ValueError, match="spacing"):
        pp.to_canvas(np.zeros((32, 32), np.float32), (0.0, 1.5), MapType.T1, pp.GridSpec())
    with pytest.raises(ValueError, match="map type"):
        pp.normalise(np.zeros((4, 4)), "PD")

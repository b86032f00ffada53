"""Emit pieces: FIRE ROI format, console text, overlay rendering and the RGB MRD image."""

from __future__ import annotations

import ismrmrd
import numpy as np
import pytest
from myoseg.gadgets.base import PropertyError
from myoseg.gadgets.emit import EmitConfig, console_text
from results_fixtures import map_image, phantom_labels, phantom_values

from myoseg.core import metakeys as mk
from myoseg.core.contours import extract_contours
from myoseg.core.derived import overlay_image
from myoseg.core.overlay import DEFAULT_WINDOW_MS, choose_window, render_overlay
from myoseg.core.roi import decode_roi, encode_roi
from myoseg.core.types import MapType


def test_roi_round_trip_fire_format() -> None:
    points = np.array([[1.0, 2.0], [3.5, 4.25], [5.0, 1.0]])
    value = encode_roi(points, (0.0, 1.0, 0.0), thickness=2, style=1)
    assert value[:6] == ["0.000000", "1.000000", "0.000000", "2.000000", "1.000000", "1.000000"]
    assert len(value) == 6 + 2 * 4  # closed: the first point repeated
    roi = decode_roi(value)
    assert roi.rgb == (0.0, 1.0, 0.0) and roi.thickness == 2 and roi.style == 1 and roi.visibility == 1
    np.testing.assert_allclose(roi.points_xy, np.vstack([points, points[:1]]))
    with pytest.raises(ValueError):
        decode_roi(["1", "0", "0", "1", "0", "1", "3"])


@pytest.mark.parametrize(
    ("meta", "text"),
    [
        ({mk.MAP_TYPE: "T1", mk.MEAN_MS: 1012.4, mk.SEPTAL_MS: "998.2", mk.STATUS: "ok", mk.QUALITY: 0.93},
         "T1 myo 1012 ms | sept 998 | Q ok"),
        ({mk.MAP_TYPE: "T2", mk.MEAN_MS: "51.6", mk.STATUS: "review", mk.QUALITY: "0.42",
          mk.REVIEW: ["low segmentation quality 0.42 < 0.75 (tta=0.42 refine=1.00)", "x"]},
         "T2 myo 52 ms? | Q 0.42 review"),
        ({mk.MAP_TYPE: "T1", mk.MEAN_MS: "50", mk.STATUS: "review", mk.QUALITY: "0.98", mk.REVIEW: "implausible T1"},
         "T1 myo 50 ms? | review"),
        ({mk.MAP_TYPE: "T1", mk.STATUS: "error"}, "T1 myoseg error (map unchanged)"),
        ({mk.MAP_TYPE: "T1", mk.STATUS: "ok", mk.MEAN_MS: "nan"}, "T1 myo -- | Q ok"),
    ],
)
def test_console_text(meta: dict, text: str) -> None:
    assert console_text(ismrmrd.Meta(meta)) == text


def test_window_falls_back_when_the_maps_window_is_absurd() -> None:
    values = phantom_values(phantom_labels())
    assert choose_window(values, MapType.T1, (1300.0, 1300.0)) == (1300.0, 1300.0)
    assert choose_window(values, MapType.T1, (130000.0, 10.0)) == DEFAULT_WINDOW_MS[MapType.T1]
    assert choose_window(values, MapType.T1, None) == DEFAULT_WINDOW_MS[MapType.T1]


def test_overlay_burns_contours_and_keeps_geometry() -> None:
    labels = phantom_labels()
    values = phantom_values(labels)
    contours = extract_contours(labels)
    rgb = render_overlay(values, (1000.0, 2000.0), [(contours.endo, "red"), (contours.epi, "green")],
                         lines=[("T1 myo 1000 ms", "white")], scale=2)
    assert rgb.shape == (288, 320, 3) and rgb.dtype == np.uint8
    red = (rgb[..., 0] > 200) & (rgb[..., 1] < 80)
    green = (rgb[..., 1] > 180) & (rgb[..., 0] < 80)
    assert red.sum() > 100 and green.sum() > 100
    grey = rgb[..., 0] == rgb[..., 1]
    assert grey.mean() > 0.9  # mostly the windowed map
    source = map_image(values, MapType.T1, series=5, slice_=3, image_index=4)
    overlay = overlay_image(source, rgb, 200)
    assert overlay.image_type == ismrmrd.IMTYPE_RGB and overlay.channels == 3 and overlay.data.dtype == np.uint16
    np.testing.assert_array_equal(np.moveaxis(overlay.data[:, 0], 0, -1), rgb)
    assert overlay.image_series_index == 205 and (overlay.slice, overlay.image_index) == (3, 4)
    assert tuple(overlay.field_of_view) == tuple(source.field_of_view)
    assert overlay.meta[mk.ROLE] == mk.ROLE_OVERLAY and overlay.meta[mk.SOURCE_SERIES] == 5
    assert mk.WINDOW_CENTER not in overlay.meta  # RGB has no window (FIRE)


def test_emit_properties_checked() -> None:
    assert EmitConfig.from_properties({"overlay_scale": "3", "rois": "no"}) == EmitConfig(overlay_scale=3, rois=False)
    for bad in ({"overlay_scale": "8"}, {"overlay_series_offset": "0"}, {"smooth_px": "-1"}):
        with pytest.raises(PropertyError):
            EmitConfig.from_properties(bad)


def test_window_check_matches_the_percentile_rule() -> None:
    rng = np.random.default_rng(5)
    for _ in range(500):
        values = rng.normal(rng.uniform(0, 2000), rng.uniform(1, 500), int(rng.integers(1, 300))).astype(np.float32)
        top = float(np.percentile(values, 99))
        for centre in (4 * top, np.nextafter(4 * top, np.inf), np.nextafter(4 * top, -np.inf), 4 * top * 1.001, 3.0):
            expected = (float(centre), 10.0) if 0 < centre < 4 * max(top, 1.0) else DEFAULT_WINDOW_MS[MapType.T1]
            assert choose_window(values, MapType.T1, (float(centre), 10.0)) == expected

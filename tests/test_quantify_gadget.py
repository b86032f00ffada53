"""Quantify/emit pairing of a map with the mask after it, and the study summary."""

from __future__ import annotations

import ismrmrd
import numpy as np
from myoseg.gadgets.base import StreamContext, TextMessage, build, run_gadget
from myoseg.gadgets.emit import Emit
from myoseg.gadgets.quantify import Quantify
from results_fixtures import map_image, phantom_labels, phantom_values

from myoseg.core import metakeys as mk
from myoseg.core.derived import mask_image
from myoseg.core.summary import SliceRecord, StudySummary


def _processed(slice_: int = 0) -> tuple[ismrmrd.Image, ismrmrd.Image]:
    labels = phantom_labels()
    image = map_image(phantom_values(labels), slice_=slice_, image_index=slice_ + 1)
    image.meta.update({mk.MAP_TYPE: "T1", mk.VIEW: "mid", mk.STATUS: "ok", mk.QUALITY: "0.9"})
    return image, mask_image(image, labels, 100)


def test_map_without_its_mask_passes_unchanged_and_in_order() -> None:
    a, a_mask = _processed(0)
    b, _ = _processed(1)
    text = TextMessage("hello")
    out = list(run_gadget(build(Quantify, {"summary": "false"}, StreamContext()), [b, text, a, a_mask]))
    assert out == [b, text, a, a_mask]
    assert mk.MEAN_MS not in b.meta and mk.MEAN_MS in a.meta


def test_mask_of_another_slice_does_not_pair() -> None:
    a, _ = _processed(0)
    _, b_mask = _processed(1)
    out = list(run_gadget(build(Emit, {}, StreamContext()), [a, b_mask]))
    assert out == [a, b_mask] and mk.IMAGE_COMMENTS not in a.meta


def test_held_map_comes_back_at_the_end_of_the_stream() -> None:
    a, _ = _processed(0)
    out = list(run_gadget(build(Quantify, {}, StreamContext()), [a]))
    assert out == [a]


def test_summary_lines() -> None:
    study = StudySummary()
    for s, view, mean, pixels, septal in ((0, "basal", 1000.0, 100, None), (1, "mid", 1010.0, 300, 990.0),
                                          (2, "apical", 1030.0, 100, None)):
        study.add(SliceRecord(5, s, s + 1, "T1", view, "ok", mean, pixels, septal, 0.9,
                              {7 + k: 1000.0 + k for k in range(6)} if view == "mid" else {}))
    study.add(SliceRecord(5, 3, 4, "T1", "4ch", "error"))
    (line,) = study.lines()
    assert line.startswith("myoseg summary T1 series 5: 4 slice(s) (3 ok, 0 review, 1 error)")
    assert f"global {np.average([1000, 1010, 1030], weights=[100, 300, 100]):.0f} ms" in line
    assert "septal 990 ms" in line and "AHA 7:1000 8:1001" in line and "Q min 0.90" in line

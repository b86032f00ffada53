"""The pass-through guarantee end to end: the shipped pipeline over real sockets, with the model step raising."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import pytest
from gadgets_for_tests import HEADER_XML, make_map

from myoseg.core import metakeys as mk
from myoseg.stream.client import MrdClient
from myoseg.stream.server import running_server

segment = pytest.importorskip("myoseg.gadgets.segment")
pytest.importorskip("myoseg.gadgets.quantify")
pytest.importorskip("myoseg.gadgets.emit")


class ExplodingSegmenter:
    model_id = "exploding@000000"
    backend_name = "test"
    calls = 0

    def segment(self, inputs: Sequence[object], tta: bool = False) -> list[object]:
        ExplodingSegmenter.calls += 1
        raise RuntimeError("inference backend died")


@pytest.fixture()
def exploding_model() -> Iterator[None]:
    segment.clear_cache()
    segment.cache_segmenter(ExplodingSegmenter())  # the key the default properties use
    yield
    segment.clear_cache()


def test_model_exception_returns_every_map_unchanged_over_tcp(exploding_model: None) -> None:
    sent = [make_map(950 + i, slice_=i, index=i, shape=(96, 96)) for i in range(3)]
    sent += [make_map(45 + i, dtype=np.uint16, series=11, slice_=i, index=i, shape=(96, 96)) for i in range(3)]
    for image in sent[3:]:
        image.meta["GADGETRON_DataRole"] = "T2"
        image.meta["GADGETRON_ImageComment"] = "T2 map"
    pixels = [im.data.copy() for im in sent]
    heads = [bytes(im.getHead()) for im in sent]
    with running_server() as srv:
        result = MrdClient(*srv.address, timeout=30).process(sent, HEADER_XML, config_name="myoseg_t1t2")
    assert result.closed
    assert ExplodingSegmenter.calls >= 1  # the model step really ran (and raised)
    originals = [im for im in result.images if not im.meta.get(mk.ROLE)]
    assert [(im.image_series_index, im.slice) for im in originals] == [(im.image_series_index, im.slice)
                                                                       for im in sent]
    for back, data, head in zip(originals, pixels, heads, strict=True):
        np.testing.assert_array_equal(back.data, data)
        assert back.data.dtype == data.dtype
        back_head = back.getHead()
        back_head.attribute_string_len = 0
        expected = type(back_head).from_buffer_copy(head)
        expected.attribute_string_len = 0
        assert bytes(back_head) == bytes(expected)
        assert back.meta[mk.STATUS] == mk.STATUS_ERROR and "inference backend died" in back.meta[mk.ERROR]
    assert any(t.startswith("ERROR") and "inference backend died" in t for t in result.texts)

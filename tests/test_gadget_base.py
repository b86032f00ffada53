"""The pass-through guarantee of run_gadget, without sockets."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import ismrmrd
import numpy as np
import pytest
from myoseg.gadgets.base import (
    Gadget,
    GadgetConfig,
    Item,
    PropertyError,
    StreamContext,
    TextMessage,
    build,
    run_gadget,
)

from myoseg.core import metakeys as mk
from myoseg.core.types import MapType


def _image(value: float, series: int = 5) -> ismrmrd.Image:
    image = ismrmrd.Image.from_array(np.full((1, 8, 8), value, dtype=np.float32))
    image.image_series_index = series
    return image


class Holder(Gadget):
    """Holds every image until the next one arrives; fails on images whose first pixel is negative."""

    name = "holder"

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        self.held: list[Item] = []

    def handle(self, item: Item) -> Iterable[Item]:
        if isinstance(item, ismrmrd.Image) and item.data.flat[0] < 0:
            raise RuntimeError("boom")
        out, self.held = self.held, [item]
        return out

    def close(self) -> Iterable[Item]:
        out, self.held = self.held, []
        return out

    def release_held(self) -> list[Item]:
        out, self.held = self.held, []
        return out


def test_error_passes_every_original_through_in_order() -> None:
    images = [_image(1), _image(-1), _image(3)]
    originals = [im.data.copy() for im in images]
    gadget = Holder(GadgetConfig(), StreamContext())
    out = list(run_gadget(gadget, images))
    returned = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert [float(r.data.flat[0]) for r in returned] == [1, -1, 3]
    for r, o in zip(returned, originals, strict=True):
        np.testing.assert_array_equal(r.data, o)
    texts = [o for o in out if isinstance(o, TextMessage)]
    assert len(texts) == 1 and texts[0].text.startswith("ERROR") and "boom" in texts[0].text
    assert returned[0].meta[mk.STATUS] == mk.STATUS_ERROR  # it was held when the error came
    assert returned[1].meta[mk.STATUS] == mk.STATUS_ERROR
    assert mk.STATUS not in returned[2].meta


@dataclass(frozen=True)
class _Cfg(GadgetConfig):
    threshold: float = 0.5
    enabled: bool = True
    map_type: MapType | None = None
    label: str = "x"


def test_properties_parse_types_and_reject_unknown_names() -> None:
    cfg = _Cfg.from_properties({"threshold": "0.7", "enabled": "false", "map_type": "t2"})
    assert cfg == _Cfg(threshold=0.7, enabled=False, map_type=MapType.T2)
    with pytest.raises(PropertyError, match="unknown property"):
        _Cfg.from_properties({"treshold": "1"})
    with pytest.raises(PropertyError, match="threshold"):
        _Cfg.from_properties({"threshold": "abc"})
    with pytest.raises(PropertyError, match="true/false"):
        _Cfg.from_properties({"enabled": "maybe"})


def test_build_reports_gadget_name() -> None:
    with pytest.raises(PropertyError, match="holder"):
        build(Holder, {"nope": "1"}, StreamContext())

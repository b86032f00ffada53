"""The processing budget: a step that overruns sends the original on with an error; the stream continues."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import ismrmrd
import pytest
from gadgets_for_tests import make_map
from myoseg.gadgets.base import (
    BudgetExceeded,
    Gadget,
    GadgetConfig,
    Item,
    StreamContext,
    TextMessage,
    call_with_budget,
    run_gadget,
)

from myoseg.core import metakeys as mk


def test_call_with_budget_returns_or_raises_in_time() -> None:
    assert call_with_budget(None, lambda x: x + 1, 1) == 2
    assert call_with_budget(500, lambda x: x * 2, 4) == 8
    started = time.perf_counter()
    with pytest.raises(BudgetExceeded, match="50 ms"):
        call_with_budget(50, time.sleep, 0.5)
    assert time.perf_counter() - started < 0.3
    with pytest.raises(ZeroDivisionError):  # the step's own errors come through unchanged
        call_with_budget(500, lambda: 1 / 0)


@dataclass(frozen=True)
class _Cfg(GadgetConfig):
    budget_ms: float = 60.0


class SlowModel(Gadget):
    """Inference that hangs on slice 1 (until released), fast otherwise."""

    Config = _Cfg
    name = "slowmodel"
    release = threading.Event()

    def _infer(self, image: ismrmrd.Image) -> str:
        if image.slice == 1:
            self.release.wait(5)
        return "ok"

    def handle(self, item: Item) -> Iterable[Item]:
        if isinstance(item, ismrmrd.Image):
            item.meta["TEST_Result"] = call_with_budget(self.config.budget_ms, self._infer, item)  # type: ignore[attr-defined]
        yield item


def test_overrun_passes_the_original_on_and_the_stream_continues() -> None:
    images = [make_map(i, slice_=i) for i in range(3)]
    started = time.perf_counter()
    out = list(run_gadget(SlowModel(_Cfg(), StreamContext()), images))
    SlowModel.release.set()
    assert time.perf_counter() - started < 1.0
    back = [o for o in out if isinstance(o, ismrmrd.Image)]
    assert [b.slice for b in back] == [0, 1, 2]
    assert back[1].meta[mk.STATUS] == mk.STATUS_ERROR and "budget" in back[1].meta[mk.ERROR]
    assert back[0].meta["TEST_Result"] == back[2].meta["TEST_Result"] == "ok"
    assert [t.text for t in out if isinstance(t, TextMessage)][0].startswith("ERROR myoseg slowmodel")

"""The in-process chain: gadgets of a PipelineSpec composed as run_gadget generators, with counts and timings.

A step whose gadget cannot even be constructed (a missing model file, say) is replaced by a BrokenStep that
passes every item on, marks images with the error and reports it once: the maps still come back.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import ismrmrd

from myoseg.core import metakeys as mk
from myoseg.gadgets.base import Gadget, GadgetConfig, Item, StreamContext, TextMessage, mark_error, run_gadget
from myoseg.stream.pipeline import PipelineSpec

log = logging.getLogger("myoseg.stream")


class BrokenStep(Gadget):
    """Stands in for a step that could not start: every item passes, images carry the error."""

    name = "broken"

    def __init__(self, stage: str, message: str, context: StreamContext, report_text: bool = True) -> None:
        super().__init__(GadgetConfig(), context)
        self.name = stage  # type: ignore[misc]  # timings and logs name the step that failed
        self.message = message
        self._report = report_text

    def handle(self, item: Item) -> Iterable[Item]:
        mark_error(item, self.message)
        yield item
        yield from self._text_once()

    def close(self) -> Iterable[Item]:
        return list(self._text_once())

    def _text_once(self) -> Iterator[Item]:
        if self._report:
            self._report = False
            yield TextMessage(self.message)


def build_gadgets(spec: PipelineSpec, context: StreamContext) -> list[Gadget]:
    gadgets: list[Gadget] = []
    for step in spec.steps:
        try:
            gadgets.append(step.gadget_class(step.config, context))
        except Exception as exc:  # noqa: BLE001 - the guarantee: a step that cannot start still passes maps on
            message = f"ERROR myoseg {step.name}: could not start: {type(exc).__name__}: {exc}"
            log.error("%s [conn %s]", message, context.connection_id)
            gadgets.append(BrokenStep(step.name, message, context))
    return gadgets


class ChainRun:
    """One connection's run of a pipeline. Iterate `run(items)`; then `summary()` for the log line."""

    def __init__(self, spec: PipelineSpec | None, context: StreamContext, *, error: str | None = None) -> None:
        self.context = context
        self.pipeline = spec.name if spec is not None else "-"
        if spec is None:  # the pipeline itself failed: pass everything through, marked, text sent elsewhere
            self.gadgets: list[Gadget] = [BrokenStep("pipeline", error or "ERROR myoseg: no pipeline", context,
                                                     report_text=False)]
        else:
            self.gadgets = build_gadgets(spec, context)
        self.counts: Counter[str] = Counter()
        self.started = time.perf_counter()

    @property
    def stage_names(self) -> list[str]:
        return [g.name for g in self.gadgets]

    def run(self, items: Iterable[Item]) -> Iterator[Item]:
        stream: Iterable[Item] = self._count(items, "in")
        for gadget in self.gadgets:
            stream = run_gadget(gadget, stream)
        yield from self._count(stream, "out")

    def _count(self, items: Iterable[Item], direction: str) -> Iterator[Item]:
        for item in items:
            self.counts[f"{_kind(item)}_{direction}"] += 1
            if direction == "out" and _is_error(item):
                self.counts["errors"] += 1
            yield item

    def summary(self) -> str:
        c = self.counts
        parts = [f"pipeline={self.pipeline}", f"images {c['image_in']}->{c['image_out']}"]
        other_in = c["acquisition_in"] + c["waveform_in"]
        if other_in or c["acquisition_out"] + c["waveform_out"]:
            parts.append(f"acq/wave {other_in}->{c['acquisition_out'] + c['waveform_out']}")
        if c["text_out"]:
            parts.append(f"texts {c['text_out']}")
        parts.append(f"errors {c['errors']}")
        parts.append("stages " + (format_timings(self.context, self.stage_names) or "-"))
        parts.append(f"total {1e3 * (time.perf_counter() - self.started):.0f} ms")
        return " | ".join(parts)


def format_timings(context: StreamContext, order: Sequence[str] = ()) -> str:
    """'segment 41.2 ms (n=8), quantify 1.1 ms (n=8)': median per item of each stage, stages in `order` first."""
    timings = context.timings_ms
    stages = [s for s in order if s in timings] + [s for s in timings if s not in order]
    return ", ".join(f"{stage} {statistics.median(timings[stage]):.1f} ms (n={len(timings[stage])})"
                     for stage in stages if timings[stage])


def _kind(item: Item) -> str:
    if isinstance(item, ismrmrd.Image):
        return "image"
    if isinstance(item, ismrmrd.Acquisition):
        return "acquisition"
    if isinstance(item, ismrmrd.Waveform):
        return "waveform"
    return "text"


def _is_error(item: Item) -> bool:
    if isinstance(item, TextMessage):
        return item.text.startswith("ERROR")
    if isinstance(item, ismrmrd.Image):
        return item.meta.get(mk.STATUS) == mk.STATUS_ERROR
    return False

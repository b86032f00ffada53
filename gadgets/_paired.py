"""A gadget step over (map, mask) pairs: the segment gadget sends each processed map followed at once by its
mask; quantify and emit hold the map until its mask arrives, then handle both together.

Anything else passes straight through, in order. A held map whose mask does not follow (an upstream
error dropped it) goes on unchanged before the next item. Holding one map at a time means nothing is
reordered and at most one image is in flight per step.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Iterable

import ismrmrd
from myoseg.gadgets.base import Gadget, GadgetConfig, Item, StreamContext

from myoseg.core.derived import is_mask_of, is_processed_map

log = logging.getLogger("myoseg.gadgets")


class PairedGadget(Gadget):
    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        self._held: ismrmrd.Image | None = None

    @abc.abstractmethod
    def handle_pair(self, image: ismrmrd.Image, mask: ismrmrd.Image) -> Iterable[Item]:
        """Yield the map, its mask and whatever the step adds."""

    def handle_unpaired(self, image: ismrmrd.Image) -> Iterable[Item]:
        """A processed map with no mask after it."""
        log.warning("%s: no mask followed map series %s slice %s image %s; passed on unchanged",
                    self.name, image.image_series_index, image.slice, image.image_index)
        yield image

    def handle(self, item: Item) -> Iterable[Item]:
        held, self._held = self._held, None
        if held is not None:
            if is_mask_of(item, held):
                self._held = held  # kept reachable for release_held while the pair is handled
                out = list(self.handle_pair(held, item))  # type: ignore[arg-type]
                self._held = None
                return out
            out = list(self.handle_unpaired(held))
        else:
            out = []
        if is_processed_map(item):
            self._held = item  # type: ignore[assignment]
        else:
            out.append(item)
        return out

    def close(self) -> Iterable[Item]:
        held, self._held = self._held, None
        return list(self.handle_unpaired(held)) if held is not None else []

    def release_held(self) -> list[Item]:
        held, self._held = self._held, None
        return [held] if held is not None else []

"""Sends everything back unchanged. The reference for the pass-through path and a plumbing check."""

from __future__ import annotations

from collections.abc import Iterable

from myoseg.gadgets.base import Gadget, GadgetConfig, Item


class PassThrough(Gadget):
    Config = GadgetConfig
    name = "passthrough"

    def handle(self, item: Item) -> Iterable[Item]:
        yield item

"""Sends everything back unchanged. The reference for the pass-through path and a plumbing check."""

from __future__ import annotations

from collections.abc import Iterable

from myoseg.gadgets.base import Gadget, GadgetConfig, Item

from myoseg.stream.external import gadgetron_target


class PassThrough(Gadget):
    Config = GadgetConfig
    name = "passthrough"

    def handle(self, item: Item) -> Iterable[Item]:
        yield item


# Gadgetron target: <execute name="myoseg.gadgets.passthrough" target="passthrough" type="python"/>
passthrough = gadgetron_target(PassThrough)

"""Gadgets and helpers for the stream tests (importable as `gadgets_for_tests`: tests/ is on sys.path).

Pipelines that use these gadgets are parsed with module_prefixes including "gadgets_for_tests".
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass

import ismrmrd
import numpy as np
from myoseg.gadgets.base import Gadget, GadgetConfig, Item, StreamContext

from myoseg.stream import wire
from myoseg.stream.external import gadgetron_target

TEST_PREFIXES = ("myoseg.gadgets", "gadgets_for_tests")


@dataclass(frozen=True)
class TagConfig(GadgetConfig):
    key: str = "TEST_Tag"
    value: str = "seen"


class Tag(Gadget):
    """Adds one meta key to every image (stands in for a results gadget)."""

    Config = TagConfig
    name = "tag"

    def handle(self, item: Item) -> Iterable[Item]:
        if isinstance(item, ismrmrd.Image):
            cfg: TagConfig = self.config  # type: ignore[assignment]
            item.meta[cfg.key] = cfg.value
        yield item


class Explode(Gadget):
    """Raises inside handle for every image (stands in for a crashing model step)."""

    name = "explode"

    def handle(self, item: Item) -> Iterable[Item]:
        if isinstance(item, ismrmrd.Image):
            raise RuntimeError("model exploded")
        yield item


class HoldAll(Gadget):
    """Holds every image until the stream ends (like a gadget that needs all slices)."""

    name = "holdall"

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        super().__init__(config, context)
        self.held: list[Item] = []

    def handle(self, item: Item) -> Iterable[Item]:
        self.held.append(item)
        return ()

    def close(self) -> Iterable[Item]:
        out, self.held = self.held, []
        return out

    def release_held(self) -> list[Item]:
        return self.close()  # type: ignore[return-value]


@dataclass(frozen=True)
class SleepConfig(GadgetConfig):
    seconds: float = 0.2


class Sleep(Gadget):
    Config = SleepConfig
    name = "sleep"

    def handle(self, item: Item) -> Iterable[Item]:
        time.sleep(self.config.seconds)  # type: ignore[attr-defined]
        yield item


class CannotStart(Gadget):
    name = "cannotstart"

    def __init__(self, config: GadgetConfig, context: StreamContext) -> None:
        raise FileNotFoundError("model file /nowhere/model.onnx is missing")

    def handle(self, item: Item) -> Iterable[Item]:
        yield item


tag = gadgetron_target(Tag)
explode = gadgetron_target(Explode)
holdall = gadgetron_target(HoldAll)
sleep = gadgetron_target(Sleep)
cannotstart = gadgetron_target(CannotStart)


def pipeline_xml(*steps: tuple[str, str] | tuple[str, str, dict[str, str]]) -> str:
    """A Gadgetron v2 pipeline of (module, target[, properties]) steps."""
    body = []
    for step in steps:
        module, target = step[0], step[1]
        props = step[2] if len(step) > 2 else {}  # type: ignore[misc]
        prop_xml = "".join(f'<property name="{k}" value="{v}"/>' for k, v in props.items())  # type: ignore[union-attr]
        body.append(f'<external><execute name="{module}" target="{target}" type="python"/>'
                    f"<configuration>{prop_xml}</configuration></external>")
    return f"<?xml version='1.0'?>\n<configuration>\n<version>2</version>\n<stream>\n{''.join(body)}\n</stream>\n</configuration>\n"


HEADER_XML = """<?xml version="1.0" encoding="UTF-8"?>
<ismrmrdHeader xmlns="http://www.ismrm.org/ISMRMRD">
  <subjectInformation><patientName>DOE^JANE</patientName><patientID>SECRET-ID-42</patientID></subjectInformation>
  <experimentalConditions><H1resonanceFrequency_Hz>63500000</H1resonanceFrequency_Hz></experimentalConditions>
  <encoding>
    <encodedSpace><matrixSize><x>32</x><y>24</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>64</x><y>48</y><z>8</z></fieldOfView_mm></encodedSpace>
    <reconSpace><matrixSize><x>32</x><y>24</y><z>1</z></matrixSize>
      <fieldOfView_mm><x>64</x><y>48</y><z>8</z></fieldOfView_mm></reconSpace>
    <encodingLimits><slice><minimum>0</minimum><maximum>2</maximum><center>1</center></slice></encodingLimits>
    <trajectory>cartesian</trajectory>
  </encoding>
</ismrmrdHeader>
"""


def make_map(value: float, *, dtype: type = np.float32, series: int = 5, slice_: int = 0, index: int = 0,
             shape: tuple[int, int] = (24, 32)) -> ismrmrd.Image:
    """A small T1-map-like image with Gadgetron meta; pixel values vary so order mistakes show."""
    rows, cols = shape
    data = (np.arange(rows * cols, dtype=np.float64).reshape(rows, cols) % 97 + value).astype(dtype)
    image = ismrmrd.Image.from_array(data[None])
    image.image_series_index = series
    image.slice = slice_
    image.image_index = index
    image.field_of_view[:] = (cols * 2.0, rows * 2.0, 8.0)
    image.meta["GADGETRON_DataRole"] = "T1"
    image.meta["GADGETRON_ScaleRatio"] = "1" if dtype == np.float32 else "10"
    image.meta["GADGETRON_ImageComment"] = ["T1 map", "MOLLI"]
    return image


def make_acquisition(n: int = 16, channels: int = 2) -> ismrmrd.Acquisition:
    data = (np.arange(n * channels) + 1j * np.arange(n * channels)).astype(np.complex64).reshape(channels, n)
    acq = ismrmrd.Acquisition.from_array(data)
    acq.scan_counter = 7
    return acq


def raw_session(address: tuple[str, int], payload: bytes, *, timeout: float = 5.0,
                shut_write: bool = True) -> list[wire.Message]:
    """Send raw bytes, then read messages until CLOSE or EOF. Returns the messages (CLOSE included)."""
    with socket.create_connection(address, timeout=timeout) as sock:
        try:
            if payload:
                sock.sendall(payload)
            if shut_write:
                sock.shutdown(socket.SHUT_WR)
        except OSError:  # the server may refuse or answer before reading everything
            pass
        return read_all(sock)


def read_all(sock: socket.socket) -> list[wire.Message]:
    from myoseg.stream.connection import MrdConnection

    conn = MrdConnection(sock, read_timeout=5.0, idle_timeout=5.0)
    messages: list[wire.Message] = []
    while True:
        try:
            message = conn.read_message()
        except wire.StreamClosed:
            return messages
        messages.append(message)
        if isinstance(message, wire.Close):
            return messages

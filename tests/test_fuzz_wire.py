"""Fuzz the stream reader: any bytes give a message or a ProtocolError, never another exception, never a hang.

Bounded for CI: a fixed number of examples, no deadline flakiness, derandomized.
"""

from __future__ import annotations

import struct

from gadgets_for_tests import make_acquisition, make_map
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myoseg.stream import wire
from myoseg.stream.wire import BytesReader, ProtocolError

SMALL = wire.Limits(max_xml_bytes=1 << 16, max_text_bytes=1 << 16, max_meta_bytes=1 << 16, max_image_dim=256,
                    max_image_bytes=1 << 20, max_acquisition_bytes=1 << 20, max_waveform_bytes=1 << 20)
IDS = [1, 2, 3, 4, 5, 8, 1008, 1022, 1026]
VALID = [
    wire.encode_image(make_map(1)),
    wire.encode_image(make_map(2, dtype=__import__("numpy").uint16)),
    wire.encode_acquisition(make_acquisition()),
    wire.encode_text("hello"),
    wire.encode_config_file("passthrough"),
    wire.encode_header("<ismrmrdHeader/>"),
    wire.encode_close(),
]
FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _drain(data: bytes) -> None:
    reader = BytesReader(data)
    try:
        for _ in range(64):
            if not reader.remaining:
                return
            wire.read_message(reader, SMALL)
    except ProtocolError:
        pass


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes(data: bytes) -> None:
    _drain(data)


@FUZZ
@given(st.sampled_from(IDS), st.binary(max_size=2048))
def test_known_ids_with_random_payload(mid: int, payload: bytes) -> None:
    _drain(struct.pack("<H", mid) + payload)


@FUZZ
@given(st.sampled_from(VALID), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
       st.integers(0, 10_000))
def test_mutated_valid_messages(message: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(message)
    for pos, value in flips:
        data[pos % len(data)] = value
    _drain(bytes(data[: max(1, len(data) - cut % len(data))]))

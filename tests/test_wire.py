"""The MRD v1 wire format without sockets: round trips, limits checked before allocation, named errors."""

from __future__ import annotations

import struct
import tracemalloc

import ismrmrd
import numpy as np
import pytest
from gadgets_for_tests import make_acquisition, make_map
from myoseg.gadgets.base import TextMessage

from myoseg.stream import wire
from myoseg.stream.wire import BytesReader, ProtocolError, StreamClosed


def _roundtrip(payload: bytes) -> wire.Message:
    reader = BytesReader(payload)
    message = wire.read_message(reader)
    assert reader.remaining == 0
    return message


@pytest.mark.parametrize("dtype", [np.float32, np.uint16, np.int16, np.float64, np.complex64])
def test_image_roundtrip_keeps_pixels_header_and_meta(dtype: type) -> None:
    image = make_map(3, dtype=dtype, series=11, slice_=2, index=4)
    image.meta["ROI_test"] = ["1", "0", "0", "2", "1", "1", "10.5", "3.25"]
    back = _roundtrip(wire.encode_image(image))
    assert isinstance(back, ismrmrd.Image)
    assert back.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data, image.data)
    assert dict(back.meta) == dict(image.meta)
    assert bytes(back.getHead()) == bytes(image.getHead())
    assert wire.encode_image(back) == wire.encode_image(image)  # re-serialises byte for byte


def test_int32_images_keep_their_4_byte_pixels() -> None:
    # ismrmrd maps DATATYPE_INT to int64 and cannot even build one; the wire carries int32 (C++ int32_t).
    pixels = np.arange(-6, 6, dtype="<i4").reshape(1, 1, 3, 4)
    payload = _image_header(4, 3, 1, data_type=ismrmrd.DATATYPE_INT) + struct.pack("<Q", 0) + pixels.tobytes()
    back = _roundtrip(payload)
    assert back.data.dtype == np.int32
    np.testing.assert_array_equal(back.data, pixels)
    assert wire.encode_image(back) == payload


def test_other_messages_roundtrip() -> None:
    acq = make_acquisition()
    back = _roundtrip(wire.encode_acquisition(acq))
    assert isinstance(back, ismrmrd.Acquisition)
    np.testing.assert_array_equal(back.data, acq.data)
    assert back.scan_counter == 7
    waveform = ismrmrd.Waveform.from_array(np.arange(12, dtype=np.uint32).reshape(2, 6))
    back_w = _roundtrip(wire.encode_waveform(waveform))
    np.testing.assert_array_equal(back_w.data, waveform.data)
    assert _roundtrip(wire.encode_text("ERROR x")) == TextMessage("ERROR x")
    assert _roundtrip(wire.encode_config_file("passthrough.xml")) == wire.ConfigFile("passthrough.xml")
    assert _roundtrip(wire.encode_config_script("<a/>")) == wire.ConfigScript(b"<a/>")
    assert _roundtrip(wire.encode_header("<h/>")) == wire.Header(b"<h/>")
    assert _roundtrip(wire.encode_close()) == wire.Close()
    assert _roundtrip(wire.encode_error("bad")) == wire.RemoteError("bad")


def test_config_file_is_1024_bytes_zero_padded() -> None:
    payload = wire.encode_config_file("myoseg_t1t2")
    assert len(payload) == 2 + 1024 and payload[2:13] == b"myoseg_t1t2" and set(payload[13:]) == {0}


def _image_header(nx: int, ny: int, nz: int, channels: int = 1, data_type: int = ismrmrd.DATATYPE_FLOAT) -> bytes:
    head = ismrmrd.ImageHeader()
    head.version = 1
    head.data_type = data_type
    head.matrix_size[:] = (nx, ny, nz)
    head.channels = channels
    return struct.pack("<H", 1022) + bytes(head)


@pytest.mark.parametrize(
    ("header", "match"),
    [
        (_image_header(65535, 65535, 65535), "matrix_size"),
        (_image_header(4096, 4096, 64), "exceeds"),
        (_image_header(64, 64, 1, channels=65535), "channels"),
        (_image_header(64, 64, 0), "matrix_size"),
        (_image_header(64, 64, 1, data_type=99), "data_type"),
    ],
)
def test_absurd_image_headers_are_rejected_before_allocating(header: bytes, match: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ProtocolError, match=match):
            wire.read_message(BytesReader(header + b"\0" * 64))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_lengths_beyond_limits_are_rejected() -> None:
    ok_header = _image_header(8, 8, 1)
    with pytest.raises(ProtocolError, match="image meta"):
        wire.read_message(BytesReader(ok_header + struct.pack("<Q", 1 << 40)))
    with pytest.raises(ProtocolError, match="text message"):
        wire.read_message(BytesReader(struct.pack("<HI", 5, 0xFFFFFFFF)))
    with pytest.raises(ProtocolError, match="MRD header"):
        wire.read_message(BytesReader(struct.pack("<HI", 3, 0xFFFFFFFF)))
    acq = ismrmrd.AcquisitionHeader()
    acq.number_of_samples, acq.active_channels = 65535, 65535
    with pytest.raises(ProtocolError, match="acquisition"):
        wire.read_message(BytesReader(struct.pack("<H", 1008) + bytes(acq)))


def test_truncation_and_unknown_ids_raise_named_errors() -> None:
    full = wire.encode_image(make_map(1))
    for cut in (1, 2, 50, 199, 210, len(full) - 1):
        with pytest.raises(StreamClosed):
            wire.read_message(BytesReader(full[:cut]))
    with pytest.raises(ProtocolError, match="unknown message id 777"):
        wire.read_message(BytesReader(struct.pack("<H", 777)))


def test_meta_xml_with_entities_is_rejected() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            b"<ismrmrdMeta><meta><name>x</name><value>&b;</value></meta></ismrmrdMeta>")
    with pytest.raises(ProtocolError, match="meta"):
        wire.parse_meta(bomb)
    with pytest.raises(ProtocolError, match="root"):
        wire.parse_meta(b"<other/>")


def test_parse_meta_matches_ismrmrd() -> None:
    meta = ismrmrd.Meta({"a": "1", "b": ["x", "y"], "c": ""})
    text = meta.serialize()
    assert dict(wire.parse_meta(text.encode())) == dict(ismrmrd.Meta.deserialize(text))

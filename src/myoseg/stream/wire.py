"""The MRD v1 stream wire format (Gadgetron / FIRE client protocol), in one module.

Every message starts with a 16-bit little-endian message id. Layouts (all integers little-endian):

    id 1     CONFIG_FILE    char[1024]         config (pipeline) name, zero-padded, with or without ".xml"
    id 2     CONFIG_SCRIPT  u32 n, n bytes     a whole pipeline XML
    id 3     HEADER         u32 n, n bytes     the MRD XML header (ismrmrdHeader)
    id 4     CLOSE          -                  end of stream (each side sends one)
    id 5     TEXT           u32 n, n bytes     free text; FIRE: errors start with "ERROR"
    id 8     ERROR          u64 n, n bytes     Gadgetron external-channel error (peer -> Gadgetron only)
    id 1008  ACQUISITION    AcquisitionHeader (340 B), float32[samples][traj_dims], complex64[channels][samples]
    id 1022  IMAGE          ImageHeader (198 B), u64 m, m bytes meta XML, pixels
                            (channels x z x y x x, of the header's data_type)
    id 1026  WAVEFORM       WaveformHeader (40 B), uint32[channels][samples]

Readers take a `read_exactly(n) -> bytes` callable that returns exactly n bytes or raises `ProtocolError`
(`StreamClosed` at end of stream: a peer that closes mid-message must never leave a reader spinning on
b'', the gadgetron 1.4.1 EOF-spin bug). Every length and size read off the wire is checked against
`Limits` BEFORE anything is allocated: `ismrmrd.Image.deserialize_from` allocates whatever the header
claims (a 65535^3 float image is 1 PB), so we never call it. XML (meta, headers, configs) is parsed with
defusedxml elsewhere; here meta XML is parsed with DTDs and entities forbidden.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

import defusedxml.ElementTree as SafeET
import ismrmrd
import numpy as np
from defusedxml import DefusedXmlException

from myoseg.gadgets.base import Item, TextMessage

# --- byte layouts -------------------------------------------------------------------------------
MESSAGE_ID = struct.Struct("<H")  # u16 message id
U32 = struct.Struct("<I")  # length prefix of CONFIG_SCRIPT, HEADER, TEXT
U64 = struct.Struct("<Q")  # length prefix of image meta and of ERROR text
CONFIG_FILE_SIZE = 1024  # CONFIG_FILE payload: fixed, zero-padded
IMAGE_HEADER_SIZE = ctypes.sizeof(ismrmrd.ImageHeader)  # 198
ACQUISITION_HEADER_SIZE = ctypes.sizeof(ismrmrd.AcquisitionHeader)  # 340
WAVEFORM_HEADER_SIZE = ctypes.sizeof(ismrmrd.WaveformHeader)  # 40

ReadExactly = Callable[[int], bytes]


class MessageId(IntEnum):
    CONFIG_FILE = 1
    CONFIG_SCRIPT = 2
    HEADER = 3
    CLOSE = 4
    TEXT = 5
    ERROR = 8
    ACQUISITION = 1008
    IMAGE = 1022
    WAVEFORM = 1026


class ProtocolError(Exception):
    """The peer sent something that is not a valid MRD v1 stream (or more than our limits allow)."""


class StreamClosed(ProtocolError):
    """The peer closed the connection (recv returned b'') before a message was complete."""


class StreamTimeout(ProtocolError):
    """The peer sent nothing for longer than the idle or read timeout."""


@dataclass(frozen=True)
class Limits:
    """Upper bounds on what one message may claim. Checked before allocating."""

    max_xml_bytes: int = 4 << 20  # config script / MRD header (real headers are ~10-50 kB)
    max_text_bytes: int = 1 << 20
    max_meta_bytes: int = 4 << 20  # image meta XML (ROI contours make it a few kB per image)
    max_image_dim: int = 4096  # each of matrix_size x, y, z
    max_channels: int = 64
    max_image_bytes: int = 256 << 20
    max_acquisition_bytes: int = 64 << 20
    max_waveform_bytes: int = 16 << 20


DEFAULT_LIMITS = Limits()

# ismrmrd maps DATATYPE_INT to np.dtype('int') (int64 on Linux) but the wire carries int32 (C++ int32_t).
_PIXEL_DTYPES: dict[int, np.dtype] = {
    ismrmrd.DATATYPE_USHORT: np.dtype("<u2"),
    ismrmrd.DATATYPE_SHORT: np.dtype("<i2"),
    ismrmrd.DATATYPE_UINT: np.dtype("<u4"),
    ismrmrd.DATATYPE_INT: np.dtype("<i4"),
    ismrmrd.DATATYPE_FLOAT: np.dtype("<f4"),
    ismrmrd.DATATYPE_DOUBLE: np.dtype("<f8"),
    ismrmrd.DATATYPE_CXFLOAT: np.dtype("<c8"),
    ismrmrd.DATATYPE_CXDOUBLE: np.dtype("<c16"),
}


# --- message payloads that are not gadget items ---------------------------------------------------
@dataclass(frozen=True)
class ConfigFile:
    name: str


@dataclass(frozen=True)
class ConfigScript:
    xml: bytes


@dataclass(frozen=True)
class Header:
    xml: bytes


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class RemoteError:
    text: str


Message: TypeAlias = ConfigFile | ConfigScript | Header | Close | RemoteError | Item


# --- readers ----------------------------------------------------------------------------------------
def read_struct(read: ReadExactly, layout: struct.Struct) -> int:
    return int(layout.unpack(read(layout.size))[0])


def read_message_id(read: ReadExactly) -> int:
    return read_struct(read, MESSAGE_ID)


def _read_sized(read: ReadExactly, prefix: struct.Struct, limit: int, what: str) -> bytes:
    n = read_struct(read, prefix)
    if n > limit:
        raise ProtocolError(f"{what} claims {n} bytes (limit {limit})")
    return read(n)


def read_config_file(read: ReadExactly) -> ConfigFile:
    raw = read(CONFIG_FILE_SIZE).split(b"\0", 1)[0]
    try:
        return ConfigFile(raw.decode("utf-8").strip())
    except UnicodeDecodeError:
        raise ProtocolError("config file name is not UTF-8") from None


def read_text(read: ReadExactly, limits: Limits = DEFAULT_LIMITS) -> TextMessage:
    raw = _read_sized(read, U32, limits.max_text_bytes, "text message")
    return TextMessage(raw.rstrip(b"\0").decode("utf-8", errors="replace"))


def read_error(read: ReadExactly, limits: Limits = DEFAULT_LIMITS) -> RemoteError:
    raw = _read_sized(read, U64, limits.max_text_bytes, "error message")
    return RemoteError(raw.rstrip(b"\0").decode("utf-8", errors="replace"))


def parse_meta(raw: bytes) -> ismrmrd.Meta:
    """Image meta XML -> ismrmrd.Meta, like Meta.deserialize but with defusedxml and ProtocolError."""
    meta = ismrmrd.Meta()
    raw = raw.rstrip(b"\0")
    if not raw.strip():
        return meta
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise ProtocolError(f"image meta is not valid XML: {exc}") from None
    if root.tag != "ismrmrdMeta":
        raise ProtocolError(f"image meta root is <{root.tag}>, expected <ismrmrdMeta>")
    for child in root.findall("meta"):
        name = child.find("name")
        if name is None or not name.text:
            raise ProtocolError("image meta entry without a <name>")
        values = [v.text for v in child.findall("value")]
        value = values[0] if len(values) == 1 else values
        existing = meta.get(name.text)
        if existing is None:
            meta[name.text] = value
        else:
            merged = existing if isinstance(existing, list) else [existing]
            merged.extend(value if isinstance(value, list) else [value])
            meta[name.text] = merged
    return meta


def check_image_header(head: ismrmrd.ImageHeader, limits: Limits = DEFAULT_LIMITS) -> tuple[np.dtype, int]:
    """Validate what an image header claims; return (pixel dtype, pixel byte count)."""
    dtype = _PIXEL_DTYPES.get(int(head.data_type))
    if dtype is None:
        raise ProtocolError(f"image data_type {head.data_type} is not an MRD data type")
    dims = [int(d) for d in head.matrix_size]
    if any(d < 1 or d > limits.max_image_dim for d in dims):
        raise ProtocolError(f"image matrix_size {dims} outside 1..{limits.max_image_dim}")
    if not 1 <= head.channels <= limits.max_channels:
        raise ProtocolError(f"image channels {head.channels} outside 1..{limits.max_channels}")
    nbytes = int(head.channels) * dims[0] * dims[1] * dims[2] * dtype.itemsize
    if nbytes > limits.max_image_bytes:
        raise ProtocolError(f"image of {dims} x {head.channels} channels ({nbytes} bytes) exceeds "
                            f"{limits.max_image_bytes} bytes")
    return dtype, nbytes


def _writable(raw: bytes) -> bytearray:
    """Pixels must be writable numpy arrays; a reader that already returns a bytearray costs no copy."""
    return raw if isinstance(raw, bytearray) else bytearray(raw)


def read_image(read: ReadExactly, limits: Limits = DEFAULT_LIMITS) -> ismrmrd.Image:
    header_bytes = read(IMAGE_HEADER_SIZE)
    head = ismrmrd.ImageHeader.from_buffer_copy(header_bytes)
    dtype, nbytes = check_image_header(head, limits)
    meta = parse_meta(_read_sized(read, U64, limits.max_meta_bytes, "image meta"))
    pixels = np.frombuffer(_writable(read(nbytes)), dtype=dtype)
    shape = (int(head.channels), int(head.matrix_size[2]), int(head.matrix_size[1]), int(head.matrix_size[0]))
    data = pixels.reshape(shape).astype(dtype.newbyteorder("="), copy=False)
    if head.data_type == ismrmrd.DATATYPE_INT:
        image = ismrmrd.Image(head=header_bytes, meta=meta)  # np.empty of the checked size: not touched
        image._Image__data = data  # noqa: SLF001 - ismrmrd has no int32 dtype mapping; keep int32 pixels
        return image
    return ismrmrd.Image(head=header_bytes, meta=meta, data=data)


def read_acquisition(read: ReadExactly, limits: Limits = DEFAULT_LIMITS) -> ismrmrd.Acquisition:
    header_bytes = read(ACQUISITION_HEADER_SIZE)
    head = ismrmrd.AcquisitionHeader.from_buffer_copy(header_bytes)
    samples, channels, traj_dims = int(head.number_of_samples), int(head.active_channels), \
        int(head.trajectory_dimensions)
    traj_bytes = samples * traj_dims * 4
    data_bytes = samples * channels * 8
    if traj_bytes + data_bytes > limits.max_acquisition_bytes:
        raise ProtocolError(f"acquisition of {samples} samples x {channels} channels exceeds "
                            f"{limits.max_acquisition_bytes} bytes")
    traj = np.frombuffer(_writable(read(traj_bytes)), dtype="<f4").reshape(samples, traj_dims)
    data = np.frombuffer(_writable(read(data_bytes)), dtype="<c8").reshape(channels, samples)
    return ismrmrd.Acquisition(header_bytes, data=data, trajectory=traj)


def read_waveform(read: ReadExactly, limits: Limits = DEFAULT_LIMITS) -> ismrmrd.Waveform:
    header_bytes = read(WAVEFORM_HEADER_SIZE)
    head = ismrmrd.WaveformHeader.from_buffer_copy(header_bytes)
    nbytes = int(head.channels) * int(head.number_of_samples) * 4
    if nbytes > limits.max_waveform_bytes:
        raise ProtocolError(f"waveform of {nbytes} bytes exceeds {limits.max_waveform_bytes}")
    data = np.frombuffer(read(nbytes), dtype="<u4")
    return ismrmrd.Waveform(header_bytes, data=data)


def read_message(read: ReadExactly, limits: Limits = DEFAULT_LIMITS) -> Message:
    """Read one whole message. Raises ProtocolError for unknown ids, bad lengths and truncation."""
    mid = read_message_id(read)
    if mid == MessageId.IMAGE:
        return read_image(read, limits)
    if mid == MessageId.ACQUISITION:
        return read_acquisition(read, limits)
    if mid == MessageId.WAVEFORM:
        return read_waveform(read, limits)
    if mid == MessageId.CLOSE:
        return Close()
    if mid == MessageId.HEADER:
        return Header(_read_sized(read, U32, limits.max_xml_bytes, "MRD header"))
    if mid == MessageId.CONFIG_FILE:
        return read_config_file(read)
    if mid == MessageId.CONFIG_SCRIPT:
        return ConfigScript(_read_sized(read, U32, limits.max_xml_bytes, "config script"))
    if mid == MessageId.TEXT:
        return read_text(read, limits)
    if mid == MessageId.ERROR:
        return read_error(read, limits)
    raise ProtocolError(f"unknown message id {mid}")


class BytesReader:
    """read_exactly over a bytes buffer (tests, fuzzing, files)."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def __call__(self, n: int) -> bytes:
        end = self._pos + n
        if end > len(self._data):
            self._pos = len(self._data)
            raise StreamClosed(f"stream ended: wanted {n} bytes, {len(self._data) - self._pos} left")
        chunk = bytes(self._data[self._pos:end])
        self._pos = end
        return chunk

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos


# --- writers ------------------------------------------------------------------------------------------
def _mid(mid: MessageId) -> bytes:
    return MESSAGE_ID.pack(mid)


def encode_config_file(name: str) -> bytes:
    raw = name.encode("utf-8")
    if len(raw) >= CONFIG_FILE_SIZE:
        raise ValueError(f"config name longer than {CONFIG_FILE_SIZE - 1} bytes")
    return _mid(MessageId.CONFIG_FILE) + raw.ljust(CONFIG_FILE_SIZE, b"\0")


def _sized(mid: MessageId, payload: bytes, prefix: struct.Struct = U32) -> bytes:
    return _mid(mid) + prefix.pack(len(payload)) + payload


def _as_bytes(text: str | bytes) -> bytes:
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def encode_config_script(xml: str | bytes) -> bytes:
    return _sized(MessageId.CONFIG_SCRIPT, _as_bytes(xml))


def encode_header(xml: str | bytes) -> bytes:
    return _sized(MessageId.HEADER, _as_bytes(xml))


def encode_close() -> bytes:
    return _mid(MessageId.CLOSE)


def encode_text(text: str) -> bytes:
    return _sized(MessageId.TEXT, text.encode("utf-8"))


def encode_error(text: str) -> bytes:
    return _sized(MessageId.ERROR, text.encode("utf-8"), U64)


def encode_image(image: ismrmrd.Image) -> bytes:
    # serialize_into sets attribute_string_len from the meta it writes; pixels go out in native order.
    parts: list[bytes] = [_mid(MessageId.IMAGE)]
    image.serialize_into(lambda b: parts.append(bytes(b)))
    return b"".join(parts)


def encode_acquisition(acq: ismrmrd.Acquisition) -> bytes:
    parts: list[bytes] = [_mid(MessageId.ACQUISITION)]
    acq.serialize_into(lambda b: parts.append(bytes(b)))
    return b"".join(parts)


def encode_waveform(waveform: ismrmrd.Waveform) -> bytes:
    parts: list[bytes] = [_mid(MessageId.WAVEFORM)]
    waveform.serialize_into(lambda b: parts.append(bytes(b)))
    return b"".join(parts)


def encode_item(item: Item) -> bytes:
    if isinstance(item, ismrmrd.Image):
        return encode_image(item)
    if isinstance(item, ismrmrd.Acquisition):
        return encode_acquisition(item)
    if isinstance(item, ismrmrd.Waveform):
        return encode_waveform(item)
    if isinstance(item, TextMessage):
        return encode_text(item.text)
    raise TypeError(f"cannot send {type(item).__name__} on an MRD stream")

"""A socket that speaks MRD v1: bounded reads with idle/read timeouts, sends under a lock.

`MrdConnection` is also what a gadget target sees (Gadgetron's `connection` duck type): `config`
(ElementTree of <configuration>), `header` (parsed MRD header or None), iteration over items, `send`.
Whoever owns the socket sends CLOSE (the server, or gadgetron's `python -m gadgetron` launcher).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import defusedxml.ElementTree as SafeET
import ismrmrd
from defusedxml import DefusedXmlException

from myoseg.gadgets.base import Item, TextMessage
from myoseg.stream import wire
from myoseg.stream.wire import Limits, ProtocolError, StreamClosed, StreamTimeout

log = logging.getLogger("myoseg.stream")

_PREALLOCATE = 4 << 20  # reads up to this size go into one buffer; bigger ones grow as bytes arrive


class MrdConnection:
    def __init__(
        self,
        sock: socket.socket,
        *,
        limits: Limits = wire.DEFAULT_LIMITS,
        read_timeout: float | None = 30.0,
        idle_timeout: float | None = 300.0,
        text_allowed: bool = True,
        connection_id: str = "-",
    ) -> None:
        self.sock = sock
        self.limits = limits
        self.read_timeout = read_timeout
        self.idle_timeout = idle_timeout
        # Gadgetron's external channel treats TEXT (5) from a module as an illegal message: drop them there.
        self.text_allowed = text_allowed
        self.connection_id = connection_id
        self.config: Any = None  # ElementTree element of <configuration>, where the peer sent one
        self.header: Any = None  # ismrmrd.xsd.ismrmrdHeader, or None
        self.bytes_in = 0
        self.bytes_out = 0
        self._send_lock = threading.Lock()
        self._close_sent = False

    # --- reading --------------------------------------------------------------------------------
    def read_exactly(self, n: int) -> bytes:
        """Exactly n bytes (a bytearray: no extra copy), or StreamClosed / StreamTimeout.
        Memory grows only with bytes received."""
        if n <= 0:
            return b""
        buf = bytearray(n) if n <= _PREALLOCATE else bytearray()
        got = 0
        view = memoryview(buf) if n <= _PREALLOCATE else None
        try:
            while got < n:
                if view is not None:
                    k = self.sock.recv_into(view[got:], n - got)
                    if k == 0:
                        raise StreamClosed(f"peer closed the connection {n - got} bytes short of a message")
                else:
                    chunk = self.sock.recv(min(n - got, 1 << 20))
                    k = len(chunk)
                    if k == 0:
                        raise StreamClosed(f"peer closed the connection {n - got} bytes short of a message")
                    buf += chunk
                got += k
        except TimeoutError:
            raise StreamTimeout(f"no data for {self.sock.gettimeout()} s in the middle of a message") from None
        except OSError as exc:
            raise StreamClosed(f"connection lost: {exc}") from None
        finally:
            if view is not None:
                view.release()
        self.bytes_in += n
        return buf  # type: ignore[return-value]  # bytearray is a writable bytes-like

    def read_message(self) -> wire.Message:
        """The next whole message. Waiting for its first byte uses the idle timeout, the rest the read timeout."""
        self.sock.settimeout(self.idle_timeout)
        try:
            first = self.read_exactly(1)
        except StreamTimeout:
            raise StreamTimeout(f"peer idle for more than {self.idle_timeout} s") from None
        self.sock.settimeout(self.read_timeout)
        pending = [first]

        def read(n: int) -> bytes:
            if pending:
                head = pending.pop()
                return head + self.read_exactly(n - 1) if n > 1 else head
            return self.read_exactly(n)

        return wire.read_message(read, self.limits)

    def items(self, first: wire.Message | None = None) -> Iterator[Item]:
        """Data items up to CLOSE. Raises ProtocolError on anything else (a second header, truncation...)."""
        message = first if first is not None else self.read_message()
        while not isinstance(message, wire.Close):
            if isinstance(message, ismrmrd.Image | ismrmrd.Acquisition | ismrmrd.Waveform | TextMessage):
                yield message
            elif isinstance(message, wire.RemoteError):
                raise ProtocolError(f"peer reported an error: {message.text[:200]}")
            else:
                raise ProtocolError(f"unexpected {type(message).__name__} message in the data stream")
            message = self.read_message()

    def __iter__(self) -> Iterator[Item]:
        return self.items()

    # --- writing ---------------------------------------------------------------------------------
    def send_bytes(self, payload: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(payload)
            self.bytes_out += len(payload)

    def send(self, item: Item) -> None:
        if isinstance(item, TextMessage) and not self.text_allowed:
            log.warning("[conn %s] %s", self.connection_id, item.text)
            return
        self.send_bytes(wire.encode_item(item))

    def send_text(self, text: str) -> None:
        self.send(TextMessage(text))

    def send_close(self) -> None:
        """Send CLOSE once; a peer that is already gone is not an error here."""
        with self._send_lock:
            if self._close_sent:
                return
            self._close_sent = True
        with contextlib.suppress(OSError):
            self.send_bytes(wire.encode_close())

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()


def parse_header(raw: bytes) -> Any:
    """MRD XML header -> ismrmrd header object, or None when it does not follow the schema.

    XML that is not well-formed, not UTF-8 where it says so, or carries a DTD/entities (XML bombs) raises
    ProtocolError. Nothing from the header is logged (it holds patient names and IDs).
    """
    try:
        SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise ProtocolError(f"MRD header rejected: {type(exc).__name__}: {_position(exc)}") from None
    try:
        return ismrmrd.xsd.CreateFromDocument(raw)
    except Exception as exc:  # noqa: BLE001 - schema problems only cost us the header, not the scan
        log.warning("MRD header does not follow the ISMRMRD schema (%s); continuing without it", type(exc).__name__)
        return None


def parse_config_element(raw: bytes) -> Any:
    """A <configuration> element as Gadgetron sends it to an external module (defused)."""
    try:
        return SafeET.fromstring(raw, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError) as exc:
        raise ProtocolError(f"configuration rejected: {type(exc).__name__}: {_position(exc)}") from None


def _position(exc: Exception) -> str:
    position = getattr(exc, "position", None)
    if position:
        return f"line {position[0]}, column {position[1]}"
    return str(exc)[:200]

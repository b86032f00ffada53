"""Gadgetron external-module support: every myoseg gadget runs under a real Gadgetron 4.x, unchanged.

    <external>
      <execute name="myoseg.gadgets.passthrough" target="passthrough" type="python"/>
      <configuration><property name="..." value="..."/></configuration>
    </external>

Gadgetron starts `python -m gadgetron <port> myoseg.gadgets.passthrough passthrough`; the launcher wraps the
socket in `gadgetron.external.Connection` (reads CONFIG and HEADER), imports the module and calls the
target with the connection. `gadgetron_target(GadgetClass)` builds that target:

- properties come from `connection.config` and are parsed by the gadget's typed Config;
- items are read with myoseg's bounded wire reader on the raw socket, never with gadgetron 1.4.1's
  SocketWrapper, which spins at 100% CPU forever when the peer closes mid-stream (recv -> b'') and
  allocates whatever an image header claims;
- run_gadget gives the pass-through guarantee; images go back as 1022;
- errors are reported in the log and in image meta (MYOSEG_Status=error, MYOSEG_Error) only: Gadgetron 4's
  external channel rejects TEXT (5) from a module ("Received illegal message id from external peer",
  core/connection/.../external Serialization::read), and an ERROR (8) message closes the channel and fails
  the whole stream, so neither is sent in this mode;
- the launcher's `with Connection(...)` sends CLOSE when the target returns (we swap in a socket wrapper
  whose read raises at end of stream, so nothing can spin).

The returned function carries `gadget_class`, so the in-process chain finds the class from (module, target).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

from myoseg.gadgets.base import Gadget, Item, StreamContext, build, run_gadget
from myoseg.stream import wire
from myoseg.stream.chain import BrokenStep
from myoseg.stream.connection import MrdConnection
from myoseg.stream.pipeline import properties_from_config

log = logging.getLogger("myoseg.stream")

# Gadgetron may spend a long time upstream between two items; a peer that is gone is caught by EOF anyway.
IDLE_TIMEOUT_S = float(os.environ.get("MYOSEG_EXTERNAL_IDLE_TIMEOUT", "3600"))
READ_TIMEOUT_S = float(os.environ.get("MYOSEG_EXTERNAL_READ_TIMEOUT", "60"))


class _SafeSocketWrapper:
    """Replaces gadgetron's Connection.SocketWrapper: read raises at EOF, close sends CLOSE once."""

    def __init__(self, conn: MrdConnection) -> None:
        self._conn = conn

    def read(self, nbytes: int) -> bytes:
        return self._conn.read_exactly(nbytes)

    def write(self, data: bytes) -> None:
        self._conn.send_bytes(bytes(data))

    def close(self) -> None:
        self._conn.send_close()
        self._conn.sock.close()


def adapt_connection(connection: Any) -> MrdConnection:
    """Our MrdConnection as is; a gadgetron.external.Connection re-wrapped around its raw socket."""
    if isinstance(connection, MrdConnection):
        return connection
    raw = getattr(getattr(connection, "socket", None), "socket", None)
    if not isinstance(raw, socket.socket):
        raise TypeError(f"cannot run a myoseg gadget on {type(connection).__name__}")
    conn = MrdConnection(raw, read_timeout=READ_TIMEOUT_S, idle_timeout=IDLE_TIMEOUT_S, text_allowed=False,
                         connection_id=f"ext-{os.getpid()}")
    conn.config = getattr(connection, "config", None)
    conn.header = getattr(connection, "header", None)
    connection.socket = _SafeSocketWrapper(conn)
    return conn


def items_until_close(conn: MrdConnection) -> Iterator[Item]:
    """Items until CLOSE; a broken stream ends the input (held items still come back) and is logged."""
    try:
        yield from conn.items()
    except wire.ProtocolError as exc:
        log.error("[conn %s] input stream ended abnormally: %s", conn.connection_id, exc)


def run_external(gadget_cls: type[Gadget], connection: Any) -> None:
    conn = adapt_connection(connection)
    context = StreamContext(header=conn.header, connection_id=conn.connection_id)
    gadget: Gadget
    try:
        gadget = build(gadget_cls, properties_from_config(conn.config), context)
    except Exception as exc:  # noqa: BLE001 - bad properties / missing model: maps still go back, marked
        message = f"ERROR myoseg {gadget_cls.name}: could not start: {type(exc).__name__}: {exc}"
        log.error("%s [conn %s]", message, conn.connection_id)
        gadget = BrokenStep(gadget_cls.name, message, context, report_text=conn.text_allowed)
    try:
        for item in run_gadget(gadget, items_until_close(conn)):
            conn.send(item)
    except OSError as exc:
        log.error("[conn %s] peer gone while sending: %s", conn.connection_id, exc)


def gadgetron_target(gadget_cls: type[Gadget]) -> Callable[[Any], None]:
    """The module-level target for `<execute name="myoseg.gadgets.X" target="X" type="python"/>`."""

    def target(connection: Any) -> None:
        run_external(gadget_cls, connection)

    target.gadget_class = gadget_cls  # type: ignore[attr-defined]
    target.__name__ = target.__qualname__ = gadget_cls.name
    target.__doc__ = f"Gadgetron external target running {gadget_cls.__module__}.{gadget_cls.__name__}."
    return target




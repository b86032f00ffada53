"""Gadgets as Gadgetron external modules: launched exactly as Gadgetron 4 does (`python -m gadgetron PORT MODULE
TARGET`, connecting back to us), with this test playing Gadgetron's side of the socket."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ismrmrd
import pytest
from gadgets_for_tests import HEADER_XML, make_acquisition, make_map, read_all
from myoseg.gadgets.base import TextMessage

from myoseg.core import metakeys as mk
from myoseg.stream import wire

TESTS = Path(__file__).resolve().parent


@contextmanager
def launched(module: str, target: str) -> Iterator[tuple[socket.socket, subprocess.Popen[bytes]]]:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "GADGETRON_EXTERNAL_LOG_LEVEL": "INFO"}
    proc = subprocess.Popen([sys.executable, "-m", "gadgetron", str(listener.getsockname()[1]), module, target],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        sock, _ = listener.accept()
        sock.settimeout(10)
        yield sock, proc
    finally:
        listener.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail("external module did not exit (EOF spin?)")


def _handshake(config: str) -> bytes:
    return wire.encode_config_script(config) + wire.encode_header(HEADER_XML)


def test_target_reads_properties_and_sends_images_back() -> None:
    config = '<configuration><property name="key" value="TEST_Ext"/><property name="value" value="v"/></configuration>'
    sent = [make_map(i, slice_=i) for i in range(3)]
    with launched("gadgets_for_tests", "tag") as (sock, proc):
        sock.sendall(_handshake(config) + wire.encode_acquisition(make_acquisition())
                     + b"".join(wire.encode_image(im) for im in sent) + wire.encode_close())
        messages = read_all(sock)
        sock.close()
    assert proc.returncode == 0
    images = [m for m in messages if isinstance(m, ismrmrd.Image)]
    assert [im.meta["TEST_Ext"] for im in images] == ["v"] * 3
    assert [im.slice for im in images] == [0, 1, 2]
    assert isinstance(messages[0], ismrmrd.Acquisition) and isinstance(messages[-1], wire.Close)


def test_failure_inside_the_module_returns_maps_marked_without_text() -> None:
    sent = [make_map(i, slice_=i) for i in range(2)]
    with launched("gadgets_for_tests", "explode") as (sock, proc):
        sock.sendall(_handshake("<configuration/>") + b"".join(wire.encode_image(im) for im in sent)
                     + wire.encode_close())
        messages = read_all(sock)
        sock.close()
    assert proc.returncode == 0
    assert not any(isinstance(m, TextMessage) for m in messages)  # Gadgetron rejects TEXT from a module
    images = [m for m in messages if isinstance(m, ismrmrd.Image)]
    assert len(images) == 2 and all(im.meta[mk.STATUS] == mk.STATUS_ERROR for im in images)
    assert isinstance(messages[-1], wire.Close)


def test_bad_property_still_returns_the_maps() -> None:
    with launched("myoseg.gadgets.passthrough", "passthrough") as (sock, proc):
        sock.sendall(_handshake('<configuration><property name="typo" value="1"/></configuration>')
                     + wire.encode_image(make_map(1)) + wire.encode_close())
        messages = read_all(sock)
        sock.close()
    images = [m for m in messages if isinstance(m, ismrmrd.Image)]
    assert len(images) == 1 and "typo" in images[0].meta[mk.ERROR]


def test_peer_closing_mid_message_ends_the_module_instead_of_spinning() -> None:
    with launched("gadgets_for_tests", "holdall") as (sock, proc):
        sock.sendall(_handshake("<configuration/>") + wire.encode_image(make_map(1))
                     + wire.encode_image(make_map(2))[:120])
        sock.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        messages = read_all(sock)  # the held image still comes back, then CLOSE
        sock.close()
        proc.wait(timeout=10)
        assert time.monotonic() - started < 10
    assert [type(m).__name__ for m in messages] == ["Image", "Close"]
    assert proc.returncode == 0
    assert b"input stream ended abnormally" in (proc.stdout.read() if proc.stdout else b"")

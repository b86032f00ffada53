"""`myoseg serve` over real loopback sockets: round trips, configs, concurrency, the error path, hostile streams."""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import ismrmrd
import numpy as np
import pytest
from gadgets_for_tests import (
    HEADER_XML,
    TEST_PREFIXES,
    make_acquisition,
    make_map,
    pipeline_xml,
    raw_session,
    read_all,
)
from myoseg.gadgets.base import TextMessage

from myoseg.core import metakeys as mk
from myoseg.stream import wire
from myoseg.stream.client import MrdClient
from myoseg.stream.server import MrdServer, ServerSettings, running_server

FAST = {"read_timeout": 0.5, "idle_timeout": 0.8, "module_prefixes": TEST_PREFIXES}


@pytest.fixture(scope="module")
def server() -> Iterator[MrdServer]:
    with running_server(**FAST) as srv:  # type: ignore[arg-type]
        yield srv


@pytest.fixture()
def client(server: MrdServer) -> MrdClient:
    host, port = server.address
    return MrdClient(host, port, timeout=10)


def _maps() -> list[ismrmrd.Image]:
    return [make_map(900 + 10 * i, slice_=i, index=i) for i in range(3)] + [
        make_map(50 + i, dtype=np.uint16, series=11, slice_=i, index=i) for i in range(3)]


def _same(a: ismrmrd.Image, b: ismrmrd.Image, *, meta: bool = True) -> bool:
    same_pixels = a.data.dtype == b.data.dtype and np.array_equal(a.data, b.data)
    head_a, head_b = a.getHead(), b.getHead()
    head_a.attribute_string_len = head_b.attribute_string_len = 0
    return same_pixels and bytes(head_a) == bytes(head_b) and (not meta or dict(a.meta) == dict(b.meta))


def test_roundtrip_float32_and_uint16_maps_with_meta(client: MrdClient) -> None:
    sent = _maps()
    result = client.process(sent, HEADER_XML, config_name="passthrough")
    assert result.closed and not result.texts
    assert len(result.images) == len(sent)
    assert all(_same(a, b) for a, b in zip(sent, result.images, strict=True))
    assert [im.data.dtype for im in result.images] == [np.float32] * 3 + [np.uint16] * 3


@pytest.mark.parametrize("name", ["passthrough", "passthrough.xml"])
def test_config_by_name(client: MrdClient, name: str) -> None:
    result = client.process([make_map(1)], HEADER_XML, config_name=name)
    assert result.closed and len(result.images) == 1 and not result.texts


def test_config_by_script_runs_its_properties(client: MrdClient) -> None:
    script = pipeline_xml(("gadgets_for_tests", "tag", {"key": "TEST_K", "value": "v1"}))
    result = client.process(_maps(), HEADER_XML, config_script=script)
    assert [im.meta["TEST_K"] for im in result.images] == ["v1"] * 6


def test_acquisitions_and_waveforms_pass_through(client: MrdClient) -> None:
    acq = make_acquisition()
    waveform = ismrmrd.Waveform.from_array(np.arange(8, dtype=np.uint32).reshape(1, 8))
    result = client.process([acq, make_map(1), waveform], HEADER_XML, config_name="passthrough")
    kinds = [type(i).__name__ for i in result.items]
    assert kinds == ["Acquisition", "Image", "Waveform"]
    np.testing.assert_array_equal(result.items[0].data, acq.data)
    np.testing.assert_array_equal(result.items[2].data, waveform.data)


def test_concurrent_connections_are_isolated(server: MrdServer) -> None:
    host, port = server.address
    results: dict[int, list[str]] = {}

    def one(k: int) -> None:
        script = pipeline_xml(("gadgets_for_tests", "tag", {"key": "TEST_Conn", "value": str(k)}),
                              ("gadgets_for_tests", "sleep", {"seconds": "0.02"}))
        r = MrdClient(host, port, timeout=10).process([make_map(k, slice_=s) for s in range(4)], HEADER_XML,
                                                      config_script=script)
        results[k] = [im.meta["TEST_Conn"] for im in r.images]

    threads = [threading.Thread(target=one, args=(k,)) for k in range(8)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert results == {k: [str(k)] * 4 for k in range(8)}
    assert time.perf_counter() - started < 8 * 4 * 0.02 + 2  # they ran side by side, not one after another


def test_error_path_returns_every_original_in_order(client: MrdClient) -> None:
    """An exception inside the model step: every map back, unchanged, marked; an ERROR text; CLOSE."""
    sent = _maps()
    script = pipeline_xml(("gadgets_for_tests", "tag"), ("gadgets_for_tests", "explode"))
    result = client.process(sent, HEADER_XML, config_script=script)
    assert result.closed
    assert len(result.images) == len(sent)
    for original, back in zip(sent, result.images, strict=True):
        assert _same(original, back, meta=False)
        assert back.meta[mk.STATUS] == mk.STATUS_ERROR and "model exploded" in back.meta[mk.ERROR]
        assert back.meta["GADGETRON_DataRole"] == original.meta["GADGETRON_DataRole"]
    assert result.errors and all(t.startswith("ERROR myoseg explode") for t in result.errors)


def test_step_that_cannot_start_still_returns_the_maps(client: MrdClient) -> None:
    result = client.process(_maps(), HEADER_XML, config_script=pipeline_xml(("gadgets_for_tests", "cannotstart")))
    assert len(result.images) == 6 and all(im.meta[mk.STATUS] == mk.STATUS_ERROR for im in result.images)
    assert len(result.errors) == 1 and "model.onnx is missing" in result.errors[0]


@pytest.mark.parametrize(
    ("script", "match"),
    [
        ("<configuration><version>2</version><stream>", "malformed XML"),
        (pipeline_xml(("myoseg.gadgets.nothere", "x")), "unknown gadget module"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><configuration>&b;'
         "</configuration>", "DTDs and entities"),
        (b"<configuration>\xff\xfe\xfd</configuration>", "malformed XML"),
    ],
)
def test_bad_config_script_gives_error_text_then_maps_then_close(client: MrdClient, script: str | bytes,
                                                                match: str) -> None:
    sent = _maps()
    result = client.process(sent, HEADER_XML, config_script=script)
    assert result.closed
    assert isinstance(result.items[0], TextMessage) and result.items[0].text.startswith("ERROR myoseg: pipeline")
    assert match in result.items[0].text
    assert len(result.images) == len(sent)
    assert all(_same(a, b, meta=False) and b.meta[mk.STATUS] == mk.STATUS_ERROR
               for a, b in zip(sent, result.images, strict=True))


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..\\..\\x", "nosuchpipeline"])
def test_config_names_stay_in_the_pipelines_folder(client: MrdClient, name: str) -> None:
    result = client.process([make_map(1)], HEADER_XML, config_name=name)
    assert result.closed and result.errors and "pipeline rejected" in result.errors[0]
    assert "root:" not in "".join(result.texts)
    assert len(result.images) == 1


# --- hostile streams: each ends that connection cleanly; the server keeps serving ---------------------------
def _config_and_header() -> bytes:
    return wire.encode_config_file("passthrough") + wire.encode_header(HEADER_XML)


def _expect_error_and_close(messages: list[wire.Message], match: str) -> None:
    assert isinstance(messages[-1], wire.Close), messages
    texts = [m.text for m in messages if isinstance(m, TextMessage)]
    assert any(t.startswith("ERROR") and match in t for t in texts), texts


def test_truncated_stream_returns_what_came_before(server: MrdServer) -> None:
    script = pipeline_xml(("gadgets_for_tests", "holdall"))
    complete = [wire.encode_image(make_map(i, slice_=i)) for i in range(2)]
    half = wire.encode_image(make_map(9))[:150]
    payload = wire.encode_config_script(script) + wire.encode_header(HEADER_XML) + b"".join(complete) + half
    messages = raw_session(server.address, payload)
    assert [m.slice for m in messages if isinstance(m, ismrmrd.Image)] == [0, 1]  # held ones come back
    _expect_error_and_close(messages, "closed the connection")


def test_unknown_message_id(server: MrdServer) -> None:
    payload = _config_and_header() + wire.encode_image(make_map(1)) + struct.pack("<H", 4242) + b"junk"
    messages = raw_session(server.address, payload)
    assert sum(isinstance(m, ismrmrd.Image) for m in messages) == 1
    _expect_error_and_close(messages, "unknown message id 4242")


def test_giant_image_header_is_refused_without_allocating(server: MrdServer) -> None:
    head = ismrmrd.ImageHeader()
    head.data_type = ismrmrd.DATATYPE_FLOAT
    head.matrix_size[:] = (65535, 65535, 65535)
    head.channels = 1
    payload = _config_and_header() + struct.pack("<H", 1022) + bytes(head) + struct.pack("<Q", 0)
    messages = raw_session(server.address, payload)
    _expect_error_and_close(messages, "matrix_size")


@pytest.mark.parametrize("shut_write", [True, False])
def test_lengths_beyond_the_bytes_sent(server: MrdServer, shut_write: bool) -> None:
    # Claims a 1 MB header but sends 10 bytes: either the peer closes (truncated) or stalls (read timeout).
    payload = wire.encode_config_file("passthrough") + struct.pack("<HI", 3, 1 << 20) + b"<ismrmrdHe"
    started = time.perf_counter()
    messages = raw_session(server.address, payload, shut_write=shut_write)
    _expect_error_and_close(messages, "closed the connection" if shut_write else "no data for")
    assert time.perf_counter() - started < 3


def test_xml_bomb_and_non_utf8_in_the_header(server: MrdServer) -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE h [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
            "<ismrmrdHeader>&b;</ismrmrdHeader>")
    for header in (bomb.encode(), b'<?xml version="1.0" encoding="UTF-8"?><ismrmrdHeader>\xff\xfe</ismrmrdHeader>'):
        payload = wire.encode_config_file("passthrough") + wire.encode_header(header) + wire.encode_close()
        _expect_error_and_close(raw_session(server.address, payload), "MRD header rejected")


def test_silent_connection_and_half_message_do_not_block_others(server: MrdServer, client: MrdClient) -> None:
    host, port = server.address
    silent = socket.create_connection((host, port))
    half = socket.create_connection((host, port))
    half.sendall(_config_and_header() + wire.encode_image(make_map(1))[:100])
    try:
        started = time.perf_counter()
        result = client.process(_maps(), HEADER_XML, config_name="passthrough")  # served meanwhile
        assert len(result.images) == 6 and time.perf_counter() - started < 1.0
        silent.settimeout(5)
        half.settimeout(5)
        _expect_error_and_close(read_all(silent), "idle")
        _expect_error_and_close(read_all(half), "no data for")
    finally:
        silent.close()
        half.close()


def test_header_only_then_close_and_empty_connection(server: MrdServer) -> None:
    messages = raw_session(server.address, wire.encode_close())
    assert messages == [wire.Close()]
    messages = raw_session(server.address, _config_and_header() + wire.encode_close())
    assert messages == [wire.Close()]


def test_patient_identifiers_never_reach_the_log(client: MrdClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        client.process(_maps(), HEADER_XML, config_script=pipeline_xml(("gadgets_for_tests", "explode")))
        client.process(_maps(), HEADER_XML, config_name="../nope")
    assert caplog.records
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "DOE^JANE" not in text and "SECRET-ID-42" not in text
    assert "images 6->6" in text  # the per-connection line with counts and stage timings
    assert "stages explode" in text


# --- server life cycle, allow-list, busy, Gadgetron <connect> mode ---------------------------------------
def test_allow_list_refuses_other_addresses() -> None:
    with running_server(allow=("10.0.0.0/8",), **FAST) as srv:  # type: ignore[arg-type]
        assert raw_session(srv.address, _config_and_header() + wire.encode_close()) == []
    with running_server(allow=("127.0.0.1",), **FAST) as srv:  # type: ignore[arg-type]
        assert raw_session(srv.address, _config_and_header() + wire.encode_close()) == [wire.Close()]


def test_busy_server_answers_error_and_close() -> None:
    with running_server(max_connections=1, **FAST) as srv:  # type: ignore[arg-type]
        hold = socket.create_connection(srv.address)
        try:
            time.sleep(0.1)
            _expect_error_and_close(raw_session(srv.address, b""), "busy")
        finally:
            hold.close()


def test_stop_drains_in_flight_work() -> None:
    server = MrdServer(ServerSettings(port=0, **FAST))  # type: ignore[arg-type]
    host, port = server.start()
    script = pipeline_xml(("gadgets_for_tests", "sleep", {"seconds": "0.15"}))
    out: dict[str, object] = {}
    worker = threading.Thread(target=lambda: out.setdefault("r", MrdClient(host, port).process(
        [make_map(i) for i in range(4)], HEADER_XML, config_script=script)))
    worker.start()
    time.sleep(0.2)
    assert server.stop(drain_timeout=5) == 0  # nothing had to be cut
    worker.join(timeout=5)
    result = out["r"]
    assert len(result.images) == 4 and result.closed  # type: ignore[attr-defined]
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1)


def test_gadgetron_connect_mode_bad_property_still_returns_the_map() -> None:
    with running_server(gadgetron_connect=True, default_pipeline="passthrough", **FAST) as srv:  # type: ignore[arg-type]
        ok = raw_session(srv.address, wire.encode_config_script(
            '<configuration><property name="nonsense" value="1"/></configuration>') + wire.encode_header(HEADER_XML)
            + wire.encode_image(make_map(1)) + wire.encode_close())
        # A bad property: the map still comes back, marked, and no TEXT (Gadgetron rejects TEXT from modules).
        assert [type(m).__name__ for m in ok] == ["Image", "Close"]
        assert ok[0].meta[mk.STATUS] == mk.STATUS_ERROR and "nonsense" in ok[0].meta[mk.ERROR]


def test_gadgetron_connect_mode_runs_a_pipeline_with_overrides(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "gt.xml").write_text(pipeline_xml(("gadgets_for_tests", "tag"), ("gadgets_for_tests", "explode")))
    with running_server(gadgetron_connect=True, pipelines_dir=folder, default_pipeline="gt",
                        **FAST) as srv:  # type: ignore[arg-type]
        config = '<configuration><property name="value" value="from-gadgetron"/></configuration>'
        messages = raw_session(srv.address, wire.encode_config_script(config) + wire.encode_header(HEADER_XML)
                               + b"".join(wire.encode_image(make_map(i)) for i in range(3)) + wire.encode_close())
    images = [m for m in messages if isinstance(m, ismrmrd.Image)]
    assert len(images) == 3 and isinstance(messages[-1], wire.Close)
    assert not any(isinstance(m, TextMessage) for m in messages)
    assert all(im.meta["TEST_Tag"] == "from-gadgetron" and im.meta[mk.STATUS] == mk.STATUS_ERROR for im in images)


def test_client_keeps_what_came_back_when_the_server_vanishes() -> None:
    listener = socket.create_server(("127.0.0.1", 0))

    def half_server() -> None:
        sock, _ = listener.accept()
        with sock:
            sock.sendall(wire.encode_image(make_map(7)))  # one item, then gone without CLOSE

    thread = threading.Thread(target=half_server)
    thread.start()
    try:
        result = MrdClient(*listener.getsockname()[:2], timeout=5).process([make_map(1)], HEADER_XML,
                                                                          config_name="passthrough")
    finally:
        thread.join(timeout=5)
        listener.close()
    assert not result.closed and len(result.images) == 1


def test_allow_list_matching_and_loopback_detection() -> None:
    from myoseg.stream.server import is_loopback

    server = MrdServer(ServerSettings(allow=("10.0.0.0/8", "::1")))
    assert server._allowed("10.1.2.3") and server._allowed("::ffff:10.1.2.3") and server._allowed("::1")
    assert not server._allowed("192.168.0.1") and not server._allowed("fe80::1%eth0")
    assert not server._allowed("not-an-address")
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("") and not is_loopback("0.0.0.0") and not is_loopback("::")


def test_non_loopback_bind_logs_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    server = MrdServer(ServerSettings(host="0.0.0.0", port=0))
    with caplog.at_level(logging.WARNING):
        server.bind()
    server.stop(drain_timeout=0)
    assert any("reachable from other machines" in r.getMessage() for r in caplog.records)


def test_default_pipeline_may_be_a_file_from_the_command_line(tmp_path: Path) -> None:
    default = tmp_path / "site.xml"
    default.write_text(pipeline_xml(("gadgets_for_tests", "tag", {"value": "site"})))
    with running_server(default_pipeline=str(default), **FAST) as srv:  # type: ignore[arg-type]
        # No config message at all: header first, then data -> the default pipeline.
        messages = raw_session(srv.address, wire.encode_header(HEADER_XML) + wire.encode_image(make_map(1))
                               + wire.encode_close())
        assert messages[0].meta["TEST_Tag"] == "site" and isinstance(messages[-1], wire.Close)
        # A client naming another path is still refused.
        refused = raw_session(srv.address, wire.encode_config_file(str(tmp_path / "other.xml")) + wire.encode_close())
        _expect_error_and_close(refused, "invalid pipeline name")

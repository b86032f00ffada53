"""Stream MRD items through a pipeline: to a server over TCP (MrdClient) or in process, and replay files.

`replay_file` is what `myoseg replay`, the demo and the benchmark call: read an ISMRMRD file (images and
acquisitions), stream it, write every returned image (meta intact) to the output file.
"""

from __future__ import annotations

import contextlib
import select
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import ismrmrd

from myoseg.core import metakeys as mk
from myoseg.core.mrdio import read_mrd, write_mrd
from myoseg.gadgets.base import Item, StreamContext, TextMessage
from myoseg.stream import wire
from myoseg.stream.chain import ChainRun, format_timings
from myoseg.stream.connection import MrdConnection, parse_header
from myoseg.stream.pipeline import DEFAULT_PIPELINE, PipelineSpec, is_pipeline_path, load_pipeline

OnItem = Callable[[Item], None]


@dataclass
class StreamResult:
    items: list[Item] = field(default_factory=list)  # everything that came back, in order (no CLOSE)
    closed: bool = False  # the peer ended with CLOSE
    send_error: str | None = None  # sending stopped early (e.g. the server closed after an error)
    seconds: float = 0.0
    timings: str = ""  # per-stage medians (in process only)

    @property
    def images(self) -> list[ismrmrd.Image]:
        return [i for i in self.items if isinstance(i, ismrmrd.Image)]

    @property
    def texts(self) -> list[str]:
        return [i.text for i in self.items if isinstance(i, TextMessage)]

    @property
    def errors(self) -> list[str]:
        return [t for t in self.texts if t.startswith("ERROR")]


def parse_address(address: str, default_port: int = 9002) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep:
        return address, default_port
    return host.strip("[]") or "127.0.0.1", int(port)


class MrdClient:
    """Speaks the client side of MRD v1 like gadgetron_ismrmrd_client / FIRE client.py, but sends images too.

    Sending runs in its own thread while this one reads, so a server answering early never deadlocks us.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 9002, *, timeout: float = 120.0,
                 limits: wire.Limits = wire.DEFAULT_LIMITS, tls: ssl.SSLContext | None = None) -> None:
        self.host, self.port, self.timeout, self.limits, self.tls = host, port, timeout, limits, tls

    def process(self, items: Iterable[Item], header_xml: str | bytes | None = None, *,
                config_name: str | None = None, config_script: str | bytes | None = None,
                on_item: OnItem | None = None) -> StreamResult:
        if (config_name is None) == (config_script is None):
            raise ValueError("give exactly one of config_name or config_script")
        started = time.perf_counter()
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            tls_sock = self.tls.wrap_socket(sock, server_hostname=self.host)
            try:
                return self._process_tls(tls_sock, items, header_xml, config_name, config_script, on_item, started)
            finally:
                with contextlib.suppress(OSError):
                    tls_sock.close()
        conn = MrdConnection(sock, limits=self.limits, read_timeout=self.timeout, idle_timeout=self.timeout,
                             connection_id="client")
        result = StreamResult()

        def send_all() -> None:
            try:
                if config_name is not None:
                    conn.send_bytes(wire.encode_config_file(config_name))
                else:
                    conn.send_bytes(wire.encode_config_script(config_script or b""))
                if header_xml is not None:
                    conn.send_bytes(wire.encode_header(header_xml))
                for item in items:
                    conn.send(item)
                conn.send_close()
            except OSError as exc:
                result.send_error = f"{type(exc).__name__}: {exc}"

        sender = threading.Thread(target=send_all, name="myoseg-client-send", daemon=True)
        sender.start()
        try:
            while True:
                try:
                    message = conn.read_message()
                except wire.StreamClosed:
                    break  # the server went away without CLOSE: keep what came back (result.closed is False)
                _collect(message, result, on_item)
                if result.closed:
                    break
        finally:
            sender.join(timeout=self.timeout)
            conn.close()
        result.seconds = time.perf_counter() - started
        return result

    def _process_tls(self, sock: ssl.SSLSocket, items: Iterable[Item], header_xml: str | bytes | None,
                     config_name: str | None, config_script: str | bytes | None, on_item: OnItem | None,
                     started: float) -> StreamResult:
        """TLS in ONE thread: an SSL socket must not be read and written from two threads at once (OpenSSL
        corrupts records: 'bad record mac'). Non-blocking send and receive interleave under select, so a
        server answering early still cannot deadlock us."""
        parts = [wire.encode_config_file(config_name) if config_name is not None
                 else wire.encode_config_script(config_script or b"")]
        if header_xml is not None:
            parts.append(wire.encode_header(header_xml))
        parts += [wire.encode_item(item) for item in items]
        parts.append(wire.encode_close())
        outgoing = memoryview(b"".join(parts))
        sent = 0
        inbox = bytearray()
        result = StreamResult()
        sock.setblocking(False)
        deadline = time.monotonic() + self.timeout
        eof = False
        while not result.closed and not eof:
            if time.monotonic() > deadline:
                raise wire.StreamTimeout(f"no answer from {self.host}:{self.port} within {self.timeout:.0f} s")
            writing = sent < len(outgoing)
            if not sock.pending():
                select.select([sock], [sock] if writing else [], [], 0.5)
            if writing:
                with contextlib.suppress(ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    sent += sock.send(outgoing[sent:sent + 65536])
            try:
                while True:
                    chunk = sock.recv(65536)
                    if not chunk:
                        eof = True
                        break
                    inbox += chunk
                    deadline = time.monotonic() + self.timeout
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                pass
            except OSError:
                eof = True
            inbox = self._take_messages(inbox, result, on_item)
        if sent < len(outgoing):
            result.send_error = f"server closed after {sent} of {len(outgoing)} bytes"
        result.seconds = time.perf_counter() - started
        return result

    def _take_messages(self, inbox: bytearray, result: StreamResult, on_item: OnItem | None) -> bytearray:
        """Parse the complete messages at the front of `inbox`; return what is left (a partial message)."""
        reader = wire.BytesReader(bytes(inbox))
        consumed = 0
        while reader.remaining and not result.closed:
            try:
                message = wire.read_message(reader, self.limits)
            except wire.StreamClosed:
                break  # the rest of this message has not arrived yet
            consumed = len(inbox) - reader.remaining
            _collect(message, result, on_item)
        return inbox[consumed:]



def client_tls_context(ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                       ) -> ssl.SSLContext:
    """TLS for MrdClient: verify the server against `ca` (default: the system CAs); optional client cert."""
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        context.load_cert_chain(str(cert), str(key) if key else None)
    return context


def _collect(message: wire.Message, result: StreamResult, on_item: OnItem | None) -> None:
    """One message from the server into the result: CLOSE ends it, items are kept, anything else is an error."""
    if isinstance(message, wire.Close):
        result.closed = True
    elif isinstance(message, ismrmrd.Image | ismrmrd.Acquisition | ismrmrd.Waveform | TextMessage):
        result.items.append(message)
        if on_item is not None:
            on_item(message)
    else:
        raise wire.ProtocolError(f"server sent an unexpected {type(message).__name__}")


def run_in_process(items: Iterable[Item], spec: PipelineSpec, header_xml: str | bytes | None = None,
                   on_item: OnItem | None = None) -> StreamResult:
    """The same pipeline in this process: what `myoseg serve` would do for one connection."""
    started = time.perf_counter()
    context = StreamContext(connection_id="replay")
    if header_xml is not None:
        context.header = parse_header(header_xml.encode("utf-8") if isinstance(header_xml, str) else header_xml)
    run = ChainRun(spec, context)
    result = StreamResult(closed=True)
    for item in run.run(items):
        result.items.append(item)
        if on_item is not None:
            on_item(item)
    result.seconds = time.perf_counter() - started
    result.timings = format_timings(context, run.stage_names)
    return result


# --- replay of ISMRMRD files ---------------------------------------------------------------------------
@dataclass
class SeriesSummary:
    series: int
    count: int = 0
    reported: int = 0  # images with MYOSEG_Mean_ms
    errors: int = 0  # images with MYOSEG_Status=error
    roles: set[str] = field(default_factory=set)
    means_ms: list[float] = field(default_factory=list)


@dataclass
class ReplayReport:
    input_path: Path
    output_path: Path
    pipeline: str
    where: str  # "in process" or "host:port"
    sent_images: int
    sent_other: int
    result: StreamResult
    written: int

    @property
    def series(self) -> list[SeriesSummary]:
        table: dict[int, SeriesSummary] = {}
        for image in self.result.images:
            row = table.setdefault(int(image.image_series_index), SeriesSummary(int(image.image_series_index)))
            row.count += 1
            meta = image.meta
            if meta.get(mk.MEAN_MS) not in (None, ""):
                row.reported += 1
                with contextlib.suppress(TypeError, ValueError):
                    row.means_ms.append(float(meta[mk.MEAN_MS]))
            if meta.get(mk.STATUS) == mk.STATUS_ERROR:
                row.errors += 1
            row.roles.add(str(meta.get(mk.ROLE) or meta.get(mk.MAP_TYPE) or "image"))
        return [table[k] for k in sorted(table)]

    @property
    def lost_images(self) -> int:
        """Images sent but not back (counted as originals: returned images minus derived mask/overlay)."""
        originals = sum(1 for i in self.result.images if not i.meta.get(mk.ROLE))
        return max(0, self.sent_images - originals)


def replay_file(input_path: Path, output_path: Path, *, pipeline: str = DEFAULT_PIPELINE,
                server: str | None = None, pipelines_dir: Path | None = None, group: str | None = None,
                on_item: OnItem | None = None, on_start: Callable[[int], None] | None = None,
                timeout: float = 300.0, tls: ssl.SSLContext | None = None) -> ReplayReport:
    """Stream an ISMRMRD file through a pipeline (in process, or to `server` = "host:port") and write
    every returned image (and acquisition) to output_path. on_start(n_images) is called once the file is read."""
    input_path, output_path = Path(input_path), Path(output_path)
    contents = read_mrd(input_path, group)
    items: list[Item] = [*contents.acquisitions, *contents.waveforms, *contents.images]
    if on_start is not None:
        on_start(len(contents.images))
    if server is None:
        spec = load_pipeline(pipeline, pipelines_dir, allow_path=True)
        result = run_in_process(items, spec, contents.header_xml, on_item)
        where, name = "in process", spec.name
    else:
        host, port = parse_address(server)
        client = MrdClient(host, port, timeout=timeout, tls=tls)
        if is_pipeline_path(pipeline):
            result = client.process(items, contents.header_xml, config_script=Path(pipeline).read_bytes(),
                                    on_item=on_item)
        else:
            result = client.process(items, contents.header_xml, config_name=pipeline, on_item=on_item)
        where, name = f"{host}:{port}", Path(pipeline).stem
    acquisitions = [i for i in result.items if isinstance(i, ismrmrd.Acquisition)]
    written = write_mrd(output_path, result.images, header_xml=contents.header_xml, acquisitions=acquisitions)
    return ReplayReport(input_path, output_path, name, where, len(contents.images),
                        len(contents.acquisitions) + len(contents.waveforms), result, written)


def latency_stats(samples_ms: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    if not ordered:
        return {}

    def pct(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"n": len(ordered), "median": statistics.median(ordered), "p95": pct(0.95), "p99": pct(0.99),
            "max": ordered[-1]}


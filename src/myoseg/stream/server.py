"""The warm MRD v1 server behind `myoseg serve`: many isolated connections, one process, models loaded once.

Per connection (a thread each):
  standard mode (FIRE / gadgetron_ismrmrd_client protocol):
      CONFIG_FILE (1, pipeline name from the pipelines folder) or CONFIG_SCRIPT (2, pipeline XML),
      HEADER (3), data..., CLOSE (4)  ->  items..., CLOSE
  --gadgetron-connect (Gadgetron's <external><connect address= port=/>):
      CONFIG_SCRIPT (2) = the <configuration> of the external node (its <property> items override the
      pipeline's; `pipeline` picks one from the folder), HEADER (3), data..., CLOSE -> items..., CLOSE
      (no TEXT messages: Gadgetron rejects them; errors go to the log and image meta)

The answer always ends with CLOSE, also after errors (an "ERROR ..." text first, FIRE style). A bad
pipeline does not drop the scan: its items come back unchanged, marked with the error. A broken stream
(truncated, unknown id, absurd sizes, silence past the timeouts) ends that connection only; what it had
sent so far comes back first.
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from myoseg.gadgets.base import Item, StreamContext, build
from myoseg.stream import wire
from myoseg.stream.chain import ChainRun
from myoseg.stream.connection import MrdConnection, parse_config_element, parse_header
from myoseg.stream.pipeline import (
    DEFAULT_MODULE_PREFIXES,
    DEFAULT_PIPELINE,
    PipelineError,
    PipelineSpec,
    default_pipelines_dir,
    load_pipeline,
    parse_pipeline,
    properties_from_config,
    spec_from_properties,
)
from myoseg.stream.wire import Limits, ProtocolError

log = logging.getLogger("myoseg.serve")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 9002
    pipelines_dir: Path = field(default_factory=default_pipelines_dir)
    default_pipeline: str = DEFAULT_PIPELINE
    gadgetron_connect: bool = False
    allow: tuple[str, ...] = ()  # client addresses or networks; empty = anyone who can reach the port
    read_timeout: float = 30.0  # seconds within one message
    idle_timeout: float = 300.0  # seconds between messages
    max_connections: int = 32
    drain_timeout: float = 60.0  # on SIGTERM: how long in-flight connections may take to finish
    limits: Limits = wire.DEFAULT_LIMITS
    module_prefixes: tuple[str, ...] = DEFAULT_MODULE_PREFIXES
    tls_cert: Path | None = None  # PEM certificate (chain) and key: serve TLS instead of plain TCP
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # require client certificates signed by this CA (mutual TLS)


def server_tls_context(s: ServerSettings) -> ssl.SSLContext | None:
    if s.tls_cert is None:
        if s.tls_key is not None or s.tls_client_ca is not None:
            raise ValueError("TLS options need a certificate (--tls-cert)")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(s.tls_cert), str(s.tls_key) if s.tls_key else None)
    if s.tls_client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(str(s.tls_client_ca))
    return context


def is_loopback(host: str) -> bool:
    if not host:  # "" binds every interface
        return False
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


class _Job:
    """A connection running in the worker pool; `join` like a thread (used by the drain on stop)."""

    future: Future[None] | None = None

    def join(self, timeout: float | None = None) -> None:
        if self.future is not None:
            wait([self.future], timeout=timeout)


class MrdServer:
    def __init__(self, settings: ServerSettings | None = None) -> None:
        self.settings = settings or ServerSettings()
        self._allow = [ipaddress.ip_network(a, strict=False) for a in self.settings.allow]
        self._tls = server_tls_context(self.settings)
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(self.settings.max_connections)
        self._lock = threading.Lock()
        self._active: dict[str, tuple[_Job, socket.socket]] = {}
        self._pool = ThreadPoolExecutor(max_workers=self.settings.max_connections, thread_name_prefix="myoseg-conn")
        self._ids = itertools.count(1)
        self._accept_thread: threading.Thread | None = None
        self.served = 0

    # --- life cycle -------------------------------------------------------------------------------
    def bind(self) -> tuple[str, int]:
        s = self.settings
        if not is_loopback(s.host):
            log.warning("listening on %r, which is reachable from other machines: restrict clients with "
                        "--allow and a firewall", s.host)
        self._listener = socket.create_server((s.host, s.port), backlog=128)
        self._listener.settimeout(0.2)
        host, port = self._listener.getsockname()[:2]
        log.info("myoseg serve listening on %s:%d (%s mode%s, pipelines %s, default %s)", host, port,
                 "gadgetron-connect" if s.gadgetron_connect else "standard",
                 ", TLS" + (" with client certificates" if s.tls_client_ca else "") if self._tls else "",
                 s.pipelines_dir, s.default_pipeline)
        return host, port

    @property
    def address(self) -> tuple[str, int]:
        assert self._listener is not None, "bind() first"
        host, port = self._listener.getsockname()[:2]
        return host, port

    def warm_up(self, pipeline: str | None = None) -> PipelineSpec:
        """Validate the default pipeline and load what its gadgets need (models), once per process."""
        started = time.perf_counter()
        spec = load_pipeline(pipeline or self.settings.default_pipeline, self.settings.pipelines_dir,
                             allow_path=True, module_prefixes=self.settings.module_prefixes)
        for step in spec.steps:
            t0 = time.perf_counter()
            step.gadget_class.warm_up(step.config)
            build(step.gadget_class, dict(step.properties), StreamContext(connection_id="warm-up"))
            log.info("warm-up: %s ready in %.0f ms", step.name, 1e3 * (time.perf_counter() - t0))
        log.info("warm-up of pipeline %s done in %.0f ms", spec.name, 1e3 * (time.perf_counter() - started))
        return spec

    def serve_forever(self) -> None:
        if self._listener is None:
            self.bind()
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    break
                raise
            try:
                self._dispatch(sock, peer)
            except Exception:  # noqa: BLE001 - one odd peer must never stop the accept loop
                log.exception("could not dispatch a connection from %s", peer)
                sock.close()

    def start(self) -> tuple[str, int]:
        """Bind and serve in a background thread (tests, demo). Returns (host, port)."""
        address = self.bind() if self._listener is None else self.address
        self._accept_thread = threading.Thread(target=self.serve_forever, name="myoseg-accept", daemon=True)
        self._accept_thread.start()
        return address

    def request_stop(self) -> None:
        """Stop accepting (signal-handler safe); serve_forever returns soon after."""
        self._stopping.set()

    def stop(self, drain_timeout: float | None = None) -> int:
        """Stop accepting, let in-flight connections finish (up to drain_timeout), then cut the rest.
        Returns how many connections had to be cut."""
        self.request_stop()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        deadline = time.monotonic() + (self.settings.drain_timeout if drain_timeout is None else drain_timeout)
        while time.monotonic() < deadline:
            with self._lock:
                threads = [t for t, _ in self._active.values()]
            if not threads:
                break
            threads[0].join(timeout=max(0.0, min(0.2, deadline - time.monotonic())))
        with self._lock:
            left = list(self._active.items())
        for conn_id, (_, sock) in left:
            log.warning("conn %s still busy after the drain timeout: closing it", conn_id)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, (thread, _) in left:
            thread.join(timeout=2)
        self._pool.shutdown(wait=False)
        log.info("myoseg serve stopped after %d connection(s)", self.served)
        return len(left)

    @property
    def active_connections(self) -> int:
        with self._lock:
            return len(self._active)

    # --- connections --------------------------------------------------------------------------------
    def _allowed(self, host: str) -> bool:
        if not self._allow:
            return True
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self._allow)

    def _dispatch(self, sock: socket.socket, peer: tuple) -> None:
        conn_id = str(next(self._ids))
        peer_text = f"{peer[0]}:{peer[1]}"
        if not self._allowed(str(peer[0])):
            log.warning("conn %s from %s refused: not in the allow-list", conn_id, peer_text)
            sock.close()
            return
        if not self._slots.acquire(blocking=False):
            log.warning("conn %s from %s refused: %d connections busy", conn_id, peer_text,
                        self.settings.max_connections)
            self._refuse(sock, "ERROR myoseg: server busy, try again")
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            # Long-lived worker threads: per-thread set-up (OpenCV fonts ~20 ms, allocator arenas) is paid once
            # per worker, not on the first slice of every scan. The slot semaphore bounds the pool's queue.
            job = _Job()
            self._active[conn_id] = (job, sock)
            job.future = self._pool.submit(self._run_connection, sock, peer_text, conn_id)

    def _refuse(self, sock: socket.socket, text: str) -> None:
        try:
            sock.settimeout(1.0)
            if not self.settings.gadgetron_connect:
                sock.sendall(wire.encode_text(text))
            sock.sendall(wire.encode_close())
        except OSError:
            pass
        sock.close()

    def _run_connection(self, sock: socket.socket, peer: str, conn_id: str) -> None:
        try:
            if self._tls is not None:
                sock.settimeout(self.settings.read_timeout)
                try:
                    sock = self._tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError) as exc:
                    log.warning("conn %s from %s: TLS handshake failed (%s)", conn_id, peer, exc)
                    sock.close()
                    return
                with self._lock:
                    self._active[conn_id] = (self._active[conn_id][0], sock)
            handle_connection(sock, peer, conn_id, self.settings)
        except Exception:  # noqa: BLE001 - a bad connection must never take the server down
            log.exception("conn %s: unexpected failure", conn_id)
        finally:
            with self._lock:
                self._active.pop(conn_id, None)
                self.served += 1
            self._slots.release()


def handle_connection(sock: socket.socket, peer: str, conn_id: str, settings: ServerSettings) -> None:
    """Serve one connection to the end; always answers with CLOSE (and ERROR texts for what went wrong)."""
    s = settings
    conn = MrdConnection(sock, limits=s.limits, read_timeout=s.read_timeout, idle_timeout=s.idle_timeout,
                         text_allowed=not s.gadgetron_connect, connection_id=conn_id)
    context = StreamContext(connection_id=conn_id)
    problems: list[str] = []
    run: ChainRun | None = None
    outcome = "ok"
    started = time.perf_counter()
    try:
        first = conn.read_message()
        if isinstance(first, wire.Close):
            outcome = "empty"
            return
        spec, pending, error = _configure(conn, first, s)
        if error:
            log.warning("conn %s %s: %s", conn_id, peer, error)
            if conn.text_allowed:
                conn.send_text(error)  # first, FIRE style; the items still come back, marked
        message = pending if pending is not None else conn.read_message()
        if isinstance(message, wire.Header):
            context.header = conn.header = parse_header(message.xml)
            message = None
        run = ChainRun(spec, context, error=error)
        for out in run.run(_input(conn, message, problems)):
            conn.send(out)
    except ProtocolError as exc:
        problems.append(str(exc))
    except OSError as exc:
        outcome = f"peer gone ({type(exc).__name__})"
    finally:
        for problem in problems:
            outcome = "protocol error"
            log.warning("conn %s %s: %s", conn_id, peer, problem)
            if not conn.text_allowed:
                continue
            try:
                conn.send_text(f"ERROR myoseg: {problem}")
            except OSError:
                break
        conn.send_close()
        conn.close()
        summary = run.summary() if run is not None else f"no pipeline | total {1e3 * (time.perf_counter() - started):.0f} ms"
        log.info("conn %s %s %s | in %d B out %d B | %s", conn_id, peer, summary, conn.bytes_in, conn.bytes_out,
                 outcome)


def _input(conn: MrdConnection, first: wire.Message | None, problems: list[str]) -> Iterator[Item]:
    """The data items; a broken stream ends the input (held items still come back) and is noted."""
    try:
        yield from conn.items(first)
    except ProtocolError as exc:
        problems.append(str(exc))


def _configure(conn: MrdConnection, first: wire.Message, s: ServerSettings,
               ) -> tuple[PipelineSpec | None, wire.Message | None, str | None]:
    """(pipeline, a message read ahead that is not config, error text) from the first message."""
    try:
        if isinstance(first, wire.ConfigFile):
            return _load(first.name, s), None, None
        if isinstance(first, wire.ConfigScript):
            if s.gadgetron_connect:
                return _from_gadgetron_config(conn, first.xml, s), None, None
            return parse_pipeline(first.xml, source="<config script>", name="script",
                                  module_prefixes=s.module_prefixes), None, None
        # No config at all (header or data first): the default pipeline.
        return _load(s.default_pipeline, s), first, None
    except PipelineError as exc:
        return None, None, f"ERROR myoseg: pipeline rejected: {exc}"


def _load(name: str, s: ServerSettings) -> PipelineSpec:
    # The default pipeline comes from the command line and may be a path; names from clients never are.
    return load_pipeline(name, s.pipelines_dir, allow_path=name == s.default_pipeline,
                         module_prefixes=s.module_prefixes)


def _from_gadgetron_config(conn: MrdConnection, raw: bytes, s: ServerSettings) -> PipelineSpec:
    try:
        config = parse_config_element(raw)
    except ProtocolError as exc:
        raise PipelineError(str(exc), "<gadgetron configuration>") from None
    conn.config = config
    if config.find("stream") is not None:  # a whole pipeline sent as the configuration
        return parse_pipeline(raw, source="<gadgetron configuration>", module_prefixes=s.module_prefixes)
    return spec_from_properties(properties_from_config(config), s.pipelines_dir, default=s.default_pipeline,
                                trusted_default=True, module_prefixes=s.module_prefixes)


@contextmanager
def running_server(settings: ServerSettings | None = None, **overrides: object) -> Iterator[MrdServer]:
    """A server on an ephemeral loopback port for the duration of a with-block (tests, demo, bench)."""
    base = settings or ServerSettings()
    fields = {"port": 0, **overrides}
    server = MrdServer(type(base)(**{**base.__dict__, **fields}))
    server.start()
    try:
        yield server
    finally:
        server.stop(drain_timeout=5.0)

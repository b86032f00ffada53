"""The benchmark cases. Each returns a CaseResult of raw samples; report.py turns them into tables.

- in_process:  the pipeline chain in this process, slice by slice as maps arrive (per-stage timings too).
- tcp_warm:    a `myoseg serve` process over loopback TCP; each map is sent, then its outputs awaited
               (a scanner sends maps seconds apart, so lock-step is the realistic pattern).
- cold_start:  a new process per scan, launched exactly as Gadgetron's <execute> does it
               (`python -m gadgetron PORT myoseg.gadgets.pipeline pipeline`), timed from spawn to last image.
- batched:     the segmenter alone, each map type's slices of one study in one call vs one call per slice.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise

import ismrmrd
import psutil

from myoseg.core import metakeys as mk
from myoseg.gadgets.base import Item, StreamContext
from myoseg.stream import wire
from myoseg.stream.chain import ChainRun
from myoseg.stream.connection import MrdConnection, parse_header
from myoseg.stream.pipeline import DEFAULT_PIPELINE, PipelineSpec, default_pipelines_dir, load_pipeline


@dataclass
class Study:
    """One simulated study, kept as bytes so that every repeat starts from pristine images."""

    encoded: list[bytes]
    header_xml: str

    @classmethod
    def simulate(cls, seed: int, matrix: tuple[int, int] | None = None) -> Study:
        from myoseg.sim.study import simulate_study

        maps, header_xml, _labels = simulate_study(seed=seed, matrix=matrix)
        return cls([m.to_bytes() for m in maps], header_xml)

    def images(self) -> list[ismrmrd.Image]:
        return [ismrmrd.Image.from_bytes(b) for b in self.encoded]

    @property
    def slices(self) -> int:
        return len(self.encoded)


@dataclass
class CaseResult:
    case: str
    backend: str
    slice_ms: list[float] = field(default_factory=list)
    study_ms: list[float] = field(default_factory=list)
    stages_ms: dict[str, list[float]] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    gpu_mem_mb: float | None = None
    errors: int = 0
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def pipeline_for(backend: str, overrides: dict[str, str] | None = None) -> PipelineSpec:
    return load_pipeline(DEFAULT_PIPELINE).with_overrides({"backend": backend, **(overrides or {})})


def pipeline_script(backend: str, overrides: dict[str, str] | None = None) -> bytes:
    """The shipped pipeline XML with the backend (and other segment properties) set: a config script (id 2)."""
    path = default_pipelines_dir() / f"{DEFAULT_PIPELINE}.xml"
    root = ET.fromstring(path.read_bytes())
    for external in root.iter("external"):
        execute = external.find("execute")
        if execute is None or not execute.get("name", "").endswith(".segment"):
            continue
        config = external.find("configuration")
        if config is None:
            config = ET.SubElement(external, "configuration")
        for name, value in {"backend": backend, **(overrides or {})}.items():
            ET.SubElement(config, "property", {"name": name, "value": value})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def warm_up(spec: PipelineSpec) -> None:
    for step in spec.steps:
        hook = getattr(step.gadget_class, "warm_up", None)
        if hook is not None:
            hook(step.config)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _gpu_mem_mb() -> float | None:
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return None
    return float(torch.cuda.max_memory_allocated()) / 2**20


def _is_error(item: Item) -> bool:
    return isinstance(item, ismrmrd.Image) and item.meta.get(mk.STATUS) == mk.STATUS_ERROR


def run_in_process(study: Study, backend: str, repeats: int, overrides: dict[str, str] | None = None) -> CaseResult:
    spec = pipeline_for(backend, overrides)
    warm_up(spec)
    result = CaseResult("in_process", backend)
    header = parse_header(study.header_xml.encode())
    for _ in range(repeats):
        images = study.images()
        context = StreamContext(header=header, connection_id="bench")
        pulls: list[float] = []
        last_out: list[float] = [0.0] * len(images)
        # Stage records made while slice i was in flight, summed: one map yields several items (map, mask,
        # overlay) and each step records each item it handles; a console waits for all of them.
        marks: list[dict[str, int]] = []

        def feed(images: list[ismrmrd.Image] = images, pulls: list[float] = pulls,
                 marks: list[dict[str, int]] = marks, context: StreamContext = context) -> Iterator[Item]:
            for image in images:
                marks.append({k: len(v) for k, v in context.timings_ms.items()})
                pulls.append(time.perf_counter())
                yield image
            marks.append({k: len(v) for k, v in context.timings_ms.items()})

        for item in ChainRun(spec, context).run(feed()):
            if isinstance(item, ismrmrd.Image):
                last_out[len(pulls) - 1] = time.perf_counter()  # an output belongs to the latest input
                result.errors += _is_error(item)
        result.slice_ms += [(end - start) * 1e3 for start, end in zip(pulls, last_out, strict=True)]
        result.study_ms.append((max(last_out) - pulls[0]) * 1e3)
        for stage, samples in context.timings_ms.items():
            per_slice = [sum(samples[m0.get(stage, 0):m1.get(stage, 0)]) for m0, m1 in pairwise(marks)]
            result.stages_ms.setdefault(stage, []).extend(per_slice)
    result.peak_rss_mb = _rss_mb()
    result.gpu_mem_mb = _gpu_mem_mb()
    return result


def _await_slice(conn: MrdConnection, sent: ismrmrd.Image, timeout_s: float) -> bool:
    """Read until the sent map is back with its derived images (or marked as an error). True if error."""
    key = (int(sent.image_series_index), int(sent.slice), int(sent.image_index))
    original: ismrmrd.Image | None = None
    derived = 0
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = conn.read_message()
        if not isinstance(message, ismrmrd.Image):
            continue
        if (int(message.image_series_index), int(message.slice), int(message.image_index)) == key:
            original = message
        elif str(message.meta.get(mk.SOURCE_SERIES, "")) == str(key[0]) and int(message.slice) == key[1]:
            derived += 1
        if original is not None and (_is_error(original) or derived >= 2):
            return _is_error(original)
    raise TimeoutError(f"slice {key} did not come back within {timeout_s:.0f} s")


def tcp_study(port: int, study: Study, script: bytes, timeout_s: float = 60.0) -> tuple[list[float], float, int]:
    """One study over one connection, lock-step. Returns (per-slice ms, study ms, errors)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = MrdConnection(sock, read_timeout=timeout_s, idle_timeout=timeout_s, connection_id="bench")
    slices: list[float] = []
    errors = 0
    images = study.images()
    try:
        conn.send_bytes(wire.encode_config_script(script))
        conn.send_bytes(wire.encode_header(study.header_xml))
        began = time.perf_counter()
        for image in images:
            start = time.perf_counter()
            conn.send(image)
            errors += _await_slice(conn, image, timeout_s)
            slices.append((time.perf_counter() - start) * 1e3)
        study_ms = (time.perf_counter() - began) * 1e3
        conn.send_close()
        with contextlib.suppress(wire.ProtocolError, OSError):
            while not isinstance(conn.read_message(), wire.Close):
                pass
    finally:
        conn.close()
    return slices, study_ms, errors


def run_tcp_warm(port: int, server_pid: int, study: Study, backend: str, repeats: int,
                 overrides: dict[str, str] | None = None) -> CaseResult:
    script = pipeline_script(backend, overrides)
    tcp_study(port, study, script)  # first connection with this backend loads its model: not measured
    result = CaseResult("tcp_warm", backend)
    server = psutil.Process(server_pid)
    peak = 0.0
    for _ in range(repeats):
        slices, study_ms, errors = tcp_study(port, study, script)
        result.slice_ms += slices
        result.study_ms.append(study_ms)
        result.errors += errors
        peak = max(peak, server.memory_info().rss / 2**20)
    result.peak_rss_mb = peak
    result.note = "server RSS (all backends loaded so far)"
    return result


def _gadgetron_config(properties: dict[str, str]) -> bytes:
    root = ET.Element("configuration")
    for name, value in properties.items():
        ET.SubElement(root, "property", {"name": name, "value": value})
    return ET.tostring(root, encoding="utf-8")


def cold_start_once(study: Study, properties: dict[str, str],
                    timeout_s: float = 120.0) -> tuple[float, float, int, list[ismrmrd.Image]]:
    """Play Gadgetron: listen, spawn the external module, send CONFIG (the node's properties), HEADER, the
    maps and CLOSE, read to CLOSE. Returns (ms from spawn to the first overlay, ms from spawn to the last
    image, errors, the returned images)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(timeout_s)
        port = listener.getsockname()[1]
        images = study.images()
        spawned = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "gadgetron", str(port), "myoseg.gadgets.pipeline",
                                    "pipeline"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=_child_env())
        try:
            sock, _ = listener.accept()
            conn = MrdConnection(sock, read_timeout=timeout_s, idle_timeout=timeout_s, connection_id="cold")
            conn.send_bytes(wire.encode_config_script(_gadgetron_config(properties)))
            conn.send_bytes(wire.encode_header(study.header_xml))
            for image in images:
                conn.send(image)
            conn.send_close()
            first = last = 0.0
            errors = 0
            returned: list[ismrmrd.Image] = []
            while True:
                message = conn.read_message()
                if isinstance(message, wire.Close):
                    break
                if isinstance(message, ismrmrd.Image):
                    returned.append(message)
                    last = time.perf_counter()
                    errors += _is_error(message)
                    if not first and message.meta.get(mk.ROLE) == mk.ROLE_OVERLAY:
                        first = last
            conn.close()
        finally:
            _, stderr = process.communicate(timeout=timeout_s)
        if process.returncode != 0:
            raise RuntimeError(f"external module exited {process.returncode}: {stderr.decode()[-500:]}")
    return (first - spawned) * 1e3 if first else 0.0, (last - spawned) * 1e3, errors, returned


def _child_env() -> dict[str, str]:
    import os

    return {**os.environ, "GADGETRON_EXTERNAL_LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"}


def run_cold_start(study: Study, backend: str, repeats: int, overrides: dict[str, str] | None = None) -> CaseResult:
    result = CaseResult("cold_start", backend, note="new `python -m gadgetron` process per scan, spawn -> last image")
    firsts: list[float] = []
    for _ in range(repeats):
        first, last, errors, _ = cold_start_once(study, {"backend": backend, **(overrides or {})})
        firsts.append(first)
        result.study_ms.append(last)
        result.errors += errors
    result.stages_ms["first_result"] = firsts
    return result


def run_batched(study: Study, backend: str, repeats: int, threads: int | None = None,
                model: str | None = None) -> CaseResult:
    """Segmenter only: per-map-type batches of one study vs the same slices one by one."""
    from myoseg.core.intake import read_map
    from myoseg.gadgets.segment import get_segmenter
    from myoseg.models.api import SegmentationInput

    segmenter = get_segmenter(model, backend, threads)
    maps = [m for m in (read_map(im).map for im in study.images()) if m is not None]
    groups: dict[str, list[SegmentationInput]] = {}
    for m in maps:
        groups.setdefault(m.map_type.value, []).append(
            SegmentationInput(m.values_ms, m.geometry.spacing_mm, m.map_type))
    result = CaseResult("batched_study", backend, note="segmenter only; slice_ms = batch time / slices")
    one_by_one: list[float] = []
    segmenter.segment(maps and [groups[next(iter(groups))][0]])  # warm
    for _ in range(repeats):
        for inputs in groups.values():
            start = time.perf_counter()
            segmenter.segment(inputs)
            batch_ms = (time.perf_counter() - start) * 1e3
            result.slice_ms += [batch_ms / len(inputs)] * len(inputs)
            result.study_ms.append(batch_ms)
            start = time.perf_counter()
            for single in inputs:
                segmenter.segment([single])
            one_by_one.append((time.perf_counter() - start) * 1e3)
    result.stages_ms["one_by_one_group_ms"] = one_by_one
    return result


def backends_available(requested: Iterable[str], model: str | None = None) -> tuple[list[str], dict[str, str]]:
    """Split requested backends into runnable ones and {backend: why not}, by loading each (it is cached)."""
    from myoseg.gadgets.segment import get_segmenter

    ok: list[str] = []
    missing: dict[str, str] = {}
    for name in requested:
        try:
            get_segmenter(model, name, None)
        except Exception as exc:  # noqa: BLE001 - any reason a backend cannot run is reported, not fatal
            cause = exc.__cause__ or exc
            missing[name] = f"{type(cause).__name__}: {cause}"[:300]
        else:
            ok.append(name)
    return ok, missing

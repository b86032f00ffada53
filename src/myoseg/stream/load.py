"""Load harness: N concurrent "scanners" each streaming studies to one `myoseg serve`; count every image.

    python -m myoseg.stream.load --server 127.0.0.1:9002 --scanners 8 --studies 20 [--study FILE.h5]
    python -m myoseg.stream.load --server 127.0.0.1:9002 --scanners 8 --soak 180 --pause 0.5 --pid SERVER_PID

Reports throughput, per-image latency (send of a map -> its return; p50/p95/p99/max), images lost (sent
originals that did not come back: must be 0), errors, and the server's RSS at start and end (with --pid,
or this process when the server runs in it).
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import ismrmrd
import psutil

from myoseg.core import metakeys as mk
from myoseg.gadgets.base import Item
from myoseg.stream.client import MrdClient, latency_stats, parse_address


@dataclass
class LoadReport:
    scanners: int
    studies: int = 0
    images_sent: int = 0
    images_back: int = 0  # originals (no MYOSEG_Role) that came back
    derived_back: int = 0  # masks, overlays
    errors: int = 0  # ERROR texts
    failed_connections: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, RSS MB)

    @property
    def lost(self) -> int:
        return self.images_sent - self.images_back

    def summary(self) -> str:
        stats = latency_stats(self.latencies_ms)
        rss = (f"RSS {self.rss_mb[0][1]:.0f} -> {self.rss_mb[-1][1]:.0f} MB" if self.rss_mb else "RSS n/a")
        return (f"{self.scanners} scanners, {self.studies} studies, {self.images_sent} maps sent, "
                f"{self.images_back} back (+{self.derived_back} derived), lost {self.lost}, "
                f"errors {self.errors}, failed connections {self.failed_connections} | "
                f"{self.images_sent / self.seconds if self.seconds else 0:.1f} maps/s over {self.seconds:.1f} s | "
                f"latency ms p50 {stats.get('median', 0):.1f} p95 {stats.get('p95', 0):.1f} "
                f"p99 {stats.get('p99', 0):.1f} max {stats.get('max', 0):.1f} | {rss}")


def run_load(host: str, port: int, images: Sequence[ismrmrd.Image], header_xml: str | None, *,
             scanners: int = 8, studies: int = 20, soak_s: float | None = None, config_name: str = "myoseg_t1t2",
             pause_s: float = 0.0, rss_pid: int | None = None, timeout: float = 120.0) -> LoadReport:
    """Each scanner thread streams `studies` studies (or studies until `soak_s` elapses), one connection each,
    pausing `pause_s` between its studies."""
    report = LoadReport(scanners=scanners)
    lock = threading.Lock()
    process = psutil.Process(rss_pid) if rss_pid else psutil.Process()
    started = time.perf_counter()
    stop = threading.Event()

    def sample_rss() -> None:
        while True:
            with lock:
                report.rss_mb.append((time.perf_counter() - started, process.memory_info().rss / 2**20))
            if stop.wait(1.0):
                return

    def one_study() -> None:
        sent_at: list[float] = []
        returned = 0
        latencies: list[float] = []

        def feed() -> Iterator[Item]:
            for image in images:
                sent_at.append(time.perf_counter())
                yield image

        def on_item(item: Item) -> None:
            nonlocal returned
            if isinstance(item, ismrmrd.Image) and not item.meta.get(mk.ROLE) and returned < len(sent_at):
                latencies.append(1e3 * (time.perf_counter() - sent_at[returned]))
                returned += 1

        try:
            result = MrdClient(host, port, timeout=timeout).process(feed(), header_xml, config_name=config_name,
                                                                     on_item=on_item)
        except Exception:  # noqa: BLE001 - a failed connection is counted, the load goes on
            with lock:
                report.failed_connections += 1
                report.images_sent += len(images)
            return
        originals = sum(1 for i in result.images if not i.meta.get(mk.ROLE))
        with lock:
            report.studies += 1
            report.images_sent += len(images)
            report.images_back += originals
            report.derived_back += len(result.images) - originals
            report.errors += len(result.errors)
            report.latencies_ms.extend(latencies)

    def scanner() -> None:
        done = 0
        while (soak_s is not None and time.perf_counter() - started < soak_s) or (soak_s is None and done < studies):
            one_study()
            done += 1
            if pause_s:
                time.sleep(pause_s)

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=scanner, name=f"scanner-{k}") for k in range(scanners)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report.seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    with lock:
        report.rss_mb.append((report.seconds, process.memory_info().rss / 2**20))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m myoseg.stream.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", default="127.0.0.1:9002")
    parser.add_argument("--scanners", type=int, default=8)
    parser.add_argument("--studies", type=int, default=20, help="studies per scanner")
    parser.add_argument("--soak", type=float, default=None, help="run for this many seconds instead")
    parser.add_argument("--study", default=None, help="ISMRMRD file to send (default: a small synthetic study)")
    parser.add_argument("--pipeline", default="myoseg_t1t2")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds each scanner waits between studies")
    parser.add_argument("--pid", type=int, default=None, help="server process id, for its RSS")
    args = parser.parse_args(argv)
    from myoseg.core.mrdio import read_mrd

    if args.study:
        contents = read_mrd(args.study)
        images, header = contents.images, contents.header_xml
    else:
        images, header = synthetic_study(), None
    host, port = parse_address(args.server)
    report = run_load(host, port, images, header, scanners=args.scanners, studies=args.studies,
                      soak_s=args.soak, config_name=args.pipeline, pause_s=args.pause, rss_pid=args.pid)
    print(report.summary())
    return 0 if report.lost == 0 and report.failed_connections == 0 else 1


def synthetic_study(slices: int = 4, shape: tuple[int, int] = (218, 256)) -> list[ismrmrd.Image]:
    """T1 (series 5, float32) and T2 (series 11, uint16 x10) map-like images; enough to load the transport."""
    import numpy as np

    images = []
    for series, role, dtype, scale, value in ((5, "T1", np.float32, 1.0, 1000.0), (11, "T2", np.uint16, 10.0, 50.0)):
        for s in range(slices):
            data = np.full(shape, value * scale, dtype=dtype)
            image = ismrmrd.Image.from_array(data[None])
            image.image_series_index, image.slice, image.image_index = series, s, s
            image.field_of_view[:] = (shape[1] * 1.4, shape[0] * 1.4, 8.0)
            image.meta[mk.GT_DATA_ROLE] = role
            image.meta[mk.GT_SCALE_RATIO] = str(scale)
            images.append(image)
    return images


if __name__ == "__main__":
    raise SystemExit(main())

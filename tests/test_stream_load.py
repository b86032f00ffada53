"""A bounded load run: several concurrent scanners against one server; every image must come back."""

from __future__ import annotations

from gadgets_for_tests import HEADER_XML

from myoseg.stream.load import run_load, synthetic_study
from myoseg.stream.server import running_server


def test_concurrent_scanners_lose_no_image() -> None:
    images = synthetic_study(slices=3, shape=(96, 128))
    with running_server(max_connections=8) as srv:
        host, port = srv.address
        report = run_load(host, port, images, HEADER_XML, scanners=6, studies=4, config_name="passthrough")
    assert report.failed_connections == 0 and report.studies == 24
    assert report.images_sent == 24 * len(images) and report.lost == 0 and report.errors == 0
    assert len(report.latencies_ms) == report.images_sent
    assert "lost 0" in report.summary()

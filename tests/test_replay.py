"""`myoseg replay` and `myoseg serve` end to end: files in, files out, meta intact; the CLI and SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from gadgets_for_tests import HEADER_XML, TEST_PREFIXES, make_acquisition, make_map, pipeline_xml
from typer.testing import CliRunner

from myoseg.cli import app
from myoseg.core import metakeys as mk
from myoseg.core.mrdio import read_mrd, write_mrd
from myoseg.stream.client import replay_file
from myoseg.stream.server import running_server


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    path = tmp_path / "study.h5"
    images = [make_map(900 + i, slice_=i, index=i) for i in range(3)]
    images += [make_map(40 + i, dtype=np.uint16, series=11, slice_=i, index=i) for i in range(3)]
    write_mrd(path, images, header_xml=HEADER_XML, acquisitions=[make_acquisition()])
    return path


def _check_output(study: Path, out: Path) -> None:
    sent, back = read_mrd(study), read_mrd(out)
    assert len(back.images) == len(sent.images) and len(back.acquisitions) == 1
    for a, b in zip(sent.images, back.images, strict=True):
        np.testing.assert_array_equal(a.data, b.data)
        assert dict(a.meta) == dict(b.meta)
    with h5py.File(out, "r") as f:  # meta visible to C++ readers too
        assert f["dataset/image_5/header"][0]["attribute_string_len"] > 0


def test_replay_in_process(study: Path, tmp_path: Path) -> None:
    report = replay_file(study, tmp_path / "out.h5", pipeline="passthrough")
    assert report.where == "in process" and report.lost_images == 0 and report.written == 6
    assert [(row.series, row.count) for row in report.series] == [(5, 3), (11, 3)]
    _check_output(study, tmp_path / "out.h5")


def test_replay_over_tcp_by_name_and_by_script(study: Path, tmp_path: Path) -> None:
    script = tmp_path / "boom.xml"
    script.write_text(pipeline_xml(("gadgets_for_tests", "explode")))
    with running_server(module_prefixes=TEST_PREFIXES) as srv:
        address = "{}:{}".format(*srv.address)
        report = replay_file(study, tmp_path / "out.h5", pipeline="passthrough", server=address)
        assert report.result.closed and report.written == 6
        _check_output(study, tmp_path / "out.h5")
        failed = replay_file(study, tmp_path / "out2.h5", pipeline=str(script), server=address)
    assert failed.lost_images == 0 and failed.result.errors
    assert [row.errors for row in failed.series] == [3, 3]
    assert all(im.meta[mk.STATUS] == mk.STATUS_ERROR for im in read_mrd(tmp_path / "out2.h5").images)


def test_replay_cli_prints_a_summary(study: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["replay", str(study), "-o", str(tmp_path / "o.h5"), "--pipeline",
                                      "passthrough", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "values reported" in result.output and "sent 6 images" in result.output
    bad = CliRunner().invoke(app, ["replay", str(study), "-o", str(tmp_path / "o.h5"), "--pipeline", "../x"])
    assert bad.exit_code == 2 and "invalid pipeline name" in bad.output


def test_serve_cli_serves_and_stops_cleanly_on_sigterm(study: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "myoseg.cli", "serve", "--port", "0", "--default-pipeline",
                             "passthrough", "--idle-timeout", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        port = None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if match := re.search(r"listening on 127\.0\.0\.1:(\d+)", line):
                port = int(match.group(1))
        assert port, "".join(lines)
        assert any("warm-up of pipeline passthrough done" in x for x in lines)
        report = replay_file(study, tmp_path / "out.h5", pipeline="passthrough", server=f"127.0.0.1:{port}")
        assert report.written == 6
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, rest
    assert "SIGTERM" in rest and "stopped after 1 connection" in rest
    assert "images 6->6" in rest

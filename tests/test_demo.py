"""The README's first command ends in `myoseg demo`: a real `myoseg serve` process, a replay over TCP."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from myoseg.cli import app
from myoseg.core.mrdio import read_mrd

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "weights" / "myoseg_unet.json"


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped model in models/weights")
def test_demo_over_tcp_returns_every_map_with_values(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "demo ok" in result.output and "0 lost" in result.output
    sent = read_mrd(tmp_path / "study.h5").images
    back = read_mrd(tmp_path / "result.h5").images
    originals = [im for im in back if "MYOSEG_Role" not in im.meta]
    assert len(sent) == 8 and len(originals) == 8 and len(back) == 24
    assert all(float(im.meta["MYOSEG_Mean_ms"]) > 0 for im in originals)
    assert (tmp_path / "overlays.png").stat().st_size > 10_000

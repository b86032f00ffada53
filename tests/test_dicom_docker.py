"""Static checks of docker/ (Docker cannot run here): files referenced exist, ports and names agree."""

from __future__ import annotations

import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKER = ROOT / "docker"
DOCKERFILES = [DOCKER / "Dockerfile.gadgetron", DOCKER / "Dockerfile.serve"]


def _copy_sources(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if not parts or parts[0] != "COPY" or any(p.startswith("--from") for p in parts):
            continue
        args = [p for p in parts[1:] if not p.startswith("--")]
        sources.extend(args[:-1])
    return sources


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_copy_sources_exist_and_are_not_ignored(dockerfile: Path) -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    sources = _copy_sources(dockerfile)
    assert sources, "no COPY found"
    for src in sources:
        assert (ROOT / src).exists(), f"{dockerfile.name}: COPY {src} does not exist"
        assert src.split("/")[0] not in ignored, f"{dockerfile.name}: COPY {src} is excluded by .dockerignore"
    text = dockerfile.read_text()
    assert re.search(r"^FROM \$\{\w+\}$", text, re.M) and re.search(r"^ARG \w+_IMAGE=\S+:\S+", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("0", "root"), "the container must not run as root"


def test_connect_pipeline_matches_compose() -> None:
    root = ET.parse(DOCKER / "gadgetron" / "myoseg_t1t2_connect.xml").getroot()
    connect = root.find("./stream/external/connect")
    assert connect is not None
    compose = (DOCKER / "docker-compose.yml").read_text()
    assert re.search(rf"^  {re.escape(connect.get('address', ''))}:$", compose, re.M), "service name"
    assert f"--port={connect.get('port')}" in compose
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (ROOT / "pipelines" / f"{props['pipeline']}.xml").is_file()
    for dockerfile in re.findall(r"dockerfile: (\S+)", compose):
        assert (ROOT / dockerfile).is_file()
    entry = (DOCKER / "gadgetron" / "entrypoint.sh").read_text()
    assert 'PATH="/opt/myoseg-env/bin:${PATH}"' in entry


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed")
def test_hadolint_clean() -> None:
    result = subprocess.run(["hadolint", *map(str, DOCKERFILES)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

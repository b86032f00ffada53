"""TLS (optional): encrypted round trip, plain clients refused, mutual TLS refuses clients without a certificate."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from gadgets_for_tests import HEADER_XML, make_map, raw_session

from myoseg.stream.client import MrdClient, client_tls_context
from myoseg.stream.server import running_server

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def _cert(folder: Path, name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"], check=True, capture_output=True)
    return cert, key


def test_tls_round_trip_and_plain_clients_refused(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path, "server")
    with running_server(tls_cert=cert, tls_key=key, read_timeout=1.0) as srv:
        host, port = srv.address
        result = MrdClient(host, port, timeout=5, tls=client_tls_context(cert)).process(
            [make_map(1)], HEADER_XML, config_name="passthrough")
        assert result.closed and len(result.images) == 1
        assert raw_session(srv.address, b"\x01\x00passthrough") == []  # plain TCP: handshake fails, closed
        with pytest.raises(ssl.SSLError):  # a server certificate we do not trust
            MrdClient(host, port, timeout=5, tls=client_tls_context()).process([], None, config_name="passthrough")


def test_mutual_tls_requires_a_client_certificate(tmp_path: Path) -> None:
    cert, key = _cert(tmp_path, "server")
    client_cert, client_key = _cert(tmp_path, "scanner")
    with running_server(tls_cert=cert, tls_key=key, tls_client_ca=client_cert, read_timeout=1.0) as srv:
        host, port = srv.address
        ok = MrdClient(host, port, timeout=5, tls=client_tls_context(cert, client_cert, client_key)).process(
            [make_map(1)], HEADER_XML, config_name="passthrough")
        assert len(ok.images) == 1
        try:  # TLS 1.3: the client may only learn of the refusal when it reads
            refused = MrdClient(host, port, timeout=5, tls=client_tls_context(cert)).process(
                [make_map(1)], HEADER_XML, config_name="passthrough")
        except (ssl.SSLError, OSError):
            return
        assert not refused.closed and not refused.items

"""Start `myoseg serve` as a separate process (demo, benchmark, load tests) and stop it with SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"myoseg serve exited with code {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"myoseg serve did not listen on port {port} within {timeout:.0f} s")


@contextlib.contextmanager
def serve_process(port: int = 0, *, extra_args: tuple[str, ...] = (), log_path: Path | None = None,
                  start_timeout: float = 120.0, env: dict[str, str] | None = None) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Yield (port, process) of a running `myoseg serve` on 127.0.0.1; SIGTERM and wait on exit."""
    port = port or free_port()
    args = [sys.executable, "-m", "myoseg.cli", "serve", "--port", str(port), *extra_args]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        wait_for_port(port, process, start_timeout)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if log_path:
            log.close()  # type: ignore[union-attr]

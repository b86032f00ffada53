"""ONNX Runtime on CPU: the default backend of the inline runtime (no torch needed)."""

from __future__ import annotations

import os

import numpy as np
from myoseg.models.backends.base import BackendUnavailable, InferenceBackend, ModelFiles, check_batch, log


def free_cores() -> int:
    """Cores this process may use (affinity / cgroup aware where the platform says so)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


class OnnxRuntimeBackend(InferenceBackend):
    name = "onnxruntime"

    def __init__(self, files: ModelFiles, threads: int | None = None, providers: list[str] | None = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:  # pragma: no cover - base dependency
            raise BackendUnavailable(f"onnxruntime is not installed: {exc}") from exc
        cores = free_cores()
        n = cores if threads is None else max(1, min(int(threads), cores))
        so = ort.SessionOptions()
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        # Idle worker threads must not spin: a scanner sends maps seconds apart, and on a shared 2-core box the
        # spinning threads steal the core the next request needs (p50 86 -> 50 ms under load, same when quiet).
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.threads = n
        self.session = ort.InferenceSession(
            str(files.onnx), sess_options=so, providers=providers or ["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name
        log.info("onnxruntime session on %s with %d intra-op threads", files.onnx.name, n)

    def run(self, batch: np.ndarray) -> np.ndarray:
        out = self.session.run([self.output_name], {self.input_name: check_batch(batch)})[0]
        return np.asarray(out, dtype=np.float32)

"""Inference backends behind one interface, and `create_backend` with the `auto` choice.

auto: tensorrt > torch-cuda > onnxruntime. Each step that cannot run here is skipped with a logged reason.
"""

from __future__ import annotations

from myoseg.models.backends.base import BackendUnavailable, InferenceBackend, ModelFiles, log

BACKENDS = ("auto", "onnxruntime", "torch", "torch-cpu", "torch-cuda", "tensorrt")


def create_backend(name: str, files: ModelFiles, threads: int | None = None) -> InferenceBackend:
    name = (name or "auto").strip().lower()
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
    if name == "onnxruntime":
        from myoseg.models.backends.onnxruntime_backend import OnnxRuntimeBackend

        return OnnxRuntimeBackend(files, threads=threads)
    if name in ("torch", "torch-cpu", "torch-cuda"):
        from myoseg.models.backends.torch_backend import TorchBackend, torch_cuda_available

        device = "cuda" if name == "torch-cuda" or (name == "torch" and torch_cuda_available()) else "cpu"
        return TorchBackend(files, device=device, threads=threads)
    if name == "tensorrt":
        from myoseg.models.backends.tensorrt_backend import TensorRTBackend

        return TensorRTBackend(files)
    # auto
    for candidate in ("tensorrt", "torch-cuda"):
        try:
            if not _cuda_visible():
                raise BackendUnavailable("no NVIDIA GPU visible (nvidia-smi / CUDA_VISIBLE_DEVICES)")
            return create_backend(candidate, files, threads)
        except BackendUnavailable as exc:
            log.info("backend auto: %s not used: %s", candidate, exc)
    return create_backend("onnxruntime", files, threads)


def _cuda_visible() -> bool:
    """Cheap check before importing torch (1 s) just to find there is no GPU."""
    import os
    import shutil

    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return shutil.which("nvidia-smi") is not None or os.path.exists("/dev/nvidia0")


__all__ = ["BACKENDS", "BackendUnavailable", "InferenceBackend", "ModelFiles", "create_backend"]

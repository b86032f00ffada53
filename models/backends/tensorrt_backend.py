"""TensorRT backend: an fp16 engine built from the shipped ONNX with the TensorRT Python API.

The engine is cached on disk keyed by GPU name, TensorRT version and the ONNX sha256; a cached engine whose
key does not match (other GPU, other TensorRT, other model) is rebuilt. Device buffers are torch CUDA tensors
(TensorRT's Python API takes raw device pointers; torch is the allocator we already depend on for training).
Needs the [tensorrt] extra and an NVIDIA GPU; anything missing raises BackendUnavailable so `auto` falls back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
from myoseg.models.backends.base import BackendUnavailable, InferenceBackend, ModelFiles, check_batch, log

# Optimisation profile: batch 1..8 (TTA uses 4), 64..384 pixels per side (the canvas is at most 192 by default).
PROFILE_MIN = (1, 64, 64)
PROFILE_OPT = (4, 192, 192)
PROFILE_MAX = (8, 384, 384)


def default_cache_dir() -> Path:
    return Path(os.environ.get("MYOSEG_TRT_CACHE", Path.home() / ".cache" / "myoseg" / "tensorrt"))


def engine_key(gpu_name: str, trt_version: str, onnx_sha256: str) -> str:
    gpu = re.sub(r"[^A-Za-z0-9]+", "_", gpu_name).strip("_")
    return f"{gpu}__trt{trt_version}__{onnx_sha256[:16]}"


class TensorRTBackend(InferenceBackend):
    name = "tensorrt"

    def __init__(self, files: ModelFiles, cache_dir: Path | None = None, fp16: bool = True) -> None:
        try:
            import tensorrt as trt
        except ImportError as exc:
            raise BackendUnavailable(f"tensorrt is not installed (pip install .[tensorrt]): {exc}") from exc
        try:
            import torch
        except ImportError as exc:
            raise BackendUnavailable(f"tensorrt backend uses torch CUDA tensors as buffers: {exc}") from exc
        if not torch.cuda.is_available():
            raise BackendUnavailable("no CUDA device for TensorRT")
        self.trt, self.torch = trt, torch
        self.logger = trt.Logger(trt.Logger.WARNING)
        gpu = torch.cuda.get_device_name(0)
        key = engine_key(gpu, trt.__version__, files.sha256)
        cache = Path(cache_dir or default_cache_dir())
        cache.mkdir(parents=True, exist_ok=True)
        engine_path = cache / f"{key}.engine"
        meta_path = engine_path.with_suffix(".json")
        want = {"gpu": gpu, "tensorrt": trt.__version__, "onnx_sha256": files.sha256, "fp16": fp16}
        plan = None
        if engine_path.is_file() and meta_path.is_file():
            try:
                if json.loads(meta_path.read_text()) == want:
                    plan = engine_path.read_bytes()
                else:
                    log.info("TensorRT engine %s is stale; rebuilding", engine_path.name)
            except (OSError, ValueError):
                plan = None
        runtime = trt.Runtime(self.logger)
        engine = runtime.deserialize_cuda_engine(plan) if plan is not None else None
        if engine is None:
            plan = self._build(files.onnx, fp16)
            tmp = engine_path.with_suffix(".tmp")
            tmp.write_bytes(plan)
            os.replace(tmp, engine_path)
            meta_path.write_text(json.dumps(want))
            engine = runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise BackendUnavailable("TensorRT could not deserialize the engine it just built")
        self.engine = engine
        self.context = engine.create_execution_context()
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.input_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        self.stream = torch.cuda.Stream()
        self.engine_path = engine_path
        log.info("TensorRT engine %s ready (%s)", engine_path.name, gpu)

    def _build(self, onnx_path: Path, fp16: bool) -> bytes:
        trt = self.trt
        builder = trt.Builder(self.logger)
        flags = 0
        if hasattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH"):  # TensorRT < 10 needs it
            flags = 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse(Path(onnx_path).read_bytes()):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendUnavailable(f"TensorRT could not parse {onnx_path}: {errors}")
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, 1 << 30)
        if fp16 and builder.platform_has_fast_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        profile = builder.create_optimization_profile()
        inp = network.get_input(0)
        c = inp.shape[1]
        profile.set_shape(
            inp.name,
            (PROFILE_MIN[0], c, *PROFILE_MIN[1:]),
            (PROFILE_OPT[0], c, *PROFILE_OPT[1:]),
            (PROFILE_MAX[0], c, *PROFILE_MAX[1:]),
        )
        config.add_optimization_profile(profile)
        log.info("building TensorRT engine from %s (fp16=%s); this takes a while once per GPU", onnx_path, fp16)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise BackendUnavailable("TensorRT engine build failed")
        return bytes(plan)

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch, trt = self.torch, self.trt
        batch = check_batch(batch)
        n, c, h, w = batch.shape
        if n > PROFILE_MAX[0] or h > PROFILE_MAX[1] or w > PROFILE_MAX[2]:
            raise ValueError(f"batch {batch.shape} exceeds the TensorRT profile max {PROFILE_MAX}")
        x = torch.from_numpy(batch).cuda()
        self.context.set_input_shape(self.input_name, (n, c, h, w))
        out_shape = tuple(self.context.get_tensor_shape(self.output_name))
        out_dtype = torch.float16 if self.engine.get_tensor_dtype(self.output_name) == trt.DataType.HALF else torch.float32
        y = torch.empty(out_shape, dtype=out_dtype, device="cuda")
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, y.data_ptr())
        with torch.cuda.stream(self.stream):
            ok = self.context.execute_async_v3(self.stream.cuda_stream)
        self.stream.synchronize()
        if not ok:
            raise RuntimeError("TensorRT execution failed")
        return y.float().cpu().numpy()


def onnx_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

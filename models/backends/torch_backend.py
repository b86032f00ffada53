"""PyTorch backend: CPU (fp32) or CUDA (fp16, one CUDA graph per input shape). Needs the [train] extra.

torch is imported only here, inside the constructor, so the inline runtime never pays its import time
unless this backend is chosen. Weights come from safetensors (no pickle).
"""

from __future__ import annotations

import numpy as np
from myoseg.models.backends.base import BackendUnavailable, InferenceBackend, ModelFiles, check_batch, log


def torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


class TorchBackend(InferenceBackend):
    def __init__(
        self, files: ModelFiles, device: str = "cpu", threads: int | None = None, cuda_graphs: bool = True
    ) -> None:
        try:
            import torch
            from safetensors.torch import load_file
        except ImportError as exc:
            raise BackendUnavailable(f"torch backend needs the [train] extra (torch, safetensors): {exc}") from exc
        from myoseg.models.unet import UNet

        if files.safetensors is None or not files.safetensors.is_file():
            raise BackendUnavailable(f"torch backend needs safetensors weights next to {files.onnx}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise BackendUnavailable("torch reports no CUDA device")
        self.torch = torch
        self.device = torch.device(device)
        self.name = "torch-cuda" if self.device.type == "cuda" else "torch-cpu"
        if self.device.type == "cpu" and threads is not None:
            torch.set_num_threads(max(1, int(threads)))
        model = UNet(**(files.architecture or {}))
        model.load_state_dict(load_file(str(files.safetensors)))
        model.eval()
        self.half = self.device.type == "cuda"
        if self.half:
            model = model.half()
        self.model = model.to(self.device)
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self._graphs: dict[tuple[int, ...], tuple] = {}
        log.info("torch backend on %s (fp16=%s, cuda_graphs=%s)", self.device, self.half, self.cuda_graphs)

    def _graph_for(self, shape: tuple[int, ...]):
        torch = self.torch
        if shape not in self._graphs:
            static_in = torch.zeros(shape, device=self.device, dtype=torch.float16)
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s), torch.inference_mode():
                for _ in range(3):  # warm up (cuDNN autotuning) before capture
                    self.model(static_in)
            torch.cuda.current_stream().wait_stream(s)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph), torch.inference_mode():
                static_out = self.model(static_in)
            self._graphs[shape] = (graph, static_in, static_out)
        return self._graphs[shape]

    def run(self, batch: np.ndarray) -> np.ndarray:
        torch = self.torch
        batch = check_batch(batch)
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device)
            if self.half:
                x = x.half()
            if self.cuda_graphs:
                graph, static_in, static_out = self._graph_for(tuple(x.shape))
                static_in.copy_(x)
                graph.replay()
                out = static_out
            else:
                out = self.model(x)
            return out.float().cpu().numpy()

    def close(self) -> None:
        self._graphs.clear()

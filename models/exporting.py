"""Export trained weights: ONNX (dynamic batch/H/W, checked against torch), sidecar JSON, optional int8 QDQ."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
from myoseg.models import preprocess as pp
from myoseg.models.segmenter import sha256_file
from myoseg.models.unet import UNet, count_parameters
from safetensors.torch import load_file, save_file

from myoseg.core.types import Label

log = logging.getLogger("myoseg.export")
DEFAULT_ARCH = {"in_channels": pp.IN_CHANNELS, "num_classes": len(Label), "base": 16, "levels": 4}


def load_torch_model(weights: Path, architecture: dict | None = None) -> UNet:
    model = UNet(**(architecture or DEFAULT_ARCH))
    model.load_state_dict(load_file(str(weights)))
    return model.eval()


def export_onnx(model: UNet, out: Path, opset: int = 18) -> Path:
    """ONNX with dynamic batch, height and width axes (dynamo exporter), weights embedded in one file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    x = torch.zeros(2, model.config["in_channels"], 192, 160)
    batch, h, w = torch.export.Dim("batch", min=1, max=64), torch.export.Dim.DYNAMIC, torch.export.Dim.DYNAMIC
    with torch.no_grad():
        prog = torch.onnx.export(
            model, (x,), dynamo=True, opset_version=opset, input_names=["input"], output_names=["logits"],
            dynamic_shapes={"x": {0: batch, 2: h, 3: w}}, external_data=False,
        )
    if prog is None:
        raise RuntimeError("torch.onnx.export returned no program")
    prog.optimize()
    prog.save(str(out), external_data=False)
    for extra in out.parent.glob(out.name + ".data"):
        extra.unlink()
    return out


def check_agreement(model: UNet, onnx_path: Path, shapes=((1, 192, 192), (3, 144, 176)), seed: int = 0) -> float:
    """Max |ORT - torch| of the logits over a few random inputs (fp32 CPU); raises if above 1e-3."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    worst = 0.0
    for n, h, w in shapes:
        x = rng.normal(0, 1, (n, model.config["in_channels"], h, w)).astype(np.float32)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        worst = max(worst, float(np.abs(ref - got).max()))
    if worst > 1e-3:
        raise RuntimeError(f"ONNX Runtime disagrees with torch: max |diff| {worst:.2e}")
    return worst


def write_sidecar(
    onnx_path: Path,
    safetensors_path: Path | None,
    architecture: dict,
    training: dict,
    name: str = "myoseg_unet",
    grid: pp.GridSpec | None = None,
    extra: dict | None = None,
) -> Path:
    grid = grid or pp.GridSpec()
    meta = {
        "name": name,
        "format_version": 1,
        "onnx": onnx_path.name,
        "onnx_sha256": sha256_file(onnx_path),
        "safetensors": safetensors_path.name if safetensors_path else None,
        "safetensors_sha256": sha256_file(safetensors_path) if safetensors_path else None,
        "architecture": architecture,
        "parameters": count_parameters(UNet(**architecture)),
        "classes": [lab.name.lower() for lab in Label],
        "grid": grid.to_json(),
        "input": "float32 NCHW: channel 0 = normalised map, 1 = is_T1, 2 = is_T2; H, W multiples of 16",
        "output": "float32 NCHW logits over classes (softmax for probabilities)",
        "training": training,
        **(extra or {}),
    }
    sidecar = onnx_path.with_suffix(".json")
    sidecar.write_text(json.dumps(meta, indent=1) + "\n")
    return sidecar


def quantize_int8(onnx_path: Path, out: Path, calibration: list[np.ndarray]) -> Path:
    """Static int8 QDQ (per-channel) with calibration inputs (N, C, H, W) of the same size."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = out.with_suffix(".pre.onnx")
    quant_pre_process(str(onnx_path), str(pre), skip_symbolic_shape=True)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(calibration)

        def get_next(self):
            x = next(self.it, None)
            return None if x is None else {"input": x.astype(np.float32)}

    quantize_static(
        str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
    )
    pre.unlink(missing_ok=True)
    return out


def export_all(
    weights: Path, out_dir: Path, name: str = "myoseg_unet", training: dict | None = None,
    architecture: dict | None = None,
) -> dict:
    """weights.safetensors -> OUT/name.onnx + OUT/name.safetensors + OUT/name.json; returns a summary."""
    arch = architecture or DEFAULT_ARCH
    model = load_torch_model(weights, arch)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = export_onnx(model, out_dir / f"{name}.onnx")
    t0 = time.perf_counter()
    diff = check_agreement(model, onnx_path)
    st = out_dir / f"{name}.safetensors"
    # The torch backend's copy is stored in float16 (half the size; the ONNX graph keeps float32).
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in model.state_dict().items()}
    save_file(half, str(st))
    st.chmod(0o644)
    sidecar = write_sidecar(onnx_path, st, arch, training or {}, name=name,
                            extra={"ort_vs_torch_max_abs_diff": diff, "safetensors_dtype": "float16"})
    log.info("exported %s (ORT vs torch %.1e, check %.1f s)", onnx_path, diff, time.perf_counter() - t0)
    return {"onnx": str(onnx_path), "sidecar": str(sidecar), "safetensors": str(st), "max_abs_diff": diff}

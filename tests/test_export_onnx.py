"""myoseg export: ONNX with dynamic batch/H/W that agrees with torch; sidecar with sha256; loadable model."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxscript")

from myoseg.models import exporting as ex  # noqa: E402
from myoseg.models.segmenter import load_segmenter, sha256_file  # noqa: E402
from myoseg.models.unet import UNet  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = UNet(**ex.DEFAULT_ARCH)
    # non-trivial BatchNorm statistics so that eval mode differs from identity
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    w = d / "w.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(w))
    summary = ex.export_all(w, d / "out", name="tiny", training={"note": "test"})
    return d / "out", summary


def test_export_writes_files_and_sidecar(exported):
    out, summary = exported
    meta = json.loads((out / "tiny.json").read_text())
    assert meta["onnx_sha256"] == sha256_file(out / "tiny.onnx")
    assert meta["safetensors_sha256"] == sha256_file(out / "tiny.safetensors")
    assert meta["classes"] == ["background", "lv_cavity", "myocardium", "rv"]
    assert meta["grid"]["grid_mm"] == 1.5
    assert summary["max_abs_diff"] < 1e-3


def test_onnx_has_dynamic_batch_and_size(exported):
    import onnxruntime as ort

    out, _ = exported
    sess = ort.InferenceSession(str(out / "tiny.onnx"), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 64, 64), (5, 3, 192, 160), (2, 3, 128, 208)]:
        y = sess.run(None, {"input": np.zeros(shape, np.float32)})[0]
        assert y.shape == (shape[0], 4, shape[2], shape[3])


def test_ort_matches_torch(exported):
    out, _ = exported
    model = ex.load_torch_model(out / "tiny.safetensors")  # float16 copy -> float32 model
    diff = ex.check_agreement(model, out / "tiny.onnx", shapes=((2, 96, 128),))
    assert diff < 5e-2  # fp16-rounded weights vs the fp32 graph


def test_exported_model_loads_as_segmenter(exported):
    out, _ = exported
    seg = load_segmenter(out / "tiny.json", backend="onnxruntime", threads=1)
    assert seg.model_id.startswith("tiny@")

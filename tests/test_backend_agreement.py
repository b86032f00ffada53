"""Inference backends behind one interface: they agree on the same input; auto falls back cleanly."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from myoseg.models.api import SegmentationInput
from myoseg.models.backends import ModelFiles, create_backend
from myoseg.models.segmenter import DEFAULT_MODEL, load_segmenter, resolve_model
from myoseg.models.synthetic import ring_slice

from myoseg.core.types import MapType


@pytest.fixture(scope="module")
def card():
    return resolve_model(DEFAULT_MODEL)


def _batch(n=2, h=128, w=160, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 3, h, w), np.float32)
    x[:, 0] = rng.normal(0, 1, (n, h, w))
    x[:, 1] = 1.0
    return x


def test_onnxruntime_vs_torch_cpu(card):
    pytest.importorskip("torch")
    ort_be = create_backend("onnxruntime", card.files, threads=1)
    torch_be = create_backend("torch-cpu", card.files, threads=1)
    assert torch_be.name == "torch-cpu"
    x = _batch()
    a, b = ort_be.run(x), torch_be.run(x)
    assert a.shape == b.shape == (2, 4, 128, 160)
    # the torch copy of the weights is float16: compare logits loosely, labels tightly
    assert np.abs(a - b).max() < 0.1
    assert (a.argmax(1) == b.argmax(1)).mean() > 0.999


def test_segmenters_agree_on_a_slice(card):
    pytest.importorskip("torch")
    s = ring_slice(np.random.default_rng(3), shape=(160, 140), spacing_mm=(1.6, 1.6))
    inp = SegmentationInput(s.map_ms, s.spacing_mm, MapType.T1)
    r1 = load_segmenter(backend="onnxruntime", threads=1).segment([inp])[0]
    r2 = load_segmenter(backend="torch-cpu", threads=1).segment([inp])[0]
    assert np.abs(r1.probabilities - r2.probabilities).max() < 0.05
    assert (r1.labels == r2.labels).mean() > 0.999


def test_auto_falls_back_to_onnxruntime_without_gpu(card, caplog, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with caplog.at_level(logging.INFO, logger="myoseg.models.backends"):
        be = create_backend("auto", card.files, threads=1)
    assert be.name == "onnxruntime"
    assert "not used" in caplog.text  # the reason is logged


def test_unknown_backend_name():
    with pytest.raises(ValueError, match="unknown backend"):
        create_backend("cuda-magic", ModelFiles(onnx=DEFAULT_MODEL, sha256=""))


def test_tensorrt_backend(card, tmp_path):
    trt = pytest.importorskip("tensorrt", reason="TensorRT is not installable on these machines (no NVIDIA GPU, "
                              "tensorrt-*-libs fetch from an unreachable host); the backend is written against "
                              "the TensorRT 10 Python API and is exercised on GPU machines only")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    from myoseg.models.backends.tensorrt_backend import TensorRTBackend

    be = TensorRTBackend(card.files, cache_dir=tmp_path)
    x = _batch(n=2, h=192, w=192)
    ref = create_backend("onnxruntime", card.files, threads=1).run(x)
    out = be.run(x)
    assert (out.argmax(1) == ref.argmax(1)).mean() > 0.995
    assert be.engine_path.is_file()
    del trt
    # a second backend reuses the cached engine (same GPU, TensorRT version and model hash)
    mtime = be.engine_path.stat().st_mtime
    TensorRTBackend(card.files, cache_dir=tmp_path)
    assert be.engine_path.stat().st_mtime == mtime


def test_tensorrt_engine_key_changes_with_model():
    from myoseg.models.backends.tensorrt_backend import engine_key

    a = engine_key("NVIDIA H100 80GB HBM3", "10.3.0", "ab" * 32)
    assert a != engine_key("NVIDIA H100 80GB HBM3", "10.3.0", "cd" * 32)
    assert a != engine_key("NVIDIA A100", "10.3.0", "ab" * 32)
    assert a != engine_key("NVIDIA H100 80GB HBM3", "10.4.0", "ab" * 32)
    assert "/" not in a and " " not in a

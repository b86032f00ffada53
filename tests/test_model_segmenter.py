"""load_segmenter: shipped weights verified by sha256, clear errors for missing/corrupt files, TTA, timings."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from myoseg.models.api import SegmentationInput
from myoseg.models.segmenter import DEFAULT_MODEL, ModelFileError, load_segmenter, resolve_model, sha256_file
from myoseg.models.synthetic import ring_slice

from myoseg.core.types import NUM_CLASSES, MapType, View


def test_shipped_model_matches_its_sidecar():
    meta = json.loads(DEFAULT_MODEL.read_text())
    onnx = DEFAULT_MODEL.parent / meta["onnx"]
    assert sha256_file(onnx) == meta["onnx_sha256"]
    st = DEFAULT_MODEL.parent / meta["safetensors"]
    assert sha256_file(st) == meta["safetensors_sha256"]
    assert onnx.stat().st_size < 12e6 and st.stat().st_size < 6e6  # small enough to commit
    assert meta["classes"] == ["background", "lv_cavity", "myocardium", "rv"]


@pytest.fixture(scope="module")
def seg():
    return load_segmenter(backend="onnxruntime", threads=1)


def test_segment_contract(seg):
    s = ring_slice(np.random.default_rng(0), shape=(144, 120), spacing_mm=(1.9, 1.9))
    out = seg.segment([SegmentationInput(s.map_ms, s.spacing_mm, MapType.T1)])
    assert len(out) == 1
    r = out[0]
    assert r.probabilities.shape == (NUM_CLASSES, 144, 120) and r.probabilities.dtype == np.float32
    assert np.allclose(r.probabilities.sum(0), 1.0, atol=1e-4)
    assert r.labels.dtype == np.uint8 and np.array_equal(r.labels, r.probabilities.argmax(0))
    assert r.tta_labels == []
    assert set(r.timings_ms) == {"preprocess", "inference", "restore"}
    assert seg.model_id.startswith("myoseg_unet@") and seg.backend_name == "onnxruntime"


def test_segment_tta_and_batches_of_mixed_sizes(seg):
    rng = np.random.default_rng(1)
    a = ring_slice(rng, shape=(144, 120), spacing_mm=(1.9, 1.9), map_type=MapType.T2)
    b = ring_slice(rng, shape=(100, 90), spacing_mm=(2.2, 2.2), view=View.FOUR_CH)
    ins = [SegmentationInput(a.map_ms, a.spacing_mm, a.map_type), SegmentationInput(b.map_ms, b.spacing_mm, b.map_type)]
    out = seg.segment(ins, tta=True)
    assert [r.labels.shape for r in out] == [(144, 120), (100, 90)]
    for r in out:
        assert len(r.tta_labels) == 4 and all(t.shape == r.labels.shape for t in r.tta_labels)


def test_nan_map_is_accepted(seg):
    v = np.full((64, 64), np.nan, np.float32)
    r = seg.segment([SegmentationInput(v, (1.5, 1.5), MapType.T1)])[0]
    assert r.labels.shape == (64, 64)


def test_bad_input_names_the_input(seg):
    with pytest.raises(ValueError, match="input 0"):
        seg.segment([SegmentationInput(np.zeros((8, 8, 3), np.float32), (1.5, 1.5), MapType.T1)])


def _copy_model(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    meta = json.loads(DEFAULT_MODEL.read_text())
    for name in (DEFAULT_MODEL.name, meta["onnx"], meta["safetensors"]):
        shutil.copy(DEFAULT_MODEL.parent / name, d / name)
    return d, meta


def test_missing_model_file_names_the_path(tmp_path):
    with pytest.raises(ModelFileError, match="nope.json"):
        load_segmenter(tmp_path / "nope.json")
    d, meta = _copy_model(tmp_path)
    (d / meta["onnx"]).unlink()
    with pytest.raises(ModelFileError, match=meta["onnx"]):
        load_segmenter(d / DEFAULT_MODEL.name, backend="onnxruntime")


def test_corrupt_model_file_is_refused(tmp_path):
    d, meta = _copy_model(tmp_path)
    p = d / meta["onnx"]
    data = bytearray(p.read_bytes())
    data[len(data) // 2] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        load_segmenter(d, backend="onnxruntime")


def test_corrupt_safetensors_refused_for_torch(tmp_path):
    d, meta = _copy_model(tmp_path)
    p = d / meta["safetensors"]
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(ModelFileError, match="corrupt"):
        load_segmenter(d, backend="torch-cpu")


def test_resolve_by_onnx_path():
    meta = json.loads(DEFAULT_MODEL.read_text())
    card = resolve_model(DEFAULT_MODEL.parent / meta["onnx"])
    assert card.files.onnx.name == meta["onnx"]


def test_int8_variant_agrees_with_fp32():
    from myoseg.models.segmenter import INT8_MODEL

    card = resolve_model(INT8_MODEL)  # verifies its sha256
    assert card.files.onnx.stat().st_size < 3e6
    rng = np.random.default_rng(5)
    s = ring_slice(rng, shape=(150, 130), spacing_mm=(1.6, 1.6))
    inp = [SegmentationInput(s.map_ms, s.spacing_mm, MapType.T1)]
    a = load_segmenter(backend="onnxruntime", threads=1).segment(inp)[0]
    b = load_segmenter(INT8_MODEL, backend="onnxruntime", threads=1).segment(inp)[0]
    assert (a.labels == b.labels).mean() > 0.98


def test_weights_folder_resolves_to_the_default():
    assert resolve_model(DEFAULT_MODEL.parent).sidecar == DEFAULT_MODEL

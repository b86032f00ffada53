"""A tiny training run on drawn rings: steps, checkpoints (safetensors + JSON), exact resume, determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from myoseg.models import training as tr  # noqa: E402
from myoseg.models.synthetic import write_dataset  # noqa: E402

from myoseg.core.data import LabelledSlice, iter_split  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("ds"), subjects=4, shape=(64, 56))
    train = [LabelledSlice.load(p) for p in iter_split(root, "train")]
    val = [LabelledSlice.load(p) for p in iter_split(root, "val")][:4]
    return train, val


def _cfg(steps):
    cfg = tr.TrainConfig(steps=steps, batch=2, val_every=1, seed=7, threads=1, warmup=1)
    cfg.augment["crop"] = 48
    return cfg


def _weights(out):
    from safetensors.torch import load_file

    return load_file(str(out / "last.safetensors"))


def test_train_checkpoint_and_resume_exactly(data, tmp_path):
    train, val = data
    full = tmp_path / "full"
    tr.Trainer(train, val, full, _cfg(3), progress=False).fit()
    state = json.loads((full / "state.json").read_text())
    assert state["step"] == 3 and len(state["history"]) == 3
    for f in ("last.safetensors", "best.safetensors", "optimizer.safetensors"):
        assert (full / f).is_file()

    part = tmp_path / "part"
    tr.Trainer(train, val, part, _cfg(2), progress=False).fit()
    t = tr.Trainer(train, val, part, _cfg(3), progress=False)
    t.resume()
    assert t.step == 2
    t.fit()
    a, b = _weights(full), _weights(part)
    # 2 + 1 steps == 3 steps: same samples (seeded per step), same optimizer state
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_loss_is_dice_plus_ce():
    logits = torch.zeros(1, 4, 8, 8)
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    loss = tr.dice_ce_loss(logits, target)
    assert float(loss) == pytest.approx(np.log(4) + 1 - 1 / 17, rel=1e-4)


def test_lr_schedule_warms_up_then_decays():
    cfg = tr.TrainConfig(steps=100, warmup=10, lr=1e-3)
    lrs = [tr.lr_at(s, cfg) for s in range(100)]
    assert lrs[0] < lrs[9] == pytest.approx(1e-3)
    assert lrs[-1] < 0.1 * 1e-3 and all(x > 0 for x in lrs)


def test_plateau():
    h = [{"val_loss": v} for v in (1.0, 0.5, 0.4, 0.41, 0.402, 0.405, 0.401)]
    assert tr.plateau(h, patience=4)
    assert not tr.plateau(h[:5], patience=4)


def test_cli_train_runs(tmp_path):
    from typer.testing import CliRunner

    from myoseg.cli import app

    root = write_dataset(tmp_path / "ds", subjects=3, shape=(48, 48))
    res = CliRunner().invoke(app, ["train", "--data", str(root), "--out", str(tmp_path / "run"), "--steps", "2",
                                   "--batch", "2", "--crop", "48", "--val-every", "1", "--threads", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "run" / "best.safetensors").is_file()

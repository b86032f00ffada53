from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from myoseg.models.unet import UNet, count_parameters  # noqa: E402


def test_unet_shapes_and_size():
    m = UNet().eval()
    assert 1.5e6 < count_parameters(m) < 2.5e6
    with torch.no_grad():
        y = m(torch.zeros(2, 3, 96, 144))
    assert y.shape == (2, 4, 96, 144)

"""Compact 2D U-Net (torch): 4 levels, base 16 channels, BatchNorm + ReLU, transposed-conv upsampling.

Input (N, 3, H, W): normalised map + one-hot map type (see models/preprocess.py); H and W multiples of 16.
Output (N, 4, H, W) logits: background, LV cavity, LV myocardium, RV (myoseg.core.types.Label).
About 1.9M parameters; ~17 ms per 192x192 slice with ONNX Runtime on 2 CPU cores.
"""

from __future__ import annotations

import torch
from torch import nn


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class UNet(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 4, base: int = 16, levels: int = 4) -> None:
        super().__init__()
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "base": base, "levels": levels}
        chans = [base * 2**i for i in range(levels + 1)]  # 16, 32, 64, 128, 256 (bottleneck)
        self.down = nn.ModuleList()
        cin = in_channels
        for c in chans[:-1]:
            self.down.append(DoubleConv(cin, c))
            cin = c
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = DoubleConv(chans[-2], chans[-1])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        for c_hi, c_lo in zip(reversed(chans[1:]), reversed(chans[:-1]), strict=True):
            self.up.append(nn.ConvTranspose2d(c_hi, c_lo, 2, stride=2))
            self.dec.append(DoubleConv(2 * c_lo, c_lo))
        self.head = nn.Conv2d(chans[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, dec, skip in zip(self.up, self.dec, reversed(skips), strict=True):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def build_model(config: dict | None = None) -> UNet:
    return UNet(**(config or {}))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

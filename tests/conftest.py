"""Shared fixtures: small float64 models with smooth activations, and seeded inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch


class SmoothCNN(torch.nn.Module):
    """A random conv net with tanh/softplus activations (smooth, so quadrature converges)."""

    def __init__(self, channels: int = 2, n_out: int = 3, width: int = 6, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.conv1 = torch.nn.Conv1d(channels, width, 7, padding=3)
        self.conv2 = torch.nn.Conv1d(width, width, 5, padding=2, dilation=1)
        self.head = torch.nn.Linear(width, n_out)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.4)
        self.double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.conv1(x))
        h = torch.nn.functional.softplus(self.conv2(h))
        return self.head(h.mean(dim=-1))


@pytest.fixture
def smooth_cnn() -> SmoothCNN:
    return SmoothCNN()


@pytest.fixture
def series() -> np.ndarray:
    """A batch of 4 two-channel float64 series of 96 samples."""
    rng = np.random.default_rng(0)
    t = np.arange(96) / 32.0
    x = rng.normal(size=(4, 2, 96)) * 0.5
    x[:, 0] += np.sin(2 * np.pi * 3.0 * t)
    return x

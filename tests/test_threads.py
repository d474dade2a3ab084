"""Concurrent calls on one model: the model ends in the user's mode, results stay eval-mode."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

import cdig

C, T = 1, 16


class Slow(torch.nn.Module):
    """Dropout before a linear layer; each forward sleeps so that calls overlap."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.drop = torch.nn.Dropout(0.5)
        self.fc = torch.nn.Linear(C * T, 2).double()
        self.hook = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.hook is not None:
            self.hook()
        time.sleep(0.002)
        return self.fc(self.drop(x.flatten(1)))


def _x() -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(0).normal(size=(2, C, T)))


def test_two_threads_leave_a_training_model_in_training_mode():
    model = Slow()
    reference = cdig.explain(model.eval(), _x(), target=0, n_steps=8).values
    model.train()
    results: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                results.append(cdig.explain(model, _x(), target=0, n_steps=8).values)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert model.training and model.drop.training and model.fc.training
    assert len(results) == 9
    for values in results:  # every call ran in eval mode (dropout would change them)
        np.testing.assert_allclose(values, reference, rtol=0, atol=1e-12)


def test_a_model_put_in_training_mode_meanwhile_fails_the_call():
    model = Slow().eval()
    entered, trained = threading.Event(), threading.Event()

    def in_forward() -> None:
        entered.set()
        trained.wait(5)

    def trainer() -> None:
        entered.wait(5)
        model.train()  # another thread starts training while the model is explained
        trained.set()

    model.hook = in_forward
    t = threading.Thread(target=trainer)
    t.start()
    with pytest.raises(RuntimeError, match=r"put in training mode.*copy\.deepcopy"):
        cdig.explain(model, _x(), target=0, n_steps=8)
    t.join()
    model.hook = None
    assert model.training  # the trainer's choice is kept


def test_an_error_of_the_call_itself_is_not_replaced_by_the_training_mode_error():
    # the model is put in training mode and the call then fails on its own: the user sees
    # the call's error (the mode check must not mask it), and the mode set meanwhile stays
    model = Slow().eval()

    def in_forward() -> None:
        model.train()
        raise ValueError("the model's own failure")

    model.hook = in_forward
    with pytest.raises(ValueError, match="the model's own failure"):
        cdig.explain(model, _x(), target=0, n_steps=8)
    model.hook = None
    assert model.training

"""Integration rules for the path integral of Integrated Gradients.

Every rule maps a number of steps ``n`` to path positions ``alphas`` in ``[0, 1]`` and
``weights`` that sum to exactly 1 (up to float64 rounding), so that

.. math::  \\int_0^1 g(\\alpha)\\, d\\alpha \\approx \\sum_i w_i\\, g(\\alpha_i).

Both arrays are float64 numpy arrays of shape ``(n,)``. The names are the keys of
:data:`RULES`; they also drive argument validation, so a rule added here is accepted
everywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

__all__ = ["RULES", "METHODS", "get_rule", "rule"]

Rule = Callable[[int], tuple[np.ndarray, np.ndarray]]


def _riemann_left(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(n, dtype=np.float64) / n, np.full(n, 1.0 / n)


def _riemann_right(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(1, n + 1, dtype=np.float64) / n, np.full(n, 1.0 / n)


def _riemann_middle(n: int) -> tuple[np.ndarray, np.ndarray]:
    return (np.arange(n, dtype=np.float64) + 0.5) / n, np.full(n, 1.0 / n)


def _riemann_trapezoid(n: int) -> tuple[np.ndarray, np.ndarray]:
    # n points spanning both endpoints; n - 1 intervals of width h, half weight at the ends.
    if n == 1:
        # A single point cannot span [0, 1]; the midpoint is the only sensible one-point rule.
        return np.array([0.5]), np.array([1.0])
    alphas = np.linspace(0.0, 1.0, n)
    weights = np.full(n, 1.0 / (n - 1))
    weights[[0, -1]] *= 0.5
    return alphas, weights


def _gausslegendre(n: int) -> tuple[np.ndarray, np.ndarray]:
    nodes, weights = np.polynomial.legendre.leggauss(n)
    # map [-1, 1] -> [0, 1]: alpha = (1 + t) / 2, d alpha = dt / 2
    return 0.5 * (nodes + 1.0), 0.5 * weights


RULES: dict[str, Rule] = {
    "gausslegendre": _gausslegendre,
    "riemann_left": _riemann_left,
    "riemann_right": _riemann_right,
    "riemann_middle": _riemann_middle,
    "riemann_trapezoid": _riemann_trapezoid,
}
#: Accepted values of the ``method`` argument.
METHODS: tuple[str, ...] = tuple(RULES)


def get_rule(method: str) -> Rule:
    """Return the rule called ``method``; raise a ``ValueError`` listing the known ones."""
    if not isinstance(method, str) or method not in RULES:
        raise ValueError(
            f"method={method!r} is not a known integration rule; use one of {', '.join(METHODS)}."
        )
    return RULES[method]


@lru_cache(maxsize=64)
def _cached(method: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    alphas, weights = RULES[method](n)
    alphas.setflags(write=False)
    weights.setflags(write=False)
    return alphas, weights


def rule(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Path positions and weights of ``method`` with ``n_steps`` points.

    Parameters
    ----------
    method : str
        One of :data:`METHODS`.
    n_steps : int
        Number of path points, at least 1.

    Returns
    -------
    alphas : ndarray of shape (n_steps,), float64
        Positions along the path, in ``[0, 1]``.
    weights : ndarray of shape (n_steps,), float64
        Quadrature weights; they sum to 1.

    Examples
    --------
    >>> a, w = rule("riemann_trapezoid", 3)
    >>> a.tolist(), w.tolist()
    ([0.0, 0.5, 1.0], [0.25, 0.5, 0.25])
    """
    get_rule(method)
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise ValueError(f"n_steps={n_steps!r} must be an integer >= 1 (or 'auto').")
    return _cached(method, int(n_steps))

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

from ._text import ArgumentError, Name

__all__ = ["METHODS", "RULES", "get_rule", "rule"]

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
    nodes, weights = _legendre_nodes(n)
    # map [-1, 1] -> [0, 1]: alpha = (1 + t) / 2, d alpha = dt / 2
    return 0.5 * (nodes + 1.0), 0.5 * weights


def _legendre_recurrence(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``P_n(x)`` and ``P_{n-1}(x)`` by Bonnet's three-term recurrence, O(len(x)) memory."""
    p_prev, p = np.ones_like(x), x.copy()
    for j in range(2, n + 1):
        p_prev, p = p, ((2 * j - 1) * x * p - (j - 1) * p_prev) / j
    return p, p_prev


def _legendre_nodes(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (ascending, in ``(-1, 1)``) and weights, O(n) memory.

    Newton's method on ``P_n`` from Tricomi's initial guesses, with ``P_n`` and ``P_n'``
    from the three-term recurrence: O(n) memory and O(n^2) time (16384 nodes in about 2 s),
    where the Golub-Welsch eigenvalue method of ``numpy.polynomial.legendre.leggauss``
    builds an n x n matrix (O(n^2) memory, O(n^3) time). Only the ``ceil(n / 2)``
    non-positive nodes are computed; the others follow by symmetry.
    """
    if n == 1:
        return np.zeros(1), np.full(1, 2.0)
    m = (n + 1) // 2
    k = np.arange(1, m + 1, dtype=np.float64)
    x = (1.0 - (n - 1) / (8.0 * n**3)) * np.cos(np.pi * (4 * k - 1) / (4 * n + 2))
    for _ in range(10):  # quadratic convergence: 2 or 3 steps from Tricomi's guesses
        p, p_prev = _legendre_recurrence(x, n)
        dp = n * (x * p - p_prev) / (x * x - 1.0)
        step = p / dp
        x = x - step
        if np.abs(step).max() <= 4 * np.finfo(np.float64).eps:
            break
    p, p_prev = _legendre_recurrence(x, n)
    dp = n * (x * p - p_prev) / (x * x - 1.0)
    w = 2.0 / ((1.0 - x * x) * dp * dp)
    if n % 2:  # the middle node is exactly 0
        x[-1] = 0.0
    # x holds the positive half in descending order: mirror it
    nodes = np.concatenate([-x, x[: n // 2][::-1]])
    weights = np.concatenate([w, w[: n // 2][::-1]])
    return nodes, weights


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
        raise ArgumentError(
            Name("method", method),
            f" is not a known integration rule; use one of {', '.join(METHODS)}.",
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
        raise ArgumentError(Name("n_steps", n_steps), " must be an integer >= 1 (or 'auto').")
    return _cached(method, int(n_steps))


# ---------------------------------------------------------------------- the adaptive pair
#: Weights of Boole's rule on five equally spaced points of an interval of width 1 (exact
#: for polynomials of degree 5). The adaptive default (``n_steps="auto"``) integrates each
#: sub-interval of the path with it.
_BOOLE = np.array([7.0, 32.0, 12.0, 32.0, 7.0]) / 90.0
#: Simpson's rule on the same five points (the ones with even index; exact for degree 3).
#: ``_BOOLE - _SIMPSON`` applied to the five gradients estimates the error of the interval.
#: Bisecting an interval reuses all five points: each half gets three of them and two new
#: ones, so reaching ``n`` path points costs exactly ``n`` model evaluations.
_SIMPSON = np.array([1.0, 0.0, 4.0, 0.0, 1.0]) / 6.0
#: The sub-interval that starts at the baseline (alpha = 0) never evaluates the model there:
#: models with a normalization, a norm or a logarithm are often singular exactly at a zero
#: baseline although the path integral is fine. It uses the open Milne rule on its points
#: at 1/4, 1/2, 3/4 (degree 3), with the two-point rule on 1/4 and 3/4 (degree 1) as the
#: error estimate; the weights are given on all five points, the first being unused.
_MILNE = np.array([0.0, 2.0, -1.0, 2.0, 0.0]) / 3.0
#: The degree-1 partner of ``_MILNE``.
_OPEN_PAIR = np.array([0.0, 0.5, 0.0, 0.5, 0.0])
for _w in (_BOOLE, _SIMPSON, _MILNE, _OPEN_PAIR):
    _w.setflags(write=False)

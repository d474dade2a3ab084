import numpy as np
import pytest

from cdig import quadrature


@pytest.mark.parametrize("method", quadrature.METHODS)
@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_weights_sum_to_one_and_alphas_in_unit_interval(method, n):
    alphas, weights = quadrature.rule(method, n)
    assert alphas.shape == weights.shape == (n,)
    assert weights.dtype == np.float64
    assert abs(weights.sum() - 1.0) < 1e-14
    assert np.all((alphas >= 0) & (alphas <= 1))


def test_trapezoid_spans_endpoints():
    alphas, weights = quadrature.rule("riemann_trapezoid", 5)
    assert alphas[0] == 0.0 and alphas[-1] == 1.0
    np.testing.assert_allclose(weights, [0.125, 0.25, 0.25, 0.25, 0.125])


def test_riemann_rules_positions():
    n = 4
    np.testing.assert_allclose(quadrature.rule("riemann_left", n)[0], [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(quadrature.rule("riemann_right", n)[0], [0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(
        quadrature.rule("riemann_middle", n)[0], [0.125, 0.375, 0.625, 0.875]
    )


@pytest.mark.parametrize("n", [1, 3, 8])
def test_gausslegendre_exact_for_polynomials_up_to_degree_2n_minus_1(n):
    alphas, weights = quadrature.rule("gausslegendre", n)
    for degree in range(2 * n):
        exact = 1.0 / (degree + 1)
        assert abs(np.sum(weights * alphas**degree) - exact) < 1e-13


def test_rules_converge_on_smooth_integrand():
    f = np.exp  # integral over [0, 1] is e - 1
    for method in quadrature.METHODS:
        a, w = quadrature.rule(method, 256)
        assert abs(np.sum(w * f(a)) - (np.e - 1)) < 1e-2


def test_unknown_method_and_bad_steps_raise():
    with pytest.raises(ValueError, match="method='simpson' is not a known integration rule"):
        quadrature.rule("simpson", 4)
    with pytest.raises(ValueError, match="n_steps=0 must be an integer >= 1"):
        quadrature.rule("gausslegendre", 0)
    with pytest.raises(ValueError, match="n_steps"):
        quadrature.rule("gausslegendre", 2.5)  # type: ignore[arg-type]


def test_returned_arrays_are_read_only():
    alphas, _ = quadrature.rule("gausslegendre", 4)
    with pytest.raises(ValueError):
        alphas[0] = 3.0

"""The main job: `cdig demo` reproduces the paper's mechanistic experiment."""

import numpy as np

from cdig import demo
from cdig.cli import main


def test_demo_peaks_at_class_frequency_and_is_complete(tmp_path):
    res = demo.run(tmp_path, quiet=True)
    np.testing.assert_allclose(res["peak_hz"], demo.FREQUENCIES)
    for name in ("time", "fourier"):
        attr = res[name]
        diff = attr.outputs - attr.baseline_outputs
        assert np.all(diff > 0)  # the class's own filter responds
        assert np.all(np.abs(attr.delta) <= 1e-5 * np.abs(diff))
    # Fourier attributions are concentrated: the peak bin carries nearly all of f(x) - f(x')
    f = res["fourier"]
    assert np.all(f.values[:, 0].max(axis=1) > 0.9 * f.total)
    assert res["figure"].exists() and res["figure"].stat().st_size > 10_000


def test_cli_demo_prints_table(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "peak Hz" in out and "1.00" in out and "4.00" in out

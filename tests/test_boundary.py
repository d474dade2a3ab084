"""The boundary: settings, targets, baselines and results validated and shaped in one place."""

from __future__ import annotations

import json

import numpy as np
import pytest

import cdig
from cdig._settings import Settings


# ---------------------------------------------------------------------- settings
def test_settings_are_validated_once_and_frozen():
    s = Settings(n_steps=32, method="riemann_trapezoid", rtol=0.05)
    assert (s.auto, s.rule) == (False, "riemann_trapezoid")
    assert Settings().rule == "adaptive" and Settings(n_steps=8).rule == "gausslegendre"
    with pytest.raises(AttributeError):
        s.n_steps = 4  # type: ignore[misc]
    for bad, word in (
        (dict(n_steps=0), "n_steps=0"),
        (dict(n_steps="many"), "n_steps='many'"),
        (dict(method="simpson", n_steps=8), "method='simpson'"),
        (dict(method="riemann_left"), "n_steps='auto' uses"),
        (dict(max_steps=16), "max_steps=16"),
        (dict(internal_batch_size=0), "internal_batch_size=0"),
        (dict(rtol=-1.0), "rtol=-1.0"),
        (dict(rtol=0.0, atol=0.0), "rtol > 0 or atol > 0"),
    ):
        with pytest.raises(ValueError, match=word.replace("(", r"\(")):
            Settings(**bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="time_axis"):
        Settings(time_axis="1")  # type: ignore[arg-type]


def test_settings_dict_is_json_and_round_trips():
    s = Settings(n_steps=np.int64(16), internal_batch_size=8, time_axis=1)
    d = s.as_dict()
    assert "progress" not in d and json.loads(json.dumps(d)) == d
    assert Settings(**d) == s


def test_one_parameter_text_in_every_signature():
    from cdig._settings import PARAMETERS

    first = PARAMETERS.splitlines()[1].strip()
    for fn in (cdig.explain, cdig.CrossDomainIG.explain, cdig.explain_dataset):
        assert first in (fn.__doc__ or ""), fn
        assert "{settings}" not in (fn.__doc__ or "")


def test_dataset_manifest_records_the_settings_dict(tmp_path, smooth_cnn, series):
    run = cdig.explain_dataset(
        smooth_cnn, series, "fourier", out=tmp_path / "r", target=0, n_steps=8, progress=False
    )
    recorded = run.manifest["settings"]["explain"]
    expected = Settings(n_steps=8).as_dict()
    assert {k: recorded[k] for k in expected} == expected


# ---------------------------------------------------------------------- targets, baselines
def test_one_target_spec_understands_datasets():
    import torch

    from cdig.targets import as_target

    out = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.0, 0.2, 0.7]])
    pred = as_target("predicted").for_rows(10, out)
    assert pred.kind == "per_sample" and pred.value.tolist() == [1, 0, 2]
    assert pred.describe() == "predicted class"
    label = as_target("label", dataset=True).for_rows(10, out, np.array([2, 2, 0]))
    assert label.value.tolist() == [2, 2, 0] and label.describe() == "labelled class"
    rows = as_target(np.arange(20) % 3, dataset=True).for_rows(10, out)  # rows 10..12
    assert rows.value.tolist() == [1, 2, 0] and rows.describe() == "class per sample"
    assert as_target(1).for_rows(10, out) == as_target(1)
    with pytest.raises(ValueError, match="sample 11: class index 5"):
        as_target("label", dataset=True).for_rows(10, out, np.array([0, 5, 1]))
    with pytest.raises(ValueError, match="'label'"):
        as_target("label")  # a single batch has no labels
    with pytest.raises(ValueError, match="one integer class per sample"):
        as_target(np.array([0.5, 1.0]), dataset=True)


def test_dataset_baselines_share_the_element_checks(tmp_path, smooth_cnn, series):
    from cdig._inputs import as_dataset_baselines, batch_baselines

    shape = series.shape[1:]
    for bad, err, word in (
        (np.ones(shape, dtype=bool), TypeError, "boolean"),
        (np.full(shape, np.nan), ValueError, "NaN or infinite"),
        (np.ones((2, 3, 96)), ValueError, "Per-sample baselines are not supported"),
        (float("inf"), ValueError, "must be finite"),
    ):
        with pytest.raises(err, match=word):
            as_dataset_baselines(bad, shape)
    stack = np.zeros((3, *shape))
    assert batch_baselines(as_dataset_baselines(stack, shape), 3).shape == (3, 1, *shape)
    assert as_dataset_baselines(2, shape) == 2.0
    # a dataset run with stacked baselines gives what one call on the same samples gives
    stack = np.stack([np.zeros(shape), np.full(shape, 0.1)])
    run = cdig.explain_dataset(
        smooth_cnn, series, "time", out=tmp_path / "r", target=0, n_steps=8,
        baselines=stack, shard_size=4, progress=False,
    )  # fmt: skip
    one = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=8, baselines=stack[:, None])
    np.testing.assert_array_equal(run.open("time")[:], one.values)


# ---------------------------------------------------------------------- one result format
def _same_result(a, b):
    for name in ("values", "delta", "outputs", "baseline_outputs", "n_steps", "error",
                 "converged", "n_evaluations"):  # fmt: skip
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.target_index, b.target_index)
    assert a.dims == b.dims and a.target == b.target and dict(a.units) == dict(b.units)
    assert set(a.coords) == set(b.coords)
    for k in a.coords:
        np.testing.assert_array_equal(a.coords[k], b.coords[k])


@pytest.mark.parametrize("target", [1, "predicted", [0, 2, 1, 0]])
def test_to_dict_round_trips_in_memory_and_through_json(smooth_cnn, series, target):
    from cdig.attribution import jsonable

    attr = cdig.explain(smooth_cnn, series, "fourier", target=target, fs=32.0, n_steps=8)
    assert attr.target_index is not None
    _same_result(cdig.Attribution.from_dict(attr.to_dict()), attr)
    text = json.dumps(jsonable(attr.to_dict()), allow_nan=False)  # NaN error -> null -> NaN
    back = cdig.Attribution.from_dict(json.loads(text))
    _same_result(back, attr)
    assert back.domain is None and back.settings["method"] == "gausslegendre"


def test_cli_json_is_the_attribution_dict(tmp_path, smooth_cnn, series):
    import torch

    from cdig.cli import main

    torch.jit.save(torch.jit.script(smooth_cnn), tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", series)
    args = ["explain", str(tmp_path / "m.pt"), str(tmp_path / "x.npy"), "--fs", "32",
            "--target", "2", "--n-steps", "8", "--domain", "fourier", "--domain", "cepstrum",
            "--json", str(tmp_path / "o.json"), "--quiet", "--trust-model-file"]  # fmt: skip
    assert main(args) == 0
    doc = json.loads((tmp_path / "o.json").read_text())
    ref = cdig.explain(smooth_cnn, series, ["fourier", "cepstrum"], target=2, fs=32.0, n_steps=8)
    assert list(doc["domains"]) == ["fourier", "cepstrum"]
    for name, attr in ref.items():
        back = cdig.Attribution.from_dict(doc["domains"][name])
        _same_result(back, attr)
        assert doc["domains"][name]["domain"] == type(attr.domain).__name__


@pytest.mark.parametrize("target", [1, "predicted"])
def test_a_run_keeps_the_target_index_so_metrics_default_it(tmp_path, smooth_cnn, series, target):
    run = cdig.explain_dataset(
        smooth_cnn, series, "fourier", out=tmp_path / "r", fs=32.0, target=target, n_steps=8,
        shard_size=3, progress=False,
    )  # fmt: skip
    one = cdig.explain(smooth_cnn, series, "fourier", target=target, fs=32.0, n_steps=8)
    from_run = cdig.open_run(tmp_path / "r").attribution("fourier")
    np.testing.assert_array_equal(from_run.target_index, one.target_index)
    np.testing.assert_array_equal(from_run.values, one.values)
    kwargs = dict(domain=cdig.domains.Fourier(fs=32.0), fractions=[0.0, 0.5, 1.0])
    by_default = cdig.metrics.deletion(smooth_cnn, series, from_run, **kwargs)
    given = cdig.metrics.deletion(smooth_cnn, series, from_run, target=one.target_index, **kwargs)
    np.testing.assert_array_equal(by_default.scores, given.scores)
    sub = run.attribution("fourier", samples=[2, 0])
    np.testing.assert_array_equal(sub.target_index, one.target_index[[2, 0]])


# ---------------------------------------------------------------------- shared mechanisms
def test_activation_cache_belongs_to_the_model(smooth_cnn, series):
    from tests.conftest import SmoothCNN

    ig = cdig.CrossDomainIG(smooth_cnn, "time")
    ig.explain(series, target=0, n_steps=4)
    owner, cache = ig._eval_bytes_cache
    assert owner is smooth_cnn and len(cache) == 1
    ig.model = SmoothCNN(width=64)  # a wider model saves more per evaluation
    ig.explain(series, target=0, n_steps=4)
    owner2, cache2 = ig._eval_bytes_cache
    assert owner2 is ig.model and next(iter(cache2.values())) > next(iter(cache.values()))


def test_one_completeness_rule_for_results_and_runs(tmp_path, smooth_cnn, series):
    from cdig._numerics import COMPLETENESS_FLOOR, completeness_flagged, completeness_ok

    ok = completeness_ok(np.array([0.1, 0.1, 1e-7]), np.array([1.0, 100.0, 0.0]), 0.05)
    assert ok.tolist() == [False, True, False]
    assert completeness_flagged(np.array([0.1, 0.1, 1e-7]), ok).tolist() == [True, False, False]
    assert COMPLETENESS_FLOOR == 1e-6
    run = cdig.explain_dataset(
        smooth_cnn, series, "fourier", out=tmp_path / "r", fs=32.0, target=0, n_steps=2,
        rtol=1e-3, progress=False,
    )  # fmt: skip
    np.testing.assert_array_equal(run.completeness("fourier", 1e-3), run.unconverged("fourier"))


# ---------------------------------------------------------------------- warnings
def _only(record, category):
    hits = [w for w in record if issubclass(w.category, category)]
    assert len(hits) == 1, [str(w.message) for w in record]
    return hits[0]


def test_every_entry_point_warns_at_the_callers_line(tmp_path, smooth_cnn, series):
    hard = dict(target=0, rtol=1e-9, max_steps=17)  # cannot converge in 17 evaluations
    hard_horizon = dict(rtol=1e-9, max_steps=17)
    calls = {
        "explain": lambda: cdig.explain(smooth_cnn, series, "fourier", **hard),
        "CrossDomainIG.explain": lambda: cdig.CrossDomainIG(smooth_cnn, "dct").explain(
            series, **hard
        ),
        "CrossDomainIG.attribute": lambda: cdig.CrossDomainIG(smooth_cnn).attribute(series, **hard),
        "explain_dataset": lambda: cdig.explain_dataset(
            smooth_cnn, series, "time", out=tmp_path / "r", progress=False, **hard
        ),
        "horizon": lambda: cdig.explain(
            smooth_cnn, series, target=cdig.Horizon("each", steps=[0, 1]), **hard_horizon
        ),
    }
    for name, call in calls.items():
        with pytest.warns(cdig.ConvergenceWarning) as record:
            call()
        w = record[0]
        assert w.filename == __file__, (name, w.filename)
    with pytest.warns(cdig.CompletenessWarning) as record:
        cdig.explain(smooth_cnn, series, "fourier", target=0, n_steps=2, rtol=1e-9)
    assert _only(record, cdig.CompletenessWarning).filename == __file__


def test_a_metric_warns_at_the_callers_line(smooth_cnn, series):
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergence

    attr = cdig.explain(smooth_cnn, series, "time", target=0, n_steps=8)
    values = np.ones((4, 2, 2))  # ICA attributions: (batch, component, channel)
    with pytest.warns(SklearnConvergence) as record:  # ICA fitted inside the metric
        cdig.metrics.deletion(
            smooth_cnn, series, values, cdig.domains.ICA(max_iter=1, tol=1e-12),
            target=attr.target_index, fractions=[0.0, 1.0],
        )  # fmt: skip
    assert _only(record, SklearnConvergence).filename == __file__


def test_the_version_lives_in_one_module():
    import ast
    import pathlib

    from cdig._version import __version__

    assert cdig.__version__ == __version__
    root = pathlib.Path(cdig.__file__).parent
    for path in root.rglob("*.py"):  # no module reaches back into the package root
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level and node.module is None:
                names = {a.name for a in node.names}
                assert "__version__" not in names, path


def test_typed_modes_match_what_is_accepted():
    import typing

    from cdig._settings import Method
    from cdig.quadrature import METHODS
    from cdig.targets import TargetKind

    assert set(typing.get_args(Method)) == set(METHODS)
    assert set(typing.get_args(TargetKind)) == {
        "none", "index", "per_sample", "callable", "predicted", "label", "each",
    }  # fmt: skip

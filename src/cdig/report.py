"""A self-contained HTML report of an explanation.

The report is one HTML file with everything inline: figures are PNG images embedded as
``data:`` URIs, the style sheet is in a ``<style>`` element, and there is no script, font or
link to anything outside the file, so it opens offline and can be mailed or archived as is.

It shows, per explained sample: the model output that was explained (the prediction), the
output at the baseline, ``f(x) - f(x')``, the sum of attributions and the completeness error
``delta``; the settings of the run; and per domain the largest attributions with what each
coefficient means (``"4.0 Hz"``, ``"cD3"``, ``"trend"``) and the domain's figure
(:func:`cdig.plot.plot_attribution`).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_index_list
from ._optional import require
from .attribution import Attribution, ig_facts

__all__ = ["render_report", "write_report", "describe_coefficient", "summary_text", "write_json"]

_STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; color: #1b1b1b; background: #ffffff;
       line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; border-bottom: 2px solid #c0392b; padding-bottom: .2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; }
h3 { font-size: 1.05em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: .6em 0 1em 0; font-size: .92em; }
th, td { border: 1px solid #d0d0d0; padding: .25em .6em; text-align: left; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.pos { color: #c0392b; } td.neg { color: #2166ac; }
.note { color: #555; font-size: .9em; }
.bad { color: #b00020; font-weight: 600; }
figure { margin: .8em 0 1.6em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #e4e4e4; }
figcaption { color: #555; font-size: .9em; }
code { background: #f4f4f4; padding: 0 .25em; }
.banner { border: 2px solid #b00020; background: #fff3f3; padding: .5em .9em; margin: 1em 0; }
.banner p { margin: .3em 0; }
table.flagged { outline: 2px dashed #b00020; }
table.flagged caption { color: #b00020; font-weight: 600; text-align: left; }
"""

#: What each status means in the report's words (``converged`` needs none).
_STATUS_TEXT = {
    "max_steps": "did not reach the tolerance within the evaluation budget (max_steps); "
    "raise max_steps",
    "floor": "the tolerance is below the rounding level of the model's precision "
    "(f(x) - f(x') is tiny, the attributions cancel, or the error estimate is at the "
    "rounding noise of the model's gradients); accurate only to about the absolute error "
    "shown, not to rtol; more steps do not help",
    "singular": "the path is singular at the baseline (the output jumps next to it, e.g. "
    "a model that normalises its input explained from zeros); the attributions describe "
    "that jump: use another baseline, e.g. cdig.baselines.phase_randomized",
    "n_steps": "the fixed n_steps misses the completeness tolerance; use n_steps='auto'",
}


def render_report(
    results: Attribution | Mapping[str, Attribution],
    inputs: Any = None,
    *,
    samples: Sequence[int] = (0,),
    title: str = "Cross-domain Integrated Gradients report",
    settings: Mapping[str, Any] | None = None,
    model_outputs: Any = None,
    top: int = 5,
    plot_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    dpi: int = 90,
) -> str:
    """The HTML text of a report.

    Parameters
    ----------
    results : Attribution or mapping of str to Attribution
        One result, or several keyed by domain label (as returned by :func:`cdig.explain`
        for a list of domains). All must come from the same inputs.
    inputs : array-like, optional
        The explained inputs in the layout they were explained in (``(batch, channels,
        time)``, or ``(batch, time, channels)`` with ``time_axis=1``), drawn in the figures
        (input spectrum, signal, ...).
    samples : sequence of int, default=(0,)
        Which samples of the batch get a section (tables, top coefficients and figures).
    title : str
    settings : mapping, optional
        Extra settings to list (model file, input file, baseline ...), shown with the
        settings of the results (method, n_steps ...).
    model_outputs : array-like of shape (batch, ...), optional
        All outputs of the model for ``inputs``; listed as the prediction of each sample.
    top : int, default=5
        Largest attributions listed per domain and sample (by absolute value).
    plot_kwargs : mapping of figure kind to mapping, optional
        Extra arguments per figure kind of :func:`cdig.plot.plot_kind`, e.g.
        ``{"frequency": {"unit": "bpm", "mark": [140]}}``.
    dpi : int, default=90
        Resolution of the embedded figures.

    Returns
    -------
    str
        A complete HTML document with no external resources.
    """
    attrs = _as_dict(results)
    first = next(iter(attrs.values()))
    samples = _check_samples(samples, first.batch_size)
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 0:
        raise ValueError(f"top={top!r} must be a non-negative integer.")
    for name, a in attrs.items():
        if a.batch_size != first.batch_size:
            raise ValueError(
                f"results[{name!r}] has a batch of {a.batch_size} but the first result has "
                f"{first.batch_size}; all results must explain the same inputs."
            )
    outs = None if model_outputs is None else np.asarray(model_outputs)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _intro(attrs, inputs),
        _banner(attrs),
        _settings_table(first, settings),
    ]
    if first.batch_size > 1:
        parts.append(_batch_table(attrs))
    for s in samples:
        parts.append(f"<h2>Sample {s}</h2>")
        parts.append(_prediction(first, s, outs))
        parts.append(_sample_banner(attrs, s))
        parts.append(_completeness_table(attrs, s))
        for name, a in attrs.items():
            parts.append(_domain_section(name, a, s, inputs, top, plot_kwargs or {}, dpi))
    parts.append(
        '<p class="note">Attributions are Cross-domain Integrated Gradients: in every '
        "domain they sum to f(x) - f(x') up to the completeness error delta. Positive values "
        "(red) push the explained output up, negative values (blue) push it down.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    path: str | Path,
    results: Attribution | Mapping[str, Attribution],
    inputs: Any = None,
    **kwargs: Any,
) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8) and return the path.

    Parameters
    ----------
    path : str or Path
        The HTML file to write; its folder is created if needed.
    results, inputs, **kwargs
        As in :func:`render_report`.

    Examples
    --------
    >>> import torch, cdig, tempfile, pathlib
    >>> from cdig.report import write_report
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    >>> x = torch.randn(1, 1, 64)
    >>> attr = cdig.explain(model, x, ["time", "fourier"], fs=32.0)
    >>> out = write_report(pathlib.Path(tempfile.mkdtemp()) / "r.html", attr, x)
    >>> out.read_text().count("data:image/png;base64,")
    2
    """
    text = render_report(results, inputs, **kwargs)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out


def summary_text(results: Mapping[str, Attribution], samples: Sequence[int], top: int = 5) -> str:
    """A plain-text summary: per domain and sample ``f(x)``, ``f(x')``, ``delta``, the error
    and the evaluations, then the ``top`` largest attributions with what each means.

    Parameters
    ----------
    results : mapping of str to Attribution
        One result per domain, of the same batch.
    samples : sequence of int
        Samples of the batch to show.
    top : int, default=5
        Coefficients listed per domain and sample (0: none).

    Returns
    -------
    str
        Lines separated by ``"\\n"``; an error not estimated shows as ``-``, a sample not
        converged is marked ``!`` (``attr.status`` says why).
    """
    first = next(iter(results.values()))
    head_fb, head_diff = "f(x')", "f(x)-f(x')"
    lines = [
        f"explained output: {first.target}; batch of {first.batch_size}",
        f"{'domain':<12} {'sample':>6} {'f(x)':>11} {head_fb:>11} {head_diff:>12} {'delta':>10}"
        f" {'error':>8} {'evals':>6}",
    ]
    for name, a in results.items():
        f = ig_facts(a, "cdig.report.summary_text")
        for s in samples:
            fx, fb = float(f.outputs[s]), float(f.baseline_outputs[s])
            err = "-" if np.isnan(f.error[s]) else f"{f.error[s]:.1e}"
            err += "" if f.converged[s] else "!"
            lines.append(
                f"{name:<12} {s:>6} {fx:>11.5g} {fb:>11.5g} {fx - fb:>12.5g} {f.delta[s]:>10.2e}"
                f" {err:>8} {int(a.n_evaluations[s]):>6}"
            )
    for s in samples:
        for name, a in results.items():
            rows = a.top(top, sample=s) if top > 0 else []
            items = "; ".join(f"{r['value']:+.3g} at {describe_coefficient(a, r)}" for r in rows)
            if items:
                lines.append(f"top {name} (sample {s}): {items}")
    return "\n".join(lines)


def write_json(
    path: str | Path,
    results: Mapping[str, Attribution],
    model_outputs: Any,
    settings: Mapping[str, Any],
    input_shape: Sequence[int],
) -> Path:
    """Write the numbers of ``results`` as one JSON document (what ``cdig explain --json``
    writes) and return the path; its folder is created if needed.

    The document holds ``cdig_version``, ``settings``, ``input_shape``, ``model_outputs``
    and ``domains``: per domain :meth:`Attribution.to_dict`, which
    :meth:`Attribution.from_dict` reads back. NaN and infinities are refused.

    Parameters
    ----------
    path : str or Path
    results : mapping of str to Attribution
    model_outputs : array-like
        The model's outputs for the inputs, shape ``(batch, ...)``.
    settings : mapping
        What the run was asked (JSON-able values).
    input_shape : sequence of int
        The shape of the inputs.
    """
    from ._version import __version__
    from .attribution import jsonable

    doc = {
        "cdig_version": __version__,
        "settings": dict(settings),
        "input_shape": list(input_shape),
        "model_outputs": model_outputs,
        "domains": {name: a.to_dict() for name, a in results.items()},
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(jsonable(doc), allow_nan=False), encoding="utf-8")
    return out


def describe_coefficient(attr: Attribution, row: Mapping[str, Any]) -> str:
    """What a coefficient means, from a row of :meth:`Attribution.top`.

    Numbers get their unit (``"4.0 Hz"``, ``"1.25 s"``); per-coefficient labels such as a
    wavelet ``band`` or ``time`` are added when the coefficient axis has them.

    Parameters
    ----------
    attr : Attribution
    row : mapping
        ``{"value": float, <dim>: coordinate or index, ...}``.

    Returns
    -------
    str
        e.g. ``"channel 0, 4.0 Hz"`` or ``"channel 1, coefficient 12 (band cD2, time 1.5 s)"``.
    """
    parts = []
    for dim in attr.dims:
        value = row.get(dim)
        if dim == "channel":
            parts.append(str(value) if isinstance(value, str) else f"channel {value}")
            continue
        unit = attr.units.get(dim, "")
        if isinstance(value, str):
            parts.append(value if dim in ("component", "band") else f"{dim} {value}")
        elif unit in ("bin", "sample"):
            parts.append(f"{dim} {unit} {_num(value, integral=True)}")
        elif unit:
            parts.append(f"{_num(value)} {unit}")
        else:
            parts.append(f"{dim} {_num(value)}")
        extra = _row_labels(attr, dim, row) or _per_coefficient_labels(attr, dim, value)
        if extra:
            parts[-1] += f" ({extra})"
    return ", ".join(parts)


# ---------------------------------------------------------------------- sections
def _intro(attrs: Mapping[str, Attribution], x: Any) -> str:
    first = next(iter(attrs.values()))
    shape = "" if x is None else f" of shape {tuple(np.shape(x))}"
    names = ", ".join(_e(n) for n in attrs)
    return (
        f"<p>Explained output: <b>{_e(first.target)}</b> for a batch of {first.batch_size} "
        f"input series{_e(shape)}, in {len(attrs)} domain(s): {names}.</p>"
    )


def _banner(attrs: Mapping[str, Attribution]) -> str:
    """A banner naming the samples that are not certified, by reason ('' when all are)."""
    lines = []
    for status, text in _STATUS_TEXT.items():
        where = {n: np.flatnonzero(np.asarray(a.status) == status) for n, a in attrs.items()}
        where = {n: idx for n, idx in where.items() if idx.size}
        if where:
            names = "; ".join(f"{_e(n)}: samples {_e(_samples(idx))}" for n, idx in where.items())
            lines.append(f"<p><b>Not certified ({_e(status)})</b> &mdash; {names}: {_e(text)}.</p>")
    if not lines:
        return ""
    return (
        "<div class='banner' role='alert'>"
        + "".join(lines)
        + "<p>Their tables and top coefficients below are marked; read them with care.</p></div>"
    )


def _sample_banner(attrs: Mapping[str, Attribution], s: int) -> str:
    """The reasons sample ``s`` is not certified, per domain ('' when it is)."""
    lines = [
        f"<p><b>{_e(n)}: not certified ({_e(str(f.status[s]))})</b> &mdash; "
        f"{_e(_STATUS_TEXT.get(str(f.status[s]), 'not converged'))}; absolute error about "
        f"{_e(_abs_error(a, s))} (output units).</p>"
        for n, a, f in ((n, a, ig_facts(a)) for n, a in attrs.items())
        if not f.converged[s]
    ]
    return "<div class='banner' role='alert'>" + "".join(lines) + "</div>" if lines else ""


def _abs_error(a: Attribution, s: int) -> str:
    """The larger of ``|delta|`` and the estimated absolute error of sample ``s``."""
    err, delta = float(a.absolute_error[s]), abs(float(ig_facts(a).delta[s]))
    value = delta if np.isnan(err) else max(err, delta)
    return f"{value:.2g}"


def _settings_table(first: Attribution, extra: Mapping[str, Any] | None) -> str:
    rows: dict[str, Any] = {}
    for key, value in (extra or {}).items():
        rows[str(key)] = value
    # a name given with its unit ("fs (Hz)") stands for the result's own setting ("fs")
    given = {str(k).split(" (")[0] for k in rows}
    recorded = first.settings.as_dict() if first.settings is not None else {}
    recorded.update(time_axis=first.layout.time_axis, fs=first.layout.fs)
    for key, value in recorded.items():
        if key not in ("shared_with", "pass") and not (key == "fs" and value is None):
            if str(key) not in given:
                rows.setdefault(str(key), value)
    if "n_steps" in rows and str(rows["n_steps"]) == "auto":
        used = first.n_evaluations
        lo, hi = int(used.min()), int(used.max())
        spent = f"{lo}" if lo == hi else f"{lo} to {hi}"
        rows["n_steps"] = f"auto (adaptive; {spent} model evaluations per sample)"
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in rows.items())
    return f"<h2>Settings</h2><table>{body}</table>"


def _batch_table(attrs: Mapping[str, Attribution]) -> str:
    head = (
        "<tr><th>domain</th><th>max |delta|</th><th>max relative delta</th>"
        "<th>max estimated error</th><th>not converged</th></tr>"
    )
    body = "".join(
        f"<tr><td>{_e(n)}</td><td class='num'>{float(np.max(np.abs(f.delta))):.3g}</td>"
        f"<td class='num'>{float(np.max(a.relative_delta)):.3g}</td>"
        f"<td class='num'>{_error(_largest(f.error))}</td>"
        f"<td class='{'num bad' if (~f.converged).any() else 'num'}'>"
        f"{_e(_samples(np.flatnonzero(~f.converged)))}{_e(_reasons(a))}</td></tr>"
        for n, a, f in ((n, a, ig_facts(a)) for n, a in attrs.items())
    )
    return f"<h2>Completeness and convergence over the batch</h2><table>{head}{body}</table>"


def _reasons(a: Attribution) -> str:
    """`` (floor: 1, singular: 2)``: how many samples failed for which reason."""
    f = ig_facts(a)
    bad = np.asarray(f.status)[~f.converged]
    if bad.size == 0:
        return ""
    names, counts = np.unique(bad, return_counts=True)
    return " (" + ", ".join(f"{n}: {c}" for n, c in zip(names, counts)) + ")"


def _largest(values: np.ndarray) -> float:
    """The largest finite-or-infinite value, NaN when there is none (no estimate)."""
    known = values[~np.isnan(values)]
    return float(known.max()) if known.size else float("nan")


def _error(value: float) -> str:
    """An estimated relative error for a table cell; '-' where none was estimated."""
    return "-" if not np.isfinite(value) else f"{value:.2e}"


def _samples(idx: np.ndarray) -> str:
    if idx.size == 0:
        return "none"
    shown = ", ".join(str(int(i)) for i in idx[:10])
    return shown + (f" ... ({idx.size} samples)" if idx.size > 10 else "")


def _prediction(first: Attribution, s: int, outs: np.ndarray | None) -> str:
    from .plot import target_label

    fx = float(ig_facts(first).outputs[s])
    what = target_label(first, s)
    text = f"<p>Prediction (explained: {_e(what)}): <b>f(x) = {fx:.6g}</b>"
    if outs is not None and outs.ndim >= 1 and outs.shape[0] > s:
        row = np.ravel(outs[s])
        shown = ", ".join(f"{float(v):.4g}" for v in row[:20]) + (" ..." if row.size > 20 else "")
        text += f"; all model outputs: [{_e(shown)}]"
        if row.size > 1:
            text += f", arg-max {int(np.argmax(row))}"
    return text + ".</p>"


def _completeness_table(attrs: Mapping[str, Attribution], s: int) -> str:
    head = (
        "<tr><th>domain</th><th>f(x)</th><th>f(x')</th><th>f(x) - f(x')</th>"
        "<th>sum of attributions</th><th>delta</th><th>relative delta</th>"
        "<th>estimated error</th><th>model evaluations</th></tr>"
    )
    rows = []
    for name, a in attrs.items():
        f = ig_facts(a)
        fx, fb = float(f.outputs[s]), float(f.baseline_outputs[s])
        rel = float(a.relative_delta[s])
        cls = "num" if f.converged[s] else "num bad"
        rows.append(
            f"<tr><td>{_e(name)}</td><td class='num'>{fx:.6g}</td><td class='num'>{fb:.6g}</td>"
            f"<td class='num'>{fx - fb:.6g}</td><td class='num'>{float(a.total[s]):.6g}</td>"
            f"<td class='{cls}'>{float(f.delta[s]):.2e}</td><td class='{cls}'>{rel:.2e}</td>"
            f"<td class='{cls}'>{_error(float(f.error[s]))}</td>"
            f"<td class='num'>{int(a.n_evaluations[s])}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _domain_section(
    name: str,
    attr: Attribution,
    s: int,
    x: Any,
    top: int,
    plot_kwargs: Mapping[str, Mapping[str, Any]],
    dpi: int,
) -> str:
    from . import plot

    dom = type(attr.domain).__name__ if attr.domain is not None else "?"
    parts = [f"<h3>{_e(name)} <span class='note'>({_e(dom)}, dims {_e(attr.dims)})</span></h3>"]
    if top:
        rows = attr.top(top, sample=s)
        body = "".join(
            f"<tr><td class='num'>{i + 1}</td>"
            f"<td class='num {'pos' if r['value'] >= 0 else 'neg'}'>{r['value']:+.4g}</td>"
            f"<td>{_e(describe_coefficient(attr, r))}</td></tr>"
            for i, r in enumerate(rows)
        )
        flag = ""
        facts = ig_facts(attr)
        if not facts.converged[s]:
            flag = (
                " class='flagged'><caption>Not certified "
                f"({_e(str(facts.status[s]))}): the ranking may change with a certified result"
                "</caption"
            )
        parts.append(
            f"<table{flag}><tr><th>rank</th><th>attribution</th><th>coefficient</th></tr>"
            f"{body}</table>"
        )
    kind = plot.plot_kind(attr)
    fig = plot.plot_attribution(attr, sample=s, inputs=x, **dict(plot_kwargs.get(kind, {})))
    png = _png(fig, dpi)
    parts.append(
        f"<figure><img alt='{_e(name)} attributions, sample {s}' "
        f"src='data:image/png;base64,{png}'><figcaption>{_e(plot.describe(attr, s))}"
        "</figcaption></figure>"
    )
    return "\n".join(parts)


# ---------------------------------------------------------------------- helpers
def _as_dict(results: Any) -> dict[str, Attribution]:
    if isinstance(results, Attribution):
        name = getattr(results.domain, "name", None) or "attribution"
        results = {str(name): results}
    if isinstance(results, Mapping) and results:
        bad = [k for k, v in results.items() if not isinstance(v, Attribution)]
        if bad:
            raise TypeError(
                f"results must map names to Attribution objects; {bad[0]!r} is a "
                f"{type(results[bad[0]]).__name__}."
            )
        peers = [k for k, v in results.items() if v.peer is not None]
        if peers:
            raise ValueError(
                f"results[{peers[0]!r}] comes from the peer explainer "
                f"{results[peers[0]].explainer!r}; the report certifies Cross-domain IG results "
                "(completeness, convergence), which a peer has not: draw it with attr.plot()."
            )
        return {str(k): v for k, v in results.items()}
    raise TypeError(
        "results must be an Attribution or a non-empty mapping of name -> Attribution (the "
        f"return value of cdig.explain); got {type(results).__name__}."
    )


def _check_samples(samples: Sequence[int] | int, batch: int) -> list[int]:
    return check_index_list(samples, "samples", batch)


def _png(fig: Any, dpi: int) -> str:
    plt = require("matplotlib.pyplot", "the report's figures")
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _row_labels(attr: Attribution, dim: str, row: Mapping[str, Any]) -> str:
    """Labels that :meth:`Attribution.top` put in ``row`` for the axis ``dim``."""
    axis = attr.dims.index(dim)
    size = attr.values.shape[1 + axis]
    per = {
        k: row[k]
        for k, c in attr.coords.items()
        if k in row and k not in attr.dims and np.ndim(c) == 1 and len(c) == size
    }
    return _format_labels(attr, per)


def _per_coefficient_labels(attr: Attribution, dim: str, value: Any) -> str:
    """Labels such as ``band cD2, time 1.5 s`` of coefficient ``value`` along ``dim``."""
    size = attr.values.shape[1 + attr.dims.index(dim)]
    coord = attr.coords.get(dim)
    if coord is not None and np.ndim(coord) == 1:
        hits = np.flatnonzero(np.asarray(coord) == value)
        if hits.size != 1:
            return ""
        index = int(hits[0])
    elif isinstance(value, (int, np.integer)):
        index = int(value)
    else:
        return ""
    if not 0 <= index < size:
        return ""
    per = {
        k: np.asarray(c)[index].item()
        for k, c in attr.coords.items()
        if k not in attr.dims and np.ndim(c) == 1 and len(c) == size
    }
    return _format_labels(attr, per)


def _format_labels(attr: Attribution, per: dict[str, Any]) -> str:
    """``band cD2 [4–8 Hz], time 1.5 s`` from a coefficient's labels."""
    per = dict(per)
    labels = []
    if "band" in per:
        per.pop("level", None)  # the band's name says it
    for key, v in per.items():
        if key in ("band_low", "band_high"):
            continue
        unit = attr.units.get(key, "")
        labels.append(f"{key} {_num(v)}{' ' + unit if unit else ''}")
        low, high = per.get("band_low"), per.get("band_high")
        if key == "band" and isinstance(low, float) and isinstance(high, float):
            if math.isfinite(low) and math.isfinite(high):
                unit = attr.units.get("band_low", "")
                labels[-1] += f" [{low:.3g}–{high:.3g}{' ' + unit if unit else ''}]"
    return ", ".join(labels)


def _num(value: Any, integral: bool = False) -> str:
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if math.isfinite(v) and v == round(v) and abs(v) < 1e6:
            return f"{v:.0f}" if integral else f"{v:.1f}"
        return f"{v:.4g}"
    return str(value)


def _fmt(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value) if value else "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)

"""Is the default explanation converged? Fixed rules, the old ``auto`` and the new default.

A corpus of real path integrands: CNNs trained on FordA, GunPoint and ECG200 (built and
trained exactly as ``faithfulness.py`` builds them, sharing its cache), an LSTM classifier
fed ``(batch, time, channels)`` (``time_axis=1``) on GunPoint, the FreezerRegularTrain GRU,
a small transformer encoder on ECG200, the two KID-PPG windows with the published Keras
weights (``../shared/data/kidppg``), the cepstrum domain on the ECG200 CNN, and the model
kinds of issue 22's outside check, trained briefly through the same cache: a ResNet-style
CNN with max-pooling (GunPoint), hard attention with softmax temperature 0.01 (ECG200), a
CNN with step-like activations ``sigmoid(25 z)`` (GunPoint) and a SIREN-style sine network
(ECG200). Each row
explains test series in the Fourier domain (cepstrum on its row) for the predicted class,
zero baseline, with:

* fixed Gauss-Legendre 32, 64 and 256 steps;
* Captum's ``IntegratedGradients`` defaults: time domain, 50 Gauss-Legendre steps (cdig's
  time domain with the same rule gives Captum's numbers; ``tests/test_engine.py`` checks);
* ``old auto``: the 0.1.0-preview ``n_steps="auto"``: Gauss-Legendre 16, 32, ... doubled per
  sample until ``|delta| <= 1e-3 |f(x) - f(x')|`` (cap 1024), every try counted;
* ``default``: ``cdig.explain(model, x, domain, target="predicted")`` as it stands.

Then the adversarial suite of ``adversarial.py`` (sums of ridge functions with closed-form
attributions: oscillations up to 64 periods, transitions of width 1e-3 to 1e-2 near both
ends and inside, cancelling pairs, narrow bumps), default only.

Reported per row and method: (a) the share of samples whose completeness error exceeds
1 % and 5 % of ``|f(x) - f(x')|``; (b) the relative 2-norm error of the attribution vector
against a 16384-node Gauss-Legendre reference (median, max); (c) model evaluations per
sample (mean, max) and wall time relative to fixed 64 (each method warmed up on two series
first, then timed once on all). For the default also: samples not
converged (each named in the call's warning), and "lucky stops": samples reported converged
whose vector error exceeds 2 % (twice ``--rtol``, the default's tolerance: 0.01; another
value measures the certificate at other meshes).

The last table printed is one line per row: the default's certificate (exact, lucky stops,
estimate >= true error and their smallest ratio, not converged, evaluations against GL 64)
next to GL 64's and Captum's misses. References are cached (``.cache/cdig-bench/steps-references``).

Run: ``.venv/bin/python benchmarks/steps.py [--samples 16] [--quick] [--rows NAME ...]
[--methods NAME ...] [--json FILE] [--adversarial full|quick|none]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cdig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "examples"))
import faithfulness as fb  # noqa: E402  (models, tasks and the training cache)

REFERENCE = 16384
#: The default's tolerance (``--rtol``): its certificate (``exact``, lucky stops at twice
#: it) is checked against this.
RTOL = 0.01


class LSTMClassifier(torch.nn.Module):
    """One-layer LSTM over ``(batch, time, channels)`` inputs and a linear read-out."""

    def __init__(self, channels: int, n_classes: int, hidden: int = 32) -> None:
        super().__init__()
        self.lstm = torch.nn.LSTM(channels, hidden, batch_first=True)
        self.head = torch.nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return self.head(out[:, -1])


class TimeMajor(torch.nn.Module):
    """Training-time adapter: (batch, channels, time) -> the LSTM's (batch, time, channels)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.transpose(1, 2))


class Transformer(torch.nn.Module):
    """Patch embedding, two encoder layers, mean pooling, a linear read-out."""

    def __init__(self, channels: int, n_classes: int) -> None:
        super().__init__()
        self.embed = torch.nn.Conv1d(channels, 32, 4, stride=4)
        layer = torch.nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = torch.nn.Linear(32, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.encoder(self.embed(x).transpose(1, 2))
        return self.head(h.mean(dim=1))


class ResBlock(torch.nn.Module):
    """Two 3-tap convolutions with batch norm and ReLU, an identity (or 1x1) shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.body = torch.nn.Sequential(
            torch.nn.Conv1d(c_in, c_out, 3, padding=1),
            torch.nn.BatchNorm1d(c_out),
            torch.nn.ReLU(),
            torch.nn.Conv1d(c_out, c_out, 3, padding=1),
            torch.nn.BatchNorm1d(c_out),
        )
        self.skip = torch.nn.Identity() if c_in == c_out else torch.nn.Conv1d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNet1d(torch.nn.Module):
    """A ResNet-style 1-D CNN: a 7-tap stem, three residual blocks each followed by
    max-pooling, global average pooling and a linear read-out."""

    def __init__(self, channels: int, n_classes: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(channels, w, 7, padding=3),
            torch.nn.BatchNorm1d(w),
            torch.nn.ReLU(),
            ResBlock(w, w),
            torch.nn.MaxPool1d(2),
            ResBlock(w, 2 * w),
            torch.nn.MaxPool1d(2),
            ResBlock(2 * w, 2 * w),
            torch.nn.MaxPool1d(2),
            torch.nn.AdaptiveAvgPool1d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(2 * w, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class HardAttention(torch.nn.Module):
    """Patch embedding, one self-attention layer whose softmax has temperature
    ``temperature`` (0.01: each query attends to almost exactly one patch, so the
    attention switches abruptly along the path), attention pooling with the same
    temperature and a linear read-out."""

    def __init__(self, channels: int, n_classes: int, temperature: float = 0.01) -> None:
        super().__init__()
        d = 16
        self.t = temperature
        self.embed = torch.nn.Conv1d(channels, d, 4, stride=4)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.ff = torch.nn.Sequential(
            torch.nn.Linear(d, 32), torch.nn.ReLU(), torch.nn.Linear(32, d)
        )
        self.pool = torch.nn.Linear(d, 1)
        self.head = torch.nn.Linear(d, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x).transpose(1, 2)  # (B, T', d)
        q, k, v = self.qkv(h).chunk(3, dim=-1)
        att = torch.softmax(q @ k.transpose(1, 2) / (self.t * q.shape[-1] ** 0.5), dim=-1)
        h = h + att @ v
        h = h + self.ff(h)
        w = torch.softmax(self.pool(h).squeeze(-1) / self.t, dim=-1)  # (B, T')
        return self.head((w.unsqueeze(-1) * h).sum(dim=1))


class SteepSigmoid(torch.nn.Module):
    """``sigmoid(k z)`` with ``k = 25``: a smooth step, nearly a Heaviside function."""

    def __init__(self, k: float = 25.0) -> None:
        super().__init__()
        self.k = k

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.k * z)


class SteepCNN(torch.nn.Module):
    """``faithfulness.CNN1d``'s layout with step-like activations (``sigmoid(25 z)``)
    in place of ReLU."""

    def __init__(self, channels: int, n_classes: int, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = torch.nn.Sequential(
            torch.nn.Conv1d(channels, w, 7, padding=3),
            SteepSigmoid(),
            torch.nn.MaxPool1d(2),
            torch.nn.Conv1d(w, 2 * w, 5, padding=2),
            SteepSigmoid(),
            torch.nn.MaxPool1d(2),
            torch.nn.Conv1d(2 * w, 4 * w, 3, padding=1),
            SteepSigmoid(),
            torch.nn.AdaptiveAvgPool1d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(4 * w, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Siren1d(torch.nn.Module):
    """A SIREN-style convolutional network: sine activations, ``sin(30 z)`` after the
    first layer and ``sin(z)`` after the others, with SIREN's initialisation (first
    layer uniform in ``+-1 / fan_in``, the others in ``+-sqrt(6 / fan_in) / 30``), global
    average pooling and a linear read-out. Its gradient oscillates along the path."""

    def __init__(self, channels: int, n_classes: int, width: int = 16, w0: float = 30.0) -> None:
        super().__init__()
        self.w0 = w0
        self.c1 = torch.nn.Conv1d(channels, width, 7, padding=3)
        self.c2 = torch.nn.Conv1d(width, 2 * width, 5, padding=2)
        self.c3 = torch.nn.Conv1d(2 * width, 2 * width, 3, padding=1)
        self.head = torch.nn.Linear(2 * width, n_classes)
        with torch.no_grad():
            fan = channels * 7
            self.c1.weight.uniform_(-1 / fan, 1 / fan)
            for c in (self.c2, self.c3):
                fan = c.in_channels * c.kernel_size[0]
                bound = (6 / fan) ** 0.5 / w0
                c.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.sin(self.w0 * self.c1(x))
        h = torch.sin(self.w0 * self.c2(h))
        h = torch.sin(self.w0 * self.c3(h))
        return self.head(h.mean(dim=-1))


@dataclass
class Row:
    name: str
    model: Any  # what cdig.explain gets
    x: np.ndarray  # test series in the model's layout
    domain: str = "fourier"
    time_axis: int = -1
    target: Any = "predicted"


def _trained(task: fb.Task, quick: bool) -> tuple[torch.nn.Module, np.ndarray]:
    Xtr, ytr, Xte, _ = task.load()
    Xtr, Xte = Xtr.astype(np.float32), Xte.astype(np.float32)
    model = fb.train(task, 0, Xtr, ytr, fb.CACHE)
    return model, Xte


def corpus(n: int, quick: bool, wanted: Callable[[str], bool] = lambda name: True) -> Iterator[Row]:
    """The rows, each trained (or read from the cache) when it is reached and wanted."""
    cnn = lambda c, k: fb.CNN1d(c, k)  # noqa: E731
    for name, load, epochs in [
        ("ECG200", fb._ucr("ECG200"), 60),
        ("GunPoint", fb._aeon("GunPoint"), 150),
        ("FordA", fb._ucr("FordA"), 15),
    ][: 1 if quick else 3]:
        if not wanted(f"{name} CNN") and not (name == "ECG200" and wanted("ECG200 CNN, cepstrum")):
            continue
        model, X = _trained(fb.Task(name, load, cnn, epochs, n), quick)
        if wanted(f"{name} CNN"):
            yield Row(f"{name} CNN", model, X[:n])
        if name == "ECG200":
            ecg_cnn, ecg_x = model, X[:n]
    if quick:
        return
    gp = fb._aeon("GunPoint")
    lstm_task = fb.Task(
        "GunPoint", gp, lambda c, k: TimeMajor(LSTMClassifier(c, k)), 60, n,
        model_name="GunPoint-lstm",
    )  # fmt: skip
    if wanted("GunPoint LSTM"):
        wrapped, X = _trained(lstm_task, quick)
        lstm = wrapped.inner  # type: ignore[union-attr]
        yield Row("GunPoint LSTM (B,T,C)", lstm, X[:n].transpose(0, 2, 1).copy(), time_axis=1)
    if wanted("ECG200 CNN, cepstrum"):
        yield Row("ECG200 CNN, cepstrum", ecg_cnn, ecg_x, domain="cepstrum")
    gru_task = fb.Task(
        "FreezerRegularTrain", fb._ucr("FreezerRegularTrain"),
        lambda c, k: fb.GRUClassifier(c, k, hidden=200), 80, n,
    )  # fmt: skip
    if wanted("Freezer GRU"):
        gru, X = _trained(gru_task, quick)
        yield Row("Freezer GRU", gru, X[: max(4, n // 2)])
    tf_task = fb.Task("ECG200", fb._ucr("ECG200"), Transformer, 30, n, model_name="ECG200-tf")
    if wanted("ECG200 transformer"):
        tf, X = _trained(tf_task, quick)
        yield Row("ECG200 transformer", tf, X[:n])
    # the outside check's model kinds (issue 22): short training, same cache
    for row_name, task in [
        ("GunPoint ResNet (max-pool)", fb.Task("GunPoint", gp, ResNet1d, 40, n)),
        ("ECG200 hard attention (T 0.01)",
         fb.Task("ECG200", fb._ucr("ECG200"), HardAttention, 200, n, lr=3e-3)),
        ("GunPoint steep-sigmoid CNN", fb.Task("GunPoint", gp, SteepCNN, 120, n)),
        ("ECG200 SIREN (sine)", fb.Task("ECG200", fb._ucr("ECG200"), Siren1d, 60, n, lr=3e-4)),
    ]:  # fmt: skip
        if wanted(row_name):
            model, X = _trained(task, quick)
            yield Row(row_name, model, X[:n])
    kid = ROOT / ".." / "shared" / "data" / "kidppg"
    if (kid / "ppg_samples.npz").exists() and wanted("KID-PPG"):
        import ppg_heart_rate as ppg

        windows = ppg.load_windows(kid)
        for subject, (x, _) in windows.items():
            model = ppg.load_model(kid, subject)
            yield Row(f"KID-PPG {subject} (Keras)", model, x, time_axis=1, target=None)


# ---------------------------------------------------------------------- methods
def _explain(row: Row, domain: str, **kw: Any) -> cdig.Attribution:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cdig.explain(
            row.model, row.x, domain, target=row.target, time_axis=row.time_axis, **kw
        )
    assert isinstance(res, cdig.Attribution)
    return res


def old_auto(row: Row, domain: str) -> tuple[cdig.Attribution, np.ndarray]:
    """The 0.1.0-preview ``auto``: GL 16, 32, ... per sample until 1e-3; every try counted."""
    n, todo, cost = 16, np.arange(len(row.x)), np.zeros(len(row.x), dtype=np.int64)
    values: dict[int, np.ndarray] = {}
    deltas = np.zeros(len(row.x))
    first: cdig.Attribution | None = None
    while todo.size:
        sub = Row(row.name, row.model, row.x[todo], domain, row.time_axis, row.target)
        a = _explain(sub, domain, n_steps=n)
        first = first or a
        cost[todo] += n
        ok = (a.relative_delta <= 1e-3) | (n * 2 > 1024)
        for j in np.flatnonzero(ok):
            values[int(todo[j])] = a.values[j]
            deltas[todo[j]] = a.relative_delta[j]
        todo, n = todo[~ok], n * 2
    assert first is not None
    vals = np.stack([values[i] for i in range(len(row.x))])
    return _Fake(vals, deltas), cost


@dataclass
class _Fake:
    values: np.ndarray
    relative_delta: np.ndarray


Method = Callable[[Row], tuple[Any, np.ndarray]]


def methods() -> dict[str, Method]:
    def fixed(n: int) -> Method:
        def run(row: Row) -> tuple[Any, np.ndarray]:
            a = _explain(row, row.domain, n_steps=n)
            return a, np.full(len(row.x), n)

        return run

    def captum(row: Row) -> tuple[Any, np.ndarray]:
        a = _explain(row, "time", n_steps=50)
        return a, np.full(len(row.x), 50)

    def default(row: Row) -> tuple[Any, np.ndarray]:
        a = _explain(row, row.domain) if RTOL == 0.01 else _explain(row, row.domain, rtol=RTOL)
        return a, a.n_evaluations

    return {
        "GL 32": fixed(32),
        "GL 64": fixed(64),
        "GL 256": fixed(256),
        "Captum (time, GL 50)": captum,
        "old auto (GL doubling)": lambda row: old_auto(row, row.domain),
        "default (auto)": default,
    }


def rel_error(values: np.ndarray, ref: np.ndarray) -> np.ndarray:
    n = len(values)
    diff = np.linalg.norm((values - ref).reshape(n, -1), axis=1)
    return diff / np.maximum(np.linalg.norm(ref.reshape(n, -1), axis=1), 1e-300)


def reference(row: Row, domain: str) -> np.ndarray:
    """The ``REFERENCE``-node Gauss-Legendre attributions of ``row`` in ``domain``, kept in
    the cache (keyed by the series, the model's weights, the domain and the node count)
    for torch models, so that reruns of the other methods skip them."""
    import hashlib

    def compute() -> np.ndarray:
        return _explain(row, domain, n_steps=REFERENCE, internal_batch_size=1024).values

    if not isinstance(row.model, torch.nn.Module):
        return compute()
    h = hashlib.sha1(np.ascontiguousarray(row.x).tobytes())
    for k, v in row.model.state_dict().items():
        h.update(k.encode() + v.detach().cpu().numpy().tobytes())
    h.update(f"{domain} {REFERENCE} {row.target} {row.time_axis}".encode())
    path = fb.CACHE / "steps-references" / f"{h.hexdigest()}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    values = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, values, allow_pickle=False)
    return values


def run_row(
    row: Row, log: Callable[[str], None], only: list[str] | None = None
) -> list[dict[str, Any]]:
    refs = {dom: reference(row, dom) for dom in {row.domain, "time"}}
    out = []
    base = None
    warm = Row(row.name, row.model, row.x[:2], row.domain, row.time_axis, row.target)
    chosen = {
        k: fn
        for k, fn in methods().items()
        if not only or k == "GL 64" or any(o in k for o in only)
    }
    for fn in chosen.values():  # first calls of a shape pay one-off costs: not timed
        fn(warm)
    for name, fn in chosen.items():
        t0 = time.perf_counter()
        attr, cost = fn(row)
        wall = time.perf_counter() - t0
        dom = "time" if name.startswith("Captum") else row.domain
        err = rel_error(attr.values, refs[dom])
        rd = attr.relative_delta
        rec = {
            "row": row.name,
            "method": name,
            "over1": float(np.mean(rd > 0.01)),
            "over5": float(np.mean(rd > 0.05)),
            "err_median": float(np.median(err)),
            "err_max": float(np.max(err)),
            "evals_mean": float(np.mean(cost)),
            "evals_max": int(np.max(cost)),
            "wall": wall,
        }
        if name == "GL 64":
            base = wall
        if isinstance(attr, cdig.Attribution) and name.startswith("default"):
            conv = attr.converged
            rec["unconverged"] = int((~conv).sum())
            rec["floor"] = int((attr.status == "floor").sum())
            rec["singular"] = int((attr.status == "singular").sum())
            rec["lucky"] = int((conv & (err > 2 * RTOL)).sum())
            rec["over1_named"] = bool(np.all(~conv[rd > RTOL]))
            rec["est_conservative"] = float(np.mean(attr.error >= err))
            with np.errstate(divide="ignore", invalid="ignore"):
                rec["est_ratio_min"] = float(np.min(attr.error / err))
            # the certificate: every converged sample meets rtol as reported
            rec["exact"] = bool(np.all((attr.error[conv] <= RTOL) & (rd[conv] <= RTOL)))
            rec["samples"] = {  # per series, for the record
                "error": attr.error.tolist(),
                "true_error": err.tolist(),
                "relative_delta": rd.tolist(),
                "status": [str(v) for v in attr.status],
                "evaluations": np.asarray(cost).tolist(),
            }
        out.append(rec)
        log(f"  {row.name:26s} {name:24s} done in {wall:6.2f} s")
    for rec in out:
        rec["wall_rel"] = rec["wall"] / base if base else float("nan")
    return out


def wall_row(row: Row, n_rounds: int) -> dict[str, Any]:
    """Wall time of the default against GL 64 on one row: the median over ``n_rounds``
    rounds of the ratio of their warm calls, each round timing both in a random order
    (``_timing.rounds``), so that load from elsewhere, which slows both, cancels."""
    import _timing

    fns = {
        "default": lambda: _explain(row, row.domain),
        "GL 64": lambda: _explain(row, row.domain, n_steps=64),
    }
    evals = _explain(row, row.domain).n_evaluations
    t = _timing.rounds(fns, n_rounds, 1.0, warm=True)
    return {
        "row": row.name,
        "series": len(row.x),
        "evals_mean": float(np.mean(evals)),
        "default_over_gl64": _timing.paired_ratio(t, "default", "GL 64"),
        "default_ms": 1e3 * float(np.median(t["default"])),
        "gl64_ms": 1e3 * float(np.median(t["GL 64"])),
    }


def table(records: list[dict[str, Any]]) -> str:
    head = (
        f"{'row':26s} {'method':24s} {'>1%':>5s} {'>5%':>5s} {'err med':>8s} {'err max':>8s} "
        f"{'evals':>6s} {'max':>5s} {'time':>5s}  default: unconverged / lucky / est>=err"
    )
    lines = [head, "-" * len(head)]
    for r in records:
        extra = ""
        if "unconverged" in r:
            extra = f"  {r['unconverged']} / {r['lucky']} / {r['est_conservative']:.0%}" + (
                "" if r["over1_named"] else "  (a >1% sample not named!)"
            )
            extra += f"  (floor {r['floor']}, singular {r['singular']})" + (
                "" if r["exact"] else "  (a converged sample misses rtol!)"
            )
        lines.append(
            f"{r['row']:26s} {r['method']:24s} {r['over1']:5.0%} {r['over5']:5.0%} "
            f"{r['err_median']:8.2e} {r['err_max']:8.2e} {r['evals_mean']:6.0f} "
            f"{r['evals_max']:5d} {r['wall_rel']:5.2f}{extra}"
        )
    return "\n".join(lines)


def certificate_table(records: list[dict[str, Any]]) -> str:
    """One line per row: the default's certificate (issue 22's targets) next to GL 64 and
    Captum's defaults. ``exact``: every converged sample meets ``error <= rtol`` and
    ``relative_delta <= rtol`` as reported (``--rtol``, 0.01); ``lucky``: converged with a
    true vector error above twice it; ``est >= err``: share of samples whose estimate is at
    least the true error, ``min est / err`` the smallest ratio of the two;
    ``> 1 %``: samples whose completeness error exceeds 1 % (of how many)."""
    by = {(r["row"], r["method"]): r for r in records}
    head = (
        "| row | series | exact | lucky | est >= err | min est / err | not converged "
        "| evaluations mean | max "
        "| / GL 64 | GL 64: > 1 % | GL 64: worst vector error | Captum GL 50: > 1 % "
        "| Captum: worst vector error | default: worst vector error |"
    )
    lines = [head, "|" + "---|" * 15]
    for (row, method), d in by.items():
        if not method.startswith("default"):
            continue
        g, c = by.get((row, "GL 64")), by.get((row, "Captum (time, GL 50)"))
        n = len(d["samples"]["error"])

        def miss(r: dict[str, Any] | None, n: int = n) -> str:
            return "-" if r is None else f"{round(r['over1'] * n)}/{n}"

        def worst(r: dict[str, Any] | None) -> str:
            return "-" if r is None else f"{100 * r['err_max']:.2g}%"

        ratio = d["evals_mean"] / g["evals_mean"] if g else float("nan")
        lines.append(
            f"| {row} | {n} | {'yes' if d['exact'] else 'NO'} | {d['lucky']} "
            f"| {d['est_conservative']:.0%} ({round(d['est_conservative'] * n)}/{n}) "
            f"| {d.get('est_ratio_min', float('nan')):.2f} | {d['unconverged']} "
            f"| {d['evals_mean']:.0f} | {d['evals_max']} | {ratio:.2f} "
            f"| {miss(g)} | {worst(g)} | {miss(c)} | {worst(c)} | {worst(d)} |"
        )
    return "\n".join(lines)


def summary(records: list[dict[str, Any]]) -> str:
    d = [r for r in records if r["method"].startswith("default")]
    g = {r["row"]: r for r in records if r["method"] == "GL 64"}
    n_rows = len(d)
    over1 = np.mean([r["over1"] for r in d])
    ratio = [r["evals_mean"] / g[r["row"]]["evals_mean"] for r in d]
    model_rows = [
        r
        for r in d
        if any(k in r["row"] for k in ("CNN", "LSTM", "GRU")) and "cepstrum" not in r["row"]
    ]
    med = float(np.median([r["evals_mean"] for r in model_rows])) if model_rows else float("nan")
    return (
        f"default over {n_rows} rows: samples above 1 % completeness error {over1:.1%} "
        f"(mean share), all named in warnings: {all(r['over1_named'] for r in d)}; lucky stops "
        f"(converged, vector error > {2 * RTOL:.2%}): {sum(r['lucky'] for r in d)}; "
        f"evaluations per "
        f"sample / fixed 64: median row {np.median(ratio):.2f}, max {max(ratio):.2f}; median "
        f"over CNN/LSTM/GRU rows {med:.0f} evaluations"
    )


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    global RTOL
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=16, help="test series per row")
    p.add_argument("--quick", action="store_true", help="one row, 4 series (for the tests)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--rows", nargs="*", help="only the rows whose name contains one of these")
    p.add_argument(
        "--methods", nargs="*",
        help="only the methods whose name contains one of these (GL 64 always runs)",
    )  # fmt: skip
    p.add_argument("--json", type=Path, default=None, help="also write the records here")
    p.add_argument(
        "--rtol", type=float, default=RTOL,
        help="the default's tolerance (its certificate is checked against it; lucky stops: "
        "a true vector error above twice it)",
    )  # fmt: skip
    p.add_argument(
        "--wall",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="only time the default against GL 64: paired median over ROUNDS interleaved warm "
        "rounds per row (no references, no other methods)",
    )
    p.add_argument(
        "--adversarial", choices=("full", "quick", "none"), default=None,
        help="the closed-form adversarial suite (default: full; quick with --quick)",
    )  # fmt: skip
    args = p.parse_args(argv)
    RTOL = args.rtol
    if args.threads:
        torch.set_num_threads(args.threads)
    n = 4 if args.quick else args.samples
    records: list[dict[str, Any]] = []

    def wanted(name: str) -> bool:
        return not args.rows or any(k in name for k in args.rows)

    for row in corpus(n, args.quick, wanted):
        if args.wall:
            records.append(wall_row(row, args.wall))
            print(json.dumps(records[-1]), flush=True)
            continue
        print(f"{row.name}: {len(row.x)} series", file=sys.stderr, flush=True)
        done = run_row(row, lambda s: print(s, file=sys.stderr, flush=True), args.methods)
        records += done
        for rec in done:  # as each row finishes
            print("  " + json.dumps(rec), file=sys.stderr, flush=True)
        if args.json:
            args.json.write_text(json.dumps(records, indent=1))
    if args.wall:
        return records
    print(table(records))
    print()
    print(summary(records))
    print()
    print(certificate_table(records))
    mode = args.adversarial or ("quick" if args.quick else "full")
    if mode != "none":
        import adversarial

        log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
        adv = adversarial.run_suite(n=4 if args.quick else 8, quick=mode == "quick", log=log)
        print()
        print(adversarial.table(adv))
        lucky = sum(r["lucky"] for r in adv if r["resolvable"])
        print(f"adversarial: lucky stops on the classes in reach: {lucky}")
        records += [
            {"row": "adversarial: " + r["case"], "method": "adversarial (auto)", **r} for r in adv
        ]
    return records


if __name__ == "__main__":
    main()

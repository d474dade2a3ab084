"""What drives a TimesFM-architecture forecast of electricity demand: trend, day or week?

The paper's forecasting case explains TimesFM in the seasonal-trend domain. **This script
does not use Google's pretrained TimesFM weights**: they are downloaded from the HuggingFace
hub, which cannot be reached where cdig is built and tested (no network but package
registries). It builds the same architecture (``transformers.TimesFmModelForPrediction``:
patched inputs, a decoder-only transformer, a mean and nine quantiles per step) at a small
size and trains it from scratch on the series, so the numbers below describe that small
model, not the foundation model. ``--pretrained google/timesfm-2.0-500m-pytorch`` takes the
pretrained path instead (``from_pretrained``); without hub access it stops at once with a
clear message.

Data: pmdarima's ``taylor`` series, half-hourly electricity demand in England and Wales
(12 weeks, 4032 points, MW), daily (48) and weekly (336) seasons. The model reads 768
half-hours (16 days) and forecasts the next 48 (one day). It is trained on the first 10
weeks and evaluated on the 14 days of the last two weeks, against the seasonal-naive
forecast (the same half-hour one week earlier) and the daily-naive one (one day earlier).

Explanation (cdig): the model is wrapped with :func:`cdig.models.select` (TimesFM takes a
list of 1-d series as ``past_values`` and returns a ``TimesFmOutputForPrediction``), and the
mean forecast over the day, ``target=cdig.Horizon("mean")``, is explained

* in the MSTL seasonal-trend domain (trend, daily, weekly season, remainder; baseline: the
  zero series, all component weights 0), and
* in the Fourier domain (frequencies in cycles per day, ``fs=48``; baseline: the window's
  mean level as a flat series, so the attributions explain the forecast's departure from
  the recent average level).

``target=cdig.Horizon("each")`` then explains every step of the day, drawn as a heatmap of
component x horizon step. Figures go to ``--out`` (default ``out/timesfm``).

Run ``python examples/timesfm_forecast.py`` (a few minutes on two CPU cores) or with
``--quick`` (a shorter training, well under a minute; used by the test suite).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cdig
from cdig.datasets import load_taylor

CONTEXT = 768  # 16 days of half-hours: MSTL needs more than two weekly periods (672)
HORIZON = 48  # one day
DAY, WEEK = 48, 336
SCALE = 1000.0  # the model works in GW; errors are reported in MW
START = np.datetime64("2000-06-05")  # taylor starts on Monday 5 June 2000, 00:00
PRETRAINED_HINT = (
    "This example trains a small TimesFM-architecture model from scratch instead (run it "
    "without --pretrained); to use Google's weights, run it where the HuggingFace hub can be "
    "reached, or with the checkpoint in the local HuggingFace cache."
)


def small_timesfm(seed: int) -> Any:
    """A TimesFM with Google's architecture at a size that trains on two CPU cores."""
    from transformers import TimesFmConfig, TimesFmModelForPrediction

    torch.manual_seed(seed)
    config = TimesFmConfig(
        patch_length=48,  # one day per patch: 16 patches of context
        context_length=CONTEXT,
        horizon_length=HORIZON,
        hidden_size=64,
        intermediate_size=128,
        head_dim=16,
        num_attention_heads=4,
        num_hidden_layers=2,
        use_positional_embedding=True,  # where in the week a patch lies
    )
    return TimesFmModelForPrediction(config)


def load_pretrained(name: str) -> Any:
    """Google's pretrained TimesFM from the HuggingFace hub (or the local cache).

    Raises
    ------
    RuntimeError
        When the checkpoint cannot be had (no network, hub offline, not cached), naming the
        checkpoint, the reason and what to do instead.
    """
    from transformers import TimesFmModelForPrediction

    try:
        return TimesFmModelForPrediction.from_pretrained(name)
    except (OSError, ValueError) as err:  # offline, unreachable, or not in the cache
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:300].rstrip(".")
        raise RuntimeError(
            f"could not load the pretrained TimesFM checkpoint {name!r} from the HuggingFace "
            f"hub: {reason}. {PRETRAINED_HINT}"
        ) from err


def windows(series: np.ndarray, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (n, CONTEXT) and targets (n, HORIZON) for forecasts made at ``starts + CONTEXT``."""
    x = np.stack([series[s : s + CONTEXT] for s in starts])
    y = np.stack([series[s + CONTEXT : s + CONTEXT + HORIZON] for s in starts])
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def train(model: Any, series: np.ndarray, steps: int, batch: int, seed: int) -> list[float]:
    """Adam on TimesFM's own loss (MSE of the mean + quantile loss) over random windows."""
    rng = np.random.default_rng(seed)
    starts = np.arange(0, len(series) - CONTEXT - HORIZON + 1)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    model.train()
    losses = []
    for _ in range(steps):
        x, y = windows(series, rng.choice(starts, size=batch, replace=False))
        loss = model(past_values=list(x), future_values=y).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def evaluate(model: Any, series: np.ndarray, first: int) -> dict[str, Any]:
    """MAE (MW) of the model and of the naive forecasts on the days after ``first``."""
    origins = np.arange(first, len(series) - HORIZON + 1, HORIZON)  # one forecast per day
    x, y = windows(series, origins - CONTEXT)
    with torch.no_grad():
        pred = model(past_values=list(x)).mean_predictions.numpy()
    truth = y.numpy()
    weekly = np.stack([series[o - WEEK : o - WEEK + HORIZON] for o in origins])
    daily = np.stack([series[o - DAY : o] for o in origins])
    mae = {
        "model": float(np.abs(pred - truth).mean() * SCALE),
        "seasonal_naive": float(np.abs(weekly - truth).mean() * SCALE),
        "daily_naive": float(np.abs(daily - truth).mean() * SCALE),
    }
    return {"mae": mae, "origins": origins, "pred": pred, "truth": truth, "naive": weekly}


def reading(per_component: dict[str, float], total: float) -> str:
    """One sentence on which component drives the forecast."""
    ranked = sorted(per_component.items(), key=lambda kv: -abs(kv[1]))
    (top, v1), (second, v2) = ranked[0], ranked[1]
    return (
        f"the {top} carries {v1 * SCALE:+,.0f} MW of the {total * SCALE:,.0f} MW mean forecast "
        f"(from the zero baseline), then the {second} with {v2 * SCALE:+,.0f} MW"
    )


def explain(model: Any, series: np.ndarray, origin: int, out: Path, quick: bool) -> dict:
    """Explain the mean forecast of the day starting at ``origin``; write the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # TimesFM takes a list of 1-d series as past_values and returns a ModelOutput:
    # select() passes the (batch, time) inputs as that list and returns mean_predictions.
    # float64 makes the completeness check sharp; cdig runs the model in eval() mode.
    wrapped = cdig.models.select(model.double(), "mean_predictions", as_list=True)
    x = series[origin - CONTEXT : origin][None]  # (1, CONTEXT), GW
    n_steps = 16 if quick else 32
    files: dict[str, Path] = {}

    seasonal = cdig.domains.SeasonalTrend(period=(DAY, WEEK))
    st = cdig.explain(wrapped, x, seasonal, target=cdig.Horizon("mean"), n_steps=n_steps)
    per = st.sum_over("channel")
    names = [str(c) for c in per.coords["component"]]
    comp = dict(zip(names, per.values[0].tolist()))
    fig = st.plot(inputs=x)
    files["seasonal"] = out / "timesfm_seasonal.png"
    fig.savefig(files["seasonal"], dpi=80)
    plt.close(fig)

    fourier = cdig.explain(
        wrapped,
        x,
        cdig.domains.Fourier(fs=float(DAY)),  # frequencies in cycles per day
        target=cdig.Horizon("mean"),
        baselines=float(x.mean()),
        n_steps=n_steps,
    )
    bands = fourier.bands(
        {"slow (< 0.9/day)": (0.0, 0.9), "daily (0.9-1.1/day)": (0.9, 1.1)},
        other="faster (> 1.1/day)",
    ).sum_over("channel")
    band = dict(zip([str(b) for b in bands.coords["band"]], bands.values[0].tolist()))
    fig = fourier.plot(inputs=x)
    fig.axes[0].set_xlim(0.0, 6.0)  # the attributions sit below 6 cycles per day
    fig.axes[0].set_xlabel("frequency (cycles per day; fs = 48 per day)")
    files["fourier"] = out / "timesfm_fourier.png"
    fig.savefig(files["fourier"], dpi=80)
    plt.close(fig)

    steps = range(0, HORIZON, 4) if quick else range(HORIZON)
    each = cdig.explain(
        wrapped, x, seasonal, target=cdig.Horizon("each", steps=list(steps)), n_steps=n_steps
    )
    # the trend row (~30 GW at every step) would wash out the seasons: saturate it at 4 GW
    fig = each.plot(vmax=4.0)
    files["horizon"] = out / "timesfm_horizon_heatmap.png"
    fig.savefig(files["horizon"], dpi=80)
    plt.close(fig)

    q90 = cdig.explain(
        cdig.models.select(model, "full_predictions", as_list=True),
        x,
        seasonal,
        target=cdig.Horizon("mean", quantile=0.9, levels=model.config.quantiles),
        n_steps=n_steps,
    )
    model.float()
    return {
        "seasonal": st,
        "fourier": fourier,
        "each": each,
        "quantile_0.9": q90,
        "components": comp,
        "bands": band,
        "files": files,
    }


def report(ev: dict, ex: dict, origin: int) -> None:
    mae = ev["mae"]
    print(
        f"\nheld-out days: {len(ev['origins'])}; MAE (MW): TimesFM-architecture model "
        f"{mae['model']:,.0f}, seasonal naive (one week earlier) {mae['seasonal_naive']:,.0f}, "
        f"daily naive (one day earlier) {mae['daily_naive']:,.0f}"
    )
    st, fo = ex["seasonal"], ex["fourier"]
    fx, fb = float(st.outputs[0]), float(st.baseline_outputs[0])
    day = START + np.timedelta64(origin // DAY, "D")
    weekday = day.astype("datetime64[D]").item().strftime("%A %d %B %Y")
    print(
        f"\nmean forecast of the day starting at t={origin} ({weekday}): {fx * SCALE:,.0f} MW; "
        f"actual {ev['truth'][-1].mean() * SCALE:,.0f} MW, seasonal naive "
        f"{ev['naive'][-1].mean() * SCALE:,.0f} MW"
    )
    print("  seasonal-trend (MSTL 48, 336), baseline x' = 0 (all weights 0):")
    for name, v in ex["components"].items():
        print(f"    {name:<14}{v * SCALE:>+12,.0f} MW")
    print(f"    f(x) - f(x') = {(fx - fb) * SCALE:,.0f} MW, delta = {float(st.delta[0]):.1e} GW")
    q = ex["quantile_0.9"]
    qs = dict(zip(q.coords["component"].tolist(), q.sum_over("channel").values[0].tolist()))
    print(
        "  same for the 0.9 quantile: "
        + ", ".join(f"{k} {v * SCALE:+,.0f}" for k, v in qs.items())
        + " MW"
    )
    fx, fb = float(fo.outputs[0]), float(fo.baseline_outputs[0])
    print(
        f"  Fourier (cycles/day), baseline x' = the window mean as a flat series "
        f"(f(x') = {fb * SCALE:,.0f} MW):"
    )
    for name, v in ex["bands"].items():
        print(f"    {name:<22}{v * SCALE:>+12,.0f} MW")
    print(f"    f(x) - f(x') = {(fx - fb) * SCALE:,.0f} MW, delta = {float(fo.delta[0]):.1e} GW")
    each = ex["each"]
    heat = each.sum_over("channel").values[0]  # (steps, components)
    names = list(each.coords["component"])
    steps = each.coords["horizon"]
    print("  per forecast step (seasonal-trend, Horizon('each')): lowest and highest attribution")
    for i, n in enumerate(names):
        lo, hi = int(np.argmin(heat[:, i])), int(np.argmax(heat[:, i]))
        print(
            f"    {n:<14}{heat[lo, i] * SCALE:>+9,.0f} MW at step {steps[lo]:<4}"
            f"{heat[hi, i] * SCALE:>+9,.0f} MW at step {steps[hi]}"
        )
    spread = {n: float(heat[:, i].max() - heat[:, i].min()) for i, n in enumerate(names)}
    top_shape = max(spread, key=lambda n: spread[n])
    print(
        f"\nreading: {reading(ex['components'], float(st.outputs[0]))}. Across the day the "
        f"attribution that changes most from step to step is the {top_shape} "
        f"({spread[top_shape] * SCALE:,.0f} MW range): it shapes the daily profile."
    )
    print("figures: " + ", ".join(str(p) for p in ex["files"].values()))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short training, for tests")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/timesfm"))
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: this small model trains fastest on one)",
    )
    parser.add_argument(
        "--pretrained",
        metavar="NAME",
        help="load Google's checkpoint (e.g. google/timesfm-2.0-500m-pytorch) instead of "
        "training; needs the HuggingFace hub or a local cache",
    )
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args: argparse.Namespace) -> dict[str, Any]:
    series = load_taylor() / SCALE  # GW
    first_test = len(series) - 2 * WEEK  # the last two weeks are held out
    t0 = time.perf_counter()
    if args.pretrained:
        try:
            model = load_pretrained(args.pretrained)
        except RuntimeError as err:
            raise SystemExit(f"error: {err}") from None
        losses: list[float] = []
        print(f"loaded {args.pretrained}")
    else:
        model = small_timesfm(args.seed)
        steps = 150 if args.quick else 2500
        losses = train(model, series[:first_test], steps, batch=32, seed=args.seed)
        n_params = sum(p.numel() for p in model.parameters())
        print(
            f"trained a {n_params:,}-parameter TimesFM-architecture model from scratch: "
            f"{steps} steps in {time.perf_counter() - t0:.0f} s, final loss {losses[-1]:.3g}"
        )
    ev = evaluate(model, series, first_test)
    args.out.mkdir(parents=True, exist_ok=True)
    origin = int(ev["origins"][-1])  # explain the last held-out day
    ex = explain(model, series, origin, args.out, args.quick)
    report(ev, ex, origin)
    print(f"total time {time.perf_counter() - t0:.0f} s")
    return {"mae": ev["mae"], "losses": losses, **ex}


if __name__ == "__main__":
    main()

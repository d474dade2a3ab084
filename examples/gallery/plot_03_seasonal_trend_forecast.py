"""
Trend, season or noise: what drives a forecast
==============================================

A small PyTorch forecaster is trained on two real series and its forecasts are explained in
the seasonal-trend domain (:class:`cdig.domains.SeasonalTrend`): each input window is split
by STL (one period) or MSTL (several) into a trend, one seasonal component per period and a
remainder, and the forecast is attributed to those components.

* weekly Mauna Loa CO2 (statsmodels), STL with a yearly period of 52 weeks;
* half-hourly electricity demand in England and Wales (pmdarima's ``taylor``), MSTL with a
  daily (48) and a weekly (336) period.

The baseline is all component weights at 0, i.e. the all-zero series, so ``f(x) - f(x')``
is close to the forecast itself and the trend, which carries the level, takes most of it.
The forecaster and its training are plain PyTorch (``examples/seasonal_trend_forecast.py``,
a few seconds of training here; run that script for the full-size case).
"""

# %%
# Training: a small MLP forecasting the next 26 weeks of CO2 from the last 156.
import sys
from pathlib import Path

import numpy as np

import cdig
from cdig.datasets import load_co2, load_taylor

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[1]))  # examples/
from seasonal_trend_forecast import Task, train

co2, _dates = load_co2()
stl = cdig.domains.SeasonalTrend(period=52)
task = Task("co2", co2, "ppm", window=156, horizon=26, stride=4, domain=stl)
model, mae = train(task, steps=60, seed=0)
print(f"CO2: test MAE {mae:.3g} ppm")

# %%
# The cdig call: the last input window, the first forecast week (``target=0``), in the
# seasonal-trend domain with a yearly period.
x = co2[None, None, -task.window - task.horizon : -task.horizon].astype(np.float64)  # (1,1,156)
attr = cdig.explain(model.double(), x, stl, target=0, n_steps=64)
per = attr.sum_over("channel")  # one number per component
for name, value in zip(per.coords["component"], per.values[0]):
    print(f"{name:>12}: {value:+8.3f} ppm")
print(f"f(x) - f(x') = {attr.outputs[0] - attr.baseline_outputs[0]:.3f} ppm, "
      f"delta = {attr.delta[0]:.1e}")  # fmt: skip

# %%
# The input series with its STL components, and the attribution of each component over time.
fig = attr.plot()

# %%
# Electricity demand, first half-hour ahead of the last window: MSTL with a daily and a
# weekly season.
taylor = load_taylor()
mstl = cdig.domains.SeasonalTrend(period=(48, 336))
task = Task("taylor", taylor, "MW", window=720, horizon=48, stride=16, domain=mstl)
model, mae = train(task, steps=60, seed=0)
x = taylor[None, None, -task.window - task.horizon : -task.horizon].astype(np.float64)
attr = cdig.explain(model.double(), x, mstl, target=0, n_steps=64)
print(f"taylor: test MAE {mae:.3g} MW")
for name, value in zip(attr.coords["component"], attr.sum_over("channel").values[0]):
    print(f"{name:>12}: {value:+9.1f} MW")
fig = attr.plot()

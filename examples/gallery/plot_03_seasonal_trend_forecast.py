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
This page runs ``examples/seasonal_trend_forecast.py`` with ``--quick`` (a few seconds of
training); run that script without it for the full-size case.
"""

# %%
import sys
from pathlib import Path

sys.path.insert(0, str(Path(sys.argv[0]).resolve().parents[1]))  # examples/
import seasonal_trend_forecast

results = seasonal_trend_forecast.main(["--quick"])

# %%
# The last forecast window of CO2, explained for the first forecast week: the input series
# with its STL components, and the attribution of each component over time.
co2 = results["co2"]["attributions"][0]  # horizon step 1
fig = co2.plot(sample=co2.batch_size - 1)

# %%
# The same for electricity demand, first half-hour ahead: a daily and a weekly season.
taylor = results["taylor"]["attributions"][0]
fig = taylor.plot(sample=taylor.batch_size - 1)

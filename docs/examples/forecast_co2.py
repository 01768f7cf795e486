"""Forecast the Mauna Loa CO2 series a year ahead with a GRU, and backtest it against
naive, seasonal-naive and ETS forecasts.

    python docs/examples/forecast_co2.py                    # the full run
    GRUKIT_DOCS_SMALL=1 python docs/examples/forecast_co2.py  # seconds: the docs' CI check
"""

import os

from grukit.data.series import load_builtin
from grukit.tasks.forecast import Forecaster

SMALL = os.environ.get("GRUKIT_DOCS_SMALL") == "1"

series = load_builtin("co2")  # monthly means from statsmodels' bundled data (public domain)
if SMALL:
    series = series[-120:]  # the last ten years
print(f"{series.name}: {len(series)} months, {series.index[0]:%Y-%m} to {series.index[-1]:%Y-%m}")

model = Forecaster(model="gru", horizon=12, lookback=36, hidden=32,
                   epochs=3 if SMALL else 200, seed=0)
model.fit(series.to_numpy(), season=12)
forecast = model.predict()  # (12,): the next twelve months
print("next 12 months:", " ".join(f"{v:.1f}" for v in forecast))

# rolling origin: refit at each of the last `folds` years, forecast it, score it
scores = model.backtest(series.to_numpy(), season=12, folds=1 if SMALL else 3)
for name in ("model", "naive", "seasonal_naive", "ets"):
    row = scores[name]
    print(f"{name:>15}: MAE {row['mae']:.3f}  MASE {row['mase']:.3f}")

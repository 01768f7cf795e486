"""Time-series forecasting with recurrent networks, beside naive, seasonal naive and ETS."""

from .baselines import ets, naive, seasonal_naive
from .forecaster import ForecastConfig, Forecaster
from .metrics import scores

__all__ = ["ForecastConfig", "Forecaster", "ets", "naive", "scores", "seasonal_naive"]

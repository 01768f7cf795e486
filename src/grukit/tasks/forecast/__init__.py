"""Time-series forecasting with recurrent networks (plain, ES-GRU hybrid, ensembles, the
median of a search's best trials anchored on ETS; point, quantile and split-conformal
interval forecasts; tuning on Optuna), beside naive, seasonal naive and ETS."""

from . import es
from .anchored_model import AnchoredConfig, AnchoredForecaster
from .baselines import ets, naive, seasonal_naive
from .forecaster import ForecastConfig, Forecaster
from .metrics import scores

__all__ = ["AnchoredConfig", "AnchoredForecaster", "ForecastConfig", "Forecaster", "es", "ets",
           "naive", "scores", "seasonal_naive"]

"""A forecaster whose forecast an exported graph would not reproduce (a hybrid's smoothing
base, quantile heads) is refused by every export path in one sentence, and nothing is
written (ensembles and the recursive and sequence strategies export:
tests/export/test_forecast_export_strategies.py)."""

import numpy as np
import pytest

from grukit.tasks.export import export
from grukit.tasks.forecast import Forecaster

SMALL = dict(horizon=6, epochs=2, hidden=8, lookback=12)


@pytest.fixture(scope="module")
def series():
    t = np.arange(96, dtype=np.float64)
    return 10 + np.sin(2 * np.pi * t / 12) + 0.05 * t


@pytest.mark.parametrize("options, words", [
    (dict(hybrid=True), "ES-GRU hybrid"),
    (dict(quantiles=[0.1, 0.9]), "quantile outputs"),
], ids=["hybrid", "quantiles"])
@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_export_refuses_what_the_graph_would_serve_wrongly(tmp_path, series, options, words,
                                                           fmt):
    pytest.importorskip("onnx")
    f = Forecaster(**SMALL, **options).fit(series, 12)
    with pytest.raises(ValueError, match=words):
        export(f, tmp_path / f"m.{fmt}", format=fmt)
    assert not list(tmp_path.iterdir())

"""grukit.export.runtime.Predictor refuses, in one sentence each, the input the forecaster
refuses (or that the graph would silently misread), and finds the manifest the export wrote
whatever the model file's suffix."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from grukit.export.runtime import Predictor  # noqa: E402
from grukit.tasks.export import export  # noqa: E402


def _sentence(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("."), msg
    return msg


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory):
    """A tiny forecaster with two covariates, exported as ONNX."""
    from grukit.tasks.forecast import Forecaster

    torch.manual_seed(0)
    t = np.arange(80)
    y = 10 + np.sin(t / 5)
    cov = np.stack([np.sin(t / 3), t / 100.0], 1)  # (T, 2)
    f = Forecaster(hidden=4, horizon=2, epochs=1, lookback=6).fit(y, covariates=cov)
    path = tmp_path_factory.mktemp("fc") / "fc.onnx"
    export(f, path)
    return f, Predictor(path), y, cov


def test_forecast_equals_the_estimator_on_good_input(forecaster):
    f, p, y, cov = forecaster
    np.testing.assert_allclose(p.forecast(y[:60], cov[:60]), f.predict(y[:60], cov[:60]),
                               atol=1e-4, rtol=0)
    np.testing.assert_allclose(p.forecast(), f.predict(), atol=1e-4, rtol=0)


def test_forecast_refuses_what_the_estimator_refuses(forecaster):
    f, p, y, cov = forecaster
    nan = cov[:60].copy()
    nan[-1, 1] = np.nan
    cases = {  # name: ((recent, covariates), what the sentence says)
        "one column": ((y[:60], cov[:60, :1]), "rows of 2 value(s)"),
        "three columns": ((y[:60], np.ones((60, 3))), "rows of 2 value(s)"),
        "NaN covariate": ((y[:60], nan), "missing or infinite"),
        "no covariates": ((y[:60], None), "fitted with 2 covariate(s)"),
        "2-D recent": ((np.stack([y[:60], y[:60]], 1), cov[:60]), "one 1-D series"),
        "covariates without recent": ((None, cov[:60]), "covariates go with recent values"),
        "too short": ((y[:5], cov[:5]), "the last 6 values"),
        "NaN recent": ((np.r_[y[:59], np.nan], cov[:60]), "missing or infinite"),
    }
    for name, ((recent, covs), says) in cases.items():
        with pytest.raises(ValueError):
            f.predict(recent, covs)
        with pytest.raises(ValueError) as e:
            p.forecast(recent, covs)
        assert says in _sentence(e), name


def test_the_manifest_is_found_beside_a_file_of_any_suffix(forecaster, tmp_path):
    f, _, y, cov = forecaster
    for name in ("model.bin", "upper.ONNX", "plain"):
        manifest = export(f, tmp_path / name)
        assert Predictor(tmp_path / name).manifest["model"] == name, manifest
        np.testing.assert_allclose(Predictor(manifest).forecast(), f.predict(), atol=1e-4,
                                   rtol=0)

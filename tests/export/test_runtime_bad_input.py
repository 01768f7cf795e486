"""grukit.export.runtime.Predictor finds the manifest the export wrote beside a model file
of any suffix."""

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


def test_the_manifest_is_found_beside_a_file_of_any_suffix(forecaster, tmp_path):
    f, _, y, cov = forecaster
    for name in ("model.bin", "upper.ONNX", "plain"):
        manifest = export(f, tmp_path / name)
        assert Predictor(tmp_path / name).manifest["model"] == name, manifest
        np.testing.assert_allclose(Predictor(manifest).forecast(), f.predict(), atol=1e-4,
                                   rtol=0)

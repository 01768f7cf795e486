"""Every forecaster exports — recursive and sequence strategies (with differences 0, 1 and
"auto"), ensembles over seeds and lookbacks, ES-GRU hybrids, quantile outputs — and
``grukit.export.runtime.Predictor`` (onnxruntime and numpy) forecasts what
``Forecaster.predict`` (and ``predict_quantiles``) does, for one series and several,
through ``export`` and the ``grukit export`` command, as ONNX and as pt2; older manifests
still load.

Tolerance: relative 1e-5 on the forecast values. Both sides run the networks in float32
(onnxruntime's GRU/LSTM operators against grukit's torch kernels), which differ by float32
rounding (~1e-7 relative per operation); the recursive and sequence strategies carry it
through the ``horizon`` forecasts they feed back (measured: ~1e-8 relative).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from grukit.export.runtime import Predictor  # noqa: E402
from grukit.tasks.export import beside, export  # noqa: E402

RTOL = 1e-5
SMALL = dict(horizon=4, epochs=2, hidden=5, lookback=12)
KINDS = {
    "recursive": dict(strategy="recursive"),
    "sequence": dict(strategy="sequence"),
    "sequence-changes": dict(strategy="sequence", differences=1),
    # the untuned setting the docs recommend (ensemble of 3: the median of an odd count)
    "sequence-auto-ensemble": dict(strategy="sequence", differences="auto", ensemble=3),
    # lookbacks 8 and 12, two seeds each: four members, the mean of the middle two
    "direct-lookbacks": dict(lookbacks=[8, 12], ensemble=2),
    "recursive-lookbacks": dict(strategy="recursive", lookbacks=[8, 12]),
    "sequence-lookbacks": dict(strategy="sequence", differences=1, lookbacks=[10, 14]),
    # the smoothing's inputs and base forecast, computed by the runtime in numpy
    "hybrid": dict(hybrid=True),
    "quantiles": dict(quantiles=[0.1, 0.9]),
    "hybrid-quantiles-ensemble": dict(hybrid=True, quantiles=[0.9, 0.1, 0.5], ensemble=3),
}


def _series(n: int = 90, level: float = 10.0, seed: int = 0) -> np.ndarray:
    t = np.arange(n, dtype=np.float64)
    noise = np.random.default_rng(seed).normal(0, 0.05, n)
    return level + np.sin(2 * np.pi * t / 12) + 0.05 * t + noise


@functools.cache
def _fitted(kind: str, several: bool = False):
    import torch

    from grukit.tasks.forecast import Forecaster

    torch.manual_seed(0)
    y = [_series(), _series(80, 50.0, 1), 3 * _series(70, 5.0, 2)] if several else _series()
    return Forecaster(**(SMALL | KINDS[kind])).fit(y, 12), y


def _close(got, want) -> None:
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_predictor_forecasts_what_predict_does(kind, tmp_path):
    f, y = _fitted(kind)
    manifest = json.loads(export(f, tmp_path / "m.onnx").read_text())
    spec = manifest["forecast"]
    assert spec["strategy"] == f.config.strategy
    assert spec["lookbacks"] == f._lookbacks(12) and spec["lookback"] == max(spec["lookbacks"])
    assert spec["differences"] == f._differences
    # format 2 where a runtime of format 1 would serve the graph wrongly
    plain = f.config.strategy == "direct" and not (f.config.hybrid or f.config.quantiles)
    assert manifest["format_version"] == (1 if plain else 2)
    p = Predictor(tmp_path / "m.onnx")
    _close(p.forecast(), f.predict())
    for end in (60, 75):
        _close(p.forecast(y[:end]), f.predict(y[:end]))


@pytest.mark.parametrize("kind", ["recursive-lookbacks", "sequence-auto-ensemble"])
def test_several_series_each_with_its_scaling(kind, tmp_path):
    f, ys = _fitted(kind, several=True)
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    want = f.predict()
    assert want.shape == (3, 4)
    _close(p.forecast(), want)
    for i, y in enumerate(ys):
        _close(p.forecast(index=i), want[i])
        _close(p.forecast(y[:60], index=i), f.predict(y[:60], index=i))


@pytest.mark.parametrize("kind", ["quantiles", "hybrid-quantiles-ensemble"])
def test_predictor_quantiles_are_predict_quantiles(kind, tmp_path):
    f, y = _fitted(kind)
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    _close(p.quantiles(), f.predict_quantiles())
    _close(p.quantiles(y[:70]), f.predict_quantiles(y[:70]))
    assert p.quantiles().shape == (len(f.config.quantiles), 4)


def test_quantiles_of_a_forecaster_without_them_are_refused(tmp_path):
    f, _ = _fitted("direct-lookbacks")
    export(f, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="^this forecaster has no quantile outputs"):
        Predictor(tmp_path / "m.onnx").quantiles()


def test_hybrid_of_several_series_with_covariates(tmp_path):
    """Each series' own smoothing parameters (its season, its trend) and the covariates of
    every value a hybrid reads."""
    import torch

    from grukit.tasks.forecast import Forecaster

    ys = [_series(), _series(80, 50.0, 1)[::-1].copy()]
    covs = [np.cos(np.arange(len(y)) / 3)[:, None] for y in ys]  # (T, 1)
    torch.manual_seed(0)
    f = Forecaster(**(SMALL | KINDS["hybrid"])).fit(ys, 12, covariates=covs)
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    _close(p.forecast(), f.predict())
    for i, (y, c) in enumerate(zip(ys, covs, strict=True)):
        _close(p.forecast(y[:60], c[:60], index=i), f.predict(y[:60], c[:60], index=i))
    with pytest.raises(ValueError, match=r"covariates must have at least 60 rows"):
        p.forecast(ys[0][:60], covs[0][:12])  # a hybrid reads every value's covariates


def test_direct_ensemble_with_covariates(tmp_path):
    import torch

    from grukit.tasks.forecast import Forecaster

    y = _series()
    cov = np.stack([np.cos(np.arange(90) / 3), np.arange(90) / 90], 1)  # (T, 2)
    torch.manual_seed(0)
    f = Forecaster(**(SMALL | KINDS["direct-lookbacks"])).fit(y, 12, covariates=cov)
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    _close(p.forecast(), f.predict())
    _close(p.forecast(y[:70], cov[:70]), f.predict(y[:70], cov[:70]))
    with pytest.raises(ValueError, match="fitted with 2 covariate"):
        p.forecast(y[:70])


def test_recursive_and_sequence_take_no_covariates_and_need_their_history(tmp_path):
    f, y = _fitted("sequence-changes")
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="^this forecaster was fitted without covariates"):
        p.forecast(y, np.ones(len(y)))
    # a forecast of changes reads one value more than its lookback, as predict does
    with pytest.raises(ValueError, match=r"the last 13 values \(the lookback\); recent has 12"):
        p.forecast(y[:12])
    with pytest.raises(ValueError, match=r"the last 13 values \(the lookback\); recent has 12"):
        f.predict(y[:12])


@pytest.mark.parametrize("kind", ["recursive", "sequence-auto-ensemble", "direct-lookbacks"])
def test_cli_exports_a_saved_model_of_each_kind(kind, tmp_path, capsys):
    from grukit.cli import main
    from grukit.tasks.forecast import Forecaster

    f, y = _fitted(kind)
    f.save(str(tmp_path / "model"))
    assert main(["export", str(tmp_path / "model")]) == 0
    assert "Forecaster exported" in capsys.readouterr().out
    p = Predictor(tmp_path / "model.onnx")
    loaded = Forecaster.load(str(tmp_path / "model"))
    _close(p.forecast(), loaded.predict())
    _close(p.forecast(y[:70]), f.predict(y[:70]))


def test_a_manifest_of_format_1_still_loads_and_forecasts(tmp_path):
    """A manifest written before the strategy fields (format 1, a direct forecaster of one
    network) is served as before."""
    import torch

    from grukit.tasks.forecast import Forecaster

    y = _series()
    torch.manual_seed(0)
    f = Forecaster(**SMALL).fit(y, 12)
    where = export(f, tmp_path / "m.onnx")
    body = json.loads(where.read_text())
    assert body["format_version"] == 1
    for field in ("strategy", "differences", "lookbacks", "quantiles"):
        del body["forecast"][field]
    where.write_text(json.dumps(body))
    _close(Predictor(tmp_path / "m.onnx").forecast(y[:70]), f.predict(y[:70]))


def test_unscale_serves_a_direct_graph_only(tmp_path):
    f, y = _fitted("recursive")
    with pytest.raises(ValueError, match="^unscale turns a direct forecaster's graph output"):
        f.unscale(y, np.zeros((1, 1)))
    g, _ = _fitted("direct-lookbacks")
    f.export_onnx(str(tmp_path / "d.onnx"))  # the graph alone, as before: inputs, unscale
    g.export_onnx(str(tmp_path / "g.onnx"))
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "g.onnx"), providers=["CPUExecutionProvider"])
    x = g.inputs(y[:70])  # (1, 12, 2): the longest lookback's window
    assert x.shape == (1, 12, 2)
    _close(g.unscale(y[:70], session.run(None, {"x": x})[0]), g.predict(y[:70]))


_BLOCKED = textwrap.dedent("""
    import importlib.abc, importlib.util, json, sys
    import numpy as np
    BLOCK = ("torch", "onnx", "pandas", "numba", "grukit")

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCK:
                raise ImportError(f"blocked in this test: {name}")
            return None

    sys.meta_path.insert(0, Refuse())
    spec = importlib.util.spec_from_file_location("runtime_copy", sys.argv[1])
    rt = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rt)
    p = rt.Predictor(sys.argv[2])
    print(json.dumps({"forecast": p.forecast().tolist(),
                      "recent": p.forecast(json.loads(sys.argv[3])).tolist()}))
""")


@pytest.mark.parametrize("kind", ["sequence-auto-ensemble", "hybrid-quantiles-ensemble"])
def test_runtime_file_serves_with_grukit_and_torch_refused(kind, tmp_path):
    from pathlib import Path

    import grukit.export

    runtime = Path(grukit.export.__file__).with_name("runtime.py")
    f, y = _fitted(kind)
    export(f, tmp_path / "m.onnx")
    assert beside(tmp_path / "m.onnx", "manifest").is_file()
    done = subprocess.run([sys.executable, "-c", _BLOCKED, str(runtime),
                           str(tmp_path / "m.onnx"), json.dumps(y[:70].tolist())],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    _close(got["forecast"], f.predict())
    _close(got["recent"], f.predict(y[:70]))


def _program_forecast(path, spec: dict, recent, index: int = 0) -> np.ndarray:
    """A pt2 program's forecast: the runtime's recipe around the program."""
    import torch

    from grukit.export import load_pt2
    from grukit.export.runtime import forecast_with

    run = load_pt2(path).module()
    return forecast_with(lambda x: run(torch.from_numpy(x)).detach().numpy(), spec,
                         spec["series"][index], recent, None)


@pytest.mark.parametrize("kind", ["recursive", "sequence-lookbacks", "direct-lookbacks",
                                  "hybrid-quantiles-ensemble"])
def test_pt2_program_forecasts_what_predict_does(kind, tmp_path):
    f, y = _fitted(kind)
    manifest = json.loads(export(f, tmp_path / "m.pt2", format="pt2").read_text())
    assert manifest["format"] == "grukit.pt2-manifest"
    spec = manifest["forecast"]
    assert spec["strategy"] == f.config.strategy and spec["lookbacks"] == f._lookbacks(12)
    _close(_program_forecast(tmp_path / "m.pt2", spec, y[:70]), f.predict(y[:70]))


def test_cli_exports_pt2_of_a_saved_sequence_ensemble(tmp_path, capsys):
    from grukit.cli import main

    f, y = _fitted("sequence-auto-ensemble")
    f.save(str(tmp_path / "model"))
    assert main(["export", str(tmp_path / "model"), "--format", "pt2"]) == 0
    assert "grukit.export.runtime.forecast_with" in capsys.readouterr().out  # not the program
    spec = json.loads((tmp_path / "model.pt2-manifest.json").read_text())["forecast"]
    _close(_program_forecast(tmp_path / "model.pt2", spec, y[:70]), f.predict(y[:70]))


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_int8_export_of_a_sequence_ensemble_stays_near_the_float_forecast(fmt, tmp_path):
    """int8 weights move the forecast a little (ONNX: the Dense heads in int8, the GRU
    operators float; pt2: every weight), and the manifest says so."""
    from grukit.export import relative_error
    from grukit.tasks.export import int8_estimator

    f, y = _fitted("sequence-lookbacks")
    manifest = json.loads(export(f, tmp_path / f"m.{fmt}", format=fmt, int8=True)
                          .read_text())
    if fmt == "onnx":
        assert manifest["int8"]["onnx_ops"] == {"MatMulInteger": 2}  # the two Dense heads
        got = Predictor(tmp_path / "m.onnx").forecast(y[:70])
    else:
        assert manifest["int8"] == {"weights": "per-row"}
        got = _program_forecast(tmp_path / "m.pt2", manifest["forecast"], y[:70])
        # the program is int8_estimator's networks (its int8 Dense: linear="grukit")
        _close(got, int8_estimator(f, linear="grukit").predict(y[:70]))
    assert relative_error(f.predict(y[:70]), got)["relative"] < 1e-2


def test_the_recommended_setting_on_co2_exports(tmp_path):
    """The untuned setting the docs recommend, on the built-in co2 series (its last ten
    years, a few epochs): the Predictor gives predict's forecasts from every origin."""
    pytest.importorskip("statsmodels")
    import torch

    from grukit.data.series import load_builtin
    from grukit.tasks.forecast import Forecaster

    y = load_builtin("co2").to_numpy()[-120:]
    torch.manual_seed(0)
    f = Forecaster(horizon=6, strategy="sequence", learning_rate=1e-3, differences="auto",
                   ensemble=3, epochs=2, hidden=4, lookback=24).fit(y[:-12], 12)
    export(f, tmp_path / "co2.onnx")
    p = Predictor(tmp_path / "co2.onnx")
    for end in range(len(y) - 12, len(y) + 1, 4):
        _close(p.forecast(y[:end]), f.predict(y[:end]))


@pytest.mark.parametrize("kind", ["direct-lookbacks", "sequence"])
def test_layernorm_gru_ensembles_export(kind, tmp_path):
    """The LayerNorm-GRU's Scan body reads its recurrent weights from the outer graph: each
    member's references are renamed with its weights in the combined graph."""
    import torch

    from grukit.tasks.forecast import Forecaster

    y = _series()
    torch.manual_seed(0)
    f = Forecaster(**(SMALL | KINDS[kind] | {"model": "lngru", "epochs": 1})).fit(y, 12)
    export(f, tmp_path / "m.onnx")
    p = Predictor(tmp_path / "m.onnx")
    _close(p.forecast(), f.predict())
    _close(p.forecast(y[:70]), f.predict(y[:70]))


def test_a_lookback_of_one_is_refused_as_pt2_in_one_sentence_and_exports_as_onnx(tmp_path):
    from grukit.tasks.forecast import Forecaster

    y = np.sin(np.arange(60) / 3.0)
    f = Forecaster(hidden=3, horizon=2, epochs=1, lookback=1).fit(y)
    with pytest.raises(ValueError, match=r"^format 'pt2' traces a time axis of 2 steps or "
                                         r"more, and this forecaster reads 1 value\(s\); "
                                         r"export it as ONNX"):
        export(f, tmp_path / "m.pt2", format="pt2")
    assert not (tmp_path / "m.pt2").exists()
    export(f, tmp_path / "m.onnx")

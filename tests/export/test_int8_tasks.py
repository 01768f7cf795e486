"""int8 on task models: the forecaster's MASE and a classifier's accuracy before and after
(``int8_estimator``) on real data, and ``grukit export --int8`` (ONNX through ONNX Runtime's
int8 operators, pt2 with every weight int8) against the float model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from grukit.cli import main
from grukit.export import int8_ops, load_pt2, relative_error
from grukit.tasks.export import int8_estimator


def _nile() -> np.ndarray:
    datasets = pytest.importorskip("statsmodels.datasets", reason="statsmodels is absent")
    try:
        return datasets.nile.load_pandas().data["volume"].to_numpy(np.float64)
    except Exception as e:  # a broken install without its bundled files
        pytest.skip(f"statsmodels' nile data set cannot be read: {e}")


@pytest.fixture(scope="module")
def forecaster():
    from grukit.tasks.forecast import Forecaster

    torch.manual_seed(0)
    return Forecaster(hidden=16, horizon=4, epochs=15).fit(_nile()[:80])


def _stream_forward(self, input, hx=None, *, lengths=None):
    """A recurrent module's forward, one sequence and one step at a time through its
    ``Int8Stream`` (int8 × int8): what a streaming deployment computes."""
    assert hx is None
    x = input if self.batch_first else input.transpose(0, 1)  # (B, T, I)
    y = torch.zeros(*x.shape[:2], self.hidden_size)  # (B, T, H)
    h_n = torch.zeros(self.num_layers, x.shape[0], self.hidden_size)  # (L, B, H)
    lens = [x.shape[1]] * x.shape[0] if lengths is None else [int(v) for v in lengths]
    xs = x.detach().to(torch.float32).numpy()
    s = self.w8a8_stream
    for b, n in enumerate(lens):
        s.reset()
        for t in range(n):
            y[b, t] = torch.from_numpy(s.step(np.ascontiguousarray(xs[b, t])))
        h_n[:, b] = s.state[:, 0]
    return (y if self.batch_first else y.transpose(0, 1)), h_n


def w8a8_estimator(est):
    """``int8_estimator(est)`` whose GRU layers run through ``Int8Stream(w8a8=True)``."""
    import types

    from grukit.nn.quantized import Int8Recurrent, Int8Stream

    q = int8_estimator(est)
    net = getattr(q, "net", None) or q.model
    grus = [m for m in net.modules() if isinstance(m, Int8Recurrent) and hasattr(m, "num_layers")]
    for m in grus:
        m.w8a8_stream = Int8Stream(m, w8a8=True)
        m.forward = types.MethodType(_stream_forward, m)
    assert grus
    return q


def _mase(f, series: np.ndarray) -> float:
    """Mean absolute error of forecasts from origins 80..96, over the in-sample naive MAE."""
    errs = [np.abs(f.predict(recent=series[:o]) - series[o:o + 4]).mean()
            for o in range(80, 97)]
    return float(np.mean(errs) / np.abs(np.diff(series[:80])).mean())


def test_forecaster_int8_mase_within_two_percent(forecaster, tmp_path):
    nile = _nile()
    q = int8_estimator(forecaster)
    assert type(q.net.stack[0].rnn).__name__ == "Int8GRU"
    assert type(forecaster.net.stack[0].rnn).__name__ == "GRU"  # the float model unchanged
    with pytest.raises(ValueError, match="holds int8 networks .* save the float model"):
        q.save(str(tmp_path / "q"))
    assert not (tmp_path / "q").exists()
    before, after = _mase(forecaster, nile), _mase(q, nile)
    stream = _mase(w8a8_estimator(forecaster), nile)
    print(f"nile MASE float {before:.4f} int8 {after:.4f} int8 x int8 stream {stream:.4f}")
    assert abs(after - before) / before < 0.02, (before, after)
    assert abs(stream - before) / before < 0.02, (before, stream)
    x = forecaster.inputs(nile[:80])
    report = relative_error(forecaster.net.predict(x), q.net.predict(x))
    assert 0 < report["relative"] < 0.01, report


def test_sequence_classifier_int8_accuracy_on_sunspot_windows():
    """Does the sunspot count rise after a window? (statsmodels' yearly sunspots)"""
    from grukit.tasks.classify import SequenceClassifier

    datasets = pytest.importorskip("statsmodels.datasets", reason="statsmodels is absent")
    spots = datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)
    rng = np.random.default_rng(0)
    starts = rng.integers(0, len(spots) - 30, 300)
    seqs = [np.stack([spots[s:s + n], np.diff(spots[s:s + n], prepend=spots[s])], 1)
            for s, n in zip(starts, rng.integers(8, 25, 300), strict=True)]
    labels = [int(spots[s + len(q)] > spots[s + len(q) - 1])
              for s, q in zip(starts, seqs, strict=True)]
    torch.manual_seed(0)
    clf = SequenceClassifier(model="gru", hidden=16, epochs=3, learning_rate=0.02,
                             validation_split=0).fit(seqs[:200], labels[:200])
    q = int8_estimator(clf)
    test, truth = seqs[200:], labels[200:]
    before = clf.evaluate(test, truth)["accuracy"]
    after = q.evaluate(test, truth)["accuracy"]
    stream = w8a8_estimator(clf).evaluate(test, truth)["accuracy"]
    print(f"sunspot-direction accuracy float {before:.3f} int8 {after:.3f} "
          f"int8 x int8 stream {stream:.3f}")
    assert before > 0.6  # the float model learned something the check can lose
    assert abs(after - before) <= 0.03, (before, after)  # at most 3 of 100 windows
    assert abs(stream - before) <= 0.03, (before, stream)
    report = relative_error(clf.predict_proba(test), q.predict_proba(test))
    assert 0 < report["relative"] < 0.02, report


def test_cli_int8_onnx_quantizes_what_onnx_runtime_can(forecaster, tmp_path, capsys):
    ort = pytest.importorskip("onnxruntime")
    forecaster.save(str(tmp_path / "nile"))
    assert main(["export", str(tmp_path / "nile"), "--output", str(tmp_path / "f.onnx")]) == 0
    assert main(["export", str(tmp_path / "nile"), "--int8", "--output",
                 str(tmp_path / "q.onnx")]) == 0
    manifest = json.loads((tmp_path / "q.manifest.json").read_text())
    assert manifest["int8"] == {"onnx_ops": {"MatMulInteger": 1}}  # the Dense head
    assert int8_ops(tmp_path / "f.onnx") == {}
    x = forecaster.inputs(_nile()[:80])
    y, yq = (ort.InferenceSession(str(tmp_path / n), providers=["CPUExecutionProvider"])
             .run(None, {"x": x})[0] for n in ("f.onnx", "q.onnx"))
    assert 0 < relative_error(y, yq)["relative"] < 0.02


def test_cli_int8_pt2_equals_the_int8_estimator(forecaster, tmp_path):
    forecaster.save(str(tmp_path / "nile"))
    assert main(["export", str(tmp_path / "nile"), "--format", "pt2", "--int8", "--output",
                 str(tmp_path / "q.pt2")]) == 0
    manifest = json.loads((tmp_path / "q.pt2-manifest.json").read_text())
    assert manifest["int8"] == {"weights": "per-row"}
    program = load_pt2(tmp_path / "q.pt2")
    int8_tensors = [k for k, v in {**program.state_dict, **program.constants}.items()
                    if isinstance(v, torch.Tensor) and v.dtype == torch.int8]
    assert len(int8_tensors) == 3, int8_tensors  # W_ih, W_hh and the Dense weight
    x = forecaster.inputs(_nile()[:80])
    q = int8_estimator(forecaster, linear="grukit")
    with torch.no_grad():
        got = program.module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, q.net.predict(x), atol=1e-5, rtol=0)


def test_int8_of_an_ensemble_quantizes_every_network_and_exports_them(tmp_path):
    from grukit.tasks.export import export
    from grukit.tasks.forecast import Forecaster

    f = Forecaster(hidden=4, horizon=2, epochs=1, ensemble=2).fit(_nile()[:60])
    q = int8_estimator(f)
    assert [type(n.stack[0].rnn).__name__ for n in q.nets] == ["Int8GRU", "Int8GRU"]
    assert [type(n.stack[0].rnn).__name__ for n in f.nets] == ["GRU", "GRU"]
    # the program holds both networks in int8 and their median (served.Served)
    from grukit.export.runtime import forecast_with

    spec = json.loads(export(f, tmp_path / "e.pt2", format="pt2", int8=True).read_text())
    run = load_pt2(tmp_path / "e.pt2").module()
    got = forecast_with(lambda x: run(torch.from_numpy(x)).detach().numpy(), spec["forecast"],
                        spec["forecast"]["series"][0], f.last[0], None)
    want = int8_estimator(f, linear="grukit").predict()  # the export's int8 Dense
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)


def test_int8_estimator_takes_a_speech_classifier():
    """A SpeechClassifier is a SequenceClassifier: int8_estimator quantizes its network."""
    from grukit.tasks.speech.estimator import SpeechClassifier

    rng = np.random.default_rng(0)
    t = np.arange(2000) / 8000
    waves = [np.sin(2 * np.pi * f * t).astype(np.float32) + 0.01 * rng.standard_normal(2000)
             .astype(np.float32) for f in (300, 320, 1200, 1250) * 3]
    labels = ["low", "low", "high", "high"] * 3
    torch.manual_seed(0)
    clf = SpeechClassifier(model="gru", hidden=8, epochs=2, validation_split=0,
                           spec_augment=False).fit(waves, labels)
    q = int8_estimator(clf)
    assert any(type(m).__name__ == "Int8GRU" for m in q.model.modules())
    assert not any(type(m).__name__ == "Int8GRU" for m in clf.model.modules())
    report = relative_error(clf.predict_proba(waves), q.predict_proba(waves))
    assert 0 < report["relative"] < 0.02, report


def test_int8_estimator_update_leaves_the_float_forecaster_unchanged():
    """update on the int8 copy appends to its own recent values and time stamp, not to those
    of the forecaster it was copied from."""
    import pandas as pd

    from grukit.tasks.forecast import Forecaster

    torch.manual_seed(0)
    t = np.arange(60)
    y = pd.Series(100 + 10 * np.sin(t / 5), index=pd.date_range("2020-01-01", periods=60,
                                                                freq="D"))
    est = Forecaster(hidden=4, horizon=2, epochs=1, lookback=6).fit(y)
    before, last, end = est.predict(), est.last[0].copy(), est.future_index()[0]
    q = int8_estimator(est)
    q.update(5000.0)
    assert q.last[0][-1] == 5000.0
    np.testing.assert_array_equal(est.last[0], last)
    np.testing.assert_array_equal(est.predict(), before)
    assert est.future_index()[0] == end

"""``torch.export`` to a .pt2 file (``grukit.export.to_pt2``, ``grukit export --format pt2``):
the program, loaded back with ``torch.export.load`` (through ``load_pt2``), equals eager at
other batch sizes and time lengths, within float32 tolerance."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from grukit import nn as gnn
from grukit.export import load_pt2, to_pt2
from grukit.tasks.export import beside, export

TOL = {"atol": 1e-5, "rtol": 1e-5}  # float32


def _nile() -> np.ndarray:
    datasets = pytest.importorskip("statsmodels.datasets", reason="statsmodels is absent")
    try:
        return datasets.nile.load_pandas().data["volume"].to_numpy(np.float64)
    except Exception as e:  # a broken install without its bundled files
        pytest.skip(f"statsmodels' nile data set cannot be read: {e}")


@pytest.fixture(scope="module")
def forecaster():
    from grukit.tasks.forecast import Forecaster

    return Forecaster(hidden=6, layers=2, horizon=3, epochs=2).fit(_nile()[:80])


@pytest.mark.parametrize("cell", ["gru", "gru_reset_before", "lstm"])
def test_module_program_equals_eager_at_other_batch_and_time(cell, tmp_path):
    torch.manual_seed(0)
    if cell == "lstm":
        m = gnn.LSTM(3, 8, num_layers=2, batch_first=True, backend="cpu")
    else:
        m = gnn.GRU(3, 8, batch_first=True, reset_after=cell == "gru", backend="cpu")
    path = to_pt2(m, tmp_path / "m.pt2", example=torch.randn(1, 7, 3))
    run = load_pt2(path).module()
    for batch, steps in ((1, 5), (4, 31)):
        x = torch.randn(batch, steps, 3)
        with torch.no_grad():
            got, want = run(x), m(x)
        torch.testing.assert_close(got[0], want[0], **TOL)


def test_forecaster_pt2_equals_predict_and_manifest_names_it(forecaster, tmp_path):
    f = forecaster
    manifest = json.loads(export(f, tmp_path / "nile.pt2", format="pt2").read_text())
    assert manifest["format"] == "grukit.pt2-manifest" and manifest["model"] == "nile.pt2"
    assert manifest["inputs"] == [{"name": "x", "dtype": "float32",
                                   "shape": ["batch", "time", 2]}]
    assert manifest["forecast"]["horizon"] == 3
    run = load_pt2(tmp_path / "nile.pt2").module()
    x = np.concatenate([f.inputs(f.last[0]), f.inputs(f.last[0] * 0.9)])  # (2, lookback, 2)
    with torch.no_grad():
        got = run(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, f.net.predict(x), **TOL)


def test_forecaster_with_covariates_exports_to_pt2(tmp_path):
    """Its example batch carries the covariates' last rows (the export refused the model,
    asking for covariates it cannot be given)."""
    from grukit.tasks.forecast import Forecaster

    t = np.arange(60)
    cov = np.stack([np.sin(t / 3), t / 100.0], 1)  # (T, 2)
    f = Forecaster(hidden=3, horizon=2, epochs=1, lookback=6).fit(10 + np.sin(t / 5),
                                                                  covariates=cov)
    manifest = json.loads(export(f, tmp_path / "c.pt2", format="pt2").read_text())
    assert manifest["inputs"][0]["shape"] == ["batch", "time", 4]
    assert manifest["forecast"]["covariates"] == 2
    x = np.concatenate([f.inputs(f.last[0], f.last_cov[0]),
                        f.inputs(f.last[0] * 0.9, f.last_cov[0] + 1)])  # (2, lookback, 4)
    with torch.no_grad():
        got = load_pt2(tmp_path / "c.pt2").module()(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, f.net.predict(x), **TOL)


def test_sequence_classifier_pt2_equals_its_network(tmp_path):
    from grukit.tasks.classify import SequenceClassifier

    rng = np.random.default_rng(0)
    seqs = [rng.normal(size=(int(n), 2)) for n in rng.integers(4, 12, 24)]
    labels = [int(s[:, 0].mean() > 0) for s in seqs]
    clf = SequenceClassifier(model="gru", hidden=5, epochs=1, validation_split=0).fit(seqs,
                                                                                    labels)
    export(clf, tmp_path / "s.pt2", format="pt2")
    assert json.loads(beside(tmp_path / "s.pt2", "pt2-manifest").read_text())["channels"] == 2
    run = load_pt2(tmp_path / "s.pt2").module()
    x = torch.randn(3, 9, 3)
    x[..., -1] = 1.0  # validity flag
    clf.model.eval()
    with torch.no_grad():
        torch.testing.assert_close(run(x), clf.model(x), **TOL)


def test_program_loads_in_a_fresh_process_through_load_pt2(forecaster, tmp_path):
    f = forecaster
    export(f, tmp_path / "nile.pt2", format="pt2")
    x = f.inputs(f.last[0])
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import numpy as np, torch
        from grukit.export import load_pt2
        run = load_pt2({str(tmp_path / 'nile.pt2')!r}).module()
        with torch.no_grad():
            y = run(torch.from_numpy(np.load({str(tmp_path / 'x.npy')!r})))
        np.save({str(tmp_path / 'y.npy')!r}, y.numpy())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), f.net.predict(x), **TOL)


def test_bad_input_one_sentence(tmp_path):
    m = gnn.GRU(3, 4, batch_first=True)
    with pytest.raises(TypeError, match="example must be a torch.Tensor"):
        to_pt2(m, tmp_path / "m.pt2", example=np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="at least 2 steps"):
        to_pt2(m, tmp_path / "m.pt2", example=torch.zeros(2, 1, 3))
    with pytest.raises(TypeError, match="exports a torch.nn.Module"):
        to_pt2("model", tmp_path / "m.pt2", example=torch.zeros(2, 5, 3))
    with pytest.raises(OSError, match="is a folder"):
        to_pt2(m, tmp_path, example=torch.zeros(2, 5, 3))
    with pytest.raises(FileNotFoundError, match="no file .*grukit export --format pt2"):
        load_pt2(tmp_path / "absent.pt2")
    with pytest.raises(TypeError, match="a str has no export yet, neither 'pt2' nor 'onnx'"):
        export("model", tmp_path / "m.pt2", format="pt2")
    assert not list(tmp_path.iterdir())


def test_a_file_that_is_no_program_is_refused_by_load_pt2_in_one_sentence(tmp_path):
    """An ONNX graph named *.pt2, an empty file or a torch.save checkpoint ended in
    zipfile's BadZipFile or torch's 'error when deserializing' traceback."""
    (tmp_path / "empty.pt2").write_bytes(b"")
    (tmp_path / "text.pt2").write_text("not a program")
    torch.save({"w": torch.ones(2)}, tmp_path / "checkpoint.pt2")
    for name in ("empty.pt2", "text.pt2", "checkpoint.pt2"):
        with pytest.raises(ValueError) as e:
            load_pt2(tmp_path / name)
        msg = str(e.value)
        assert msg.startswith(f"load_pt2: {str(tmp_path / name)!r} is not a torch.export "
                              f"program (") and "\n" not in msg, msg


def test_text_classifier_pt2_equals_predict_proba_on_padded_sentences(tmp_path):
    from conftest import SHARED_DATA
    from grukit.tasks.classify import TextClassifier

    path = SHARED_DATA / "text" / "amazon_cells_labelled.txt"
    if not path.is_file():
        pytest.skip(f"{path} is absent; set GRUKIT_SHARED_DATA to the shared data folder")
    rows = [line.rsplit("\t", 1) for line in path.read_text(encoding="utf-8").splitlines()
            if "\t" in line][:120]
    texts, labels = [t for t, _ in rows], [y.strip() for _, y in rows]
    clf = TextClassifier(model="bigru", embed_dim=8, hidden=6, epochs=1, vocab_size=300,
                         validation_split=0).fit(texts[:100], labels[:100])
    export(clf, tmp_path / "t.pt2", format="pt2")
    assert beside(tmp_path / "t.pt2", "tokenizer").is_file()
    run = load_pt2(tmp_path / "t.pt2").module()
    test = texts[100:]  # lengths differ: padded batches, the GRUs read each its own length
    ids = clf.tokenizer_.encode(test, clf.config.max_len)
    x = torch.zeros(len(ids), max(len(a) for a in ids), dtype=torch.long)
    for i, a in enumerate(ids):
        x[i, :len(a)] = torch.from_numpy(a)
    with torch.no_grad():
        got = run(x).numpy()
    np.testing.assert_allclose(got, clf.predict_proba(test), **TOL)


def test_a_model_export_cannot_trace_gets_one_sentence(tmp_path):
    class HostRead(torch.nn.Module):  # reads a tensor's value on the host: data-dependent
        def __init__(self):
            super().__init__()
            self.gru = gnn.GRU(3, 4, batch_first=True)

        def forward(self, x):
            if int(x.abs().max() * 100) > 5:
                x = x * 2
            return self.gru(x)[0]

    with pytest.raises(ValueError, match=r"torch.export cannot trace this HostRead .*"
                                         r"data-dependent.*; export it as ONNX"):
        to_pt2(HostRead(), tmp_path / "m.pt2", torch.randn(2, 5, 3))
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("make", [
    lambda: gnn.LSTM(3, 5, batch_first=True),  # "auto": torch's LSTM at a batch above one
    lambda: gnn.GRU(3, 5, batch_first=True, backend="torch"),
    lambda: gnn.MinGRU(3, 5, batch_first=True),
], ids=["lstm-auto", "gru-torch", "mingru"])
def test_gru_lstm_and_mingru_trace_over_a_dynamic_time_whatever_their_backend(make, tmp_path):
    """A GRU or LSTM traces through its fused CPU custom op (its own backend is restored
    after); the program equals eager at other batch sizes and time lengths."""
    torch.manual_seed(0)
    m = make()
    backend = m.backend
    run = load_pt2(to_pt2(m, tmp_path / "m.pt2", example=torch.randn(2, 6, 3))).module()
    assert m.backend == backend
    for batch, steps in ((1, 3), (5, 11)):
        x = torch.randn(batch, steps, 3)
        with torch.no_grad():
            torch.testing.assert_close(run(x)[0], m(x)[0], **TOL)


def test_a_gru_d_is_refused_without_pointing_at_an_onnx_export_it_has_not(tmp_path):
    """to_pt2 told a GRU-D's user to export it as ONNX, which refuses it too."""
    from grukit.export import to_onnx

    m = gnn.GRUD(3, 5, batch_first=True)
    with pytest.raises(ValueError, match="has no ONNX operator"):
        to_onnx(m, tmp_path / "m.onnx")
    with pytest.raises(ValueError) as e:
        to_pt2(m, tmp_path / "m.pt2", example=torch.randn(2, 6, 9))
    msg = str(e.value)
    assert "\n" not in msg and "as ONNX" not in msg, msg
    assert "this GRUD (" in msg and "no ONNX form either" in msg, msg
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("make", [
    lambda: gnn.RNN(3, 5, batch_first=True),
    lambda: gnn.LayerNormGRU(3, 5, batch_first=True),
    lambda: gnn.LSTM(3, 5, proj_size=2, batch_first=True),
    lambda: gnn.MinGRU(3, 5, batch_first=True, mode="sequential"),
], ids=["rnn", "lngru", "lstm-proj", "mingru-sequential"])
def test_cells_without_a_traceable_path_are_refused_in_one_sentence(make, tmp_path):
    from grukit.layers import Dense, Layer
    from grukit.models import Sequential

    m = make()
    with pytest.raises(ValueError) as e:
        to_pt2(m, tmp_path / "m.pt2", example=torch.randn(2, 6, 3))
    msg = str(e.value)
    assert "\n" not in msg and msg.endswith("(to_onnx, --format onnx)."), msg
    assert f"this {type(m).__name__} (" in msg and "the GRU, the LSTM without projection" in msg

    class Wrap(Layer):  # a Sequential holding it is refused the same way
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    seq = Sequential([Wrap(m), Dense(1)])
    with pytest.raises(ValueError, match=f"this {type(m).__name__} "):
        to_pt2(seq, tmp_path / "s.pt2", example=torch.randn(2, 6, 3))
    assert not list(tmp_path.iterdir())


def test_lstm_forecaster_exports_to_pt2_and_an_rnn_forecaster_is_refused(tmp_path):
    from grukit.tasks.forecast import Forecaster

    y = 10 + np.sin(np.arange(60) / 5)
    torch.manual_seed(0)
    f = Forecaster(model="lstm", hidden=4, horizon=2, epochs=1, lookback=6).fit(y)
    export(f, tmp_path / "lstm.pt2", format="pt2")
    x = torch.from_numpy(f.inputs(f.last[0])).expand(3, -1, -1).contiguous()
    with torch.no_grad():
        got = load_pt2(tmp_path / "lstm.pt2").module()(x)
    np.testing.assert_allclose(got.numpy(), f.net.predict(x.numpy()), **TOL)
    r = Forecaster(model="rnn", hidden=4, horizon=2, epochs=1, lookback=6).fit(y)
    with pytest.raises(ValueError, match="this RNN .*export this model as ONNX"):
        export(r, tmp_path / "rnn.pt2", format="pt2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lstm.pt2", "lstm.pt2-manifest.json"]


def test_time_major_module_takes_a_time_major_example_of_batch_one(tmp_path):
    """example (T, B, I) for a module with batch_first=False: a batch of one is widened
    along its batch axis, and the program takes other times and batches."""
    torch.manual_seed(0)
    m = gnn.GRU(3, 4)
    run = load_pt2(to_pt2(m, tmp_path / "m.pt2", example=torch.randn(6, 1, 3))).module()
    for steps, batch in ((1, 1), (9, 3)):
        x = torch.randn(steps, batch, 3)
        with torch.no_grad():
            got, want = run(x), m(x)
        torch.testing.assert_close(got[0], want[0], **TOL)
        torch.testing.assert_close(got[1], want[1], **TOL)
    with pytest.raises(ValueError, match=r"at least 2 steps, shape \(time, batch, ...\)"):
        to_pt2(m, tmp_path / "n.pt2", example=torch.randn(1, 4, 3))


@pytest.mark.parametrize("where", ["mkstemp", "save"])
def test_a_folder_that_cannot_be_written_gets_one_sentence_naming_the_path(where, tmp_path,
                                                                          monkeypatch):
    """What the OS refuses (a root-owned folder, a full disk: simulated here, since root may
    write anywhere) is named by the file asked for, not by the temporary file."""
    import tempfile

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".m.pt2.x.tmp.pt2"))

    if where == "mkstemp":
        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    else:
        monkeypatch.setattr(torch.export, "save", refuse)
    m = gnn.GRU(3, 4, batch_first=True)
    with pytest.raises(OSError) as e:
        to_pt2(m, tmp_path / "m.pt2", example=torch.randn(2, 5, 3))
    msg = str(e.value)
    assert msg == (f"to_pt2: cannot write {str(tmp_path / 'm.pt2')!r} (Permission denied); "
                   f"choose a path in a folder you can write to, with space left."), msg
    assert not list(tmp_path.iterdir())


def test_pt2_and_onnx_refusals_agree_on_what_a_model_has():
    """A TextGenerator has neither export; a GRU4Rec has ONNX only: each format's refusal
    says so."""
    from grukit.tasks.generate import TextGenerator
    from grukit.tasks.recommend import GRU4Rec

    for fmt in ("pt2", "onnx"):
        with pytest.raises(TypeError) as e:
            export(TextGenerator(), "g." + fmt, format=fmt)
        assert "a TextGenerator has no" in str(e.value) and "exports with" not in str(e.value)
    with pytest.raises(TypeError, match="a GRU4Rec exports with format 'onnx'"):
        export(GRU4Rec(), "r.pt2", format="pt2")


def test_a_static_program_takes_the_shape_of_its_example(tmp_path):
    """dynamic=False with an example of batch 1 widened it to 2 all the same, so the
    program refused the example itself (guard input.size()[0] == 2); a static one-step
    example was refused for want of 2 steps, which only a dynamic time needs."""
    torch.manual_seed(0)
    m = gnn.GRU(3, 4, batch_first=True, backend="cpu")
    for shape in ((1, 5, 3), (3, 1, 3)):
        x = torch.randn(shape)
        run = load_pt2(to_pt2(m, tmp_path / "m.pt2", example=x, dynamic=False)).module()
        with torch.no_grad():
            got, want = run(x), m(x)
        torch.testing.assert_close(got[0], want[0], **TOL)
        torch.testing.assert_close(got[1], want[1], **TOL)

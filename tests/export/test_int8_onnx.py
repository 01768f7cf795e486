"""ONNX int8 (``to_onnx(..., int8=True)``, ONNX Runtime's dynamic quantization): the int8
graph stays within a percent of the float model where the activations fill the uint8 range
and the weights the int8 range, the case where ONNX Runtime's u8s8 products saturate on
AVX2 processors without VNNI (two products of 255 · 127 overflow int16)."""

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

from grukit.export import to_onnx  # noqa: E402
from grukit.layers import GRU, Dense  # noqa: E402
from grukit.models import Sequential  # noqa: E402


def test_int8_dense_head_does_not_saturate(tmp_path):
    model = Sequential([Dense(4, input_shape=(64,)), Dense(1)])
    model.build()
    with torch.no_grad():
        first = model.layers[0].linear
        first.weight.copy_(torch.eye(4, 64))
        first.bias.zero_()
        head = model.layers[1].linear
        head.weight.fill_(0.3)
        head.bias.zero_()
    x = np.full((8, 64), 0.95, np.float32)
    x[:, 0] = -1.0  # the range [-1, 1]: 0.95 quantizes to 250 of 255
    model.eval()
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    path = to_onnx(model, tmp_path / "m8.onnx", int8=True)
    got = ort.InferenceSession(str(path)).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, want, rtol=0.01, atol=0.01 * np.abs(want).max())


def test_int8_article_model_within_a_percent(tmp_path):
    torch.manual_seed(0)
    model = Sequential([GRU(64, input_shape=(20, 1)), Dense(1)])
    model.build()
    model.eval()
    x = np.sin(np.linspace(0, 12, 20 * 16, dtype=np.float32)).reshape(16, 20, 1)
    with torch.no_grad():
        want = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(to_onnx(model, tmp_path / "a8.onnx", int8=True))).run(
        None, {"input": x})[0]
    assert np.abs(got - want).max() <= 0.01 * max(1.0, float(np.abs(want).max()))


def test_a_file_that_is_no_onnx_model_is_refused_in_one_sentence(tmp_path):
    """quantize_onnx and int8_ops failed inside protobuf (DecodeError, a text-format
    ParseError for a .json file) or, for an empty file, inside ONNX Runtime's quantizer."""
    from grukit.export import int8_ops, quantize_onnx

    files = {"junk.onnx": b"not a graph\n", "empty.onnx": b"",
             "manifest.json": b'{"format": "grukit.onnx-manifest"}'}
    for name, body in files.items():
        (tmp_path / name).write_bytes(body)
        for call in (lambda p: quantize_onnx(p, tmp_path / "q.onnx"), int8_ops):
            with pytest.raises(ValueError) as e:
                call(tmp_path / name)
            msg = str(e.value)
            assert "\n" not in msg and f"{name}' is not an ONNX model" in msg, msg
        assert not (tmp_path / "q.onnx").exists()


def test_int8_that_quantizes_nothing_says_so(tmp_path):
    """to_onnx(gru, int8=True) wrote the float32 graph without a word: ONNX Runtime has no
    int8 GRU or RNN, and a module without a Dense has nothing else to quantize."""
    import warnings

    import grukit.nn as gnn

    for module in (gnn.GRU(3, 4), gnn.RNN(3, 4)):
        with pytest.warns(UserWarning, match="int8=True quantized nothing"):
            to_onnx(module, tmp_path / "g.onnx", int8=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an LSTM and a Dense have int8 operators
        to_onnx(gnn.LSTM(3, 4), tmp_path / "l.onnx", int8=True)
        model = Sequential([GRU(4, input_shape=(None, 3)), Dense(1)])
        model.build()
        to_onnx(model, tmp_path / "s.onnx", int8=True)


def test_int8_export_leaves_the_root_logger_as_it_was(tmp_path):
    """ONNX Runtime's quantizer warned through the root logger on every export (nothing a
    user can act on) and gave it a stderr handler of its own, changing how the program
    logged from then on. Run in a process of its own: pytest's log capture gives the root
    logger handlers, which would hide the one the quantizer adds."""
    import subprocess
    import sys

    code = (
        "import logging, torch\n"
        "from grukit.export import to_onnx\n"
        "from grukit.layers import GRU, Dense\n"
        "from grukit.models import Sequential\n"
        "torch.manual_seed(0)\n"
        "m = Sequential([GRU(8, input_shape=(5, 1)), Dense(1)])\n"
        "m.build()\n"
        f"to_onnx(m.eval(), {str(tmp_path / 'q.onnx')!r}, int8=True)\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), len(root.filters))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["0", "0"]
    assert "WARNING:root" not in run.stderr and "onnxruntime" not in run.stderr

"""int8 for exported models: ONNX files through ONNX Runtime's dynamic quantization, and
how far a quantized model's outputs move from the float model's.

``quantize_onnx(src, dst)`` rewrites an ONNX file with int8 weights, per output channel
(``onnxruntime.quantization.quantize_dynamic``, ``QInt8``; the library that runs the graph
knows best which of its operators have int8 kernels, so grukit does not rewrite the graph
itself): MatMul/Gemm (Dense heads, a Scan cell's products) become ``MatMulInteger`` with
their input quantized per call, an LSTM becomes ``DynamicQuantizeLSTM``. The weights take 7
bits (``reduce_range``): on x86 processors without VNNI (AVX2, most AVX-512 before 2019)
ONNX Runtime multiplies uint8 inputs by int8 weights in pairs summed in int16, which
overflows with full-range values (2 · 255 · 127 > 32767) and moved the article's model's
output by 20%; with 7-bit weights it cannot (2 · 255 · 63 < 32767). ONNX Runtime has
no int8 GRU (onnxruntime#9796): a ``GRU`` node stays float32, and for the GRU's own weights
in int8 use ``grukit.nn.quantized`` (torch, or ``to_pt2`` of its result).

``relative_error(reference, approx)`` measures what int8 costs, as the tests and the
deployment guide report it: ‖a − r‖ / ‖r‖ and the largest absolute difference
(``grukit export --int8`` does not measure it; compare the float and int8 outputs with it,
or a task model's ``evaluate`` against ``int8_estimator``'s, before deploying). On random
input the recurrent layers of ``quantize_int8`` move by about 0.1–0.5% (GRU, LSTM, RNN,
minGRU) and 0.6–1.1% for the LayerNorm-GRU, whose trained forecaster's output moved by
1.5%: see docs/applications/deployment.md.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .._io import atomic_write

# ops that ONNX Runtime's dynamic quantization turns into int8 ones (its registry, 1.2x)
INT8_OPS = {"MatMulInteger", "DynamicQuantizeLSTM", "DynamicQuantizeMatMul",
            "ConvInteger", "QAttention", "QGemm"}


def quantize_onnx(src, dst=None, *, per_channel: bool = True) -> Path:
    """Write ``src`` (an ONNX file) with int8 weights at ``dst`` (default: ``src`` itself,
    replaced atomically); returns ``dst``."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as e:
        raise ImportError("int8 ONNX export needs onnxruntime (pip install "
                          "'grukit[onnx]').") from e
    src = Path(src)
    if not src.is_file():
        raise FileNotFoundError(f"quantize_onnx: no ONNX file {str(src)!r}.")
    dst = src if dst is None else Path(dst)
    skip = _vector_products(src)
    with _quiet_quantizer():
        atomic_write(str(dst), lambda tmp: quantize_dynamic(  # the mode open() would give
            str(src), tmp, weight_type=QuantType.QInt8, per_channel=per_channel,
            reduce_range=True, nodes_to_exclude=skip))
    return dst


class _quiet_quantizer:
    """ONNX Runtime's quantizer logs through the root logger ("Please consider to run
    pre-processing before quantization", "Inference failed or unsupported type to quantize
    for tensor ..."): nothing a user of ``grukit export --int8`` can act on, printed on
    every export, and its first ``logging.warning`` gives the root logger a stderr handler
    of its own (``logging.basicConfig``), which changes how the user's program logs from
    then on. Within: the quantizer's records dropped, any handler it added removed."""

    def __enter__(self):
        self.root = logging.getLogger()
        self.handlers = list(self.root.handlers)
        self.root.addFilter(self._drop)
        return self

    @staticmethod
    def _drop(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname.replace("\\", "/").split("/")

    def __exit__(self, *exc):
        self.root.removeFilter(self._drop)
        for h in list(self.root.handlers):
            if h not in self.handlers:
                self.root.removeHandler(h)
        return False


def _graph(path, what: str):
    """The graph of the ONNX file at ``path``; one sentence when it holds none."""
    import onnx

    try:  # protobuf's DecodeError, text_format's ParseError (a .json name), ...
        model = onnx.load(str(path), load_external_data=False)
    except Exception as err:  # each parser raises its own
        model, why = None, " ".join(str(err).split())[:120]
    else:
        why = "it holds no graph"
    if model is None or not model.graph.node:
        raise ValueError(f"{what}: {str(path)!r} is not an ONNX model ({why}); give a file "
                         f"that to_onnx or grukit export wrote.")
    return model.graph


def _vector_products(path) -> list[str]:
    """The MatMul nodes whose weight is a vector (attention pooling's v, (H,)): ONNX Runtime
    quantizes them per channel with a zero point its kernel then refuses at run time, and
    an int8 vector saves nothing."""
    graph = _graph(path, "quantize_onnx")
    dims = {t.name: len(t.dims) for t in graph.initializer}
    return [n.name for n in graph.node
            if n.op_type == "MatMul" and len(n.input) > 1 and dims.get(n.input[1], 2) < 2]


def int8_ops(path) -> dict[str, int]:
    """How many nodes of each int8 operator the ONNX file at ``path`` holds (an empty dict:
    nothing was quantized)."""
    graph = _graph(path, "int8_ops")
    counts: dict[str, int] = {}
    for node in graph.node:
        if node.op_type in INT8_OPS:
            counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def relative_error(reference, approx) -> dict[str, float]:
    """{"relative": ‖approx − reference‖₂ / ‖reference‖₂, "max_abs": max |approx −
    reference|} over every element (arrays or tensors of one shape). Elements equal in both
    (NaN where both are NaN, an Inf of one sign in both) differ by 0; a NaN or Inf in one
    only differs by Inf, so both figures are Inf, never NaN (a NaN passes ``> tol`` checks);
    against an all-zero reference, "relative" is 0 for equal outputs, else Inf."""
    r = np.asarray(reference, np.float64)
    a = np.asarray(approx, np.float64)
    if r.shape != a.shape:
        raise ValueError(f"relative_error: the outputs differ in shape, {r.shape} and "
                         f"{a.shape}; compare outputs of the same input.")
    with np.errstate(invalid="ignore", over="ignore"):
        same = (a == r) | (np.isnan(a) & np.isnan(r))
        diff = np.where(same, 0.0, np.abs(a - r))
    diff = np.where(np.isfinite(diff), diff, np.inf)
    num = float(np.linalg.norm(diff))
    norm = float(np.linalg.norm(np.where(np.isfinite(r), r, 0.0)))
    return {"relative": num / norm if norm else (0.0 if num == 0 else float("inf")),
            "max_abs": float(diff.max()) if diff.size else 0.0}


__all__ = ["int8_ops", "quantize_onnx", "relative_error"]

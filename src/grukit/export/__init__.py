"""Deployment: ONNX (``to_onnx``), ``torch.export`` (``to_pt2``) and int8 weights
(``quantize_int8``) of ``grukit.nn`` modules and ``grukit.models.Sequential`` models.

Names load on first use (PEP 562), so ``grukit.export.runtime`` (the ``Predictor``, which
serves an exported model with onnxruntime and numpy only) imports without torch::

    from grukit.export import to_onnx          # .onnx_file  (needs torch and onnx)
    from grukit.export import to_pt2, load_pt2 # .pt2        (needs torch)
    from grukit.export import quantize_int8    # grukit.nn.quantized: int8 weights
    from grukit.export import quantize_onnx    # .int8: an ONNX file's weights in int8
    from grukit.export.runtime import Predictor  # onnxruntime + numpy
"""

from __future__ import annotations

import importlib

_WHERE = {"build_onnx": "onnx_file", "save_onnx": "onnx_file", "to_onnx": "onnx_file",
          "export_program": "pt2", "load_pt2": "pt2", "save_pt2": "pt2", "to_pt2": "pt2",
          "int8_ops": "int8", "quantize_onnx": "int8", "relative_error": "int8",
          "quantize_int8": "grukit.nn.quantized"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = where if "." in where else f"{__name__}.{where}"
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))

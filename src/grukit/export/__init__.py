"""Deployment: ONNX (``to_onnx``), ``torch.export`` (``to_pt2``) and int8 weights
(``quantize_int8``) of ``grukit.nn`` modules and ``grukit.models.Sequential`` models.

Names load on first use (PEP 562), so ``grukit.export.runtime`` (the ``Predictor``, which
serves an exported model with onnxruntime and numpy only) imports without torch::

    from grukit.export import to_onnx          # .onnx_file  (needs torch and onnx)
    from grukit.export import to_pt2, load_pt2 # .pt2        (needs torch)
    from grukit.export.runtime import Predictor  # onnxruntime + numpy
"""

from __future__ import annotations

import importlib

_WHERE = {"build_onnx": "onnx_file", "save_onnx": "onnx_file", "to_onnx": "onnx_file",
          "export_program": "pt2", "load_pt2": "pt2", "save_pt2": "pt2", "to_pt2": "pt2"}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{where}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))

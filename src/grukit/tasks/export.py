"""Export a trained task model for serving: its ONNX graph and a JSON manifest beside it.

``export(estimator, path)`` calls the estimator's own ``export_onnx(path)`` and writes
``<stem>.manifest.json`` next to ``path``: what ``grukit.export.runtime.Predictor`` (which
needs only onnxruntime and numpy) reads to turn raw input into the graph's input and the
graph's output into predictions::

    {"format": "grukit.onnx-manifest", "format_version": 1, "grukit": version,
     "task": "Forecaster" | "TextClassifier" | "SequenceClassifier" | "GRU4Rec",
     "model": "<file>.onnx",
     "inputs": [{"name", "dtype", "shape"}], "outputs": [{"name", "dtype", "shape"}],
     ...  the task's block (below)}

    Forecaster          "forecast": lookback, horizon, covariates, per-series scaling
                        (scale, mean, std, cmean, cstd) and recent values
    TextClassifier      "classes", "max_len", "tokenizer": "<stem>.tokenizer.json"
                        (Hugging Face ``tokenizers`` JSON, id 0 padding, 1 unknown)
    SequenceClassifier  "classes", "channels", "mean", "std" (per-channel scaling)
    GRU4Rec             "items": {"type": "int" | "str", "ids"}, "layers", "hidden"

Shapes name their dynamic axes ("batch", "time"). ``format="pt2"`` (``torch.export``) is not
written yet.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np

FORMAT = "grukit.onnx-manifest"
FORMAT_VERSION = 1
FORMATS = ("onnx", "pt2")


def beside(path, what: str) -> Path:
    """The file ``<stem>.<what>.json`` next to ``path`` (manifest, tokenizer, ...)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.{what}.json")


def write_json(path, body) -> Path:
    """Write ``body`` as JSON at ``path`` atomically (a temporary file, then a rename)."""
    return write_text(path, json.dumps(body, indent=1, allow_nan=False))


def write_text(path, text: str) -> Path:
    """Write ``text`` at ``path`` atomically (a temporary file, then a rename)."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def _io(values) -> list[dict]:
    from onnx import TensorProto

    out = []
    for v in values:
        t = v.type.tensor_type
        shape = [d.dim_param if d.dim_param else int(d.dim_value) for d in t.shape.dim]
        out.append({"name": v.name, "dtype": TensorProto.DataType.Name(t.elem_type).lower(),
                    "shape": shape})
    return out


def _floats(a) -> list:
    return np.asarray(a, np.float64).tolist()


def classes_json(classes: np.ndarray) -> dict:
    """Class labels as JSON with their numpy dtype: ``{"dtype", "values"}``."""
    return {"dtype": classes.dtype.str, "values": classes.tolist()}


def _task_block(est, path: Path) -> dict:
    name = type(est).__name__
    if name == "Forecaster":
        n_cov = int(est.n_cov)
        series = [{"scale": s.scale, "mean": s.mean, "std": s.std, "cmean": _floats(s.cmean),
                   "cstd": _floats(s.cstd), "recent": _floats(est.last[i]),
                   "recent_covariates": None if est.last_cov is None
                   else _floats(est.last_cov[i])}
                  for i, s in enumerate(est.stats)]
        return {"forecast": {"lookback": int(est._lookback(est.season)),
                             "horizon": int(est.config.horizon), "covariates": n_cov,
                             "single": bool(est.single), "series": series}}
    if name == "TextClassifier":
        return {"classes": classes_json(est.classes_), "max_len": int(est.config.max_len),
                "tokenizer": beside(path, "tokenizer").name}
    if name == "SequenceClassifier":
        return {"classes": classes_json(est.classes_), "channels": int(est.channels_),
                "mean": _floats(est.mean_), "std": _floats(est.std_)}
    if name == "GRU4Rec":
        return {"items": {"type": est.items_.kind, "ids": est.items_.ids.tolist()},
                "layers": int(est.config.layers), "hidden": int(est.config.hidden)}
    raise TypeError(f"export covers the Forecaster, TextClassifier, SequenceClassifier and "
                    f"GRU4Rec; a {name} has no ONNX export yet.")


def export(est, path, format: str = "onnx") -> Path:
    """Write ``est``'s ONNX graph at ``path`` and its manifest beside it (``beside(path,
    "manifest")``, returned). ``est``: a fitted task model."""
    import onnx

    from .. import __version__

    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}.")
    if format == "pt2":
        raise ValueError("format 'pt2' (torch.export) is not written yet; use --format onnx.")
    name = type(est).__name__
    if not callable(getattr(est, "export_onnx", None)):
        raise TypeError(f"a {name} has no ONNX export yet; the Forecaster, TextClassifier, "
                        f"SequenceClassifier and GRU4Rec have one.")
    block = _task_block(est, Path(path))  # refuses other classes before writing
    est.export_onnx(str(path))
    graph = onnx.load(str(path), load_external_data=False).graph
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "grukit": __version__,
                "task": name, "model": Path(path).name, "inputs": _io(graph.input),
                "outputs": _io(graph.output)} | block
    return write_json(beside(path, "manifest"), manifest)

"""Export a trained task model for serving: its ONNX graph and a JSON manifest beside it.

``export(estimator, path)`` calls the estimator's own ``export_onnx(path)`` and writes
``<stem>.manifest.json`` next to ``path``: what ``grukit.export.runtime.Predictor`` (which
needs only onnxruntime and numpy) reads to turn raw input into the graph's input and the
graph's output into predictions::

    {"format": "grukit.onnx-manifest", "format_version": 1 | 2, "grukit": version,
     "task": "Forecaster" | "TextClassifier" | "SequenceClassifier" | "GRU4Rec",
     "model": "<file>.onnx",
     "inputs": [{"name", "dtype", "shape"}], "outputs": [{"name", "dtype", "shape"}],
     ...  the task's block (below)}

    Forecaster          "forecast": lookback (the longest of an ensemble: the graph's
                        window), horizon, covariates, per-series scaling (scale, mean,
                        std, cmean, cstd, and a hybrid's smoothing "es"), recent values
                        and "freq" (the pandas frequency it was fitted on, or null);
                        "strategy" (direct, recursive, sequence), "differences",
                        "history", "lookbacks" (one per network), "quantiles", "hybrid"
                        (``grukit.tasks.forecast.served``: how the graph is served)
    TextClassifier      "classes", "max_len", "vocab_size", "tokenizer":
                        "<stem>.tokenizer.json" (Hugging Face ``tokenizers`` JSON, id 0
                        padding, 1 unknown)
    SequenceClassifier  "classes", "channels", "mean", "std" (per-channel scaling)
    SpeechClassifier    the SequenceClassifier's block on its feature frames, and "audio":
                        "<stem>.audio.json" (``grukit.data.audio_features.front_end``: what
                        turns a waveform into those frames with numpy alone)
    GRU4Rec             "items": {"type": "int" | "str", "ids"}, "layers", "hidden"

Shapes name their dynamic axes ("batch", "time"). ``format_version`` is the oldest format
that describes the file (``manifest_version``): 1, which every runtime reads, unless the
file needs what a runtime of format 1 would misread — 2 for a recursive or sequence
forecaster (its graph is run once per step), an ES-GRU hybrid or quantile outputs.

``int8=True`` stores the weights as int8 with per-row scales: in the ONNX file through ONNX
Runtime's dynamic quantization (``grukit.export.int8``: Dense heads and LSTMs; a GRU node
stays float32, ONNX Runtime has no int8 GRU), in a pt2 program through
``grukit.nn.quantized.quantize_int8`` (every recurrent and Dense weight, dequantized per row
in the program). The manifest then says so: ``"int8": {"onnx_ops": {op: count}}`` or
``{"weights": "per-row"}``. ``int8_estimator(est)`` gives the estimator with int8 weights in
torch, to measure what quantization costs (``evaluate``, ``predict``) before exporting it.

``format="pt2"`` writes the network as a ``torch.export`` program instead (``grukit.export.
to_pt2``: the same input and output as the ONNX graph, dynamic batch and time; load it with
``grukit.export.load_pt2``) and a manifest of format ``"grukit.pt2-manifest"`` with the same
task block, ``<stem>.pt2-manifest.json`` (so an ONNX export of the same stem keeps its own);
the GRU4Rec serving step is ONNX only, and so are networks of RNN, LayerNorm-GRU or GRU-D
layers (``to_pt2`` refuses them: see ``grukit.export.pt2``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .._io import output_file

FORMAT = "grukit.onnx-manifest"
FORMAT_VERSION = 2  # the newest; a manifest says the oldest that describes it (version)
FORMATS = ("onnx", "pt2")
PT2_FORMAT = "grukit.pt2-manifest"
PT2_MANIFEST = "pt2-manifest"  # <stem>.pt2-manifest.json: never the ONNX manifest's name
PT2_TASKS = ("Forecaster", "TextClassifier", "SequenceClassifier", "SpeechClassifier")
# names onnx.load reads as ONNX's text forms (JSON, text proto), not the binary graph
ONNX_TEXT_SUFFIXES = (".json", ".onnxjson", ".txtpb", ".textproto", ".prototxt", ".pbtxt",
                      ".onnxtxt", ".onnxtext")


def beside(path, what: str) -> Path:
    """The file ``<stem>.<what>.json`` next to ``path`` (manifest, tokenizer, ...)."""
    p = Path(path)
    return p.with_name(f"{p.stem}.{what}.json")


def write_json(path, body) -> Path:
    """Write ``body`` as JSON at ``path`` atomically (a temporary file, then a rename)."""
    return write_text(path, json.dumps(body, indent=1, allow_nan=False))


def write_text(path, text: str) -> Path:
    """Write ``text`` at ``path`` atomically (a temporary file, then a rename), with the
    mode ``open()`` would give it (not the temporary file's 0600)."""
    from .._io import atomic_text

    atomic_text(str(path), text)
    return Path(path)


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
                   else _floats(est.last_cov[i]),
                   "es": None if s.es is None else _floats(s.es.as_array()),
                   "freq": None if est.times[i] is None else str(est.times[i]["freq"])}
                  for i, s in enumerate(est.stats)]
        from .forecast.served import recipe

        return {"forecast": {"lookback": int(max(est._lookbacks(est.season))),
                             "horizon": int(est.config.horizon), "covariates": n_cov,
                             "single": bool(est.single), "series": series} | recipe(est)}
    if name == "TextClassifier":
        return {"classes": classes_json(est.classes_), "max_len": int(est.config.max_len),
                "vocab_size": int(est.tokenizer_.size),
                "tokenizer": beside(path, "tokenizer").name}
    if name in ("SequenceClassifier", "SpeechClassifier"):
        block = {"classes": classes_json(est.classes_), "channels": int(est.channels_),
                 "mean": _floats(est.mean_), "std": _floats(est.std_)}
        if name == "SpeechClassifier":  # its _export_files writes the front end there
            block["audio"] = beside(path, "audio").name
        return block
    if name == "GRU4Rec":
        return {"items": {"type": est.items_.kind, "ids": est.items_.ids.tolist()},
                "layers": int(est.config.layers), "hidden": int(est.config.hidden)}
    raise TypeError(f"export covers the Forecaster, TextClassifier, SequenceClassifier, "
                    f"SpeechClassifier and GRU4Rec; a {name} has no ONNX export yet.")


def manifest_version(block: dict) -> int:
    """The manifest format of a task block: 2 where a forecaster's graph is served in a way
    format 1 cannot say, which a runtime of format 1 would serve wrongly (a recursive or
    sequence strategy: the graph is run once per step, its forecasts fed back; a hybrid:
    the smoothing gives the inputs and the base; quantile outputs after the forecast); else
    1, which every runtime reads."""
    spec = block.get("forecast") or {}
    served = spec.get("strategy", "direct") != "direct" or spec.get("hybrid") or \
        spec.get("quantiles")
    return 2 if served else 1


def _network_attr(est) -> str:
    names = {c.__name__ for c in type(est).__mro__}  # a SpeechClassifier is a
    if names & {"Forecaster", "GRU4Rec"}:            # SequenceClassifier
        return "net"
    if names & {"TextClassifier", "SequenceClassifier"}:
        return "model"
    raise TypeError(f"int8 covers the Forecaster, TextClassifier, SequenceClassifier (and "
                    f"SpeechClassifier) and GRU4Rec; got a {type(est).__name__}.")


def int8_estimator(est, *, linear: str = "auto"):
    """A copy of the fitted task model ``est`` whose network has int8 weights
    (``grukit.nn.quantized.quantize_int8``, per-row scales): ``predict``/``evaluate`` on it
    measure what int8 costs. ``est`` itself is unchanged, whatever the copy is given: its
    lists and dicts (a forecaster's recent values and time stamps, which ``update``
    changes) are copied, its float networks are not (the copy holds int8 ones)."""
    import copy

    from torch import nn

    from ..nn.quantized import quantize_int8

    attr = _network_attr(est)
    if getattr(est, attr, None) is None:
        raise ValueError(f"int8_estimator needs a fitted {type(est).__name__}; call fit or "
                         f"load first.")
    out = copy.copy(est)
    nets = [getattr(est, attr)] + list(getattr(est, "nets", None) or [])
    memo = {id(n): n for n in nets if isinstance(n, nn.Module)}  # replaced below, not copied
    for name, value in vars(est).items():
        if isinstance(value, (list, dict)):
            setattr(out, name, copy.deepcopy(value, memo))
    nets = getattr(est, "nets", None)
    if isinstance(nets, list):  # a forecaster's ensemble: a list of its own for the copy
        out.nets = [quantize_int8(n, linear=linear) for n in nets]
    else:
        setattr(out, attr, quantize_int8(getattr(est, attr), linear=linear))
    return out


def pt2_network(est):
    """(network, example input) of a task model for ``torch.export``: the module the
    estimator predicts with (a forecaster's: ``forecast.served.network``, every network of
    its ensemble and their median) and a batch shaped as the ONNX graph's input."""
    import torch

    name = type(est).__name__
    if name == "Forecaster":
        from .forecast.served import network

        est.check_exportable("format 'pt2'")
        if min(est._lookbacks(est.season)) < 2:  # torch.export's time axis starts at 2
            raise ValueError(f"format 'pt2' traces a time axis of 2 steps or more, and this "
                             f"forecaster reads {min(est._lookbacks(est.season))} value(s); "
                             f"export it as ONNX (format 'onnx'), or fit a lookback of 2 or "
                             f"more.")
        cov = None if est.last_cov is None else est.last_cov[0]  # its covariates' last rows
        return network(est), torch.from_numpy(est.inputs(est.last[0], cov))  # (1, L, F)
    if name == "TextClassifier":
        return est.model, torch.ones(2, 8, dtype=torch.long)  # (B, T) token ids
    if name in ("SequenceClassifier", "SpeechClassifier"):
        return est.model, torch.ones(2, 8, int(est.channels_) + 1)  # (B, T, C + 1)
    if callable(getattr(est, "export_onnx", None)):  # GRU4Rec: its serving step is ONNX
        raise TypeError(f"format 'pt2' covers the Forecaster, TextClassifier, "
                        f"SequenceClassifier and SpeechClassifier; a {name} exports with "
                        f"format 'onnx'.")
    raise TypeError(f"a {name} has no export yet, neither 'pt2' nor 'onnx'; the Forecaster, "
                    f"TextClassifier, SequenceClassifier and SpeechClassifier have both, "
                    f"GRU4Rec 'onnx'.")


def _pt2_io(program) -> tuple[list[dict], list[dict]]:
    sig = program.graph_signature
    nodes = {n.name: n for n in program.graph.nodes}

    def one(name: str, shape_names: tuple[str, ...]) -> dict:
        val = nodes[name].meta.get("val")
        dims = [shape_names[i] if i < len(shape_names) and not isinstance(d, int) else int(d)
                for i, d in enumerate(val.shape)]
        return {"name": name, "dtype": str(val.dtype).removeprefix("torch."), "shape": dims}

    ins = [one(s.arg.name, ("batch", "time")) for s in sig.input_specs
           if s.kind.name == "USER_INPUT"]
    outs = [one(s.arg.name, ("batch", "time")) for s in sig.output_specs
            if s.kind.name == "USER_OUTPUT"]
    return ins, outs


def _export_pt2(est, path: Path, int8: bool) -> tuple[list[dict], list[dict]]:
    """Write the program; its inputs and outputs as the manifest lists them."""
    from ..export.pt2 import export_program, save_pt2

    net, example = pt2_network(est)
    if int8:
        from ..nn.quantized import quantize_int8

        net = quantize_int8(net, linear="grukit")  # torch.export traces no torch.ao module
    program = export_program(net, example, min_time=getattr(net, "min_time", 1))
    save_pt2(program, path)
    return _pt2_io(program)


def export(est, path, format: str = "onnx", int8: bool = False) -> Path:
    """Write ``est``'s ONNX graph (or, with ``format="pt2"``, its ``torch.export`` program)
    at ``path`` and its manifest beside it (``beside(path, "manifest")``, or
    ``beside(path, "pt2-manifest")`` for a program, so both formats of one stem keep their
    own; returned).
    ``est``: a fitted task model; ``int8``: int8 weights (see the module doc).

    Every file is written in a temporary folder beside ``path`` first and moved in only
    when all are whole, the manifest last (an old one removed first): an export that fails
    or is interrupted leaves an earlier export as it was, never a new graph beside an old
    manifest, whose scaling, classes or tokenizer would be served with it. The ONNX and
    pt2 exports of one stem share ``<stem>.tokenizer.json`` and ``<stem>.audio.json``: one
    that the other format's export reads is never replaced by a different one (refused in
    one sentence)."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}; got {format!r}.")
    from ..layers.core import check_switch

    int8 = check_switch(int8, "export: int8")  # "False" is truthy: it quantized
    name = type(est).__name__
    if format == "pt2" and name not in PT2_TASKS:
        pt2_network(est)  # the refusal, naming the format it has if any
    if format == "onnx" and not callable(getattr(est, "export_onnx", None)):
        raise TypeError(f"a {name} has no ONNX export yet; the Forecaster, TextClassifier, "
                        f"SequenceClassifier, SpeechClassifier and GRU4Rec have one.")
    if callable(getattr(est, "_check_fitted", None)):  # after those: a model of a class
        est._check_fitted("export")  # with no export is refused as such, fitted or not
    path = output_file("export", path, "." + format)
    folder = path.parent
    from .estimator import CONFIG_FILE, WEIGHTS_FILE

    if path.name in (CONFIG_FILE, WEIGHTS_FILE) and (folder / CONFIG_FILE).is_file():
        raise ValueError(f"export: {str(path)!r} is a file of the saved model in "
                         f"{str(folder)!r}, which the export would overwrite; choose another "
                         f"file name (e.g. {str(folder / ('model.' + format))!r}).")
    other = next((f for f in FORMATS if f != format and path.suffix.lower() == "." + f), None)
    if other is not None:  # load_pt2 / Predictor would look for the other format there
        what = "an ONNX graph" if format == "onnx" else "a torch.export program"
        raise ValueError(f"export: {path.name!r} is named as a {other} file but format "
                         f"{format!r} writes {what}; name it *.{format}, or pass --format "
                         f"{other} (format={other!r}).")
    if format == "onnx" and path.suffix.lower() in ONNX_TEXT_SUFFIXES:
        raise ValueError(f"export: onnx reads a file named *{path.suffix} as a text form of "
                         f"ONNX, not the binary graph the export writes; name it *.onnx.")
    try:
        stage = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise OSError(f"export: cannot write to the folder {str(folder)!r} ("
                      f"{e.strerror or e}); choose a path in a folder you can write to.") \
            from None
    try:
        manifest = _write(est, Path(stage) / path.name, format, int8)
        _check_shared(Path(stage), path, format)
        _publish(Path(stage), folder, manifest.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folder / manifest.name


def _check_shared(stage: Path, path: Path, format: str) -> None:
    """The ONNX graph and the pt2 program of one stem read the same tokenizer or audio front
    end (``<stem>.tokenizer.json``, ``<stem>.audio.json``): one written in ``stage`` that
    differs from the file the other format's manifest beside ``path`` names (another model's,
    or one trained again) is refused in one sentence, before any file is moved; replaced,
    that export would serve its network with another model's without a word."""
    other = "pt2" if format == "onnx" else "onnx"
    where = beside(path, PT2_MANIFEST if other == "pt2" else "manifest")
    try:
        body = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # none, or not one an export wrote
        return
    if not isinstance(body, dict):
        return
    for key, what in (("tokenizer", "tokenizer"), ("audio", "audio front end")):
        name = body.get(key)
        if not isinstance(name, str):
            continue
        new, old = stage / name, path.parent / name
        if new.is_file() and old.is_file() and new.read_bytes() != old.read_bytes():
            raise ValueError(f"export: the {other} export {str(body.get('model'))!r} beside "
                             f"{path.name!r} reads {name!r} too, and this model's {what} "
                             f"differs from it (another model, or one trained again), so "
                             f"that export would read this one; export under another name, "
                             f"or delete {where.name!r} (and export that format again).")


def _publish(stage: Path, folder: Path, manifest: str) -> None:
    """Move the files written in ``stage`` into ``folder``, ``manifest`` last; refused in
    one sentence, before any is moved, where a name is taken by a folder."""
    names = sorted(p.name for p in stage.iterdir())
    for name in names:
        if (folder / name).is_dir():
            raise OSError(f"export: {str(folder / name)!r}, which the export writes, is a "
                          f"folder; move it or export under another name.")
    (folder / manifest).unlink(missing_ok=True)  # a crash in between: no manifest, not a
    for name in names:  #                          stale one beside the new graph
        if name != manifest:
            os.replace(stage / name, folder / name)
    os.replace(stage / manifest, folder / manifest)


def _write(est, path: Path, format: str, int8: bool) -> Path:
    """Write the model's files at and beside ``path``; returns the manifest's path."""
    from .. import __version__

    name = type(est).__name__
    if format == "pt2":
        pt2_network(est)  # refuses other classes before writing
        block = _task_block(est, path)
        ins, outs = _export_pt2(est, path, int8)
        manifest = {"format": PT2_FORMAT, "format_version": manifest_version(block),
                    "grukit": __version__, "task": name, "model": path.name,
                    "inputs": ins, "outputs": outs} | block
        if int8:
            manifest["int8"] = {"weights": "per-row"}
        if callable(getattr(est, "_export_files", None)):
            est._export_files(str(path))  # a text classifier's tokenizer, a speech
            #                               classifier's audio front end, beside it
        return write_json(beside(path, PT2_MANIFEST), manifest)
    import onnx

    block = _task_block(est, path)  # refuses other classes before writing
    est.export_onnx(str(path))
    if int8:
        from ..export.int8 import int8_ops, quantize_onnx

        quantize_onnx(path)
    graph = onnx.load(str(path), load_external_data=False).graph
    manifest = {"format": FORMAT, "format_version": manifest_version(block),
                "grukit": __version__, "task": name, "model": path.name, "inputs": _io(graph.input),
                "outputs": _io(graph.output)} | block
    if int8:
        manifest["int8"] = {"onnx_ops": int8_ops(path)}
    return write_json(beside(path, "manifest"), manifest)

"""Model files: one safetensors file, weights plus the model's config as JSON in its
metadata; written to a temporary file and renamed, so a crash never leaves half a file.
Training checkpoints for ``fit(resume_from=...)``.

This module knows models only through what they offer (``state_dict``, ``get_config``,
``build``, ``optimizer``), never the ``Sequential`` class: rebuilding a model from its
config is ``loading.load_model``'s job, one layer above."""

from __future__ import annotations

import json
import os

from .._io import atomic_write

FORMAT = "grukit.Sequential/1"


OPTIMIZER = "optimizer/"  # the optimizer state's tensors in a model file: "optimizer/3/exp_avg"


def save_model(model, path: str, overwrite: bool = True, zipped=None,
               weights_only: bool = False) -> None:
    """The model in one safetensors file at ``path``: weights, the config and, once
    compiled, ``model.get_compile_config()`` and the optimizer's state (its tensors named
    ``optimizer/<parameter>/<name>``, its settings as JSON), so ``load_model`` compiles it
    again and training goes on from the same moments and step counts, as Keras' file does.
    ``overwrite=False``: an existing file is refused; ``zipped``: Keras' choice of a zip or a
    folder, and only its default (one file) is written here; ``weights_only``: no compile
    settings or optimizer state (``save_weights``)."""
    from safetensors.torch import save_file

    path = os.fspath(path)
    if zipped not in (None, True):
        raise ValueError("zipped=False (Keras' folder format) has no grukit form: a model is "
                         "one file; leave zipped out.")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False; got {overwrite!r}.")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path!r} exists and overwrite=False; pass overwrite=True to "
                              f"replace it, or another path.")
    if os.path.isdir(path):
        raise ValueError(f"{path!r} is a directory; save the model to a file in it, e.g. "
                         f"{os.path.join(path, 'model.safetensors')!r}.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: the folder {folder!r} does not "
                                f"exist; create it first.")
    from ..nn.quantized import int8_kind

    if int8_kind(model):
        raise ValueError(f"cannot save to {path!r}: this model is a copy with int8 weights "
                         f"(grukit.nn.quantized.quantize_int8), which a model file does not "
                         f"hold; save the float model and quantize it after loading.")
    if not weights_only:  # load_weights puts them into a model that has its functions
        _one_function_a_name(model, path)
    if not model.built:
        model.build()
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps(model.get_config())}
    compiled = None if weights_only else getattr(model, "get_compile_config", lambda: None)()
    if compiled is not None:
        meta["compile"] = json.dumps(compiled)
        groups, state = _optimizer_state(getattr(model, "optimizer", None),
                                         list(model.parameters()))
        if groups is not None:
            meta["optimizer"] = json.dumps(groups)
            tensors |= state
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    if p is not None:  # the model's float dtype, restored by load (files without it: float32)
        meta["dtype"] = str(p.dtype).removeprefix("torch.")
    try:
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))
    except OSError as err:  # a read-only folder or file system, a full disk: the OS named
        # the temporary file, not the path asked for
        raise OSError(err.errno, f"cannot save to {path!r}: {err.strerror or err} in the "
                                 f"folder {folder!r}; save to a folder you can write to (or "
                                 f"free some space)") from err


def _one_function_a_name(model, path: str) -> None:
    """Refuse a model whose ``Lambda`` layers hold different functions of one name (two
    ``lambda``s, say): the file holds each by its name, so ``load_model``'s
    ``custom_objects`` would give every one of them the same function."""
    from ..layers.function import Lambda

    seen: dict = {}
    for layer in model.modules():
        if isinstance(layer, Lambda):
            f = layer.function
            name = getattr(f, "__name__", type(f).__name__)
            if seen.setdefault(name, f) is not f:
                raise ValueError(f"cannot save to {path!r}: two Lambda layers hold different "
                                 f"functions named {name!r}, which a model file holds by name "
                                 f"only, so that loading would give both the same one; define "
                                 f"each with def under a name of its own.")


def _optimizer_state(opt, params: list) -> tuple[dict | None, dict]:
    """(JSON-able settings, {name: tensor}) of a torch optimizer's ``state_dict`` as the
    optimizer ``load_model``'s compile makes holds it: one parameter group over the model's
    ``params`` in order, with the first group's settings; each state's non-tensor entries as
    JSON, its tensors by ``optimizer/<parameter index>/<name>``, the index a parameter's place
    in ``params`` (a layer added after compile has a group of its own, a popped one's weights
    stay in the optimizer: neither is in the file so). (None, {}) without an optimizer or
    where a setting is no plain number, text or list (the model file then holds no state)."""
    import torch

    if opt is None:
        return None, {}
    sd = opt.state_dict()
    at = {id(p): i for i, p in enumerate(params)}  # the model's place of each parameter
    held = [p for g in opt.param_groups for p in g["params"]]  # torch's numbering
    tensors, scalars = {}, {}
    for i, entries in sd["state"].items():
        if i >= len(held) or id(held[i]) not in at:  # a weight no longer in the model
            continue
        j = at[id(held[i])]
        for k, v in entries.items():
            if isinstance(v, torch.Tensor):
                tensors[f"{OPTIMIZER}{j}/{k}"] = v.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(j), {})[k] = v
    group = dict(sd["param_groups"][0]) | {"params": list(range(len(params)))}
    groups = {"class": type(opt).__name__, "param_groups": [group], "scalars": scalars}
    try:
        json.dumps(groups, allow_nan=False)
    except (TypeError, ValueError):  # a tensor rate, say
        return None, {}
    return groups, tensors


def read_compile(path: str) -> tuple[dict | None, dict | None]:
    """(``get_compile_config()`` of the saved model or None, the optimizer's ``state_dict``
    or None) of a file ``save_model`` wrote; reads the metadata and the optimizer's tensors
    only. A checkpoint of a model whose compile settings no file keeps gives
    ({"refused": why}, None). Compile settings or an optimizer state that cannot be read
    are refused in one sentence naming ``load_model(path, compile=False)``, which loads the
    weights alone."""
    from safetensors import safe_open

    path = os.fspath(path)
    with open(path, "rb") as f:
        zipped = f.read(2) == b"PK"
    try:
        if zipped:  # a ModelCheckpoint's file (torch.save): the optimizer's state_dict as is
            state = read_checkpoint(path)
            if "compile_refused" in state:  # the compile settings no file could keep
                return {"refused": str(state["compile_refused"])}, None
            if "compile" not in state:  # written before checkpoints kept it
                return None, None
            return _compile_settings(json.loads(state["compile"])), {
                "class": state["optimizer_class"], "state_dict": state["optimizer"]}
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            if "compile" not in meta:
                return None, None
            compiled = _compile_settings(json.loads(meta["compile"]))
            if "optimizer" not in meta:
                return compiled, None
            groups = json.loads(meta["optimizer"])
            state: dict = {}
            for key in f.keys():
                if key.startswith(OPTIMIZER):
                    i, name = key[len(OPTIMIZER):].split("/", 1)
                    state.setdefault(int(i), {})[name] = f.get_tensor(key)
        for i, entries in groups["scalars"].items():
            state.setdefault(int(i), {}).update(entries)
        for group in groups["param_groups"]:  # JSON made tuples lists
            for k, v in group.items():
                if k != "params" and isinstance(v, list):
                    group[k] = tuple(v)
        return compiled, {"class": groups["class"],
                          "state_dict": {"state": state, "param_groups": groups["param_groups"]}}
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSON errors included
        raise ValueError(f"{path!r}: its compile settings or optimizer state are damaged "
                         f"({type(err).__name__}: {err}); load the weights alone with "
                         f"load_model(path, compile=False) and compile again.") from err


def _compile_settings(compiled) -> dict:
    """``compiled`` if it is what ``get_compile_config`` writes (a dict with the optimizer
    and the loss), else a ValueError."""
    if not isinstance(compiled, dict) or not {"optimizer", "loss"} <= set(compiled):
        raise ValueError(f"compile settings must be a dict with 'optimizer' and 'loss'; got "
                         f"{compiled!r:.80}")
    return compiled


def read_model_file(path: str) -> tuple[dict, dict]:
    """(config, tensors) of a file ``save_model`` wrote; anything else refused in one
    sentence."""
    config, tensors, _ = read_model(path)
    return config, tensors


def read_model(path: str):
    """(config, tensors, float dtype) of a file ``save_model`` wrote: the dtype the model had
    (torch.float32 for files written before the dtype was recorded); anything else refused
    in one sentence."""
    import torch
    from safetensors import safe_open

    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a model file; pass the file "
                                f"model.save(path) wrote.")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model file at {path!r}")
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(f"{path!r} is empty (0 bytes), not a grukit model file; save the "
                         f"model again with model.save(path).")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:2] == b"PK":  # a zip: torch.save, as ModelCheckpoint writes
        return _checkpoint_model(path)
    declared = int.from_bytes(head, "little") if len(head) == 8 else -1
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith(OPTIMIZER)}
    except Exception as err:  # safetensors raises its own error types for damaged files
        what = ("truncated or damaged (shorter than its header says)"
                if 0 < declared < 100_000_000 and declared + 8 > size or "incomplete" in str(err)
                else "damaged or in another format")
        raise ValueError(f"{path!r} is not a readable grukit model file: {what} "
                         f"({err}).") from err
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a grukit model file (format "
                         f"{meta.get('format')!r}, expected {FORMAT!r}).")
    name = meta.get("dtype", "float32")
    dtype = getattr(torch, name, None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"{path!r} records the dtype {name!r}, not a torch floating dtype; "
                         f"the file is damaged or was not written by grukit.")
    try:
        config = json.loads(meta["config"])
    except (KeyError, TypeError, ValueError) as err:  # JSON errors are ValueErrors
        raise ValueError(f"{path!r} is a damaged grukit model file: its config is missing or "
                         f"not JSON ({type(err).__name__}: {err}); save the model "
                         f"again.") from err
    return config, tensors, dtype


def _checkpoint_model(path: str):
    """(config, tensors, float dtype) of the model a ``ModelCheckpoint`` file holds, as
    Keras' ``load_model`` reads the file its ModelCheckpoint wrote (the best model with
    ``save_best_only``); a task's checkpoint, whose network is no ``Sequential``, refused."""
    import torch

    state = read_checkpoint(path)
    config = json.loads(state["config"])
    if not isinstance(config, dict) or "layers" not in config:
        raise ValueError(f"{path!r} is a task's training checkpoint, not a model file; "
                         f"resume from it with the task's --resume, or load the model the "
                         f"task saved.")
    tensors = state["model"]
    dtype = next((t.dtype for t in tensors.values() if t.is_floating_point()), torch.float32)
    return config, tensors, dtype


def load_weights(model, path: str) -> None:
    """Load weights into ``model``; a file for another architecture raises and changes
    nothing."""
    put_weights(model, read_model_file(path)[1], path)


def put_weights(model, tensors: dict, path: str) -> None:
    """``tensors`` (read from ``path``) into ``model``, or a one-sentence refusal that leaves
    the model unchanged when they belong to another architecture."""
    if not model.built:
        model.build()
    detail = state_mismatch(model.state_dict(), tensors, "in the file", "here")
    int8 = sorted(k for k in tensors if k.endswith("_int8"))
    if detail and int8:  # written by a save that did not yet refuse a quantize_int8 copy
        raise ValueError(f"{path!r} holds int8 weights ({int8[0]}, ...) of a copy made by "
                         f"grukit.nn.quantized.quantize_int8, which no model can load; save "
                         f"the float model and quantize it after loading.")
    if detail:
        raise ValueError(f"{path!r} holds weights for another architecture ({detail}); the "
                         f"model was left unchanged. Load it with grukit.models.load(path).")
    model.load_state_dict(tensors)


def state_mismatch(own: dict, tensors: dict, theirs: str, ours: str) -> str | None:
    """How ``tensors`` fail to fit the state dict ``own`` (missing, unexpected or wrongly
    shaped names, the first few), or None when they fit."""
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tuple(own[k].shape) != tuple(tensors[k].shape)]
    if missing:
        return f"missing {missing[:3]}"
    if extra:
        return f"unexpected {extra[:3]}"
    if wrong:
        return (f"{wrong[0]} is {tuple(tensors[wrong[0]].shape)} {theirs}, "
                f"{tuple(own[wrong[0]].shape)} {ours}")
    return None


def save_checkpoint(model, path: str, epoch: int, batch: int, extra=None,
                    best: dict | None = None) -> None:
    """Everything ``fit(resume_from=path)`` needs, written atomically (``torch.save`` of
    tensors and plain containers only, so ``torch.load(weights_only=True)`` reads it);
    ``extra``: a task's own training state (``Trainee.training_state()``), kept under
    ``"extra"``; ``best``: a ``save_best_only`` write's monitor, mode and best value."""
    import torch

    state = {"format": FORMAT, "config": json.dumps(model.get_config()),
             "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "optimizer": model.optimizer.state_dict(),
             "optimizer_class": type(model.optimizer).__name__, "epoch": epoch, "batch": batch,
             "rng": torch.get_rng_state(), "seed": getattr(model, "_seed", 0)}
    if torch.cuda.is_available() and torch.cuda.is_initialized():  # dropout drawn on GPUs
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    state |= compiled_with(model)
    try:
        compiled = getattr(model, "get_compile_config", lambda: None)()
    except ValueError as err:  # a Keras loss object whose arguments no file keeps: the
        # run goes on (resume_from takes the compiled model); load_model of this file
        # loads it uncompiled, saying why
        compiled, state["compile_refused"] = None, str(err)
    if compiled is not None:  # what load_model compiles the model with, as Keras'
        state["compile"] = json.dumps(compiled)
    progress = getattr(model, "_progress", None)
    if batch and progress is not None:  # mid-epoch: the epoch's rates and sums so far
        state["progress"] = progress
    origin = getattr(model, "_steps_origin", None)  # steps_per_epoch: where passes begin
    if origin is not None:
        state["steps_origin"] = origin
    plan = getattr(model, "_plan", None)  # fit's batch size, samples and shuffle
    if batch and plan is not None:
        state["plan"] = plan
    stateful = getattr(model, "_stateful", None) or []  # EarlyStopping's counters, ...
    state["callbacks"] = [[type(cb).__name__, cb.get_state()] for cb in stateful]
    if extra is not None:
        state["extra"] = extra
    if best is not None:
        state["best"] = best
    state = _plain(state)
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def _plain(obj):
    """``obj`` with numpy scalars (a seed np.int64(7), a metric a callback logged as
    np.float64, a rate set as one) as Python numbers, dicts and lists walked: the
    ``weights_only`` loader that reads checkpoints back refuses numpy objects."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def compiled_with(model) -> dict:
    """What a resume must train with besides the architecture and the optimizer's class and
    state: the loss's name, the float dtype, and the clipping and weight decay a Keras-style
    optimizer applies before each step (``optimizers.Optimizer``: kept in no state dict)."""
    from .optimizers import _BeforeStep

    out = {}
    loss = getattr(model, "loss_name", None)
    if isinstance(loss, str):
        out["loss"] = loss
    p = next((p for p in model.parameters() if p.is_floating_point()), None)
    if p is not None:
        out["dtype"] = str(p.dtype).removeprefix("torch.")
    hooks = getattr(model.optimizer, "_optimizer_step_pre_hooks", {}).values()
    said = [f"{kind}={c:g}" for h in hooks if isinstance(h, _BeforeStep) and h.clip
            for kind, c in [h.clip]]
    said += [f"weight_decay={h.decay:g}" for h in hooks
             if isinstance(h, _BeforeStep) and h.decay]
    out["before_step"] = ", ".join(said) or "none"
    return out


def read_checkpoint(path: str) -> dict:
    import torch

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory, not a checkpoint; pass the file "
                                f"ModelCheckpoint wrote.")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{path!r} is empty (0 bytes), not a readable grukit checkpoint; "
                         f"resume from an earlier checkpoint or start a new run.")
    with open(path, "rb") as f:
        zipped = f.read(2) == b"PK"  # torch.save's format; a model file is safetensors
    if not zipped:
        raise ValueError(f"{path!r} is not a readable grukit checkpoint (not torch.save's "
                         f"format; a model file from model.save holds no training state: load "
                         f"it with grukit.models.load), so resume from a file ModelCheckpoint "
                         f"wrote.")
    try:  # from an open file: torch.load reads a path named *.safetensors as safetensors
        with open(path, "rb") as f:
            state = torch.load(f, weights_only=True, map_location="cpu")
    except Exception as err:  # a damaged or foreign file
        raise ValueError(f"{path!r} is not a readable grukit checkpoint: it is truncated or "
                         f"damaged ({err}); resume from an earlier checkpoint or start a new "
                         f"run.") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path!r} is not a grukit checkpoint.")
    return state

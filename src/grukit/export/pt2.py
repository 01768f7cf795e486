"""``torch.export`` of a grukit model to a ``.pt2`` file, and loading it back.

``to_pt2(model, path, example)`` traces the model in evaluation mode (dropout off, no
gradients) with batch and time as dynamic dimensions; the fused CPU kernels enter the
program as grukit's torch custom ops (``grukit.ops.gru.library``, ``grukit.ops.lstm.library``),
one node per layer and direction, so the program runs at any batch and time length. A GRU
or LSTM traces through them whatever backend it names (torch's own LSTM, which "auto" picks
for a batch above one, fixes the time length); the minGRU (parallel mode) traces as torch
ops. Other cells (RNN, LayerNorm-GRU, an LSTM with projection) are refused in one
sentence: export them as ONNX (a GRU-D, which has no ONNX form either, is refused saying
so).
``load_pt2(path)`` registers those ops (importing those modules) before
``torch.export.load``: a program that calls them cannot be loaded without them.

Example::

    from grukit.export import load_pt2, to_pt2
    to_pt2(model, "model.pt2", example=torch.randn(4, 100, 1))
    run = load_pt2("model.pt2").module()
    y = run(torch.randn(1, 250, 1))
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import Tensor, nn

from .._io import output_file

MAX_BATCH = 1 << 20
MAX_TIME = 1 << 24

# What torch.export traces over a dynamic time length: the GRU's and the LSTM's fused CPU
# kernels, registered as torch custom ops (grukit.ops.gru.library, grukit.ops.lstm.library:
# one node whatever the length; the trace runs them whatever backend the module names), and
# the minGRU's parallel form (torch ops over the whole sequence). The other kernels are numba
# calls a tracer cannot enter, and the references loop over time in Python.
CUSTOM_OP_CELLS = ("gru", "lstm")
PT2_CELLS = "the GRU, the LSTM without projection and the minGRU (mode='parallel')"


def _axes(model: nn.Module) -> tuple[int, int]:
    """(batch axis, time axis) of the model's input: (1, 0) for a time-major ``grukit.nn``
    module (``batch_first=False``), else (0, 1)."""
    from ..nn import RecurrentBase

    if isinstance(model, RecurrentBase) and not model.batch_first:
        return 1, 0
    return 0, 1


def _example(model_name: str, example, axes: tuple[int, int] = (0, 1),
             dynamic: bool = True) -> Tensor:
    """The example to trace: a batch of one widened to two where the batch is dynamic
    (a static program keeps the example's shape)."""
    b, t = axes
    layout = "(batch, time, ...)" if b == 0 else "(time, batch, ...) (time-major)"
    if not isinstance(example, Tensor):
        raise TypeError(f"to_pt2: example must be a torch.Tensor batch {layout} the "
                        f"{model_name} takes; got {type(example).__name__}.")
    least = 2 if dynamic else 1  # a dynamic time of one step would be specialised to 1
    if example.dim() < 2 or example.shape[b] < 1 or example.shape[t] < least:
        raise ValueError(f"to_pt2: example must have a batch and a time dimension with at "
                         f"least {least} step{'s' if least > 1 else ''}, shape {layout}"
                         f"{'' if dynamic else ' (dynamic=False)'}; got "
                         f"{tuple(example.shape)}.")
    if example.shape[b] == 1 and dynamic:  # torch.export specialises a size-1 dimension
        sizes = list(example.shape)
        sizes[b] = 2
        example = example.expand(*sizes).contiguous()
    return example


def export_program(model: nn.Module, example: Tensor, *, dynamic: bool = True,
                   min_time: int = 1):
    """The ``torch.export.ExportedProgram`` of ``model`` (evaluation mode, no gradients) on
    ``example`` (B, T, ...), or (T, B, ...) for a time-major ``grukit.nn`` module; with
    ``dynamic`` batch and time are dynamic dimensions, the time at least ``min_time`` steps
    (a model that reads the last n steps of its input, as a forecaster's ensemble over
    several lookbacks does, needs n)."""
    from ..layers.core import check_switch

    dynamic = check_switch(dynamic, "to_pt2: dynamic")  # "False" is truthy
    if not isinstance(model, nn.Module):
        raise TypeError(f"to_pt2 exports a torch.nn.Module (a grukit.nn module or a built "
                        f"grukit.models.Sequential); got {type(model).__name__}.")
    name = type(model).__name__
    _refuse_torch_int8(model, "to_pt2", "torch.export cannot trace them; quantize the float "
                       "model with quantize_int8(model, linear='grukit') for a program")
    b, t = _axes(model)
    x = _example(name, example, (b, t), dynamic)
    shapes = None
    if dynamic:
        batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
        time = torch.export.Dim("time", min=max(1, int(min_time)), max=MAX_TIME)
        shapes = ({b: batch, t: time},)
    swaps = _trace_backends(model, dynamic)  # [(module, its own backend)]
    training = model.training
    model.eval()
    try:
        for m, _ in swaps:
            m.backend = "cpu"
        with torch.no_grad():
            return torch.export.export(model, (x,), dynamic_shapes=shapes)
    except RuntimeError as e:  # torch.export's UserError and data-dependent guards
        where = _user_frame(e)
        raise ValueError(f"to_pt2: torch.export cannot trace this {name}"
                         f"{f' at {where}' if where else ''} ({_first_line(e)}); export it "
                         f"as ONNX (to_onnx, --format onnx).") from e
    finally:
        for m, backend in swaps:
            m.backend = backend
        model.train(training)


def _trace_backends(model: nn.Module, dynamic: bool) -> list[tuple[nn.Module, str]]:
    """The ``grukit.nn`` recurrent modules of ``model`` that trace through their fused CPU
    custom op (``CUSTOM_OP_CELLS``) under another backend name, with that name (the trace
    sets "cpu" and restores it); with ``dynamic``, one sentence for a module whose cell
    cannot be traced over a dynamic time length."""
    from ..nn import RecurrentBase

    swaps = []
    for m in model.modules():
        if not isinstance(m, RecurrentBase):
            continue
        w = m.weight_ih_l0  # (read through __getattr__: an int8 copy's dequantized weights)
        cls, why = type(m).__name__, ""
        acts = getattr(m, "_activations", {})
        if acts:  # Keras' activations: the reference loop computes them, not the fused op
            why = ", ".join(f"{k}={v!r}" for k, v in acts.items()) + \
                " runs on the reference loop, which unrolls over the time steps"
        elif m.spec.name in CUSTOM_OP_CELLS:
            if getattr(m, "proj_size", 0):
                why = f"proj_size={m.proj_size}: the fused LSTM kernel has no projection"
            elif w.dtype not in (torch.float32, torch.float64):
                why = f"{w.dtype}: the fused kernels serve float32 and float64"
            elif w.device.type != "cpu":
                continue  # the custom ops are CPU ones: the trace takes the module's path
            elif m.backend != "cpu":
                swaps.append((m, m.backend))
        elif m.spec.name == "mingru" and getattr(m, "mode", "") == "parallel":
            continue
        elif m.spec.name == "mingru":
            why = f"mode={m.mode!r} loops over time"
        else:
            why = f"the {m.spec.display} has no fused kernel registered as a torch custom op"
        if why and dynamic:
            instead = "so export this model as ONNX (to_onnx, --format onnx)."
            if not _has_onnx(m):  # a GRU-D: ONNX refuses it too
                instead = ("and it has no ONNX form either (to_onnx refuses it); serve it "
                           "with grukit's modules.")
            raise ValueError(f"to_pt2: this {cls} ({why}) cannot be traced over a dynamic "
                             f"time length; {PT2_CELLS} export to pt2, {instead}")
    return swaps


def _has_onnx(module) -> bool:
    """Whether ``to_onnx`` writes the recurrent ``module`` (``recurrent.check_module``)."""
    from .recurrent import check_module

    try:
        check_module(module, "to_onnx")
    except ValueError:
        return False
    return True


def _refuse_torch_int8(model: nn.Module, what: str, instead: str) -> None:
    """One sentence where ``model`` holds torch's dynamically quantized Linear layers."""
    from ..nn.quantized import int8_kind

    if int8_kind(model) == "torch":
        raise ValueError(f"{what}: this model's Linear layers use torch's dynamic "
                         f"quantization (quantize_int8 with linear='auto' or 'torch'), and "
                         f"{instead}.")


def _first_line(e: BaseException) -> str:
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    return lines[0][:200] if lines else type(e).__name__


def _user_frame(e: BaseException) -> str:
    """The grukit source line torch.export names as the cause, if it names one."""
    lines = str(e).splitlines()
    for i, ln in enumerate(lines):
        if "grukit" in ln and 'File "' in ln and i + 1 < len(lines):
            path = ln.split('File "', 1)[1].split('"', 1)[0]
            return f"{path.rsplit('grukit/', 1)[-1]}: {lines[i + 1].strip()}"
    return ""


def _check_path(path) -> Path:
    return output_file("to_pt2", path, ".pt2")


def save_pt2(program, path) -> Path:
    """Write an ``ExportedProgram`` at ``path`` atomically (a temporary file, then a
    rename); returns the path."""
    p = _check_path(path)
    folder = p.parent if str(p.parent) else Path(".")
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp.pt2", dir=folder)
        os.close(fd)
        torch.export.save(program, tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the mode open() would give, not mkstemp's 0600
        os.replace(tmp, p)
    except OSError as e:  # a folder the user cannot write to, a full disk
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OSError(f"to_pt2: cannot write {str(p)!r} ({e.strerror or e}); choose a path "
                      f"in a folder you can write to, with space left.") from e
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return p


def to_pt2(model: nn.Module, path, example: Tensor, *, dynamic: bool = True) -> Path:
    """Write ``model`` as a ``torch.export`` program at ``path`` (atomically); returns the
    path. ``example``: an input batch (B, T, ...), (T, B, ...) for a time-major module (a
    batch of one is repeated to two for the trace, which would otherwise fix the batch
    at 1); with ``dynamic=False`` the program takes the example's shape alone."""
    _check_path(path)  # before the trace
    return save_pt2(export_program(model, example, dynamic=dynamic), path)


def load_pt2(path):
    """``torch.export.load(path)`` with grukit's custom ops registered first."""
    from ..ops.gru import library as _gru_ops  # noqa: F401  (registers torch.ops.grukit.*)
    from ..ops.lstm import library as _lstm_ops  # noqa: F401

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"load_pt2: no file {str(p)!r}; write one with "
                                f"grukit.export.to_pt2 or `grukit export --format pt2`.")
    try:
        return torch.export.load(str(p))
    except (zipfile.BadZipFile, RuntimeError, KeyError, ValueError, EOFError) as e:
        # an ONNX graph, a torch.save checkpoint, a cut file: zipfile's or torch's own words
        raise ValueError(f"load_pt2: {str(p)!r} is not a torch.export program "
                         f"({_first_line(e)}); load a file that to_pt2 or `grukit export "
                         f"--format pt2` wrote.") from e


__all__ = ["export_program", "load_pt2", "save_pt2", "to_pt2"]

"""int8 weights for CPU inference: ``quantize_int8(model)`` and ``Int8Stream``.

``quantize_int8(model)`` returns a copy of a model (a ``grukit.nn`` recurrent module, a
``grukit.models.Sequential`` or any ``torch.nn.Module`` holding them) whose weight matrices
are stored as int8 with one float32 scale per row, that is per output unit
(``grukit.ops.gru.quant``: s_j = max_k |W_jk| / 127, W ≈ s q). Biases, normalisation gains
and embeddings stay float.

- Recurrent modules and one-step cells (``GRUCell``, ...) keep their class's forward: their
  ``weight_*`` parameters become the buffers ``<name>_int8`` (int8) and ``<name>_scale``
  (float32), and reading ``<name>`` gives s ⊙ q (``dequantize_rows``) for the fused batch
  kernels: a new tensor on each read, so changing it in place changes nothing, and setting
  ``<name>`` is refused (change the float model and quantize it again). A unidirectional
  GRU or LSTM (no projection) streams through the int8 kernels (``Int8Stream``): where the
  CPU has AVX-512 VNNI, int8 weights times the input and state quantised to bytes each step,
  with int32 sums (``grukit.ops.gru.w8a8``); elsewhere the int8 weights times the float
  input and state. Either way each row's scale applies after its dot product.
- ``torch.nn.Linear`` layers (Dense heads): ``linear="torch"`` uses torch's dynamic
  quantization (``torch.ao.quantization.quantize_dynamic`` with per-channel weights, which
  also quantizes each input batch to int8 on the fly) where the installed torch still has it
  — it is deprecated since torch 2.10 and may go; ``linear="grukit"`` stores int8 weights with
  per-row scales and multiplies in float, as the recurrent layers do (what ``torch.export``
  can trace); ``"auto"`` takes torch's when available (and the Linear layers are float32,
  all torch's serves), else grukit's.

The copy is for inference (its weights no longer train); ``Sequential.save`` refuses it
(save the float model and quantize after loading). Its ``load_state_dict`` takes its own
state_dict or the float model's, whose weight matrices are quantized as they load. Deploy a
copy made with ``linear="grukit"`` with ``grukit.export.to_pt2`` (or ``to_onnx``, which writes its
dequantized weights in float32); torch's dynamically quantized Linear layers export to
neither, so ``to_pt2`` and ``to_onnx`` refuse a copy that has them (``int8_kind``).
"""

from __future__ import annotations

import copy
import warnings
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..ops import activations, dispatch
from ..ops.gru.quant import dequantize_rows, quantize_rows
from ._base import RecurrentBase, check_flag
from .cells import _CellBase
from .stream import Stream

LINEAR = ("auto", "torch", "grukit")


def torch_dynamic_quantization() -> bool:
    """Whether this torch can run ``torch.ao.quantization.quantize_dynamic`` on CPU (the
    function exists and a quantized engine, fbgemm/x86 or qnnpack, is built in)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torch.ao.quantization import quantize_dynamic  # noqa: F401
        engines = torch.backends.quantized.supported_engines
    except (ImportError, AttributeError, RuntimeError):
        return False
    return any(e in engines for e in ("x86", "fbgemm", "qnnpack"))


class Int8Recurrent:
    """The mixin of a recurrent module whose weight matrices are int8 (see the module doc)."""

    int8_names: tuple[str, ...] = ()
    int8_dtype: torch.dtype = torch.float32
    int8_generation: int = 0  # moves on each load_state_dict and .to(...): Int8Stream reads it

    def __getattr__(self, name: str):
        buffers = self.__dict__.get("_buffers", {})
        q = buffers.get(name + "_int8")
        if q is not None:  # (G·H, K) int8 -> s ⊙ q in the module's float dtype
            return dequantize_rows(q, buffers[name + "_scale"], self.int8_dtype)
        return super().__getattr__(name)

    def __setattr__(self, name: str, value) -> None:
        """Refuse a new value for an int8 weight (``m.weight_hh_l0 = t``): it would be kept
        beside the int8 copy, the forward reading it while state_dict and ``Int8Stream`` read
        the int8 one."""
        if name in self.__dict__.get("int8_names", ()):
            raise AttributeError(f"{type(self).__name__}: {name} is stored as int8 ({name}_int8 "
                                 f"and {name}_scale) and cannot be set; change the float "
                                 f"model's weights and quantize it again with quantize_int8.")
        super().__setattr__(name, value)

    def reset_parameters(self) -> None:
        """Refused: it drew new biases and left the int8 weights as they were."""
        raise ValueError(f"{type(self).__name__}: the int8 weights cannot be drawn again; "
                         f"reset the float model's parameters and quantize it again with "
                         f"quantize_int8.")

    def _apply(self, fn, *args, **kwargs):
        """``module.double()``, ``.to(dtype)``, ...: the float buffers and parameters as
        torch converts them, and the dtype the int8 weights are read in with them (else
        ``.double()`` left the weights float32 beside float64 biases)."""
        out = super()._apply(fn, *args, **kwargs)
        self.int8_dtype = fn(torch.empty(0, dtype=self.int8_dtype)).dtype
        self.int8_generation += 1
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """``load_state_dict``: the weights copied in, a float model's weight matrices
        (``weight_hh_l0``) quantized as they load (else strict loading refused them, and
        ``strict=False`` kept the old int8 weights beside the new biases), and
        ``int8_generation`` moved, so that an ``Int8Stream`` of this module packs them again
        at its next step. (``state_dict`` is the loader's own copy.)"""
        _quantize_loaded(state_dict, prefix, self.__dict__.get("int8_names", ()))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self.int8_generation += 1

    def __reduce_ex__(self, protocol):
        """Pickled (``torch.save(model)``, ``copy.deepcopy``) as the float class's int8
        twin, made again on loading: the twin is made at run time, so pickle cannot find it
        by name."""
        return _new_int8, (type(self).__bases__[1],), self.__dict__  # (Int8Recurrent, cls)

    def int8_layer(self, layer: int, direction: int = 0) -> dict:
        """One layer's int8 weights and scales, and its float biases, by op name."""
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        b = self._buffers
        out = {f"{w}_{kind}": b[f"{w}{suffix}_{kind}"] for w in ("weight_ih", "weight_hh")
               for kind in ("int8", "scale")}
        for name in ("bias_ih", "bias_hh"):
            out[name] = self._parameters.get(name + suffix)
        return out


def _quantize_loaded(state_dict: dict, prefix: str, names) -> None:
    """In a state_dict being loaded, each float weight matrix ``prefix + name`` (a float
    model's) replaced by its int8 weights and scales, the entries an int8 module holds."""
    for name in names:
        w = state_dict.get(prefix + name)
        if isinstance(w, Tensor) and prefix + name + "_int8" not in state_dict \
                and w.dim() == 2 and w.is_floating_point():
            del state_dict[prefix + name]
            q, scale = quantize_rows(w)  # (R, K) int8, (R,)
            state_dict[prefix + name + "_int8"] = q
            state_dict[prefix + name + "_scale"] = scale


_CLASSES: dict[type, type] = {}


def _int8_class(cls: type) -> type:
    if cls not in _CLASSES:
        _CLASSES[cls] = type(f"Int8{cls.__name__}", (Int8Recurrent, cls),
                             {"__doc__": f"{cls.__name__} with int8 weights (per-row "
                                         f"scales); see grukit.nn.quantized."})
    return _CLASSES[cls]


def _new_int8(cls: type) -> Int8Recurrent:
    """An empty instance of ``cls``'s int8 twin (pickle sets its state)."""
    return object.__new__(_int8_class(cls))


def _quantize_recurrent(m: RecurrentBase | _CellBase) -> None:
    names = [n for n, p in m.named_parameters(recurse=False)
             if n.startswith("weight_") and p.dim() == 2]
    if not names:
        return
    dtype = m._parameters[names[0]].dtype
    for n in names:
        q, s = quantize_rows(m._parameters.pop(n))  # (G·H, K) int8, (G·H,)
        m.register_buffer(f"{n}_int8", q)
        m.register_buffer(f"{n}_scale", s)
    m.__class__ = _int8_class(type(m))
    m.int8_names, m.int8_dtype = tuple(names), dtype


class Int8Linear(nn.Module):
    """``torch.nn.Linear`` with int8 weights and per-row (per output) float32 scales; the
    product runs in float: y = x (s ⊙ q)ᵀ + b."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        q, s = quantize_rows(linear.weight)  # (O, I) int8, (O,)
        self.register_buffer("weight_int8", q)
        self.register_buffer("weight_scale", s)
        self.bias = None if linear.bias is None else nn.Parameter(linear.bias.detach().clone(),
                                                                  requires_grad=False)
        self.dtype = linear.weight.dtype

    @property
    def weight(self) -> Tensor:
        return dequantize_rows(self.weight_int8, self.weight_scale, self.dtype)

    def _apply(self, fn, *args, **kwargs):
        """``.double()``, ``.to(dtype)``, ...: the weight read in the dtype the bias goes to
        (as ``Int8Recurrent``'s)."""
        out = super()._apply(fn, *args, **kwargs)
        self.dtype = fn(torch.empty(0, dtype=self.dtype)).dtype
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """``load_state_dict``: a float Linear's weight quantized as it loads."""
        _quantize_loaded(state_dict, prefix, ("weight",))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def _swap_linears(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if type(child) is nn.Linear:
            setattr(model, name, Int8Linear(child))
        else:
            _swap_linears(child)


def quantize_int8(model: nn.Module, *, linear: str = "auto") -> nn.Module:
    """A copy of ``model`` with int8 weights (per-row scales) for CPU inference, in eval
    mode; ``linear``: "auto", "torch" or "grukit" (see the module doc). A model holding
    torch.nn's GRU, LSTM, RNN or their cells is refused (their weights would stay float):
    convert those with ``grukit.convert.from_torch`` first."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"quantize_int8 takes a torch.nn.Module (a grukit.nn module or a "
                        f"Sequential); got {type(model).__name__}.")
    if linear not in LINEAR:
        raise ValueError(f"quantize_int8: linear must be one of {', '.join(LINEAR)}; got "
                         f"{linear!r}.")
    activations.standard(model, "quantize_int8 (the int8 kernels)")
    if linear == "torch" and not torch_dynamic_quantization():
        raise ValueError("quantize_int8: this torch has no dynamic quantization "
                         "(torch.ao.quantization.quantize_dynamic with a CPU engine); use "
                         "linear='grukit'.")
    for m in model.modules():  # torch's own would come back float, as if quantized
        if isinstance(m, nn.RNNBase | nn.RNNCellBase):
            raise TypeError(f"quantize_int8: the model holds a torch.nn.{type(m).__name__}, "
                            f"whose weights it cannot quantize; convert it with "
                            f"grukit.convert.from_torch first.")
    if any(isinstance(m, Int8Recurrent | Int8Linear) for m in model.modules()):
        raise ValueError("quantize_int8: the model already has int8 weights; quantize the "
                         "float model.")
    for m in model.modules():
        w = next(iter(m.parameters(recurse=False)), None)
        if w is not None and w.device.type != "cpu":
            raise ValueError(f"quantize_int8 serves CPU inference; the model is on {w.device}. "
                             f"Move it with model.cpu() first.")
    out = copy.deepcopy(model).eval()
    for m in out.modules():
        if isinstance(m, RecurrentBase | _CellBase):  # modules and one-step cells
            _quantize_recurrent(m)
    # torch's dynamic int8 Linear takes float32 only (float64 input failed at the first call)
    other = sorted({str(m.weight.dtype) for m in model.modules()
                    if type(m) is nn.Linear and m.weight.dtype != torch.float32})
    if linear == "torch" and other:
        raise ValueError(f"quantize_int8: torch's dynamic quantization serves float32 Linear "
                         f"layers; this model's are {', '.join(other)}. Use linear='grukit' "
                         f"(or quantize model.float()).")
    use_torch = linear == "torch" or (linear == "auto" and not other
                                      and torch_dynamic_quantization())
    if use_torch:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
            from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

            out = quantize_dynamic(out, {nn.Linear: per_channel_dynamic_qconfig},
                                   dtype=torch.qint8, inplace=True)
    else:
        _swap_linears(out)
    for p in out.parameters():
        p.requires_grad_(False)
    return out


def int8_kind(model: nn.Module) -> str | None:
    """How ``model`` (a copy from ``quantize_int8``) holds int8 weights: "torch" where some
    of its Linear layers are torch's dynamically quantized ones (``linear="torch"``, or
    "auto" where torch has them), "grukit" where only grukit's int8 modules do, None for a
    float model."""
    kind = None
    for m in model.modules():
        if type(m).__module__.startswith(("torch.ao.nn.quantized", "torch.nn.quantized")):
            return "torch"
        if isinstance(m, Int8Recurrent | Int8Linear):
            kind = "grukit"
    return kind


def _tensor_bytes(t: Tensor) -> int:
    size = t.numel() * t.element_size()
    if t.is_quantized and t.qscheme() in (torch.per_channel_affine,
                                          torch.per_channel_symmetric):
        size += t.q_per_channel_scales().numel() * 8 + t.q_per_channel_zero_points().numel() * 8
    return size


def model_bytes(model: nn.Module) -> int:
    """Bytes of a model's state: parameters and buffers (int8 weights and their scales),
    torch's packed int8 Linear weights included."""
    total = 0
    for v in model.state_dict().values():
        for t in v if isinstance(v, tuple) else (v,):
            total += _tensor_bytes(t) if isinstance(t, Tensor) else 0
    return total


class Int8Stream(Stream):
    """``grukit.nn.Stream`` for a module from ``quantize_int8``: a unidirectional GRU or
    LSTM (no projection) steps one sequence through the int8 kernels
    (``grukit.ops.gru.quant``); other steps (a GRU with zoneout among them) run as
    ``Stream``'s on the dequantized weights.

    ``w8a8``: True multiplies int8 weights by the input and state quantised to 8 bits each
    step (one scale per vector, int32 sums: ``grukit.ops.gru.w8a8``; float32 modules whose
    steps the int8 kernel serves, else refused), False
    multiplies the int8 weights by the float input and state, None (default) takes int8 ×
    int8 where the CPU runs it fast (AVX-512 VNNI) and the module is float32.

    The int8 weights are packed when the fast path starts, and again at the first step after
    ``load_state_dict`` or ``module.to(...)`` (they move the module's ``int8_generation``, one
    number a step compares) or after a ``reset()`` that finds them changed since: a step does
    not read every weight's version (that would cost a quarter of a step). After changing a
    weight in place by hand (``module.weight_hh_l0_int8.copy_(...)``), call ``reset()``."""

    def __init__(self, module: RecurrentBase, batch_size: int = 1, *,
                 w8a8: bool | None = None):
        if not isinstance(module, Int8Recurrent):
            raise TypeError(f"Int8Stream needs a module with int8 weights from "
                            f"grukit.nn.quantized.quantize_int8; got {type(module).__name__}. Use "
                            f"grukit.nn.Stream for a float module.")
        if w8a8 is not None:  # numpy's bool, 0 and 1 as the bools they equal
            try:
                w8a8 = check_flag(w8a8, "w8a8", "Int8Stream")
            except TypeError:  # an array too, which `in` cannot compare
                raise ValueError(f"Int8Stream: w8a8 must be True, False or None (where fast); "
                                 f"got {w8a8!r}.") from None
        if w8a8 and module.int8_dtype != torch.float32:
            raise ValueError(f"Int8Stream: w8a8=True needs a float32 module; this one is "
                             f"{module.int8_dtype}. Use w8a8=False or None.")
        self.w8a8 = w8a8
        self._int8_route = None  # the int8 kernel builder once dispatch gives it
        super().__init__(module, batch_size)
        if w8a8:  # else its steps would run float products without a word
            fn, reason = self._route(1 if self.batch_size == 1 else 2)
            if fn is None or fn is not self._int8_route:
                raise ValueError(f"Int8Stream: w8a8=True needs the int8 one-step kernel (one "
                                 f"sequence of a GRU or LSTM without projection or zoneout), "
                                 f"which does not serve this stream: {reason} Use w8a8=None "
                                 f"(int8 × int8 where it serves) or False.")
            from ..ops.gru.w8a8 import check_sizes

            check_sizes(module.input_size, module.hidden_size)  # here, not at the first step

    _TRANSIENT = Stream._TRANSIENT + ("_int8_route",)

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._int8_route = None

    def reset(self) -> None:
        """Start over from zero state."""
        m = self.module
        dtype = m.int8_dtype
        device = m.get_buffer(f"{m.int8_names[0]}_int8").device  # a module moved off the CPU
        #   steps through feed there, as Stream's (the int8 kernels read CPU memory)
        shape = (m.num_layers, self.batch_size)
        self._routes: dict = {}
        if getattr(self, "_packed_key", None) != self._weights_key():
            self._vsum = -1  # changed since they were packed: packed again on the next step
        self._set_state([torch.zeros(*shape, s, dtype=dtype, device=device)
                         for s in m._state_sizes()])

    def _route(self, ndim: int):
        """The op ``"<cell>_stream_int8"`` where dispatch has it for this step (a GRU or
        LSTM: one sequence, CPU, no projection), else ``Stream``'s route on the dequantized
        weights, with why the int8 kernel does not serve."""
        fn, reason = super()._route(ndim)  # the float kernel's conditions
        op = f"{self.module.spec.name}_stream_int8"
        if not dispatch.backends(op):
            return fn, (f"{self.module.spec.display} has no int8 one-step kernel ({op}; a GRU "
                        f"and an LSTM have).")
        if fn is None:
            return fn, reason
        build = dispatch.select(op, "auto", h=self._h[0], x_ndim=ndim,
                                proj_size=getattr(self.module, "proj_size", 0))
        self._int8_route = partial(build, w8a8=self.w8a8)
        return self._int8_route, ""

    def _option_items(self) -> tuple:
        """The cell options and the module's ``int8_generation``: a change of either (a
        ``load_state_dict`` since the last step) re-routes, and the weights are packed again."""
        return (*super()._option_items(), ("int8_generation", self.module.int8_generation))

    def _hot_probe(self):
        if self._routes.get(1) is self._int8_route:
            return None  # int8 weights are fixed: packed once per kernel (see _pack)
        return super()._hot_probe()

    def _weights_key(self) -> tuple:
        """(id, data, version) of each parameter and buffer: it moves when a weight is changed
        in place (``load_state_dict``) or replaced (``p.data = t`` too)."""
        m = self.module
        return tuple((id(t), t.data_ptr(), t._version) for t in (*m.parameters(), *m.buffers()))

    def _pack(self):
        if self._kernel is not None and self._routes.get(1) is self._int8_route:
            if self._vsum != 0:  # int8 weights are fixed: packed once per kernel
                m = self.module
                self._packed = self._kernel.pack([m.int8_layer(k) for k in range(m.num_layers)])
                self._probe, self._vsum = (lambda: 0), 0
                self._packed_key = self._weights_key()
            return self._packed
        return super()._pack()


__all__ = ["Int8Linear", "Int8Recurrent", "Int8Stream", "int8_kind", "model_bytes",
           "quantize_int8", "torch_dynamic_quantization"]

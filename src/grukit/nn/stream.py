"""Streaming: feed a recurrent module one step (or one chunk) at a time, state carried.

    stream = grukit.nn.Stream(model)       # a unidirectional grukit.nn recurrent module
    for x_t in source:                     # x_t: (I,) or (B, I), numpy or torch
        y_t = stream.step(x_t)             # the top layer's output for this step
    y = stream.feed(chunk)                 # (T, I) or (B, T, I): several steps at once

Steps and chunks give exactly what the whole sequence gives at once. A Stream is for
inference: nothing it computes carries gradients, and dropout is off. One sequence fed one
step at a time asks dispatch for the cell's one-step kernel (op ``"<cell>_stream"``, e.g.
``"gru_stream"``: a GRU, an LSTM without projection, an RNN, a MinGRU or a LayerNormGRU on
CPU, one fused numba call per step, no torch dispatch); where none serves the call (a
module with zoneout among them: in evaluation h' = p h + (1 − p) h̃, which the kernels do
not apply) it steps through ``feed`` and logs why at debug level. A Keras-style layer of
``grukit.layers`` streams through the module it holds, ``Stream(layer.rnn)``; a
bidirectional one cannot stream (its backward direction starts at the sequence's end).

The kernel's weights are packed on the first step and re-packed whenever a parameter or
buffer changes in place (an optimizer step, ``load_state_dict``). Weights replaced by new
tensors (``module.to``, ``p.data = t``) are seen by ``feed`` and by steps with torch input;
call ``reset()`` to re-read them on the numpy hot path too. ``check_finite=True`` on the
module refuses NaN/Inf on every path, the state left unchanged; the fast path reads that
flag when it starts (the first step after ``reset()``).
"""

from __future__ import annotations

import logging
import numbers

import numpy as np
import torch
from torch import Tensor

from .. import cells
from ..ops import activations, dispatch
from ..ops import check_finite as _check_finite
from ._base import RecurrentBase, check_flag

log = logging.getLogger(__name__)


class Stream:
    """Carry a recurrent module's state across calls. See the module docstring."""

    def __init__(self, module: RecurrentBase, batch_size: int = 1):
        if not isinstance(module, RecurrentBase):
            raise TypeError(_not_a_module(module))
        activations.standard(module, "Stream (the one-step kernels)")
        if module.bidirectional:
            raise ValueError("a bidirectional layer needs the whole sequence (its backward "
                             "direction starts at the end), so it cannot stream; stream a "
                             "unidirectional model.")
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
                or batch_size < 1:
            raise ValueError(f"Stream: batch_size must be a positive integer; got "
                             f"{batch_size!r}.")
        self.module = module
        self.batch_size = int(batch_size)
        self._packed = np.empty(0)
        self._ids: list = []  # (id(), data_ptr()) of each parameter and buffer packed
        self._probe = _version_probe([])  # () -> the sum of their version counters
        self._vsum = -1  # that sum when they were packed
        self._kernel = None  # the StreamKernel of the fast path once it runs
        self._layout = None  # (dtype, options) the weights were packed for
        self._routed = None  # the options the routes were asked for: (name, value) pairs
        self.reset()

    # -- copies -----------------------------------------------------------------------------
    _TRANSIENT = ("step", "_kernel", "_fast", "_probe", "_packed", "_ids", "_vsum", "_layout",
                  "_routes", "_routed")  # the fast path: kernel, packed weights, state views

    def __getstate__(self) -> dict:
        """The module, batch size and carried state, for ``copy.deepcopy`` and pickle; the
        fast path is made again on the copy's first step (its kernel steps views of the
        original's state: a copy that kept it would step the original)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._packed, self._ids, self._probe, self._vsum = np.empty(0), [], _version_probe([]), -1
        self._kernel = self._layout = self._routed = None
        self._routes = {}
        self._set_state(self._h)

    # -- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Start over from zero state."""
        p = self.module.weight_ih_l0  # (a module with int8 weights and no bias has no
        #                               parameter: this reads its weights' float dtype)
        shape = (self.module.num_layers, self.batch_size)
        self._routes: dict = {}  # x_t.ndim -> the stream op's kernel builder, or None
        self._set_state([torch.zeros(*shape, s, dtype=p.dtype, device=p.device)
                         for s in self.module._state_sizes()])  # each (L, B, S)

    def _set_state(self, hs: list[Tensor]) -> None:
        self._h = hs
        self._fast = None  # (kernel, h view (L, H), extra: GRU reset_after / LSTM c view
        #                     (L, H) / RNN relu, x shape, x dtype, h[-1]) once it runs
        self.__dict__.pop("step", None)  # the bound hot path (``_install_hot``) is stale

    @property
    def state(self):
        """A snapshot of the carried state in the module's ``hx`` format: h (L, B, H), or
        (h, c). A copy on every path: the fast path steps the carried tensors in place, so
        a view would change under later steps. (``step`` never reads it.)"""
        hs = [h.clone() for h in self._h]  # each (L, B, S)
        return tuple(hs) if len(hs) > 1 else hs[0]

    def _hx(self):
        """The carried state itself (not a copy), for the module call in ``feed``."""
        return tuple(self._h) if len(self._h) > 1 else self._h[0]

    # -- feeding ----------------------------------------------------------------------------
    def feed(self, chunk) -> Tensor:
        """Several steps: chunk (T, I) or (B, T, I) -> outputs (T, H') or (B, T, H')."""
        x = _as_tensor(chunk, "chunk")
        if x.dim() not in (2, 3):
            raise ValueError(f"feed takes several steps, shape (time, input_size) or (batch, "
                             f"time, input_size); got shape {tuple(x.shape)}. Use step() for "
                             f"one step.")
        unbatched = x.dim() == 2
        x = x.unsqueeze(0) if unbatched else x  # (B, T, I)
        self._check_batch(x.shape[0])
        w = self.module.weight_ih_l0
        if self._h[0].dtype != w.dtype or self._h[0].device != w.device:  # module.to(...)
            self._set_state([h.to(w) for h in self._h])  # the state carried on, converted
        x = x if self.module.batch_first else x.transpose(0, 1)
        training = self.module.training
        self.module.eval()  # inference: no dropout between layers, as on the fast path
        try:
            with torch.no_grad():
                y, hx = self.module(x.to(self._h[0].dtype), self._hx())
        finally:
            self.module.train(training)
        self._set_state(list(hx) if isinstance(hx, tuple) else [hx])
        y = y if self.module.batch_first else y.transpose(0, 1)  # (B, T, H')
        return y[0] if unbatched else y

    def step(self, x_t):
        """One step: x_t (I,) or (B, I), numpy or torch -> output (H',) or (B, H'), same kind."""
        fast = self._fast
        if (fast is not None and type(x_t) is np.ndarray and x_t.shape == fast[3]
                and x_t.dtype is fast[4] and self._option_items() == self._routed):  # hot path
            if self._probe() != self._vsum:
                self._pack()
                self._install_hot()  # over the new packed weights
                fast = self._fast  # a kernel of a new cell form, where _pack made one
            if fast[6] and not fast[6](x_t):  # check_finite: ~0.1 µs
                self._refuse(x_t)
            fast[0](x_t, fast[1], self._packed, fast[2])
            return fast[5].copy()
        if self._fast_ok(x_t):  # (an option set since re-routes: a new kernel, or none)
            return self._fast_step(x_t, self._fast or self._fast_setup())
        is_np = isinstance(x_t, np.ndarray)
        x = _as_tensor(x_t, "x_t")
        if x.dim() not in (1, 2):
            raise ValueError(f"step takes one step, shape (input_size,) or (batch, "
                             f"input_size); got shape {tuple(x.shape)}. Use feed() for "
                             f"several steps.")
        y = self.feed(x.unsqueeze(-2))  # (…, 1, H')
        y = y[..., 0, :]
        return y.numpy() if is_np else y

    def _refuse(self, x: np.ndarray) -> None:
        """check_finite on the fast path: the module's own message; the state is unchanged."""
        _check_finite(torch.from_numpy(np.asarray(x)), "x_t", type(self.module).__name__)

    def _check_batch(self, batch: int) -> None:
        if batch != self.batch_size:
            raise ValueError(f"this Stream carries state for batch_size={self.batch_size}; got "
                             f"a batch of {batch}. Make a Stream(module, batch_size={batch}).")

    # -- the batch-1 fast path (a cell's "<cell>_stream" kernel) -------------------------------
    def _fast_ok(self, x_t) -> bool:
        """Whether dispatch has a one-step kernel for steps like x_t (asked once per rank):
        a numpy array or a tensor (anything else, a pandas row among them, is converted on
        the other path; the kernel cannot read it)."""
        if not isinstance(x_t, np.ndarray | Tensor):
            return False
        options = self._option_items()
        if options != self._routed:  # the first step, or an option set since (mid-stream)
            self._reroute(options)
        ndim = x_t.ndim
        if ndim not in self._routes:
            self._routes[ndim] = self._ask_dispatch(ndim)
        return self._routes[ndim] is not None

    def _options(self) -> dict:
        m = self.module
        return {k: getattr(m, k) for k in m.spec.options}

    def _option_items(self) -> tuple:
        """The module's cell options (``spec.options``: reset_after, nonlinearity, mode) now,
        as (name, value) pairs."""
        m = self.module
        return tuple((k, getattr(m, k)) for k in m.spec.options)

    def _reroute(self, options: tuple) -> None:
        """Forget every route and kernel, asked for other options: the next step asks
        dispatch again with ``options`` (a kernel of that cell form, or feed), the carried
        state kept. A switch set on the module that is not True or False (reset_after="False",
        truthy) is refused, as the module's forward refuses it, the state unchanged."""
        m = self.module
        for k, v in options:
            if isinstance(m.spec.options.get(k), bool):  # (a subclass may add its own keys)
                check_flag(v, k, type(m).__name__)
        self._routes, self._routed = {}, options
        self._kernel = self._layout = None
        self._ids, self._vsum = [], -1  # a probe of the new options at the next packing
        self._set_state(self._h)  # unbinds the hot path

    def _ask_dispatch(self, ndim: int):
        fn, reason = self._route(ndim)
        if fn is None:
            log.debug("Stream: no one-step kernel (%s_stream); steps go through feed. %s",
                      self.module.spec.name, reason)
        return fn

    def _route(self, ndim: int):
        """(the stream op's kernel builder for steps of rank ``ndim``, "") or (None, why
        not)."""
        m = self.module
        op = f"{m.spec.name}_stream"
        if m.backend not in ("auto", "cpu"):
            fn, reason = None, f"the module names backend={m.backend!r}."
        elif getattr(m, "zoneout", 0):  # the kernels step h' = h̃; feed's h' = p h + (1 − p) h̃
            fn, reason = None, f"zoneout={m.zoneout}: the one-step kernels have no zoneout."
        else:
            try:
                fn = dispatch.select(op, "auto", h=self._h[0], x_ndim=ndim,
                                     proj_size=getattr(m, "proj_size", 0), **self._options())
                reason = ""
            except ValueError as err:
                fn, reason = None, str(err)
        return fn, reason

    def _pack(self) -> np.ndarray:
        """The kernel's packed weights, re-packed when a weight changes (in place or
        replaced): the parameters and the buffers (an int8 module's weights are buffers)."""
        params = [*self.module.parameters(), *self.module.buffers()]
        ids = [(id(p), p.data_ptr()) for p in params]  # (a new tensor under p.data: its data)
        if ids != self._ids:  # (the probe also reads the options the routes were asked for)
            self._probe = _version_probe(params, self.module, self._routed)
            self._ids, self._vsum = ids, -1
        vsum = self._probe()
        if vsum != self._vsum:
            m = self.module
            # a GRU/LSTM's activation set since (its setter bumps weight_ih's version)
            activations.standard(m, "Stream (the one-step kernels)")
            self._packed = self._kernel.pack([m.layer_params(layer, 0)
                                              for layer in range(m.num_layers)])
            self._vsum = vsum
        return self._packed

    def _fast_setup(self):
        m = self.module
        states = [s.numpy()[:, 0] for s in self._h]  # each (L, H): views of the carried state
        build = self._routes[1]
        self._kernel = kern = build(states, m.input_size, **self._options())
        layout = (states[0].dtype, tuple(self._options().items()))
        if layout != self._layout:  # packed for another dtype or cell form: pack again
            self._layout, self._vsum = layout, -1
        self._pack()
        h = states[0]
        finite = kern.finite if m.check_finite else None
        self._fast = (kern.step, h, kern.extra, (m.input_size,), h.dtype, h[-1], finite)
        return self._fast

    def _fast_step(self, x_t, fast):
        packed = self._pack()
        kernel, h, extra, shape, dtype, top, finite = fast
        is_torch = isinstance(x_t, Tensor)
        x = x_t.detach().numpy() if is_torch else x_t
        if x.shape != shape:
            raise ValueError(f"x_t has shape {x.shape}; the module expects "
                             f"(input_size,) = {shape}.")
        x = x.astype(dtype, copy=False)
        if finite and not finite(x):
            self._refuse(x)
        kernel(x, h, packed, extra)  # (x, h, params, GRU reset_after / c / RNN relu)
        out = top.copy()
        self._install_hot()
        return torch.from_numpy(out) if is_torch else out

    def _hot_probe(self):
        """() -> the weights' version sum, checked on every hot step; None where the packed
        weights cannot go stale (``Int8Stream``)."""
        return self._probe

    def _install_hot(self) -> None:
        """Bind ``self.step`` to a closure over the fast path's kernel, state, packed weights
        and checks: a numpy step of the right shape and dtype then costs one Python call,
        three checks (the weights' versions and the cell options in one), the kernel and
        the output's copy (no attribute reads: ~0.1 µs less than the method). Anything
        else, a weight changed in place and a cell option set since (``reset_after``), goes
        through the class's ``step``, which re-packs or re-routes and binds again;
        ``reset()``, ``feed`` and a new state unbind it."""
        kernel, h, extra, shape, dtype, top, finite = self._fast
        packed, probe, vsum = self._packed, self._hot_probe(), self._vsum
        if probe is None:  # packed weights that cannot go stale (Int8Stream): the options
            probe, vsum = _version_probe([], self.module, self._routed), 0
        ndarray, full = np.ndarray, type(self).step

        def step(x_t):
            if type(x_t) is ndarray and x_t.dtype is dtype and x_t.shape == shape and \
                    probe() == vsum:
                if finite is not None and not finite(x_t):
                    self._refuse(x_t)
                kernel(x_t, h, packed, extra)
                return top.copy()  # never the state itself: the next step overwrites it
            return full(self, x_t)

        step.__doc__ = full.__doc__
        self.step = step


def _not_a_module(obj) -> str:
    """Why Stream cannot take ``obj`` (no grukit.nn recurrent module) and what to stream."""
    kind = type(obj).__name__
    names = ", ".join(spec.module.rsplit(".", 1)[-1] for spec in cells.all_specs())
    head = f"Stream needs a grukit.nn recurrent module ({names})"
    inner = getattr(obj, "layer", None)
    if isinstance(getattr(inner, "spec", None), cells.CellSpec):  # a Keras-style Bidirectional
        return (f"{head}; got {kind}, a bidirectional layer: its backward direction starts at "
                f"each sequence's end, so it cannot stream; stream a unidirectional layer's "
                f"module, Stream(layer.rnn).")
    spec = getattr(obj, "spec", None)
    if isinstance(spec, cells.CellSpec) and not hasattr(obj, "return_sequences"):  # GRUCell
        return (f"{head}; got {kind}, a one-step cell, which carries no state between calls; "
                f"stream a {spec.module} holding its weights (each name + '_l0').")
    if isinstance(spec, cells.CellSpec):  # a Keras-style recurrent layer
        if getattr(obj, "go_backwards", False):
            return (f"{head}; got {kind}(go_backwards=True), a Keras-style layer that reads "
                    f"each sequence from its end, so it cannot stream; stream a layer without "
                    f"go_backwards, Stream(layer.rnn).")
        built = isinstance(getattr(obj, "rnn", None), RecurrentBase)
        return (f"{head}; got {kind}, a Keras-style grukit.layers layer: stream the module it "
                f"holds, Stream(layer.rnn)" + ("." if built else
                                               " (made on its first call: call the layer or "
                                               "its model on a batch first)."))
    if isinstance(obj, torch.nn.RNNBase):
        return (f"{head}; got torch.nn.{kind}. Convert it with grukit.convert.from_torch "
                f"first.")
    return f"{head}; got {kind}."


def _as_tensor(a, name: str) -> Tensor:
    if isinstance(a, Tensor):
        return a
    try:
        arr = np.asarray(a)  # a pandas row's is read-only: torch warns on sharing it
        t = torch.as_tensor(arr if arr.flags.writeable else arr.copy())
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a numeric array or tensor; got "
                        f"{type(a).__name__} {a!r:.60}.") from err
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32,
                                                 torch.int64, torch.uint8)):
        raise TypeError(f"{name} must hold numbers; got dtype {t.dtype}. Convert it to float.")
    return t


def _version_probe(params: list, module=None, options: tuple = ()):
    """() -> the sum of the parameters' version counters (torch bumps a tensor's counter on
    every in-place change and never lowers it, so the sum moves exactly when one does), or
    NaN (equal to no sum) once one of the module's ``options``, (name, value) pairs, has
    another value.

    One expression written for the count, ``p0._version + p1._version + …`` over closure
    cells, compiled once per packing (as ``dataclasses`` writes its methods): each read
    costs ~60 ns, the floor of torch's attribute; a loop or a sum over groups of them costs
    twice as much (1.0 µs against 0.55 µs for a LayerNorm-GRU layer's 8 parameters)."""
    names = [f"p{k}" for k in range(len(params))]
    if not all(k.isidentifier() for k, _ in options):
        raise ValueError(f"cell options must be attribute names; got {options!r}.")
    total = " + ".join(f"{n}._version" for n in names) or "0"
    same = " and ".join(f"m.{k} == o{j}" for j, (k, _) in enumerate(options))
    body = f"({total}) if {same} else nan" if same else total
    args = ", ".join(["m", "nan", *names, *(f"o{j}" for j in range(len(options)))])
    scope: dict = {}
    exec(f"def make({args}):\n    return lambda: {body}\n", scope)  # noqa: S102
    return scope["make"](module, float("nan"), *params, *(v for _, v in options))

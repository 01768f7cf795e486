"""Keras' ``BatchNormalization`` over the last axis of x (B, F) or (B, T, F) (below), and
``UnitNormalization`` and ``Normalization`` (their docstrings):

    training:   μ, σ² = the mean and (biased) variance of each feature over the batch (and
                time; with sequence lengths, over the valid steps only, as Keras' masked
                moments: Σ / (n + 1e-7));
                moving_mean ← m · moving_mean + (1 − m) · μ,  moving_variance likewise with σ²
    inference:  μ, σ² = moving_mean, moving_variance
    y = γ ⊙ (x − μ) / √(σ² + ε) + β        (every position, padding included, as Keras)

Keras' defaults (momentum m = 0.99, ε = 1e-3; torch's are 0.1 = 1 − m and 1e-5, and torch
updates the moving variance with the unbiased one). A frozen layer (``trainable=False``)
uses the moving statistics in training too and leaves them, as Keras. Weights in Keras'
order: γ (if scale), β (if center), moving_mean, moving_variance; the moving ones are not
trained (Keras' non-trainable weights). The sequence lengths pass on (Keras passes the
mask)."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch import Tensor, nn

from .core import Layer, check_switch, register

_KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), in the masked moments' denominators


@register
class BatchNormalization(Layer):
    """``BatchNormalization(axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True)``
    (see the module docstring); ``gamma_regularizer`` / ``beta_regularizer`` and the four
    initializers as Keras'."""

    REGULARIZED = {"gamma_regularizer": ("gamma",), "beta_regularizer": ("beta",)}
    INITIALIZED = {"gamma_initializer": "ones", "beta_initializer": "zeros",
                   "moving_mean_initializer": "zeros", "moving_variance_initializer": "ones"}
    KERAS_START = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, **kwargs):
        for arg in ("renorm", "synchronized"):
            if kwargs.pop(arg, False):
                raise ValueError(f"BatchNormalization: {arg}=True has no grukit form; leave "
                                 f"it out.")
        kwargs.pop("renorm_clipping", None), kwargs.pop("renorm_momentum", None)
        for arg in ("beta_constraint", "gamma_constraint"):
            if kwargs.pop(arg, None) is not None:
                raise ValueError(f"BatchNormalization: {arg} has no grukit form; leave it out.")
        super().__init__(**kwargs)
        if axis not in (-1, [-1], (-1,)) or isinstance(axis, bool):
            raise ValueError(f"BatchNormalization: only axis=-1 (the features, channels last) "
                             f"has a grukit form; got axis={axis!r}.")
        if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) \
                or not 0 <= momentum <= 1:
            raise ValueError(f"BatchNormalization: momentum must be a number in [0, 1] (the "
                             f"weight of the old moving statistics); got {momentum!r}.")
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) \
                or not epsilon > 0:
            raise ValueError(f"BatchNormalization: epsilon must be a positive number; got "
                             f"{epsilon!r}.")
        for arg, value in (("center", center), ("scale", scale)):
            if not isinstance(value, bool):
                raise TypeError(f"BatchNormalization: {arg} must be True or False; got "
                                f"{value!r}.")
        self.momentum, self.epsilon = float(momentum), float(epsilon)
        self.center, self.scale = center, scale

    def build(self, input_shape):
        features = input_shape[-1]
        if features is None:
            raise ValueError("BatchNormalization needs the number of features (the last axis).")
        self.gamma = nn.Parameter(torch.ones(features)) if self.scale else None
        self.beta = nn.Parameter(torch.zeros(features)) if self.center else None
        # Keras' non-trainable weights: parameters (counted, saved) that training leaves
        self.moving_mean = nn.Parameter(torch.zeros(features), requires_grad=False)
        self.moving_variance = nn.Parameter(torch.ones(features), requires_grad=False)
        super().build(input_shape)

    def requires_grad_(self, requires_grad: bool = True):
        super().requires_grad_(requires_grad)
        if getattr(self, "built", False) and hasattr(self, "moving_mean"):
            self.moving_mean.requires_grad_(False)
            self.moving_variance.requires_grad_(False)
        return self

    def _moments(self, x: Tensor, lengths) -> tuple[Tensor, Tensor]:
        axes = tuple(range(x.dim() - 1))
        if lengths is None or x.dim() != 3:
            return x.mean(axes), x.var(axes, unbiased=False)
        t = torch.arange(x.shape[1], device=x.device)
        w = (t[None, :] < lengths.to(x.device)[:, None]).unsqueeze(-1).to(x.dtype)  # (B,T,1)
        n = w.sum() + _KERAS_EPSILON
        mean = (x * w).sum(axes) / n
        return mean, (((x - mean) * w) ** 2).sum(axes) / n

    def call(self, x: Tensor, lengths):
        if self.training and self._trainable:
            mean, var = self._moments(x, lengths)
            with torch.no_grad():
                m = self.momentum
                self.moving_mean.copy_(self.moving_mean * m + mean.detach() * (1 - m))
                self.moving_variance.copy_(self.moving_variance * m + var.detach() * (1 - m))
        else:
            mean, var = self.moving_mean, self.moving_variance
        y = (x - mean) * torch.rsqrt(var + self.epsilon)
        if self.gamma is not None:
            y = y * self.gamma
        if self.beta is not None:
            y = y + self.beta
        return y, lengths

    def slots(self, n: int) -> list[str]:
        kept = (self.scale, self.center, True, True)
        return [k for k, keep in zip(self.INITIALIZED, kept, strict=True) if keep]

    def keras_params(self) -> list[Tensor]:
        """The weights as Keras lists them: γ (if scale), β (if center), moving_mean,
        moving_variance."""
        return [p for p in (self.gamma, self.beta, self.moving_mean, self.moving_variance)
                if p is not None]

    def onnx_graph(self, g, x: str, lengths):
        """Inference: y = x · s + c with s = γ / √(moving_variance + ε), c = β − moving_mean · s
        (computed in float64)."""
        with torch.no_grad():
            s = torch.rsqrt(self.moving_variance.double() + self.epsilon)
            if self.gamma is not None:
                s = s * self.gamma.double()
            c = -self.moving_mean.double() * s
            if self.beta is not None:
                c = c + self.beta.double()
        y = g.op("Mul", [x, g.weight(s.float(), "bn_scale")], "bn")
        return g.op("Add", [y, g.weight(c.float(), "bn_shift")], "bn"), lengths

    def _config(self):
        cfg = {} if self.momentum == 0.99 else {"momentum": self.momentum}
        cfg |= {} if self.epsilon == 1e-3 else {"epsilon": self.epsilon}
        return cfg | ({} if self.center else {"center": False}) | (
            {} if self.scale else {"scale": False})


def _axes(axis, cls: str, none_ok: bool) -> tuple[int, ...]:
    """Keras' ``axis`` (an int, a list of ints; None where ``none_ok``) as a tuple."""
    if axis is None and none_ok:
        return ()
    axes = tuple(axis) if isinstance(axis, (list, tuple)) else (axis,)
    if (not axes and not none_ok) or any(isinstance(a, bool) or not isinstance(
            a, numbers.Integral) for a in axes):
        raise TypeError(f"{cls}: axis must be an integer or a list of integers"
                        f"{' (or None)' if none_ok else ''}; got {axis!r}.")
    return tuple(int(a) for a in axes)


def _resolved(axes: tuple[int, ...], ndim: int, cls: str, what: str) -> tuple[int, ...]:
    """``axes`` of an input of ``ndim`` dimensions (batch included) as sorted axes ≥ 1."""
    out = set()
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{cls}: axis {a} is out of range for an input of {ndim} "
                             f"dimensions (batch included).")
        if a % ndim == 0:
            raise ValueError(f"{cls}: axis 0 is the batch; {what} along a feature or time "
                             f"axis (axis=-1, the default).")
        out.add(a % ndim)
    return tuple(sorted(out))


def _adapt_array(data) -> np.ndarray:
    """``Normalization.adapt``'s data as one numpy array (rows first); batches concatenated."""
    if isinstance(data, torch.Tensor):
        return data.detach().cpu().numpy()
    if hasattr(data, "to_numpy"):  # pandas
        return data.to_numpy()
    if isinstance(data, np.ndarray) or isinstance(data, (str, bytes)) \
            or not hasattr(data, "__iter__"):
        return np.asarray(data)
    items = list(data)  # a list, or a generator / DataLoader of batches

    def batch(b):  # an array or tensor, or the x of an (x, y) pair; None for a row
        if isinstance(b, (tuple, list)) and b and hasattr(b[0], "shape"):
            b = b[0]
        return b if hasattr(b, "shape") and len(b.shape) >= 1 else None

    batches = [batch(b) for b in items]
    if not items or any(b is None for b in batches):
        return np.asarray(items)  # rows
    return np.concatenate([_adapt_array(b) for b in batches])


@register
class UnitNormalization(Layer):
    """Keras' ``UnitNormalization(axis=-1)``: each vector along ``axis`` (an int or a list of
    axes taken together) scaled to unit L2 norm, as Keras' ``ops.normalize``::

        y = x · min(1 / √(Σ_axis x²), 1 / ε)        ε = 1e-12 (a zero vector stays zero)

    The sequence lengths pass on (Keras passes the mask)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        axes = _axes(axis, "UnitNormalization", none_ok=False)
        self.axis = list(axes) if isinstance(axis, (list, tuple)) else axes[0]

    def _dims(self, ndim: int) -> tuple[int, ...]:
        axes = tuple(self.axis) if isinstance(self.axis, list) else (self.axis,)
        return _resolved(axes, ndim, "UnitNormalization", "normalize")

    def build(self, input_shape):
        self._dims(len(input_shape) + 1)
        super().build(input_shape)

    def call(self, x: Tensor, lengths):
        square_sum = x.square().sum(self._dims(x.dim()), keepdim=True)
        return x * torch.rsqrt(square_sum).clamp_max(1e12), lengths

    def onnx_graph(self, g, x: str, lengths):
        rank = getattr(self, "_rank", None)
        axes = list(self._dims(rank)) if rank else [self.axis] \
            if not isinstance(self.axis, list) else self.axis
        ss = g.op("ReduceSumSquare", [x], "sumsq", axes=axes, keepdims=1)
        inv = g.op("Min", [g.op("Reciprocal", [g.op("Sqrt", [ss])]), g.scalar(1e12)])
        return g.op("Mul", [x, inv], "unit"), lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None):
        if isinstance(x, Tensor):
            self._rank = x.dim()  # for the ONNX form
        return super().forward(x, lengths)

    def _config(self):
        return {"axis": self.axis}


@register
class Normalization(Layer):
    """Keras' ``Normalization(axis=-1, mean=None, variance=None, invert=False)``: features
    standardized by a mean and variance kept per entry of ``axis`` (the axes that keep their
    own statistics, batch counted as 0; None: one mean and variance for everything)::

        y = (x − mean) / max(√variance, ε)           ε = 1e-7 (Keras' epsilon)
        invert=True:  y = mean + x · max(√variance, ε)   (undoes it)

    ``mean`` and ``variance`` are given (a number, or an array broadcast over the kept axes'
    sizes, as Keras), or learned from data by ``adapt(data)`` (numpy, torch, pandas or a
    list: the mean and biased variance of each kept entry over the batch and the other
    axes), which builds the layer. Adapted, its weights are Keras' ``mean``, ``variance``
    (the kept axes' sizes) and ``count`` (the number of values each statistic is over;
    Keras 3 leaves it at 0, and neither reads it); training leaves them. The sequence
    lengths pass on (Keras passes the mask)."""

    def __init__(self, axis=-1, mean=None, variance=None, invert: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes(axis, "Normalization", none_ok=True)
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither (then "
                             "call adapt(data)).")
        if mean is not None:
            for what, v in (("mean", mean), ("variance", variance)):
                a = np.asarray(v)
                if a.dtype.kind not in "biuf" or not np.isfinite(a).all():
                    raise ValueError(f"Normalization: {what} must hold finite numbers; got "
                                     f"{v!r}.")
            if np.shape(mean) != np.shape(variance):
                raise ValueError(f"Normalization: mean and variance must have the same shape; "
                                 f"got {np.shape(mean)} and {np.shape(variance)}.")
            if np.ndim(mean) > len(self.axis):
                raise ValueError(f"Normalization: mean has {np.ndim(mean)} axes but axis="
                                 f"{self.axis} keeps {len(self.axis)}; give one value per "
                                 f"kept entry (or a single number).")
            if (np.asarray(variance) < 0).any():
                raise ValueError("Normalization: variance must be 0 or more.")
        self.input_mean = None if mean is None else np.asarray(mean, np.float64).tolist()
        self.input_variance = None if variance is None else \
            np.asarray(variance, np.float64).tolist()
        self.invert = check_switch(invert, "Normalization: invert")

    def _keep(self, input_shape) -> tuple[int, ...]:
        return _resolved(self.axis, len(input_shape) + 1, "Normalization", "normalize")

    def build(self, input_shape):
        keep = self._keep(input_shape)
        sizes = tuple(input_shape[d - 1] for d in keep)
        if None in sizes:
            raise ValueError(f"Normalization: the axes it keeps statistics for ({keep}) need "
                             f"fixed sizes; got an input (batch, "
                             f"{', '.join(map(str, input_shape))}).")
        self._kept, self._sizes, self._ndim = keep, sizes, len(input_shape) + 1
        if self.input_mean is None:
            self.mean = nn.Parameter(torch.zeros(sizes), requires_grad=False)
            self.variance = nn.Parameter(torch.ones(sizes), requires_grad=False)
            # a float, counted as Keras counts its int weight (count_params, summary)
            self.count = nn.Parameter(torch.zeros(()), requires_grad=False)
        else:
            expanded = [1] * len(keep)  # the given array's axes are the last kept ones
            shape = np.shape(self.input_mean)
            for k in range(1, len(shape) + 1):
                expanded[-k] = shape[-k]
            try:
                mean, var = (torch.tensor(v, dtype=torch.float32).reshape(expanded)
                             .broadcast_to(sizes).clone()
                             for v in (self.input_mean, self.input_variance))
            except RuntimeError:
                raise ValueError(f"Normalization: mean and variance of shape {shape} do not "
                                 f"fit the kept axes' sizes {sizes}.") from None
            self.register_buffer("mean", mean)
            self.register_buffer("variance", var)
        super().build(input_shape)

    def requires_grad_(self, requires_grad: bool = True):
        super().requires_grad_(requires_grad)
        for p in self.parameters(recurse=False):
            p.requires_grad_(False)  # Keras' non-trainable weights
        return self

    def adapt(self, data) -> None:
        """Set ``mean`` and ``variance`` from ``data`` (N, ...), a sample per row: numpy, torch,
        pandas or a list of rows; or, as Keras takes it, an iterable of batches (a list or
        generator of arrays or tensors, a DataLoader; of (x, y) pairs, x), taken together."""
        if self.input_mean is not None:
            raise ValueError("Normalization: this layer was given mean and variance, so adapt "
                             "has nothing to learn; leave them out to adapt.")
        try:
            data = _adapt_array(data)
        except ValueError:
            raise ValueError("Normalization.adapt: data must be an array of numbers, all rows "
                             "(or batches) the same shape after the first axis.") from None
        if data.dtype.kind not in "biuf":
            raise TypeError(f"Normalization.adapt: data must hold numbers; got dtype "
                            f"{data.dtype}. Convert it (data.astype('float32')).")
        if data.ndim < 1 or data.shape[0] == 0 or data.size == 0:
            raise ValueError("Normalization.adapt: data holds no values; pass at least one "
                             "sample.")
        if data.ndim < 2 and self.axis:
            raise ValueError(f"Normalization.adapt: data of shape {data.shape} has no axis after "
                             f"the samples' to keep statistics for (axis={list(self.axis)}); "
                             f"pass one feature per column, data.reshape(-1, 1).")
        data = data.astype(np.float64)
        if not np.isfinite(data).all():
            raise ValueError("Normalization.adapt: data holds NaN or Inf values, which would "
                             "make the mean and variance NaN; fill or drop them first.")
        shape = tuple(data.shape[1:])
        keep = self._keep(shape)
        if self.built and tuple(shape[d - 1] for d in keep) != self._sizes:
            raise ValueError(f"Normalization was built for inputs (batch, ...) whose kept axes "
                             f"{keep} have sizes {self._sizes}; adapt got data shaped "
                             f"{data.shape[:1] + shape}.")
        if not self.built:
            self.build(shape)
        reduce = tuple(d for d in range(data.ndim) if d not in keep)
        mean, var = data.mean(axis=reduce), data.var(axis=reduce)
        with torch.no_grad():
            self.mean.copy_(torch.from_numpy(np.asarray(mean)))
            self.variance.copy_(torch.from_numpy(np.asarray(var)))
            self.count.fill_(int(np.prod([data.shape[d] for d in reduce])))

    def _broadcast(self, t: Tensor, ndim: int) -> Tensor:
        """A kept-axes tensor shaped to broadcast against an input of ``ndim`` dimensions."""
        shape = [1] * ndim
        for d, n in zip(self._kept, self._sizes, strict=True):
            shape[d] = n
        return t.reshape(shape)

    def call(self, x: Tensor, lengths):
        if x.dim() != self._ndim or any(
                x.shape[d] != n for d, n in zip(self._kept, self._sizes, strict=True)):
            raise ValueError(f"Normalization was built for inputs whose kept axes {self._kept} "
                             f"have sizes {self._sizes}; got shape {tuple(x.shape)}.")
        mean = self._broadcast(self.mean, x.dim())
        scale = self._broadcast(self.variance, x.dim()).sqrt().clamp_min(_KERAS_EPSILON)
        if not x.is_floating_point():
            x = x.to(mean.dtype)
        return (mean + x * scale if self.invert else (x - mean) / scale), lengths

    def onnx_graph(self, g, x: str, lengths):
        ndim = self._ndim
        with torch.no_grad():
            mean = self._broadcast(self.mean.double(), ndim)
            scale = self._broadcast(self.variance.double(), ndim).sqrt() \
                .clamp_min(_KERAS_EPSILON)
        m, s = g.weight(mean.float(), "norm_mean"), g.weight(scale.float(), "norm_scale")
        if self.invert:
            return g.op("Add", [m, g.op("Mul", [x, s])], "denorm"), lengths
        return g.op("Div", [g.op("Sub", [x, m]), s], "norm"), lengths

    def keras_params(self) -> list[Tensor]:
        """Keras' weights: mean, variance, count when adapted; none when given."""
        return [] if self.input_mean is not None else [self.mean, self.variance, self.count]

    def _config(self):
        return {"axis": list(self.axis) if self.axis else None, "mean": self.input_mean,
                "variance": self.input_variance, "invert": self.invert}

"""What ``compile`` / ``fit`` / ``evaluate`` / ``predict`` need: names for optimizers,
losses and metrics (Keras' strings and defaults), and turning inputs into batches."""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def _fused(cls, params, **settings) -> torch.optim.Optimizer:
    """``cls`` with torch's fused kernel: one kernel per parameter instead of about ten
    tensor ops each (Adam at the article's model: 51 instead of 159 µs of CPU a step on one
    thread, and far fewer hand-offs to torch's thread pool on two); torch's default
    implementation where the parameters' device or dtype has no fused kernel. The fused
    kernel computes the same update in another order (last-bit differences: 3e-8 after
    100 Adam steps)."""
    params = list(params)
    try:
        return cls(params, fused=True, **settings)
    except (RuntimeError, ValueError, TypeError):  # e.g. a device without the fused kernel
        return cls(params, **settings)


_CLASSES = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD,
            "rmsprop": torch.optim.RMSprop, "adagrad": torch.optim.Adagrad}


def optimizer(name: str, params, **settings) -> torch.optim.Optimizer:
    """torch's optimizer ``name`` ("adam", "adamw", "sgd", "rmsprop", "adagrad") on ``params``
    with ``settings`` as torch names them (``lr=...``), on torch's fused kernel where it has
    one (see ``_fused``). What the task estimators train with."""
    if name not in _CLASSES:
        raise ValueError(f"optimizer must be one of {', '.join(_CLASSES)}; got {name!r}.")
    if name == "rmsprop":  # torch has no fused RMSprop
        return torch.optim.RMSprop(params, **settings)
    return _fused(_CLASSES[name], params, **settings)


class _Rate:
    """Keras' ``optimizer.learning_rate``: read from, and set on, every parameter group (a
    torch optimizer keeps it as ``param_groups[k]["lr"]``)."""

    @property
    def learning_rate(self) -> float:
        return float(self.param_groups[0]["lr"])

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        value = float(value)  # a number, a 0-d tensor or array
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"learning_rate must be a finite number, 0 or more; got {value}.")
        for group in self.param_groups:
            group["lr"] = value


class KerasRMSprop(_Rate, torch.optim.Optimizer):
    """Keras 3's RMSprop (no momentum, not centered), whose ε sits inside the root where
    torch's RMSprop adds it outside (√v + ε): per parameter w with gradient g,

        v ← α v + (1 − α) g²          w ← w − lr · g / √(v + ε)

    (α is Keras' ``rho``; the settings and state keep torch's RMSprop's names)."""

    def __init__(self, params, lr: float = 1e-3, alpha: float = 0.9, eps: float = 1e-7):
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        return each_parameter(self, closure, self._update)

    def _update(self, p: Tensor, state: dict, group: dict) -> None:
        if "square_avg" not in state:
            state["square_avg"] = torch.zeros_like(p)
        v = state["square_avg"]  # same shape as p
        v.mul_(group["alpha"]).addcmul_(p.grad, p.grad, value=1 - group["alpha"])
        p.addcdiv_(p.grad, (v + group["eps"]).sqrt_(), value=-group["lr"])


def each_parameter(opt: torch.optim.Optimizer, closure, update):
    """An optimizer step written per parameter: ``closure``'s loss (if given), then
    ``update(p, opt.state[p], group)`` for every parameter with a gradient."""
    loss = None
    if closure is not None:
        with torch.enable_grad():
            loss = closure()
    for group in opt.param_groups:
        for p in group["params"]:
            if p.grad is not None:
                update(p, opt.state[p], group)
    return loss


class _KerasEps:
    """Keras 3's ε in torch's Adam and AdamW (their fused kernels kept). Keras adds ε to √v,
    torch to √v̂ = √(v / (1 − β₂ᵗ)); the two steps are equal when torch's ε at step t is

        ε_t = ε / √(1 − β₂ᵗ)

    which ``step`` sets before each update (the step count is kept in the parameter group,
    so a checkpoint resumes it). Without it, weights whose gradients are near 0 (√v near
    ε) take steps of up to the learning rate where Keras' barely move."""

    def __init__(self, params, eps: float = 1e-7, **settings):
        super().__init__(params, eps=eps, **settings)
        for group in self.param_groups:
            group.setdefault("keras_eps", eps)
            group.setdefault("keras_step", 0)

    def step(self, closure=None):
        for group in self.param_groups:
            if "keras_step" not in group:  # a torch Adam checkpoint: its steps so far
                steps = [self.state[p]["step"] for p in group["params"]
                         if "step" in self.state.get(p, {})]
                group["keras_step"] = int(max(steps)) if steps else 0
            group["keras_step"] = t = group["keras_step"] + 1
            group["eps"] = group.get("keras_eps", 1e-7) / math.sqrt(1 - group["betas"][1] ** t)
        return super().step(closure)


class KerasAdam(_Rate, _KerasEps, torch.optim.Adam):
    """torch's Adam with Keras 3's ε (1e-7, added to √v; see ``_KerasEps``)."""

    resumes = ("Adam",)  # checkpoints of torch's Adam (the same state) resume in it


class KerasAdamW(_Rate, _KerasEps, torch.optim.AdamW):
    """torch's AdamW with Keras 3's ε (1e-7, added to √v; see ``_KerasEps``)."""

    resumes = ("AdamW",)


class KerasSGD(_Rate, torch.optim.SGD):
    """torch's SGD (Keras' update without momentum), with ``learning_rate``."""

    resumes = ("SGD",)


class KerasAdagrad(_Rate, torch.optim.Adagrad):
    """Keras 3's Adagrad, whose ε sits inside the root where torch's Adagrad adds it
    outside (√s + ε): per parameter w with gradient g,

        s ← s + g²          w ← w − lr · g / √(s + ε)

    (the state keeps torch's Adagrad's names, ``sum`` and ``step``, so torch's
    checkpoints resume in it)."""

    resumes = ("Adagrad",)

    @torch.no_grad()
    def step(self, closure=None):
        return each_parameter(self, closure, self._update)

    def _update(self, p: Tensor, state: dict, group: dict) -> None:
        state["step"] += 1
        s = state["sum"]  # same shape as p
        s.addcmul_(p.grad, p.grad, value=1)
        p.addcdiv_(p.grad, (s + group["eps"]).sqrt_(), value=-group["lr"])


# Keras 3's defaults: learning rates, ε, AdamW's weight decay 0.004, Adagrad's first
# accumulator 0.1, RMSprop's update
OPTIMIZERS = {
    "adam": lambda p: _fused(KerasAdam, p, lr=1e-3),
    "adamw": lambda p: _fused(KerasAdamW, p, lr=1e-3, weight_decay=0.004),
    "sgd": lambda p: _fused(KerasSGD, p, lr=1e-2),
    "rmsprop": lambda p: KerasRMSprop(p, lr=1e-3, alpha=0.9, eps=1e-7),
    "adagrad": lambda p: _fused(KerasAdagrad, p, lr=1e-3, initial_accumulator_value=0.1,
                                eps=1e-7),
}


# Losses, as Keras 3 computes them: per position (every index but the last axis, which a
# loss reduces) a value, then the mean over the positions (``EACH`` holds the per-position
# forms, which ``weighted`` scales by sample weights; ``LOSSES`` the means).


def _like(p: Tensor, y: Tensor) -> Tensor:
    """Targets y in the output p's dtype and shape (same number of values; of the same rank,
    the same shape: y (N, F, T) for p (N, T, F) is no reshape but a transpose, which Keras
    refuses too), else a refusal naming both shapes."""
    if y.numel() != p.numel() or y.dim() == p.dim() and y.shape != p.shape:
        raise ValueError(f"the targets of this batch have shape {tuple(y.shape)} but the "
                         f"model's output has shape {tuple(p.shape)}; give one target per "
                         f"output value (a Dense's units, per step for return_sequences).")
    return y.to(p.dtype).reshape(p.shape)


def _bce(p: Tensor, y: Tensor) -> Tensor:
    """mean −y log p̂ − (1 − y) log(1 − p̂), p̂ = clip(p, ε, 1 − ε), ε = 1e-7; targets
    outside [0, 1] (labels 1/2 or −1/+1) refused in one sentence (torch said only 'all
    elements of target should be between 0 and 1')."""
    y = _like(p, y)
    if y.numel():
        low, high = torch.aminmax(y)
        if low < 0 or high > 1:
            raise ValueError(f"binary_crossentropy takes targets in [0, 1] (labels 0 and 1); "
                             f"got {float(low if low < 0 else high)!r}. Map the two classes "
                             f"to 0 and 1.")
    return F.binary_cross_entropy(p.clamp(1e-7, 1 - 1e-7), y, reduction="none").mean(-1)


def _log_probs(p: Tensor) -> Tensor:
    """Keras' reading of class probabilities p (..., C) in its crossentropies: scaled to sum
    to one over the classes, then clipped to [ε, 1 − ε] (ε = 1e-7) before the log,

        log p̂_c = log clip(p_c / Σ_k p_k, ε, 1 − ε)

    (a softmax output is unchanged; sigmoid outputs, which need not sum to one, are read as
    Keras reads them)."""
    return torch.log((p / p.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7))


def _one_hot(p: Tensor, y: Tensor, name: str) -> Tensor:
    """One-hot (or soft) targets y shaped as the output p (..., C), in p's dtype; integer
    labels refused in one sentence naming the sparse form (broadcast against p, (N, 1)
    labels gave a loss, a wrong one; Keras refuses them too)."""
    if y.numel() != p.numel() or y.shape[-1:] != p.shape[-1:]:
        raise ValueError(f"{name} takes one-hot targets shaped as the model's output "
                         f"{tuple(p.shape)}; got targets of shape {tuple(y.shape)}. For "
                         f"integer class labels use sparse_{name}, or one-hot encode them.")
    return y.to(p.dtype).reshape(p.shape)


def _whole(y: Tensor, name: str) -> Tensor:
    """Class labels y as longs; floating labels that are no whole numbers (0.9999999 from a
    computation, 1.5) refused in one sentence: cast to integers they were cut toward 0, a
    wrong class (Keras cuts them too)."""
    if y.is_floating_point() and y.numel() and not bool((y == y.round()).all()):
        bad = float(y[y != y.round()][0])
        raise ValueError(f"{name} takes whole-number class labels; got {bad!r}. Round them "
                         f"(np.rint(y).astype(int)) if they are classes.")
    return y.long()


def _labels(p: Tensor, y: Tensor, name: str) -> Tensor:
    """Integer class labels y (...) or (..., 1) for the output p (..., C), as longs shaped
    p.shape[:-1]; one-hot rows and labels outside 0 .. C − 1 refused in one sentence (torch
    said 'Expected input batch_size (10) to match target batch_size (30)', or 'Target 5 is
    out of bounds', a device-side assert on a GPU)."""
    if y.numel() * p.shape[-1] != p.numel():
        raise ValueError(f"{name} takes one integer class label per output row, shape "
                         f"{tuple(p.shape[:-1])}; got targets of shape {tuple(y.shape)}. "
                         + (f"For one-hot targets use {name.removeprefix('sparse_')}, or "
                            f"pass y.argmax(-1)." if name.startswith("sparse_") else
                            "Pass one-hot rows' labels as y.argmax(-1)."))
    labels = _whole(y, name).reshape(p.shape[:-1])
    if labels.numel():
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= p.shape[-1]:
            raise ValueError(f"class label {low if low < 0 else high} is outside the model's "
                             f"{p.shape[-1]} classes (0 to {p.shape[-1] - 1}); give the last "
                             f"Dense one unit per class, or fix the labels.")
    return labels


def _cce(p: Tensor, y: Tensor) -> Tensor:
    """One-hot (or soft) targets y (..., C), probabilities p (..., C): −Σ_c y_c log p̂_c."""
    return -(_one_hot(p, y, "categorical_crossentropy") * _log_probs(p)).sum(-1)


def _scce(p: Tensor, y: Tensor) -> Tensor:
    """Integer targets, probabilities: p (..., C) with y (...) or (..., 1), e.g. (N, C) with
    (N,) or (N, 1), per time step (N, T, C) with (N, T) or (N, T, 1); −log p̂_y."""
    labels = _labels(p, y, "sparse_categorical_crossentropy")  # p.shape[:-1]
    return F.nll_loss(_log_probs(p).reshape(-1, p.shape[-1]), labels.reshape(-1),
                      reduction="none").reshape(p.shape[:-1])


def _mse(p: Tensor, y: Tensor) -> Tensor:
    """mean (y − p)²."""
    return (p - _like(p, y)).square().mean(-1)


def _mae(p: Tensor, y: Tensor) -> Tensor:
    """mean |y − p|."""
    return (p - _like(p, y)).abs().mean(-1)


def _huber(p: Tensor, y: Tensor) -> Tensor:
    """mean ½x² where |x| ≤ 1, else |x| − ½ (x = p − y, δ = 1)."""
    return F.huber_loss(p, _like(p, y), reduction="none").mean(-1)


def _mape(p: Tensor, y: Tensor) -> Tensor:
    """100 · mean |y − p| / max(|y|, ε), ε = 1e-7."""
    y = _like(p, y)
    return 100 * ((y - p).abs() / y.abs().clamp_min(1e-7)).mean(-1)


def _msle(p: Tensor, y: Tensor) -> Tensor:
    """mean (log(max(p, ε) + 1) − log(max(y, ε) + 1))²."""
    return (torch.log1p(p.clamp_min(1e-7)) - torch.log1p(_like(p, y).clamp_min(1e-7))) \
        .square().mean(-1)


def _log_cosh(p: Tensor, y: Tensor) -> Tensor:
    """mean log cosh(p − y), as x + softplus(−2x) − log 2 (no overflow for large |x|)."""
    x = p - _like(p, y)
    return (x + F.softplus(-2 * x) - np.log(2.0)).mean(-1)


def _kld(p: Tensor, y: Tensor) -> Tensor:
    """Σ_c y_c log(y_c / p_c) with both clipped to [ε, 1]."""
    y, p = _like(p, y).clamp(1e-7, 1), p.clamp(1e-7, 1)
    return (y * torch.log(y / p)).sum(-1)


def _poisson(p: Tensor, y: Tensor) -> Tensor:
    """mean p − y log(p + ε)."""
    return (p - _like(p, y) * torch.log(p + 1e-7)).mean(-1)


def _cosine(p: Tensor, y: Tensor) -> Tensor:
    """−Σ_c ŷ_c p̂_c with both scaled to unit length (−1 for a perfect match)."""
    return -(F.normalize(_like(p, y), dim=-1, eps=1e-12)
             * F.normalize(p, dim=-1, eps=1e-12)).sum(-1)


def _signs(y: Tensor) -> Tensor:
    """Hinge labels: 0/1 labels become −1/+1 (when every label is 0 or 1), others stay."""
    return 2 * y - 1 if bool(((y == 0) | (y == 1)).all()) else y


def _hinge(p: Tensor, y: Tensor) -> Tensor:
    """mean max(1 − y·p, 0) with y in ±1."""
    return (1 - _signs(_like(p, y)) * p).clamp_min(0).mean(-1)


def _squared_hinge(p: Tensor, y: Tensor) -> Tensor:
    """mean max(1 − y·p, 0)² with y in ±1."""
    return (1 - _signs(_like(p, y)) * p).clamp_min(0).square().mean(-1)


def _categorical_hinge(p: Tensor, y: Tensor) -> Tensor:
    """max(max_c (1 − y_c) p_c − Σ_c y_c p_c + 1, 0) with one-hot y."""
    y = _like(p, y)
    return (((1 - y) * p).amax(-1) - (y * p).sum(-1) + 1).clamp_min(0)


# Keras 3's loss names and aliases (keras.losses.get); each equals Keras' loss on the same
# outputs and targets (tests/models/test_losses_keras.py)
EACH = {
    "mse": _mse, "mean_squared_error": _mse, "mae": _mae, "mean_absolute_error": _mae,
    "huber": _huber, "binary_crossentropy": _bce, "bce": _bce,
    "categorical_crossentropy": _cce, "sparse_categorical_crossentropy": _scce,
    "mape": _mape, "mean_absolute_percentage_error": _mape,
    "msle": _msle, "mean_squared_logarithmic_error": _msle, "log_cosh": _log_cosh,
    "kl_divergence": _kld, "kld": _kld, "poisson": _poisson, "cosine_similarity": _cosine,
    "hinge": _hinge, "squared_hinge": _squared_hinge, "categorical_hinge": _categorical_hinge,
}
EACH |= {k.upper(): EACH[k] for k in ("mse", "mae", "mape", "msle", "kld", "bce")}


def _mean_of(each):
    def loss(p: Tensor, y: Tensor) -> Tensor:
        return each(p, y).mean()
    loss.__name__ = each.__name__.lstrip("_")
    return loss


def _fast(fn):  # torch's one-kernel mean where it has one (the training step's common case)
    return lambda p, y: fn(p, _like(p, y))


LOSSES = {name: _mean_of(each) for name, each in EACH.items()}
for _name in ("mse", "mean_squared_error", "MSE"):
    LOSSES[_name] = _fast(F.mse_loss)
for _name in ("mae", "mean_absolute_error", "MAE"):
    LOSSES[_name] = _fast(F.l1_loss)
LOSSES["huber"] = _fast(F.huber_loss)


def sample_weights(y: Tensor, sample_weight=None, class_weight=None) -> Tensor | None:
    """Per-sample weights (N,) float32 for targets ``y`` (N, ...), or None: ``sample_weight``
    (N,) as given, or ``class_weight`` {class: weight} looked up per sample as Keras does
    (one-hot rows by their argmax, (N,) or (N, 1) labels rounded; a class left out weighs
    1). Bad weights are refused in one sentence."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError("give sample_weight or class_weight, not both (as Keras): fold the "
                         "class weights into the sample weights.")
    if class_weight is not None:
        if not isinstance(class_weight, dict) or not all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool)
                and isinstance(v, (int, float, np.number)) and np.isfinite(v)
                for k, v in class_weight.items()):
            raise ValueError(f"class_weight must be a dict {{class index: weight}} of integers "
                             f"to finite numbers, e.g. {{0: 1.0, 1: 5.0}}; got {class_weight!r}.")
        if y.dim() > 2:
            raise ValueError(f"class_weight needs one label per sample; y has shape "
                             f"{tuple(y.shape)} (per-time-step labels): pass sample_weight.")
        labels = y.argmax(-1) if y.dim() == 2 and y.shape[1] != 1 else y.reshape(len(y))
        labels = torch.round(labels.double()).long() if labels.is_floating_point() else labels
        table = {int(k): float(v) for k, v in class_weight.items()}
        return torch.tensor([table.get(int(c), 1.0) for c in labels.tolist()],
                            dtype=torch.float32)
    if sample_weight is None:
        return None
    w = as_tensor(sample_weight, "sample_weight")
    if w.dim() == 2 and w.shape[1] == 1:
        w = w[:, 0]
    if w.dim() != 1 or len(w) != len(y):
        raise ValueError(f"sample_weight must hold one weight per sample, shape ({len(y)},); "
                         f"got shape {tuple(w.shape)}.")
    return w.float()


def weighted(each, p: Tensor, y: Tensor, lengths: Tensor | None, w: Tensor) -> Tensor:
    """A loss with sample weights w (N,), as Keras: Σ w_i · v_i,… / (number of values),
    where v = ``each(p, y)`` holds the per-position values (N, …) (Σ w_i · v_i,… alone where
    ``each.reduction`` is "sum", a Keras loss object's); per-time-step outputs of a masked
    model count only the steps inside each sequence (``valid_steps``)."""
    v = each(p, y)  # (N, ...)
    if v.dim() == 0:
        raise ValueError("the loss function returns one number per batch, which sample "
                         "weights cannot scale; return one value per sample (average over the "
                         "last axis only, as Keras' losses do).")
    if len(v) != len(w):
        raise ValueError(f"sample weights need outputs with one row per sample; the model's "
                         f"output has shape {tuple(p.shape)} for {len(w)} weights.")
    w = w.to(v.device, v.dtype).reshape(-1, *[1] * (v.dim() - 1)).expand_as(v)
    valid = valid_steps(p, y, lengths)
    if valid is not None:
        v, w = v[valid], w[valid]
    if getattr(each, "reduction", None) == "sum":  # a Keras loss with reduction="sum"
        return (v * w).sum()
    return (v * w).sum() / max(v.numel(), 1)


def _accuracy(p: Tensor, y: Tensor) -> Tensor:
    """Keras' "accuracy": binary (one output unit: probabilities thresholded at 0.5, a hit
    where the label equals the thresholded value, so a soft label of 0.9 is never one, as
    Keras counts) when ``p`` ends in 1; sparse (integer labels, argmax of ``p``) when ``y``
    has one dimension fewer than ``p`` or ends in 1; categorical (one-hot labels, argmax of
    both) otherwise.
    Per time step alike: p (N, T, C) with y (N, T), (N, T, 1) or (N, T, C)."""
    if p.dim() == 1 or p.shape[-1] == 1:  # binary, probabilities
        return _binary_accuracy(p, y)
    if y.dim() < p.dim() or y.shape[-1] == 1:  # sparse: integer labels
        if y.numel() * p.shape[-1] != p.numel():
            _labels(p, y, "accuracy")  # the refusal
        target = y.reshape(p.shape[:-1])
    else:  # one-hot
        if y.shape != p.shape:
            raise ValueError(f"accuracy takes integer class labels, shape "
                             f"{tuple(p.shape[:-1])}, or one-hot targets shaped as the "
                             f"model's output {tuple(p.shape)}; got targets of shape "
                             f"{tuple(y.shape)}.")
        target = y.argmax(-1)
    return (p.argmax(-1) == _whole(target, "accuracy")).float().mean()


def _binary_accuracy(p: Tensor, y: Tensor) -> Tensor:
    """mean [y = (p > 0.5)]: probabilities thresholded at 0.5 against 0/1 labels."""
    return (_like(p, y) == (p > 0.5).to(p.dtype)).float().mean()


def _categorical_accuracy(p: Tensor, y: Tensor) -> Tensor:
    """mean [argmax p = argmax y]: one-hot labels y (..., C) (integer labels refused: the
    argmax of their one column is 0)."""
    return _categorical_accuracy_each(p, y).mean()


def _sparse_categorical_accuracy(p: Tensor, y: Tensor) -> Tensor:
    """mean [argmax p = y]: integer labels y (...) or (..., 1)."""
    return _sparse_categorical_accuracy_each(p, y).mean()


# every loss name, and Keras' accuracies ("accuracy" picks binary, sparse or categorical
# from the shapes, as Keras does); the cosine similarity as a metric is +cos (Keras'
# CosineSimilarity metric, which callbacks maximize), as a loss −cos
METRICS = LOSSES | {
    "cosine_similarity": lambda p, y: -LOSSES["cosine_similarity"](p, y),
    "accuracy": _accuracy,
    "acc": _accuracy,
    "binary_accuracy": _binary_accuracy,
    "categorical_accuracy": _categorical_accuracy,
    "sparse_categorical_accuracy": _sparse_categorical_accuracy,
}


def _accuracy_each(p: Tensor, y: Tensor) -> Tensor:
    """``_accuracy``'s per-position values (1 right, 0 wrong; a binary output's mean over its
    last axis), which weighted metrics weigh."""
    if p.dim() == 1 or p.shape[-1] == 1:
        return _binary_accuracy_each(p, y)
    if y.dim() < p.dim() or y.shape[-1] == 1:
        return _sparse_categorical_accuracy_each(p, y)
    return _categorical_accuracy_each(p, y)


def _binary_accuracy_each(p: Tensor, y: Tensor) -> Tensor:
    right = _like(p, y) == (p > 0.5).to(p.dtype)
    return right.float() if p.dim() == 1 else right.float().mean(-1)


def _categorical_accuracy_each(p: Tensor, y: Tensor) -> Tensor:
    return (p.argmax(-1) == _one_hot(p, y, "categorical_accuracy").argmax(-1)).float()


def _sparse_categorical_accuracy_each(p: Tensor, y: Tensor) -> Tensor:
    if y.numel() * p.shape[-1] != p.numel():
        _labels(p, y, "sparse_categorical_accuracy")  # the refusal
    return (p.argmax(-1) == _whole(y.reshape(p.shape[:-1]),
                                   "sparse_categorical_accuracy")).float()


# the per-position forms of the metrics (every loss's, the accuracies'), which
# compile(weighted_metrics=...) weighs by the sample weights
METRIC_EACH = EACH | {
    "cosine_similarity": lambda p, y: -EACH["cosine_similarity"](p, y),
    "accuracy": _accuracy_each,
    "acc": _accuracy_each,
    "binary_accuracy": _binary_accuracy_each,
    "categorical_accuracy": _categorical_accuracy_each,
    "sparse_categorical_accuracy": _sparse_categorical_accuracy_each,
}


# Keras' names that are no metric of (y_true, y_pred): a mean or sum of values, the bases
_NOT_METRICS = {"mean", "Mean", "sum", "Sum", "metric", "Metric", "mean_metric_wrapper",
                "MeanMetricWrapper"}


def keras_named(name: str):
    """The Keras 3 metric object ``compile(metrics=[name])`` makes for a name grukit has no
    form of its own for ("auc", "precision", "recall", "f1_score", "AUC", "r2_score", ...):
    ``keras.metrics.get(name)`` with Keras' defaults (AUC's 200 thresholds, Precision's and
    Recall's 0.5), named ``name`` as Keras names it; None where Keras has no such name.
    Keras is imported on the torch backend (``KERAS_BACKEND=torch`` where unset); a name
    whose object needs arguments (``MeanIoU``'s ``num_classes``), a name that is no metric
    of (y_true, y_pred), or Keras missing, refused in one sentence."""
    import importlib
    import os
    import sys

    if "keras" not in sys.modules:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        keras = importlib.import_module("keras")
    except ImportError:  # no Keras: grukit's own names only
        raise ValueError(f"unknown metric {name!r}; choose one of {sorted(METRICS)}, pass a "
                         f"callable, or install keras for Keras' other metric names ('auc', "
                         f"'precision', 'recall', 'f1_score', ...).") from None
    try:  # the names keras.metrics.get reads (Keras 3 keeps them here)
        table = importlib.import_module("keras.src.metrics").ALL_OBJECTS_DICT
    except (ImportError, AttributeError):  # another Keras: its public classes
        table = {k: v for k, v in vars(keras.metrics).items() if isinstance(v, type)}
    if name not in table:
        return None
    if name in _NOT_METRICS:
        raise ValueError(f"metric {name!r} is Keras' {table[name].__name__}, not a metric of "
                         f"(y_true, y_pred); pass a metric name (e.g. 'mae') or a function "
                         f"fn(y_true, y_pred).")
    if keras.backend.backend() != "torch":
        raise ValueError(f"metric {name!r} is Keras' {table[name].__name__}, which grukit "
                         f"runs on Keras' torch backend, but Keras runs on "
                         f"{keras.backend.backend()!r}; set KERAS_BACKEND=torch before "
                         f"importing keras.")
    cls = table[name]
    try:
        obj = keras.metrics.get(name)
    except TypeError as err:  # MeanIoU() without num_classes
        import inspect

        needed = [k for k, v in inspect.signature(cls.__init__).parameters.items()
                  if k != "self" and v.default is inspect.Parameter.empty
                  and v.kind is v.POSITIONAL_OR_KEYWORD]
        raise ValueError(f"metric {name!r} is Keras' {cls.__name__}, which needs "
                         f"{', '.join(needed) or 'arguments'}; pass the object, e.g. "
                         f"keras.metrics.{cls.__name__}({', '.join(f'{k}=...' for k in needed)})."
                         ) from err
    if not stateful(obj):  # a function: grukit's tables hold every one of Keras'
        return None
    obj.name = name  # Keras' compile names it so: "auc", "AUC"
    return obj


def metric(m):
    """A ``compile(metrics=...)`` entry as a function ``fn(p, y)``: a name of grukit's
    (``METRICS``), a name of Keras' (``keras_named``: its object), or a callable
    (``user_function``)."""
    if isinstance(m, str) and m.lower() in ("accuracy", "acc"):  # "Accuracy", "ACC": as
        return METRICS["accuracy"]  # Keras' compile reads them (not its Accuracy object)
    if isinstance(m, str) and m not in METRICS:
        obj = keras_named(m)
        if obj is not None:
            return user_function(obj)[0]
    if isinstance(m, str):
        return resolve("metric", METRICS, m)
    return user_function(m)[0]


def weighted_metric(m):
    """An entry of ``compile(weighted_metrics=...)`` (a metric name, a function
    ``fn(y_true, y_pred)``, a Keras metric object) as ``fn(p, y, lengths, w)`` ->
    (value, weight): Keras' weighted mean over the values v (per position; the valid steps
    of a masked model's per-step outputs) with the sample weights w (N,) spread over each
    sample's positions,

        value = Σ w·v / Σ w          weight = Σ w

    (w None: all ones, the plain mean); a Keras metric object's ``update_state`` takes w as
    its ``sample_weight`` (its weight is None: the value covers all it saw). A function that
    returns one number per batch, which no weight can scale, is refused in one sentence."""
    if isinstance(m, str) and m.lower() in ("accuracy", "acc"):  # as Keras' compile
        m = "accuracy"
    if isinstance(m, str) and m not in METRIC_EACH:
        m = keras_named(m) or m  # "auc": Keras' AUC object, weighed by update_state
    if isinstance(m, str):
        each = resolve("weighted metric", METRIC_EACH, m)
    elif stateful(m):
        def keras_metric(p, y, lengths, w):
            m.reset_state()
            return keras_update(m, p, y, lengths, w), None

        keras_metric.state = m
        return keras_metric
    else:
        each = user_function(m)[1]
        if each is None:
            raise ValueError(f"weighted_metrics: {metric_name(m)} is one of torch's losses, "
                             f"which returns one number per batch that sample weights cannot "
                             f"weigh; pass a function fn(y_true, y_pred) that returns one "
                             f"value per sample.")

    def metric(p, y, lengths, w):
        v = each(p, y)  # (N, ...)
        if not isinstance(v, Tensor) or v.dim() == 0:
            raise ValueError(f"weighted_metrics: {metric_name(m)} returns one number per "
                             f"batch, which sample weights cannot weigh; return one value "
                             f"per sample (average over the last axis only).")
        w = torch.ones(len(v), dtype=v.dtype, device=v.device) if w is None else \
            w.to(v.device, v.dtype)
        if len(w) != len(v):
            raise ValueError(f"weighted_metrics: {metric_name(m)} returns values of shape "
                             f"{tuple(v.shape)}, not one row per sample of the {len(w)} "
                             f"weighted.")
        w = w.reshape(-1, *[1] * (v.dim() - 1)).expand_as(v)
        valid = valid_steps(p, y, lengths)
        if valid is not None:
            v, w = v[valid], w[valid]
        total = float(w.sum())
        return (float((v * w).sum()) / total if total else 0.0), total

    return metric


def keras_update(state, p: Tensor, y: Tensor, lengths: Tensor | None, w=None) -> float:
    """A Keras metric object's result once ``update_state`` has seen p, y (the valid steps
    of a masked model's per-step outputs) with the sample weights w (N,) or None."""
    valid = valid_steps(p, y, lengths)
    if valid is not None:
        if w is not None:
            w = w.to(p.device).reshape(-1, 1).expand(valid.shape)[valid]
        p, y = p[valid], y.to(p.device)[valid]
    keras_state_update(state, _same_rank(y, p), p, w)
    return keras_result(state)


def keras_state_update(state, y: Tensor, p: Tensor, w=None) -> None:
    """``state.update_state(y, p, sample_weight=w)`` of a Keras metric object; an error of
    Keras' (targets of a shape it does not take: integer labels for ``Precision`` of several
    classes, ``TopKCategoricalAccuracy``'s k=5 of 3 classes) told in one sentence naming
    the metric and both shapes (it came from deep inside Keras or torch)."""
    try:
        state.update_state(y, p, sample_weight=w)
    except Exception as err:
        name = getattr(state, "name", type(state).__name__)
        why = (str(err).strip().splitlines() or [""])[0][:200]
        raise ValueError(f"the Keras metric {name!r} ({type(state).__name__}) cannot take "
                         f"targets of shape {tuple(y.shape)} with outputs of shape "
                         f"{tuple(p.shape)} ({type(err).__name__}: {why}); give it the "
                         f"targets it takes (e.g. one-hot rows shaped as the outputs), or "
                         f"compile another metric.") from err


def keras_result(state) -> float:
    """A Keras metric object's ``result()`` as the one number a log holds; a result of
    several values (``F1Score`` of several classes, whose default ``average=None`` gives
    one per class) refused in one sentence naming the average to give."""
    v = torch.as_tensor(state.result())
    if v.numel() != 1:
        name = getattr(state, "name", type(state).__name__)
        raise ValueError(f"metric {name!r} gives {v.numel()} values (one per class), which a "
                         f"log of one number per metric cannot hold; pass "
                         f"keras.metrics.{type(state).__name__}(average='macro') (or "
                         f"'micro', 'weighted') instead.")
    return float(v.reshape(()))


def valid_steps(p, y: Tensor, lengths: Tensor | None) -> Tensor | None:
    """The (N, T) mask of the time steps a loss or metric counts, as Keras applies the mask
    of ``Embedding(mask_zero=True)`` (the ``lengths`` the layers hand on) to per-time-step
    outputs p (N, T, ...) with targets y (N, T, ...): steps past each sequence's length are
    left out. None when nothing is masked (no lengths, one output per sequence)."""
    if lengths is None or not isinstance(p, Tensor) or p.dim() < 3 or y.dim() < 2 \
            or tuple(y.shape[:2]) != tuple(p.shape[:2]):
        return None
    return torch.arange(p.shape[1], device=p.device)[None, :] < lengths.to(p.device)[:, None]


def masked(fn, p: Tensor, y: Tensor, lengths: Tensor | None) -> Tensor:
    """``fn(p, y)`` over the valid time steps only (see ``valid_steps``): a mean-reducing loss
    or metric becomes the mean over the steps inside each sequence, as Keras computes it."""
    valid = valid_steps(p, y, lengths)
    if valid is None:
        return fn(p, y)
    return fn(p[valid], y.to(p.device)[valid])


def positions(p: Tensor, y: Tensor, lengths: Tensor | None) -> int:
    """How many values a metric averages over: the valid time steps of per-time-step
    outputs, else one per sample (per time step without a mask)."""
    valid = valid_steps(p, y, lengths)
    if valid is not None:
        return int(valid.sum())
    return max(p.shape[:-1].numel(), 1) if p.dim() > 1 else p.shape[0]


def _torch_form(fn) -> bool:
    """Whether ``fn`` is one of torch's losses (an ``nn.Module`` such as ``nn.MSELoss()``, or
    a function of ``torch.nn.functional``), which take (input, target)."""
    return isinstance(fn, torch.nn.Module) or str(getattr(fn, "__module__", "")).startswith(
        "torch")


def _same_rank(y: Tensor, p: Tensor) -> Tensor:
    """y_true as Keras hands it to a loss or metric function of the user's: in y_pred's
    float dtype, a trailing axis of 1 added or dropped so both have one rank (Keras'
    ``squeeze_or_expand_to_same_rank``)."""
    if p.is_floating_point():
        y = y.to(p.dtype)
    if y.dim() == p.dim() + 1 and y.shape[-1] == 1:
        y = y.squeeze(-1)
    elif p.dim() == y.dim() + 1 and p.shape[-1] == 1:
        y = y.unsqueeze(-1)
    return y


def stateful(fn) -> bool:
    """Whether ``fn`` is a Keras metric object (``keras.metrics.AUC()``), whose value is
    that of everything ``update_state`` saw since ``reset_state``: called as a function it
    went on from the values before (another evaluate's, the training batches')."""
    return all(callable(getattr(fn, k, None)) for k in ("update_state", "reset_state",
                                                        "result"))


def metric_name(fn) -> str:
    """A metric callable's name in the logs: a Keras metric object's ``name`` (as Keras'
    history keys, "auc" or "auc_1"), else the function's or the class's name."""
    if stateful(fn) and isinstance(getattr(fn, "name", None), str):
        return fn.name
    return getattr(fn, "__name__", type(fn).__name__)


def _keras_mean_loss(fn) -> bool:
    """Whether ``fn`` is a Keras loss object whose reduction is a mean over its values
    ("sum_over_batch_size", Keras' default, or "mean"): Σ w·v / (number of values) with
    sample weights w, as ``weighted`` computes it; or their sum ("sum"): Σ w·v."""
    import sys

    keras = sys.modules.get("keras")
    return keras is not None and isinstance(fn, keras.losses.Loss) and \
        getattr(fn, "reduction", None) in ("sum_over_batch_size", "mean", "sum")


def user_function(fn):
    """A callable loss or metric given to ``compile``, as (mean form, per-position form):
    torch's losses keep torch's call, ``fn(pred, target)`` (no per-position form); any other
    function is called as Keras calls it, ``fn(y_true, y_pred)``, y_true shaped as Keras
    shapes it (``_same_rank``), and the values it returns (one per sample, say) averaged, as
    Keras averages a custom loss's values; those values are what sample weights scale. A
    Keras metric object (``stateful``) is read afresh on each call: its state reset, then
    updated with the whole data given (fit's training logs update it batch by batch over
    each epoch, as Keras)."""
    if stateful(fn):  # a Keras metric object: its __call__ adds to what it saw before
        def keras_metric(p: Tensor, y: Tensor) -> Tensor:
            fn.reset_state()
            keras_state_update(fn, _same_rank(y, p), p)
            return torch.tensor(keras_result(fn))

        keras_metric.__name__ = metric_name(fn)
        keras_metric.state = fn  # fit updates it batch by batch over each epoch
        return keras_metric, None
    if _keras_mean_loss(fn):  # keras.losses.Huber(delta=2.0): its per-sample values are
        # its call's, whose mean its reduction takes, as sample weights weigh them in Keras
        def keras_loss(p: Tensor, y: Tensor) -> Tensor:
            return fn(_same_rank(y, p), p)

        def keras_each(p: Tensor, y: Tensor) -> Tensor:
            return fn.call(_same_rank(y, p), p)

        keras_loss.__name__ = keras_each.__name__ = type(fn).__name__
        keras_each.reduction = fn.reduction  # "sum": weighted sums Σ w·v, as Keras
        keras_loss.each = keras_each
        return keras_loss, keras_each
    if _torch_form(fn):
        def torch_loss(p: Tensor, y: Tensor) -> Tensor:  # a function, not a child module
            return fn(p, y)

        torch_loss.__name__ = getattr(fn, "__name__", type(fn).__name__)
        return torch_loss, None

    def each(p: Tensor, y: Tensor) -> Tensor:
        return fn(_same_rank(y, p), p)

    def mean(p: Tensor, y: Tensor) -> Tensor:
        v = each(p, y)
        return v.mean() if isinstance(v, Tensor) and v.dim() else v

    mean.__name__ = each.__name__ = getattr(fn, "__name__", type(fn).__name__)
    mean.each = each  # a mean of values: logged on the training batches too, by their count
    return mean, each


def one_loss(loss):
    """The loss of a model's one output, given as Keras takes it: a name, a callable, or
    either in a list of one (["mse"], Keras' per-output list); several losses or a dict by
    output name refused in one sentence ('unhashable type: list' before)."""
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        return loss[0]
    if isinstance(loss, (list, tuple, dict)):
        raise ValueError(f"a Sequential has one output, so one loss; got a "
                         f"{type(loss).__name__} of {len(loss)}. Pass one name or function.")
    return loss


def metric_list(metrics) -> list:
    """The metrics of a model's one output as a list of names and callables: one of them, a
    list, or Keras' per-output list of one list ([["mae"]]); a dict by output name and
    entries that are neither names nor callables refused in one sentence (a None was taken
    as a metric named 'NoneType' and failed at the first evaluation)."""
    if metrics is None:
        return []
    if isinstance(metrics, str) or callable(metrics):
        return [metrics]
    if isinstance(metrics, dict) or not isinstance(metrics, (list, tuple)):
        raise ValueError(f"metrics must be a name, a function or a list of them (a Sequential "
                         f"has one output); got a {type(metrics).__name__}.")
    if len(metrics) == 1 and isinstance(metrics[0], (list, tuple)):
        metrics = metrics[0]
    bad = [m for m in metrics if not (isinstance(m, str) or callable(m))]
    if bad:
        raise ValueError(f"metrics must be names (e.g. 'accuracy') or functions; got "
                         f"{bad[0]!r}.")
    return list(metrics)


def resolve(kind: str, table: dict, value):
    if callable(value):
        return value
    if value not in table:
        raise ValueError(f"unknown {kind} {value!r}; choose one of {sorted(table)} or pass a "
                         f"callable.")
    return table[value]


def as_tensor(a, name: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """Arrays, lists and tensors -> a tensor; floating data in ``dtype`` (float32, as Keras;
    a float64 model's float64); text,
    ragged lists and NaN/Inf refused in one sentence naming ``name``. A tensor that is part
    of a graph (an encoder's output) is taken as data, detached: fit's backward went on into
    that graph, adding to its weights' gradients, and failed at the second batch ('Trying to
    backward through the graph a second time')."""
    if isinstance(a, Tensor):
        t = a.detach()
    else:
        try:
            arr = np.asarray(a)
        except ValueError as err:  # numpy: "inhomogeneous shape"
            raise ValueError(f"{name} is ragged (its sequences differ in length); pad them to "
                             f"one length (padding id 0 with Embedding(mask_zero=True) is "
                             f"skipped by the recurrent layers).") from err
        if arr.dtype == object and hasattr(a, "to_numpy"):  # pandas' nullable and Arrow
            arr = _pandas_numbers(a, arr)  # dtypes (Float64, Int64, float32[pyarrow])
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype} "
                            f"({type(a).__name__}). Convert it to a float or integer array.")
        with warnings.catch_warnings():  # a read-only array (pandas' copy-on-write views, a
            # memory map) is shared, not copied: nothing here writes to the data
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            t = torch.as_tensor(arr)
    if t.is_complex():
        raise TypeError(f"{name} must hold real numbers; got {t.dtype}.")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        n = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {n} NaN/Inf value(s); impute or drop them first.")
    return t.to(dtype) if t.is_floating_point() and t.dtype != dtype else t


def _pandas_numbers(a, arr: np.ndarray) -> np.ndarray:
    """A pandas Series or DataFrame of nullable or Arrow numeric dtypes (which numpy reads as
    objects) as numbers: integers (and booleans) as int64 where every column is one and no
    value is missing, else float64 with missing values as NaN (then refused by name); other
    object data as numpy read it."""
    import pandas as pd

    dtypes = list(a.dtypes) if isinstance(a, pd.DataFrame) else [a.dtype]
    if not all(pd.api.types.is_numeric_dtype(d) for d in dtypes):
        return arr
    out = a.to_numpy(dtype=np.float64, na_value=np.nan)
    if all(pd.api.types.is_integer_dtype(d) or pd.api.types.is_bool_dtype(d)
           for d in dtypes) and not np.isnan(out).any():
        return a.to_numpy(dtype=np.int64)
    return out


def labelled(batch, method: str) -> tuple:
    """(x, y, sample weights or None) of a batch from a Dataset or DataLoader, which must
    yield (x, y) or (x, y, sample_weight) tensors; anything else (x alone, a dict, four
    items) refused in one sentence naming what came (an unpacking error, or a fourth item
    silently left out, before)."""
    if not isinstance(batch, (tuple, list)) or len(batch) not in (2, 3) \
            or not all(isinstance(t, Tensor) for t in batch):
        got = (f"a dict of {sorted(batch)}" if isinstance(batch, dict) else
               f"{len(batch)} items" if isinstance(batch, (tuple, list)) else
               f"a {type(batch).__name__}")
        raise ValueError(f"{method} takes a Dataset or DataLoader that yields (x, y) or (x, y, "
                         f"sample_weight) tensors; its batches hold {got}. Return such a "
                         f"tuple from __getitem__ (or the collate_fn); predict takes x alone.")
    return batch[0], batch[1], (batch[2] if len(batch) == 3 else None)


def inputs(batch) -> Tensor:
    """x of a batch predict gets from a Dataset or DataLoader: x alone, or the first item of
    a tuple; a dict refused in one sentence."""
    xb = batch[0] if isinstance(batch, (tuple, list)) else batch
    if not isinstance(xb, Tensor):
        got = f"a dict of {sorted(xb)}" if isinstance(xb, dict) else f"a {type(xb).__name__}"
        raise ValueError(f"predict takes a Dataset or DataLoader that yields x tensors (or "
                         f"(x, ...) tuples); its batches hold {got}. Return x from "
                         f"__getitem__ (or the collate_fn).")
    return xb


def batches(x: Tensor, y: Tensor | None, batch_size: int):
    """Consecutive batches, for evaluate and predict (fit draws its own seeded order)."""
    for i in range(0, len(x), batch_size):
        yield x[i:i + batch_size], (None if y is None else y[i:i + batch_size])

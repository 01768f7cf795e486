"""``Sequential``: Keras' model API on torch — add, summary, compile, fit, evaluate, predict,
save — with the recurrent layers running on grukit's kernels."""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np
import torch
from torch import nn

from ..layers import Embedding, Input, Layer
from . import optimizers, training
from .callbacks import Callback, History
from .fit import run_fit
from .keras_model import KerasModelAPI
from .saving import save_model


def _grukit_callback_hint(cb) -> str:
    """" from Keras; use grukit.models.EarlyStopping (the same arguments)" for a Keras
    callback whose class name grukit.models has, else ""."""
    from . import callbacks, tensorboard

    name = type(cb).__name__
    ours = getattr(callbacks, name, None) or getattr(tensorboard, name, None)
    if type(cb).__module__.startswith("keras") and isinstance(ours, type) and \
            issubclass(ours, Callback):
        return f" from Keras; use grukit.models.{name} (the same arguments)"
    return ""


class Sequential(KerasModelAPI, nn.Module):
    """A stack of ``grukit.layers``; ``Sequential([GRU(64, input_shape=(100, 1)), Dense(1)])``
    or ``add`` them one by one. As Keras' ``model(x)`` is inference, the model is in
    evaluation mode (dropout off) outside ``fit`` and ``train_on_batch``; call
    ``model.train()`` for a torch training loop of one's own."""

    def __init__(self, layers=None, name: str = "sequential"):
        super().__init__()
        self.train(False)
        self.name = name
        self.stack = nn.ModuleList()
        self.compiled = False
        self.stop_training = False
        self.history = None  # the last fit's History, as Keras' model.history
        for layer in layers or []:
            self.add(layer)

    # -- structure ---------------------------------------------------------------------------
    def add(self, layer: Layer) -> None:
        """Append ``layer``; when the first layer has an ``input_shape``, the model is built
        at once, as Keras builds it: ``parameters()`` is complete for a torch optimizer and
        ``torch.compile`` right after construction. A layer that does not fit the output of
        the ones before is refused and left out."""
        if isinstance(layer, Input):  # Keras 3's first entry: the next layer's input_shape
            if len(self.stack) or getattr(self, "_input", None) is not None:
                raise ValueError("Input(shape=...) goes first in a Sequential, once.")
            self._input = layer.shape
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add takes a grukit.layers layer; got "
                            f"{type(layer).__name__}.")
        if not len(self.stack) and getattr(self, "_input", None) is not None:
            if layer.input_shape is not None and tuple(layer.input_shape) != self._input:
                raise ValueError(f"Input(shape={self._input}) and the first layer's "
                                 f"input_shape={tuple(layer.input_shape)} differ; give one.")
            layer.input_shape = self._input
        self.stack.append(layer.train(self.training))
        if self.stack[0].input_shape is None:
            return
        try:
            self._shapes = self._trace(self._input_shape())
        except Exception:
            del self.stack[-1]  # the model stays as it was
            raise
        if self.compiled:  # Keras' optimizer trains every weight, those added after compile
            held = {id(p) for g in self.optimizer.param_groups for p in g["params"]}
            new = [p for p in layer.parameters() if id(p) not in held]
            if new and self._named_optimizer:
                self.optimizer.add_param_group({"params": new})
            elif new:
                self._stale = (f"{type(layer).__name__} was added after compile and the torch "
                               f"optimizer given to compile does not hold its weights")

    @property
    def layers(self) -> list[Layer]:
        return list(self.stack)

    def _input_shape(self) -> tuple:
        if not len(self.stack):
            raise ValueError("the model has no layers; add some first.")
        shape = self.stack[0].input_shape
        if shape is None:
            raise ValueError("the first layer has no input_shape; give it one (e.g. "
                             "GRU(64, input_shape=(100, 1))) or call build((None, time, "
                             "features)).")
        return shape

    def build(self, input_shape=None) -> None:
        """Create every layer's weights by running a dummy batch of 2 samples through them.

        ``input_shape`` is Keras' (the batch first: ``(None, 7)``, ``(None, time,
        features)``) or one sample's, grukit's (``(time, features)``). A leading None is the
        batch where the layers take the rest, as Keras reads it (``(None, 7)``: a Dense on
        vectors of 7, not on sequences of them), else an open time length (``(None, 7)``
        for a GRU, which takes no vectors: sequences of any length, 7 features); a leading
        integer is the sample's first size where the layers take the whole shape, else the
        batch's. A shape that neither reading builds is refused with the first reading's
        error, the model left as it was."""
        if input_shape is not None:
            if not len(self.stack):
                raise ValueError("the model has no layers; add some first.")
            self._build_sample(self._reading(_shape(input_shape)))
            return
        self._shapes = self._trace(self._input_shape())

    def _build_sample(self, sample: tuple) -> None:
        """Build for samples of shape ``sample`` (no batch: (time, features), say)."""
        self.stack[0].input_shape = tuple(sample)
        self._shapes = self._trace(self._input_shape())

    def _reading(self, shape: tuple) -> tuple:
        """One sample's shape in ``build``'s ``shape`` (see ``build``): each reading tried,
        in order, on a copy of the layers."""
        readings = [shape]
        if len(shape) >= 2:  # (batch, *sample) as Keras, or the sample as it is
            readings = [shape[1:], shape] if shape[0] is None else [shape, shape[1:]]
        return self._first_built(readings)

    def _first_built(self, readings: list[tuple]) -> tuple:
        """The first of the samples' shapes ``readings`` the layers build for, tried on a
        copy of the layers; none: the first one's error."""
        import copy

        first = None
        for sample in readings:
            trial = Sequential()
            trial.stack = copy.deepcopy(self.stack)  # a failed trace builds no layer here
            trial.stack[0].input_shape = sample
            try:
                trial._trace(sample)
            except Exception as err:  # e.g. 'GRU expects input of shape (batch, time, ...'
                first = first or err
                continue
            return sample
        raise first

    def _trace(self, input_shape) -> list[tuple]:
        """Output shape (without batch) of every layer for an input of ``input_shape``; a size
        left open (None, e.g. the number of time steps) is None where it carries through."""
        ids = isinstance(self.stack[0], Embedding)
        if not ids and input_shape[-1] is None:
            raise ValueError(f"input_shape={tuple(input_shape)}: the last entry is the number "
                             f"of features and must be a positive integer; only the time "
                             f"length may be None.")
        if None not in input_shape:
            return self._trace_once(list(input_shape), ids)
        # an open length traced at two lengths: the output sizes that differ are open too;
        # longer ones where a layer needs more steps (a wide kernel, a long Cropping1D)
        for short, long in ((64, 97), (1024, 1553)):
            try:
                a = self._trace_once([short if d is None else d for d in input_shape], ids)
            except ValueError:
                if short == 1024:
                    raise
                continue
            try:  # the layers were built at the short length: a size that follows the
                # length into a layer that fixed it there (Flatten → Dense) fails here
                b = self._trace_once([long if d is None else d for d in input_shape], ids)
            except RuntimeError:
                raise ValueError(f"input_shape={tuple(input_shape)}: a layer's size follows "
                                 f"the open length (None) into a layer that needs it fixed "
                                 f"(a Flatten before a Dense, say); give the length as a "
                                 f"positive integer.") from None
            return [tuple(p if p == q else None for p, q in zip(sa, sb, strict=True))
                    for sa, sb in zip(a, b, strict=True)]

    def _trace_once(self, input_shape, ids: bool) -> list[tuple]:
        """A dummy batch of 2 through every layer, in eval mode, without gradients, leaving
        no trace: the state of stateful layers is put back as it was."""
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        x = (torch.ones(2, *input_shape, dtype=torch.long) if ids
             else torch.zeros(2, *input_shape, dtype=torch.float32 if p is None else p.dtype,
                              device=None if p is None else p.device))
        shapes, lengths = [], None
        training_mode = self.training
        states = [(layer, layer._state) for layer in self.stack if hasattr(layer, "_state")]
        for layer, _ in states:
            layer._state = None  # the dummy batch neither uses nor keeps carried state
        self.eval()
        try:
            with torch.no_grad():
                for i, layer in enumerate(self.stack):
                    if isinstance(x, list):  # [output, *states]: no layer takes it (Keras)
                        raise ValueError(f"{type(self.stack[i - 1]).__name__}(return_state="
                                         f"True) returns [output, *states], which "
                                         f"{type(layer).__name__} cannot take; keep it last "
                                         f"or leave return_state out.")
                    x, lengths = layer(x, lengths)
                    out = x[0] if isinstance(x, list) else x
                    shapes.append(tuple(out.shape[1:]))
        finally:
            self.train(training_mode)
            for layer, state in states:
                layer._state = state
        return shapes

    @property
    def built(self) -> bool:
        return len(self.stack) > 0 and all(layer.built for layer in self.stack)

    def forward(self, x, lengths=None, return_lengths: bool = False):
        """The model's output; with ``return_lengths``, (output, lengths): the sequence lengths
        the layers hand on (from ``Embedding(mask_zero=True)``; None when there are none or
        the output is one vector per sequence)."""
        for layer in self.stack:
            x, lengths = layer(x, lengths)
        return (x, lengths) if return_lengths else x

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None) -> None:
        """Print each layer's name, output shape and parameter count, then the totals, with
        Keras 3's arguments: ``line_length`` (the table's width), ``positions`` (where each
        column ends: fractions of the width, or characters), ``print_fn`` (``print``),
        ``show_trainable`` (a "Trainable" column: Y, N, or - for a layer without weights),
        ``layer_range`` ([first, last] layer names, both printed); ``expand_nested`` changes
        nothing here (a Sequential of grukit layers holds no nested model, as in Keras). A
        model not built yet whose first layer has no ``input_shape`` (it builds from the
        first data ``fit`` gets) prints "?" and "0 (unbuilt)" per layer, as Keras 3's."""
        print_fn = print if print_fn is None else print_fn
        if not isinstance(expand_nested, bool) or not isinstance(show_trainable, bool):
            raise TypeError("summary: expand_nested and show_trainable are True or False.")
        if not self.built and len(self.stack) and self.stack[0].input_shape is None:
            shapes = [None] * len(self.stack)  # unbuilt: no shapes, no weights yet
        else:
            if not self.built:
                self.build()
            shapes = self._trace(self._input_shape())
        names = self.layer_names()
        first, last = _layer_range(layer_range, names)
        head = ("Layer (type)", "Output Shape", "Param #") + (
            ("Trainable",) if show_trainable else ())
        rows = []
        for layer, shape, name in list(zip(self.stack, shapes, names, strict=True))[
                first:last + 1]:
            kind = type(layer).__name__
            params = list(layer.parameters())
            count = sum(p.numel() for p in params)
            row = ((f"{name} ({kind})", "?", "0 (unbuilt)") if shape is None else
                   (f"{name} ({kind})", "(None, " + ", ".join(map(str, shape)) + ")",
                    f"{count:,}"))
            if show_trainable:
                row += ("-" if not params else "Y" if any(p.requires_grad for p in params)
                        else "N",)
            rows.append(row)
        built = [p for p in self.parameters() if None not in shapes]
        total = sum(p.numel() for p in built)
        trainable = sum(p.numel() for p in built if p.requires_grad)
        w = _widths([max(len(r[i]) for r in rows + [head]) + 2 for i in range(len(head))],
                    line_length, positions)
        line = "─" * (sum(w) + 2)
        print_fn(f'Model: "{self.name}"')
        print_fn(line)
        aligns = ("<", "<", ">", ">")
        print_fn("".join(f"{h:{a}{n}}" for h, a, n in zip(head, aligns[:len(w)], w, strict=True)))
        print_fn(line)
        for r in rows:
            print_fn("".join(f"{c:{a}{n}}" for c, a, n in zip(r, aligns[:len(w)], w, strict=True)))
        print_fn(line)
        print_fn(f" Total params: {total:,}")
        print_fn(f" Trainable params: {trainable:,}")
        print_fn(f" Non-trainable params: {total - trainable:,}")

    def get_config(self) -> dict:
        """The model's name, its layers' configs and, once it has weights, their floating
        dtype ("float32", "float64"), which ``from_config`` gives back, as Keras' layers
        carry ``dtype`` in their configs."""
        config = {"name": self.name, "layers": [layer.get_config() for layer in self.stack]}
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        if p is not None:
            config["dtype"] = str(p.dtype).removeprefix("torch.")
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> Sequential:
        """The model ``get_config`` describes, its layers new (no weights yet), as Keras'."""
        from ..layers import from_config

        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise ValueError("a Sequential's config is a dict with a list of 'layers', as "
                             "model.get_config() returns it.")
        if any(isinstance(c, dict) and "module" in c for c in config["layers"]):
            raise ValueError("this is Keras' config of a model; build it with "
                             "keras.Sequential.from_config and convert that model with "
                             "grukit.models.from_keras(model).")
        name = config.get("dtype", "float32")  # configs written before it: float32
        dtype = getattr(torch, name, None) if isinstance(name, str) else None
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise ValueError(f"a Sequential's config gives the dtype {name!r}; it must name "
                             f"a torch floating dtype, e.g. 'float32' or 'float64'.")
        model = cls([from_config(c, custom_objects) for c in config["layers"]],
                    name=config.get("name", "sequential"))
        if dtype != torch.float32:  # a model built at once takes it now; one built from
            model.to(dtype)  # its first data takes it then (_build_from)
            model._dtype = dtype
        return model

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON text (no weights), which
        ``grukit.models.model_from_json`` reads back, as Keras'; ``kwargs`` go to
        ``json.dumps`` (``indent=2``)."""
        import json

        return json.dumps({"class_name": "Sequential", "config": self.get_config()}, **kwargs)

    def count_params(self) -> int:
        """The number of weights, as Keras counts them (its summary's total)."""
        if not self.built:
            self.build()
        return sum(p.numel() for p in self.parameters())

    def get_weights(self) -> list[np.ndarray]:
        """Every layer's weights in Keras 3's layout, in order: what the same Keras model's
        ``get_weights()`` returns (``grukit.layers.keras_weights``)."""
        if not self.built:
            self.build()
        return [w for layer in self.stack for w in layer.get_weights()]

    def set_weights(self, weights: list) -> None:
        """Take the same Keras model's ``get_weights()``: all or nothing (the count and every
        shape checked before a layer changes)."""
        if not self.built:
            self.build()
        own = [layer.get_weights() for layer in self.stack]
        weights = [np.asarray(w) for w in weights]
        want = [tuple(w.shape) for ws in own for w in ws]
        got = [tuple(w.shape) for w in weights]
        if got != want:
            raise ValueError(f"the model holds {len(want)} weight arrays shaped {want}; got "
                             f"{len(got)} shaped {got}. Pass get_weights() of the same "
                             f"architecture.")
        bad = next((k for k, w in enumerate(weights) if not np.isfinite(w).all()), None)
        if bad is not None:
            raise ValueError(f"weight array {bad} holds NaN or Inf values; the model was left "
                             f"unchanged.")
        at = 0
        for layer, ws in zip(self.stack, own, strict=True):
            layer.set_weights(weights[at:at + len(ws)])
            at += len(ws)

    def predict_on_batch(self, x) -> np.ndarray:
        """``predict`` of ``x`` as one batch."""
        return self.predict(x, batch_size=max(_count_rows(x), 1))

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        """``evaluate`` of ``x``, ``y`` as one batch."""
        return self.evaluate(x, y, batch_size=max(_count_rows(x), 1), return_dict=return_dict,
                             sample_weight=sample_weight)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict: bool = False):
        """One optimizer step on ``x``, ``y`` as one batch; the loss (and the metrics) of
        that batch before the step, as Keras returns them."""
        from .fit import forward_loss

        self._check_compiled("train_on_batch")
        if isinstance(x, (torch.utils.data.DataLoader, torch.utils.data.Dataset)):
            raise TypeError(f"train_on_batch takes one batch as arrays or tensors x, y (as "
                            f"Keras); got a {type(x).__name__}: train on it with fit, or "
                            f"pass one of its batches.")
        x, y = self._data(x, y, need_y="train_on_batch")
        if len(x) == 0:
            raise ValueError("train_on_batch got 0 samples; pass at least one.")
        w = self._weights(x, y, sample_weight, class_weight)
        self.train()
        device = self._device()
        xb, yb = self._to_model(x), y.to(device)
        self.optimizer.zero_grad()
        try:
            loss, pred, lengths = forward_loss(self, self.loss_fn, xb, yb,
                                               None if w is None else w.to(device),
                                               self.loss_each)
        finally:
            self.eval()  # as after fit: model(x) is inference
        if not bool(torch.isfinite(loss)):
            raise ValueError(f"train_on_batch: the loss is {float(loss)}; the weights were "
                             f"left unchanged.")
        if loss.requires_grad:  # False when every weight is frozen (trainable=False)
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            res = {"loss": float(loss)} | {
                k: float(training.masked(fn, pred.detach(), yb, lengths))
                for k, fn in self.metric_fns.items()} | {
                k: fn(pred.detach(), yb, lengths, None if w is None else w.to(device))[0]
                for k, fn in self.weighted_fns.items()}
        if return_dict:
            return res
        return res["loss"] if len(res) == 1 else list(res.values())

    # -- training ----------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="mse", metrics=None, jit_compile="auto", *,
                loss_weights=None, weighted_metrics=None, run_eagerly: bool = False,
                steps_per_execution: int = 1, auto_scale_loss: bool = True) -> None:
        """``optimizer``: a name ("adam", "sgd", "rmsprop", "adagrad", "adamw": Keras 3's
        optimizer with its defaults, ``training.OPTIMIZERS``), a Keras-style optimizer
        (``grukit.models.optimizers.Adam(learning_rate=1e-4)``) or a torch optimizer;
        ``loss``: a name, a function ``fn(y_true, y_pred)`` as Keras calls it (its values,
        one per sample say, are averaged and take sample weights), or one of torch's losses
        (``nn.MSELoss()``, ``F.l1_loss``: called ``(input, target)``, as in torch);
        ``metrics``: names (every loss name, "accuracy" in any case and "acc",
        "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"; Keras'
        other names, "auc", "precision", "recall", "f1_score", ..., are Keras' metric
        objects with their defaults, ``training.keras_named``) or callables taken as the
        loss's, a list or one of them, a name given twice logged as Keras logs it ("mae",
        "mae_1"); loss and metric names are Keras 3's (``training.LOSSES``,
        ``training.METRICS``);
        ``jit_compile``: True
        runs fit's training step (forward and loss; backward through the compiled graph)
        through ``torch.compile``, False and "auto" (Keras' default, off on its torch backend)
        run it eagerly. ``predict`` and ``evaluate`` run eagerly either way.
        ``weighted_metrics``: metrics as ``metrics`` takes them, weighed by the sample
        weights (``sample_weight``, ``class_weight`` in ``fit``, a Dataset's third item) as
        Keras weighs them, Σ w·v / Σ w over each epoch or the data evaluated, and logged
        under Keras' names ("weighted_mae" where ``metrics`` has "mae" too, else "mae").

        Keras' other arguments: ``run_eagerly=True`` trains eagerly (``jit_compile`` then
        must not be True); ``auto_scale_loss`` scales nothing, as in Keras without a
        mixed-precision policy (grukit has none); ``loss_weights`` (1 or [1], the one output's
        weight) and ``steps_per_execution`` (1) are taken at those values only: other
        values have no grukit form and are refused."""
        if not (isinstance(jit_compile, bool) or isinstance(jit_compile, str)
                and jit_compile == "auto"):
            raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}.")
        for what, v in (("run_eagerly", run_eagerly), ("auto_scale_loss", auto_scale_loss)):
            if not isinstance(v, (bool, np.bool_)):
                raise TypeError(f"compile: {what} must be True or False; got {v!r}.")
        if run_eagerly and jit_compile is True:
            raise ValueError("compile: run_eagerly=True and jit_compile=True ask for opposite "
                             "things; pass one of them.")
        if run_eagerly:
            jit_compile = False
        one = loss_weights
        if isinstance(one, (list, tuple)) and len(one) == 1:
            one = one[0]
        if not (one is None or isinstance(one, numbers.Real) and not isinstance(one, bool)
                and one == 1):
            raise ValueError(f"compile: loss_weights={loss_weights!r} has no grukit form (a "
                             f"Sequential has one output, whose loss counts once); leave it "
                             f"out, or scale the loss function itself.")
        if not (isinstance(steps_per_execution, numbers.Integral)
                and not isinstance(steps_per_execution, bool) and steps_per_execution == 1):
            raise ValueError(f"compile: steps_per_execution={steps_per_execution!r} has no "
                             f"grukit form (each batch is one step, its callbacks called); "
                             f"leave it at 1.")
        # Keras builds a model given no input shape from the first data it sees; so does
        # this one, and the optimizer over its weights is made then (_build_from)
        later = not self.built and (not len(self.stack) or self.stack[0].input_shape is None)
        if later and isinstance(optimizer, torch.optim.Optimizer):
            raise ValueError("the model has no weights yet (its first layer has no input_shape), "
                             "so a torch optimizer cannot hold them; give the optimizer's name "
                             "or a grukit.models.optimizers object, or build the model first.")
        if not self.built and not later:
            self.build()
        optimizer = optimizers.of_keras(optimizer)  # keras.optimizers.Adam(1e-4): grukit's
        self._named_optimizer = not isinstance(optimizer, torch.optim.Optimizer)
        self._stale = None
        if not (isinstance(optimizer, (str, torch.optim.Optimizer, optimizers.Optimizer))
                or callable(optimizer)):
            raise TypeError(f"optimizer must be a name ('adam'), a grukit.models.optimizers "
                            f"object (e.g. grukit.models.optimizers.Adam(learning_rate=1e-4), "
                            f"Keras' arguments) or a torch optimizer; got a "
                            f"{type(optimizer).__module__}.{type(optimizer).__name__}.")
        if isinstance(optimizer, str):
            training.resolve("optimizer", training.OPTIMIZERS, optimizer.lower())  # known?
        self._optimizer_given, self.optimizer = optimizer, None
        if not later:
            self._make_optimizer()
        loss, metrics = training.one_loss(loss), training.metric_list(metrics)
        shared = next((m for m in training.metric_list(weighted_metrics)
                       if training.stateful(m) and any(m is u for u in metrics)), None)
        if shared is not None:  # one state updated with and without the weights: each
            # logged value a mix of both (Keras logs the mix under both names)
            raise ValueError(f"compile: the Keras metric object {training.metric_name(shared)!r} "
                             f"is in both metrics and weighted_metrics, so its one state would "
                             f"mix weighted and unweighted batches; give weighted_metrics an "
                             f"object of its own (e.g. keras.metrics.AUC() twice).")
        self.loss_name = loss if isinstance(loss, str) else getattr(loss, "__name__", "loss")
        if isinstance(loss, str) or not callable(loss):
            self.loss_fn = training.resolve("loss", training.LOSSES, loss)
            # its per-position form, which sample weights scale
            self.loss_each = training.EACH.get(loss) if isinstance(loss, str) else None
        else:  # fn(y_true, y_pred) as Keras calls it; torch's losses fn(input, target)
            self.loss_fn, self.loss_each = training.user_function(loss)
        self.metric_fns = {}
        for m in metrics:  # a name given twice: "mae", "mae_1", ... as Keras logs them
            name = m if isinstance(m, str) else training.metric_name(m)
            key, k = name, 0
            while key in self.metric_fns:
                k += 1
                key = f"{name}_{k}"
            self.metric_fns[key] = training.metric(m)
        # Keras' names: a weighted metric named as an unweighted one is "weighted_<name>"
        weighted = training.metric_list(weighted_metrics)
        self.weighted_fns = {}
        for m in weighted:
            name = m if isinstance(m, str) else training.metric_name(m)
            name = f"weighted_{name}" if name in self.metric_fns else name
            if name in self.weighted_fns:
                raise ValueError(f"compile: weighted_metrics names {name!r} twice; give each "
                                 f"metric once (a Keras metric object a name of its own).")
            self.weighted_fns[name] = training.weighted_metric(m)
        self.jit_compile = jit_compile is True
        self._jit_step = None  # torch.compile(fit.forward_loss), made by the first fit
        self._compile_args = {"optimizer": optimizer, "loss": loss, "metrics": metrics,
                              "jit_compile": jit_compile, "weighted_metrics": weighted}
        self.compiled = True

    @property
    def metrics_names(self) -> list[str]:
        """The names of the values ``evaluate``, ``test_on_batch`` and ``train_on_batch``
        return, in their order: "loss", the ``metrics``, then the ``weighted_metrics``
        (``dict(zip(model.metrics_names, model.evaluate(x, y)))`` pairs them, as Keras 2's
        did; Keras 3's lists ["loss", "compile_metrics"]); [] before ``compile``."""
        if not getattr(self, "compiled", False):
            return []
        return ["loss", *self.metric_fns, *getattr(self, "weighted_fns", {})]

    def get_compile_config(self) -> dict | None:
        """What ``compile`` was given, as plain data a model file holds (None before compile):
        names as they are, a Keras-style optimizer as ``{"class_name", "config"}``, and a
        function (a loss or metric) as ``{"function": its name}``, which ``load_model``'s
        ``custom_objects`` gives back, as in Keras. A Keras loss or metric object
        (``keras.losses.Huber(delta=2.0)``, ``keras.metrics.MeanIoU(num_classes=3)``, a
        subclass of one's own) is ``{"keras_object": Keras' serialized form}``, its arguments
        included; one whose arguments that form cannot keep is refused in one sentence. A
        torch optimizer object has no such form: ``{"torch_optimizer": its class}``."""
        if not getattr(self, "compiled", False):
            return None
        args = self._compile_args

        def plain(v):
            if isinstance(v, str):
                return v
            if isinstance(v, optimizers.Optimizer):
                return {"class_name": type(v).__name__, "config": v.get_config()}
            if isinstance(v, torch.optim.Optimizer):
                return {"torch_optimizer": type(v).__name__}
            kept = _keras_config(v)
            if kept is not None:
                return {"keras_object": kept}
            return {"function": training.metric_name(v)}
        out = {"optimizer": plain(args["optimizer"]), "loss": plain(args["loss"]),
               "metrics": [plain(m) for m in args["metrics"]],
               "jit_compile": args["jit_compile"]}
        if args.get("weighted_metrics"):
            out["weighted_metrics"] = [plain(m) for m in args["weighted_metrics"]]
        return out

    def compile_from_config(self, config: dict, custom_objects: dict | None = None) -> None:
        """``compile`` with what ``get_compile_config`` returned; a function is looked up by
        its name in ``custom_objects``, a Keras loss or metric object rebuilt by Keras from
        its config (a class of one's own by its name in ``custom_objects``, as Keras'
        ``load_model``). Anything it cannot make is refused in one sentence naming it, before
        the model changes."""
        custom = dict(custom_objects or {})

        def made(v, what):
            if isinstance(v, str):
                return v
            if "class_name" in v:
                cls = getattr(optimizers, v["class_name"], None)
                if not (isinstance(cls, type) and issubclass(cls, optimizers.Optimizer)):
                    raise ValueError(f"unknown optimizer class {v['class_name']!r}.")
                return cls.from_config(v["config"])
            if "keras_object" in v:
                return _keras_object(v["keras_object"], what, custom)
            if "function" in v and v["function"] in custom:
                return custom[v["function"]]
            if "function" in v:
                raise ValueError(f"the {what} was the function {v['function']!r}, which a "
                                 f"file does not hold; pass it as custom_objects="
                                 f"{{{v['function']!r}: {v['function']}}}.")
            raise ValueError(f"the optimizer was a torch {v.get('torch_optimizer')} object, "
                             f"which a file does not hold; compile the model again.")
        optimizer = made(config["optimizer"], "optimizer")
        loss = made(config["loss"], "loss")
        metrics = [made(m, "metric") for m in config.get("metrics", [])]
        weighted = [made(m, "metric") for m in config.get("weighted_metrics", [])]
        self.compile(optimizer=optimizer, loss=loss, metrics=metrics,
                     jit_compile=config.get("jit_compile", "auto"),
                     weighted_metrics=weighted or None)

    def _make_optimizer(self) -> None:
        """The optimizer ``compile`` was given, over the built model's weights."""
        optimizer = self._optimizer_given
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
        elif isinstance(optimizer, optimizers.Optimizer):  # Adam(learning_rate=...)
            self.optimizer = optimizer.build(self.named_parameters())
        else:
            name = optimizer.lower() if isinstance(optimizer, str) else optimizer  # "Adam"
            self.optimizer = training.resolve("optimizer", training.OPTIMIZERS,
                                              name)(self.parameters())
        old = getattr(self, "_constraint_hook", None)
        if old is not None:  # a compile before, maybe on the same torch optimizer
            old.remove()
        self._constraint_hook = self.optimizer.register_step_post_hook(self._constrain)

    def _constrain(self, optimizer, args, kwargs) -> None:
        """Keras' weight constraints after every optimizer step (``kernel_constraint=...``):
        each layer the step updated (trainable, its weights held by the optimizer) projects
        the weights it was given one for; as Keras, a frozen layer is left as it is."""
        layers = [m for m in self.modules()
                  if isinstance(m, Layer) and m.constraints and m.trainable]
        if not layers:  # the common case: no constraint, nothing more to do each step
            return
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        for layer in layers:
            if any(p.requires_grad and id(p) in held for p in layer.parameters()):
                layer.apply_constraints()

    def _build_from(self, x) -> None:
        """Build a model that has no input shape from data ``x`` (a tensor, Dataset or
        DataLoader), as Keras does at the first fit, evaluate or predict: the time length is
        left open (an Embedding's ids (T,) -> (None,), sequences (T, F) -> (None, F)); then
        make the optimizer ``compile`` was given. A DataLoader that does not batch
        (``batch_size=None``) hands the model its dataset's items as they are: the first is
        read as a batch (B, T, F) where the layers build for it, else as one sample."""
        if self.built or not len(self.stack) or self.stack[0].input_shape is not None:
            return
        loader = isinstance(x, torch.utils.data.DataLoader)
        as_given = loader and x.batch_sampler is None  # no batching: its items are what the
        # model gets, whole batches (an IterableDataset that batches itself) or samples
        if _endless(x):  # no length, no index: the first batch (or sample) of a pass
            first = next(iter(x), None)
            if first is None:
                return  # the empty data is refused where it is counted
            first = torch.as_tensor(first[0] if isinstance(first, (tuple, list)) else first)
            x = first if loader and not as_given else first[None]
        if isinstance(x, torch.utils.data.DataLoader):
            x = x.dataset
        if isinstance(x, torch.utils.data.Dataset):
            if not len(x):
                return  # the empty data is refused where it is counted
            first = x[0]
            first = torch.as_tensor(first[0] if isinstance(first, (tuple, list)) else first)
            x = first[None]
        if as_given and x.dim() >= 3:  # (1, *item): the item a batch, else one sample
            self._build_sample(self._first_built([_open(tuple(x.shape[2:]), self.stack),
                                                  _open(tuple(x.shape[1:]), self.stack)]))
        else:
            self._build_sample(_open(tuple(x.shape[1:]), self.stack))
        if getattr(self, "_dtype", None) is not None:  # from a float64 model's config
            self.to(self._dtype)
        if self.compiled and self.optimizer is None:
            self._make_optimizer()

    def _check_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"call compile(optimizer=..., loss=...) before {what}().")
        if getattr(self, "_stale", None) and what in ("fit", "train_on_batch"):
            raise RuntimeError(f"{self._stale}; call compile again (with an optimizer over "
                               f"model.parameters()) before {what}().")
        if what in ("fit", "train_on_batch") and self.built and not any(
                p.requires_grad for p in self.parameters()):
            warnings.warn("The model does not have any trainable weights (every layer has "
                          "trainable=False): the loss is computed, nothing is trained.",
                          UserWarning, stacklevel=3)

    def _device(self) -> torch.device:
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def _data(self, x, y, need_y: str | None = None, names=("x", "y")):
        """Arrays -> tensors, checked against each other and the model's input_shape.
        ``need_y``: the method's name when it needs targets."""
        if isinstance(x, (torch.utils.data.DataLoader, torch.utils.data.Dataset)):
            if y is not None:
                raise ValueError(f"y must be None when x is a {type(x).__name__}: it yields "
                                 f"(x, y) pairs itself.")
            self._build_from(x)
            return x, None
        if x is None:
            raise ValueError("x is None; pass the inputs as an array, a tensor, a torch Dataset "
                             "or a DataLoader.")
        import types

        if isinstance(x, types.GeneratorType) or (hasattr(x, "__next__")
                                                   and not hasattr(x, "__len__")):
            raise TypeError(f"x is a {type(x).__name__} of batches, which grukit does not read "
                            f"(its epochs are shuffled, counted and resumed by sample); pass "
                            f"the arrays (np.concatenate of the batches), a torch Dataset of "
                            f"samples, or a DataLoader over one.")
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        # floating data in float32 (Keras' float32), or in float64 for a float64 model: a
        # cast to float32 first rounded what such a model was given
        dtype = torch.float64 if p is not None and p.dtype == torch.float64 else torch.float32
        x = training.as_tensor(x, names[0], dtype)
        self._build_from(x)
        if len(self.stack) and not isinstance(self.stack[0], Embedding) \
                and not x.is_floating_point():
            x = x.float()  # integer or boolean features, cast as Keras casts to its float32
        if y is None and need_y:
            raise ValueError(f"{need_y} needs targets: pass y along with x (or a Dataset that "
                             f"yields (x, y) pairs).")
        if y is not None:
            y = training.as_tensor(y, names[1], dtype)
            if len(y) != len(x):
                raise ValueError(f"{names[0]} has {len(x)} samples but {names[1]} has {len(y)}; "
                                 f"they must match.")
        shape = self.stack[0].input_shape if len(self.stack) else None
        got = tuple(x.shape[1:])
        if shape is not None and (len(got) != len(shape) or any(
                d is not None and g != d for g, d in zip(got, shape, strict=True))):
            show = ", ".join("None" if d is None else str(d) for d in shape)
            raise ValueError(f"{names[0]} has shape (samples, {', '.join(map(str, got))}) but "
                             f"the model expects (samples, {show}).")
        return x, y

    def _to_model(self, xb):
        """A batch onto the model's device; floating inputs in the model's dtype (as Keras
        casts), token ids left as they are."""
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        if p is None:
            return xb
        return xb.to(p.device, p.dtype) if xb.is_floating_point() else xb.to(p.device)

    def _loader(self, x, y, batch_size):
        """Batches in order (evaluate, predict)."""
        if isinstance(x, torch.utils.data.DataLoader):
            return x
        if isinstance(x, torch.utils.data.Dataset):
            return torch.utils.data.DataLoader(x, batch_size=batch_size)
        return training.batches(x, y, batch_size)

    def _metrics(self, pred, target, lengths=None, weights=None,
                 penalty: float = 0.0) -> dict[str, float]:
        """Loss and metrics; per-time-step outputs of a masked model count only the steps
        inside each sequence (``lengths``), as Keras; ``weights`` (N,) scale the loss and
        the ``weighted_metrics`` (Keras weighs its ``metrics`` by nothing). ``penalty``: the
        regularization losses over the data (Keras adds them to the loss here too)."""
        loss = training.masked(self.loss_fn, pred, target, lengths) if weights is None else \
            training.weighted(self.loss_each, pred, target, lengths, weights)
        out = {"loss": float(loss + penalty)}
        for name, fn in self.metric_fns.items():
            out[name] = float(training.masked(fn, pred, target, lengths))
        for name, fn in getattr(self, "weighted_fns", {}).items():  # Σ w·v / Σ w
            out[name] = fn(pred, target, lengths, weights)[0]
        return out

    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1,
            verbose="auto",
            callbacks: list[Callback] | None = None, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, seed: int | None = None,
            resume_from: str | None = None, sample_weight=None,
            class_weight: dict | None = None, initial_epoch: int = 0, steps_per_epoch=None,
            validation_steps=None, validation_batch_size=None,
            validation_freq: int = 1) -> History:
        """Train; returns a ``History`` whose ``history`` dict holds per-epoch logs (also
        ``model.history`` after the call, as in Keras).

        ``batch_size``: 32 when None, as Keras (⌈samples / steps_per_epoch⌉ where
        ``steps_per_epoch`` is given). ``validation_batch_size`` (``batch_size`` when None;
        32 where ``steps_per_epoch`` set the batch size and ``validation_steps`` is None, as
        Keras) and ``validation_freq`` (validate after every k-th epoch; the callbacks watching a
        ``val_`` quantity pass over the others, as Keras') are Keras'.

        ``steps_per_epoch`` (None: an epoch is all the data given) is Keras 3's for finite
        data: an epoch is the next N batches, the data gone through pass by pass across the
        epochs (each pass in the order of its seed, as an epoch's without it); an epoch that
        meets the end of a pass stops there, shorter, with Keras' warning, and the next
        epoch begins a new pass. An IterableDataset (or a DataLoader over one), whose
        length is unknown, is taken as Keras takes an iterable (``fit.endless_batches``):
        an epoch is a pass over it or, with ``steps_per_epoch``, the next N batches of one
        iterator carried across the epochs, a new pass begun where one ends, in the order
        it yields (``shuffle`` has no say: shuffle in it, as Keras expects); ``evaluate``
        and ``predict`` take one pass of it. ``validation_steps``: each validation takes
        the first that many batches of the validation data (all of it, with Keras' warning,
        where it holds fewer; with neither batch size given, ⌈samples / validation_steps⌉
        a batch, as Keras; of an IterableDataset, the first batches of a new pass).

        ``initial_epoch`` starts at that epoch (Keras' way to go on training: epochs
        ``initial_epoch .. epochs - 1`` run, each in the order its seed gives it).
        ``sample_weight`` (N,) or ``class_weight`` {class: weight} scale each sample's loss
        as Keras does (Σ w·loss / number of values, per batch; the ``metrics`` stay
        unweighted, the ``weighted_metrics`` are weighed, Σ w·v / Σ w);
        ``validation_split`` keeps the sample weights of the samples it holds out (class
        weights apply to training only, as in Keras), and ``validation_data`` may be
        (x_val, y_val, sample_weight_val). A Dataset may yield
        (x, y, weight) triples instead. A DataLoader made with ``batch_size`` (and
        ``shuffle``) is batched in fit's seeded order with its ``drop_last`` and every
        other argument it was given (``collate_fn``, workers and ``worker_init_fn``,
        ``generator``, ``pin_memory``, ...; kept too where ``validation_split`` or
        ``validation_steps`` cut it); one whose sampler orders its batches
        (``WeightedRandomSampler``, a ``batch_sampler``) is iterated as given, as Keras
        iterates it (``shuffle`` has no say).

        ``seed`` fixes the epoch orders (drawn from torch's RNG when None);
        ``resume_from`` continues from a ``ModelCheckpoint`` file (weights, optimizer, epoch,
        position within the epoch). Under ``torchrun`` the model is wrapped in
        DistributedDataParallel, process r takes samples r, r + N, ... of every batch (any
        sample count and batch size; each process must be given the whole, identical data
        set), the loss and metrics logged are the whole batch's, a stop in one process stops
        all, and only rank 0 logs and writes.
        """
        self._check_compiled("fit")
        given = batch_size is not None  # None: Keras' default, which steps_per_epoch sets
        batch_size = _batch_size(batch_size)
        if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer (the epoch to stop after; "
                             f"0 trains nothing); got {epochs!r}.")
        if not isinstance(initial_epoch, numbers.Integral) or isinstance(initial_epoch, bool) \
                or initial_epoch < 0:
            raise ValueError(f"initial_epoch must be a non-negative integer (the epoch to start "
                             f"at); got {initial_epoch!r}.")
        if initial_epoch and resume_from is not None:
            raise ValueError("give initial_epoch or resume_from, not both: a checkpoint holds "
                             "the epoch it goes on from.")
        _check_verbose(verbose)
        if not isinstance(shuffle, (bool, np.bool_)):
            raise TypeError(f"shuffle must be True or False; got {shuffle!r}.")
        for what, v in (("steps_per_epoch", steps_per_epoch),
                        ("validation_steps", validation_steps)):
            if v is not None and (not isinstance(v, numbers.Integral) or isinstance(v, bool)
                                  or v < 1):
                raise ValueError(f"fit: {what} must be a positive integer (batches), or None "
                                 f"for all the data; got {v!r}.")
        if validation_batch_size is not None:
            validation_batch_size = _batch_size(validation_batch_size)
        if not isinstance(validation_freq, numbers.Integral) or isinstance(validation_freq, bool) \
                or validation_freq < 1:
            raise ValueError(f"validation_freq must be a positive integer (validate after every "
                             f"that many epochs); got {validation_freq!r}.")
        if not isinstance(validation_split, numbers.Real) or isinstance(validation_split, bool) \
                or not 0 <= validation_split < 1:
            raise ValueError(f"validation_split must be a number in [0, 1) (the share of the "
                             f"last samples kept for validation); got {validation_split!r}.")
        if isinstance(callbacks, Callback):  # one callback, not in a list: as Keras takes it
            callbacks = [callbacks]
        for cb in callbacks or []:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be grukit.models.Callback instances; got "
                                f"{type(cb).__name__}{_grukit_callback_hint(cb)}.")
        from .callbacks import BackupAndRestore

        backup = next((cb for cb in callbacks or [] if isinstance(cb, BackupAndRestore)), None)
        if backup is not None and resume_from is None:  # Keras: a rerun goes on from it
            resume_from = backup.restore_from()
        x, y = self._data(x, y, need_y="fit")
        if _endless(x):  # Keras 3: an iterable of no length, an epoch a pass or, with
            # steps_per_epoch, N batches of one iterator carried across the epochs
            # (fit.endless_batches)
            if validation_split:
                raise ValueError("validation_split cannot split an IterableDataset (its "
                                 "samples are not indexed); pass validation_data.")
            if not isinstance(x, torch.utils.data.DataLoader):
                x = torch.utils.data.DataLoader(x, batch_size=batch_size)
            given = True  # the loader's batches: steps_per_epoch does not cut them
        n = None if _endless(x) else _count(x)
        if n == 0:
            raise ValueError("fit got 0 samples; x must hold at least one sample to train on.")
        w = self._weights(x, y, sample_weight, class_weight)
        if validation_data is not None:
            validation_data = self._validation_data(validation_data)
        elif validation_split:
            # the last samples, as Keras: it trains on the first ⌊n (1 − split)⌋
            cut = int(math.floor(n * (1.0 - validation_split)))
            if cut == n:
                raise ValueError(f"validation_split={validation_split} of {n} samples leaves no "
                                 f"validation sample; raise it to at least {1 / n:.3g} or pass "
                                 f"validation_data.")
            if cut == 0:
                raise ValueError(f"validation_split={validation_split} of {n} samples leaves no "
                                 f"sample to train on; lower it or pass more samples.")
            x, y, validation_data = _split(x, y, cut)
            if w is not None:  # the held-out samples keep their sample weights; class
                # weights weigh the training loss only (as Keras: val_loss is unweighted)
                if class_weight is None:
                    validation_data = (*validation_data, w[cut:])
                w = w[:cut]
        if steps_per_epoch is not None and not given:  # Keras: the data in N batches
            if validation_batch_size is None and validation_steps is None:
                validation_batch_size = _batch_size(None)  # Keras' 32: N cuts fit's data only
            batch_size = max(-(-_count(x) // int(steps_per_epoch)), 1)
        if validation_data is not None and validation_steps is not None:
            validation_data, validation_batch_size = _first_batches(
                validation_data, int(validation_steps),
                validation_batch_size or (batch_size if given else None))
        try:
            history = run_fit(self, x, y, batch_size=batch_size, epochs=int(epochs),
                              verbose=verbose, callbacks=callbacks,
                              validation_data=validation_data, shuffle=shuffle, seed=seed,
                              resume_from=resume_from, weights=w,
                              initial_epoch=int(initial_epoch),
                              validation_batch_size=validation_batch_size,
                              validation_freq=int(validation_freq),
                              steps_per_epoch=None if steps_per_epoch is None
                              else int(steps_per_epoch))
        finally:
            self.eval()  # as Keras: model(x) after fit is inference
        self.history = history  # as Keras' model.history: the last fit's
        return history

    def _weights(self, x, y, sample_weight, class_weight):
        """Per-sample weights (N,) for arrays x, y, or None (see ``training.sample_weights``);
        refused where they cannot apply."""
        if sample_weight is None and class_weight is None:
            return None
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"sample_weight and class_weight go with arrays; a "
                             f"{type(x).__name__} gives its weights as the third item of each "
                             f"sample it yields, (x, y, weight).")
        self._need_named_loss()
        return training.sample_weights(y, sample_weight, class_weight)

    def _need_named_loss(self) -> None:
        if self.loss_each is None:
            raise ValueError("sample weights need a loss given by name (compile(loss='mse'), "
                             "say) or a function fn(y_true, y_pred) of one's own: torch's "
                             "losses return one number per batch, which cannot be weighted "
                             "per sample.")

    def _validation_data(self, data):
        """validation_data: a pair (x_val, y_val), a triple (x_val, y_val, sample_weight_val),
        a Dataset or a DataLoader."""
        if isinstance(data, (torch.utils.data.DataLoader, torch.utils.data.Dataset)):
            return (data,)
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError(f"validation_data must be a pair (x_val, y_val), a triple (x_val, "
                             f"y_val, sample_weight_val), a Dataset or a DataLoader; got a "
                             f"{type(data).__name__}"
                             f"{f' of {len(data)}' if isinstance(data, (tuple, list)) else ''}.")
        xv, yv = self._data(*data[:2], need_y="validation_data", names=("x_val", "y_val"))
        if len(xv) == 0:
            raise ValueError("validation_data holds 0 samples; pass at least one or leave it "
                             "out.")
        if len(data) == 3 and data[2] is not None:
            return xv, yv, self._weights(xv, yv, data[2], None)
        return xv, yv

    def evaluate(self, x, y=None, batch_size: int = 32, verbose="auto",
                 sample_weight=None, steps=None, callbacks=None, return_dict: bool = False):
        """Loss (and metrics) over the data: a float, a list, or a dict; ``sample_weight``
        (N,) weighs the loss as in ``fit`` (a Dataset may yield (x, y, weight) instead).
        ``verbose`` is taken as Keras takes it ("auto", 0, 1 or 2); nothing is printed.
        Keras' ``steps`` and ``callbacks`` are taken as None only (all the data, no hooks)."""
        _no_steps_or_callbacks("evaluate", steps, callbacks)
        self._check_compiled("evaluate")
        batch_size = _batch_size(batch_size)
        _check_verbose(verbose)
        x, y = self._data(x, y, need_y="evaluate")
        if not _endless(x) and _count(x) == 0:  # an IterableDataset's: counted as it goes
            raise ValueError("evaluate got 0 samples; the loss of no data is undefined.")
        w = self._weights(x, y, sample_weight, None)
        preds, targets, lengths, weights = [], [], [], []
        penalty = 0.0  # Σ over batches of its regularization losses × its samples
        # a loss function called as Keras calls it (a Keras loss object, one's own
        # function): Σ over batches of its value × its samples, as Keras averages its
        # batches' losses (the same mean for values per sample; a reduction="sum" or a
        # number per batch is a batch's, not the data's), weighted batch by batch
        per_batch = 0.0 if hasattr(self.loss_fn, "each") else None
        at = 0  # the first sample of the batch, in w
        self.eval()
        with torch.no_grad():
            for batch in self._loader(x, y, batch_size):
                xb, yb, wb = training.labelled(batch, "evaluate")
                pred, n = self(self._to_model(xb), return_lengths=True)
                # an activity penalty is the batch's (ActivityRegularization): each batch's
                # own, weighted by its size, as Keras averages its batches' losses
                penalty += float(self.regularization_loss()) * len(pred)
                if per_batch is not None:
                    part = wb if wb is not None or w is None else w[at:at + len(pred)]
                    per_batch += float(
                        training.masked(self.loss_fn, pred, yb.to(pred.device), n)
                        if part is None else
                        training.weighted(self.loss_each, pred, yb.to(pred.device), n,
                                          torch.as_tensor(part).reshape(-1).float())
                    ) * len(pred)
                at += len(pred)
                preds.append(pred.cpu())
                targets.append(yb)
                lengths.append(None if n is None else n.cpu())
                weights.append(wb)
        if not preds:
            raise ValueError("evaluate got 0 samples; the loss of no data is undefined.")
        lengths = None if any(n is None for n in lengths) else torch.cat(lengths)
        if w is None and all(wb is not None for wb in weights):  # a Dataset's triples
            self._need_named_loss()
            w = torch.cat([torch.as_tensor(wb).reshape(-1) for wb in weights]).float()
        pred = torch.cat(preds)
        res = self._metrics(pred, torch.cat(targets), lengths, w, penalty / len(pred))
        if per_batch is not None:
            res["loss"] = (per_batch + penalty) / len(pred)
        if return_dict:
            return res
        return res["loss"] if len(res) == 1 else list(res.values())

    def predict(self, x, batch_size: int = 32, verbose="auto", steps=None,
                callbacks=None) -> np.ndarray:
        """The model's outputs for ``x``, ``batch_size`` samples at a time; ``verbose`` is
        taken as Keras takes it ("auto", 0, 1 or 2); nothing is printed. Keras' ``steps``
        and ``callbacks`` are taken as None only (all the data, no hooks)."""
        _no_steps_or_callbacks("predict", steps, callbacks)
        batch_size = _batch_size(batch_size)
        _check_verbose(verbose)
        x, _ = self._data(x, None)
        if not self.built:
            self.build()
        out = []
        self.eval()
        with torch.no_grad():
            if isinstance(x, torch.Tensor) and len(x) == 0:  # no samples: no predictions
                out.append(self(self._to_model(x)))
            for batch in self._loader(x, None, batch_size):
                out.append(self(self._to_model(training.inputs(batch))))
        if not out:
            raise ValueError("predict got an empty Dataset; it must hold at least one sample.")
        if isinstance(out[0], list):  # a last layer with return_state: [output, *states]
            return [torch.cat([o[k] for o in out]).cpu().numpy() for k in range(len(out[0]))]
        return torch.cat(out).cpu().numpy()

    def save(self, filepath: str, overwrite: bool = True, zipped=None) -> None:
        """Write the model to one file (``grukit.models.load_model`` reads it): the layers'
        config and weights and, once compiled, what ``compile`` was given and the optimizer's
        state, so that the loaded model trains on where this one stopped, as Keras'.
        ``overwrite=False`` refuses an existing file; ``zipped`` is Keras' and only its
        default (one file) is written."""
        save_model(self, filepath, overwrite=overwrite, zipped=zipped)


def _is_keras(v) -> bool:
    """Whether ``v`` is a Keras loss or metric object (a subclass of one's own too) or one of
    Keras' loss and metric functions."""
    import sys

    keras = sys.modules.get("keras")
    if keras is None:  # not imported: nothing given to compile came from it
        return False
    if isinstance(v, (keras.losses.Loss, keras.metrics.Metric)):
        return True
    return not isinstance(v, type) and str(getattr(v, "__module__", "")).startswith("keras.")


def _plain_state(obj) -> dict:
    """The attributes of a Keras loss or metric object that hold plain values (numbers,
    text, lists and dicts of them): its arguments, as it keeps them."""
    def plain(v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return True
        if isinstance(v, (list, tuple)):
            return all(plain(i) for i in v)
        return isinstance(v, dict) and all(isinstance(k, str) and plain(i)
                                           for k, i in v.items())
    return {k: v for k, v in vars(obj).items() if plain(v)} if hasattr(obj, "__dict__") else {}


def _keras_config(v) -> dict | None:
    """Keras' serialized form of the Keras loss or metric ``v`` (None for anything else),
    with the arguments of a wrapped loss function that Keras' own ``get_config`` leaves out
    (``Huber``'s ``delta``, ``CosineSimilarity``'s ``axis``); refused in one sentence where
    the object Keras rebuilds from it would differ from ``v`` (an argument of a subclass of
    one's own that its ``get_config`` does not return)."""
    import json

    if not _is_keras(v):
        return None
    import keras

    name = type(v).__name__
    try:
        config = keras.saving.serialize_keras_object(v)
        kwargs = getattr(v, "_fn_kwargs", None)
        if isinstance(config, dict) and isinstance(config.get("config"), dict) and kwargs:
            import inspect

            takes = inspect.signature(type(v).__init__).parameters
            config["config"] = {k: a for k, a in kwargs.items() if k in takes} | \
                config["config"]
        json.dumps(config, allow_nan=False)
        if isinstance(v, type(keras.losses.Loss.call)) or not hasattr(v, "get_config"):
            return config  # a function: its name
        again = keras.saving.deserialize_keras_object(
            json.loads(json.dumps(config)), custom_objects={name: type(v)})
        lost = {k: a for k, a in _plain_state(v).items()
                if _plain_state(again).get(k, not a) != a}
    except Exception as err:  # Keras' own errors, a config that is no JSON
        raise ValueError(f"the Keras object {name} given to compile cannot be saved: Keras "
                         f"cannot serialize it ({type(err).__name__}: {err}); give it a "
                         f"get_config that returns its arguments as plain values.") from err
    if lost:
        k = next(iter(lost))
        raise ValueError(f"the Keras object {name} given to compile cannot be saved: its "
                         f"get_config does not return {k.lstrip('_')}={lost[k]!r}, so the "
                         f"loaded model would use another value; return every argument "
                         f"from get_config.")
    return config


def _keras_object(config, what: str, custom: dict):
    """The Keras loss or metric object that ``config`` (``_keras_config``) describes,
    rebuilt by Keras; a class of one's own is found in ``custom`` by its name."""
    try:
        import keras

        return keras.saving.deserialize_keras_object(config, custom_objects=custom)
    except Exception as err:  # Keras' TypeError for an unknown class, ImportError, ...
        name = config.get("class_name") if isinstance(config, dict) else None
        raise ValueError(f"the {what} was the Keras object {name!r}, which Keras could not "
                         f"rebuild ({type(err).__name__}: {str(err).strip()[:200]}); pass "
                         f"its class as custom_objects={{{name!r}: {name}}}.") from err


def _layer_range(layer_range, names: list[str]) -> tuple[int, int]:
    """(first, last) indices of Keras' ``layer_range`` [first name, last name]; all the
    layers for None."""
    if layer_range is None:
        return 0, len(names) - 1
    if not (isinstance(layer_range, (list, tuple)) and len(layer_range) == 2
            and all(isinstance(n, str) for n in layer_range)):
        raise ValueError(f"summary: layer_range must be [first, last] layer names; got "
                         f"{layer_range!r}.")
    missing = [n for n in layer_range if n not in names]
    if missing:
        raise ValueError(f"summary: layer_range names {', '.join(map(repr, missing))}, not "
                         f"a layer of this model ({', '.join(names)}).")
    first, last = (names.index(n) for n in layer_range)
    if first > last:
        raise ValueError(f"summary: layer_range {layer_range!r} ends before it begins.")
    return first, last


def _widths(natural: list[int], line_length, positions) -> list[int]:
    """Column widths: each column's natural width, stretched or shrunk to ``line_length``,
    or ending at ``positions`` (fractions of ``line_length`` when all are at most 1)."""
    if line_length is not None and (not isinstance(line_length, numbers.Integral)
                                    or isinstance(line_length, bool) or line_length < 10):
        raise ValueError(f"summary: line_length must be an integer of 10 or more; got "
                         f"{line_length!r}.")
    width = line_length or sum(natural) + 2
    if positions is not None:
        if not (isinstance(positions, (list, tuple)) and len(positions) == len(natural)
                and all(isinstance(p, numbers.Real) and p > 0 for p in positions)
                and list(positions) == sorted(positions)):
            raise ValueError(f"summary: positions must be {len(natural)} increasing numbers "
                             f"(where each column ends); got {positions!r}.")
        ends = [round(p * width) if positions[-1] <= 1 else int(p) for p in positions]
        return [max(e - b, 1) for b, e in zip([0, *ends[:-1]], ends, strict=True)]
    if line_length is None:
        return natural
    scale = (line_length - 2) / sum(natural)
    out = [max(int(n * scale), 1) for n in natural]
    out[0] += line_length - 2 - sum(out)
    return out


def _no_steps_or_callbacks(what: str, steps, callbacks) -> None:
    """Keras' ``steps`` and ``callbacks`` of evaluate and predict: None (or no callbacks)
    only, anything else refused in one sentence."""
    if steps is not None:
        raise ValueError(f"{what}: steps has no grukit form ({what} runs over all the data "
                         f"it is given); pass the samples to use, e.g. x[:steps * "
                         f"batch_size].")
    if callbacks:
        raise ValueError(f"{what}: callbacks has no grukit form ({what} calls no hooks); "
                         f"call what you need before and after {what}.")


def _batch_size(value) -> int:
    """batch_size: a positive integer; None means 32, as in Keras."""
    if value is None:
        return 32
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"batch_size must be a positive integer (or None for 32); got "
                         f"{value!r}.")
    return int(value)


def _check_verbose(verbose) -> None:
    if isinstance(verbose, str) and verbose != "auto" or verbose not in ("auto", 0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0 (silent), 1 (progress bar) or 2 (one "
                         f"line per epoch); got {verbose!r}.")


def _count_rows(x) -> int:
    """Samples in an array-like (its first axis), for the *_on_batch methods."""
    return len(x) if hasattr(x, "__len__") else _count(x)


def _open(sample: tuple, stack) -> tuple:
    """One sample's shape with its time length left open, as a model built from data takes
    it: an Embedding's ids (T,) -> (None,), sequences (T, F) -> (None, F)."""
    if (len(stack) and isinstance(stack[0], Embedding)) or len(sample) >= 2:
        return (None, *sample[1:])
    return sample


def _endless(x) -> bool:
    """Whether ``x`` is an IterableDataset or a DataLoader over one: data of no length."""
    data = x.dataset if isinstance(x, torch.utils.data.DataLoader) else x
    return isinstance(data, torch.utils.data.IterableDataset)


def _count(x) -> int:
    """Samples in an array, a Dataset or a DataLoader's dataset."""
    data = x.dataset if isinstance(x, torch.utils.data.DataLoader) else x
    if isinstance(data, torch.utils.data.IterableDataset) or not hasattr(data, "__len__"):
        raise TypeError(f"{type(data).__name__} has no length; pass a map-style torch Dataset "
                        f"(with __len__ and __getitem__) or a DataLoader over one.")
    return len(data)


def _shape(input_shape) -> tuple:
    """``build``'s ``input_shape`` as a tuple of Python integers and None (numpy's and
    torch's sizes read as integers: kept as numpy's, the model's config was no JSON); an
    entry that is no positive integer, or no shape, refused in one sentence."""
    entries = None
    if not isinstance(input_shape, (str, bytes)):
        try:
            entries = list(input_shape)
        except TypeError:  # a number: no shape
            pass
    if not entries or any(d is not None and (isinstance(d, (bool, np.bool_))
                                             or not isinstance(d, numbers.Integral) or d < 1)
                          for d in entries):
        raise ValueError(f"build: input_shape must be a tuple of positive integers and None "
                         f"(Keras' (None, time, features), the batch first, or one sample's "
                         f"(time, features)); got {input_shape!r}.")
    return tuple(None if d is None else int(d) for d in entries)


class _FirstBatches(torch.utils.data.IterableDataset):
    """The first ``steps`` batches of a new pass over ``loader`` (a DataLoader over an
    IterableDataset, or one whose sampler orders its batches), at each ``iter()``:
    ``validation_steps`` of such data, as Keras takes them; a pass of fewer batches is all
    taken, with Keras' warning (once a fit), as for data of a known length."""

    def __init__(self, loader, steps: int):
        self.loader, self.steps, self.warned = loader, steps, False

    def __iter__(self):
        import itertools
        import sys

        taken = 0
        for batch in itertools.islice(iter(self.loader), self.steps):
            taken += 1
            yield batch
        if taken < self.steps and not self.warned:
            self.warned = True
            warnings.warn(f"Your input ran out of data: validation_steps={self.steps} asks "
                          f"for more batches than a pass over the validation "
                          f"{type(self.loader.dataset).__name__} yields ({taken}); each "
                          f"validation takes all of them.", UserWarning,
                          stacklevel=_outside(sys._getframe()))


def _outside(frame) -> int:
    """The ``stacklevel`` of the first caller of ``frame`` outside grukit and torch (the
    user's fit, where torch's DataLoader is what asks ``frame`` for its batches)."""
    import os

    roots = (os.path.dirname(os.path.abspath(torch.__file__)) + os.sep,
             os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(roots):
        frame, level = frame.f_back, level + 1
    return level


def _first_batches(data: tuple, steps: int, batch_size: int | None) -> tuple:
    """(the first ``steps`` batches of validation data, their batch size), as Keras'
    ``validation_steps`` takes them: ``batch_size`` a batch (⌈samples / steps⌉ when None);
    all the data, with Keras' warning, where it holds fewer batches. ``data`` is what
    ``_validation_data`` returns: (x, y[, w]) tensors or (a Dataset or DataLoader,). A
    DataLoader's first batches come from a loader made with every argument it was given
    (``fit.loader_like``), over the Dataset it was given (its worker_init_fn sees that
    one); one whose sampler is a ``range`` (validation_split's share) takes its first
    indices."""
    from torch.utils.data import DataLoader, Subset

    source = data[0]
    if _endless(source):  # Keras: the first batches of a new pass, at each validation
        loader = source if isinstance(source, DataLoader) else \
            DataLoader(source, batch_size=batch_size or 32)
        return (DataLoader(_FirstBatches(loader, steps), batch_size=None),), loader.batch_size
    ranged = isinstance(source, DataLoader) and isinstance(source.sampler, range) \
        and source.batch_size is not None
    if isinstance(source, DataLoader):
        from .fit import own_order

        if own_order(source) and not ranged:  # Keras: the first batches it yields, at
            # each validation (a new iter(), as a DataLoader made with those batches)
            try:
                held = len(source)
            except TypeError:  # a sampler of no length: its first batches, however many
                held = steps
            if held < steps:
                warnings.warn(f"Your input ran out of data: validation_steps={steps} asks "
                              f"for more batches than the validation DataLoader's "
                              f"{held}; each validation takes all of them.",
                              UserWarning, stacklevel=3)
                return data, source.batch_size
            return (DataLoader(_FirstBatches(source, steps), batch_size=None),), \
                source.batch_size
        batch_size = source.batch_size
    n = len(source.sampler) if ranged else _count(source)
    batch_size = batch_size or max(-(-n // steps), 1)
    keep = steps * batch_size
    if keep > n and -(-n // batch_size) < steps:
        warnings.warn(f"Your input ran out of data: validation_steps={steps} asks for more "
                      f"batches than the {n} validation samples hold in batches of "
                      f"{batch_size}; each validation takes all of them.", UserWarning,
                      stacklevel=3)
    if keep >= n:
        return data, batch_size
    if isinstance(source, torch.Tensor):
        return tuple(t[:keep] for t in data), batch_size
    if isinstance(source, DataLoader):
        from .fit import loader_like

        return (loader_like(source, source.dataset, batch_size=batch_size,
                            sampler=source.sampler[:keep] if ranged else range(keep)),), \
            batch_size
    return (Subset(source, range(keep)),), batch_size


def _split(x, y, cut: int):
    """The first ``cut`` samples to train on and the rest to validate on, for arrays, a
    Dataset or a DataLoader (whose batch size carries over)."""
    from torch.utils.data import DataLoader, Subset

    from .fit import loader_like, own_order

    if isinstance(x, torch.Tensor):
        return x[:cut], y[:cut], (x[cut:], y[cut:])
    if isinstance(x, DataLoader) and own_order(x):
        raise ValueError("validation_split cannot split a DataLoader whose sampler orders its "
                         "batches (its indices are those of the whole dataset); pass "
                         "validation_data, or a DataLoader over the training samples only.")
    if isinstance(x, DataLoader):  # its batch size and every other argument carry over,
        # its worker_init_fn seeing the Dataset it was given (get_worker_info().dataset)
        from .fit import Part

        data = x.dataset
        train = loader_like(x, Part(data, range(cut)), batch_size=x.batch_size,
                            drop_last=x.drop_last)
        val = loader_like(x, data, batch_size=x.batch_size, sampler=range(cut, len(data)))
        return train, None, (val,)
    train, val = Subset(x, range(cut)), Subset(x, range(cut, len(x)))
    return train, None, (val,)

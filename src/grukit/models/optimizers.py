"""Keras 3's optimizer objects for ``compile``: ``Adam(learning_rate=1e-4)``, ``AdamW``,
``SGD``, ``RMSprop``, ``Adagrad``, with Keras' argument names and defaults.

    from grukit.models.optimizers import Adam
    model.compile(optimizer=Adam(learning_rate=1e-4, clipnorm=1.0), loss="mse")

``compile`` builds the torch optimizer on the model's weights (``training.KerasAdam`` and
the others: Keras' updates on torch's kernels). As in Keras, before each update the
gradients are clipped (``clipnorm``: each weight's gradient g ← g·c / max(‖g‖, c);
``global_clipnorm``: all of them by their joint norm; ``clipvalue``: each entry to [−c, c]),
then ``weight_decay`` shrinks every trainable weight, w ← w − w·wd·lr (decoupled, for every
optimizer: Adam with ``weight_decay`` is AdamW). SGD's momentum is Keras' form (the rate
inside the momentum, see ``KerasSGD``), so a schedule changes it as in Keras. Options
Keras has and grukit does not (``use_ema``, ``loss_scale_factor``,
``gradient_accumulation_steps``, a schedule object as the rate, RMSprop's ``momentum`` and
``centered``) are refused by name."""

from __future__ import annotations

import math
import numbers
import re
import weakref

import torch

from . import training


def _number(value, what: str, least: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value) or value < least:
        raise ValueError(f"{what} must be a finite number, {least:g} or more; got {value!r}.")
    return float(value)


class Optimizer:
    """What the Keras optimizers share: the rate, clipping, weight decay, and the refusals."""

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        cls = type(self).__name__
        if kwargs:
            raise TypeError(f"{cls}: unknown argument(s) {', '.join(sorted(kwargs))}.")
        if not isinstance(learning_rate, numbers.Real) or isinstance(learning_rate, bool):
            raise TypeError(f"{cls}: learning_rate must be a number; a schedule object has no "
                            f"grukit form: use the LearningRateScheduler callback "
                            f"(grukit.models.LearningRateScheduler); got {learning_rate!r}.")
        self._built = None  # a weak reference to the torch optimizer build made last
        self.learning_rate = learning_rate
        unsupported = {"use_ema": use_ema, "loss_scale_factor": loss_scale_factor,
                       "gradient_accumulation_steps": gradient_accumulation_steps}
        given = [k for k, v in unsupported.items() if v not in (None, False)]
        if given:
            raise ValueError(f"{cls}: {', '.join(given)} has no grukit form; leave it out.")
        clips = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                                   ("global_clipnorm", global_clipnorm)) if v is not None}
        if len(clips) > 1:
            raise ValueError(f"{cls}: give at most one of clipnorm, clipvalue and "
                             f"global_clipnorm; got {', '.join(clips)}.")
        self.clip = next(((k, _number(v, f"{cls}: {k}")) for k, v in clips.items()), None)
        self.weight_decay = (None if weight_decay is None
                             else _number(weight_decay, f"{cls}: weight_decay"))
        self.name = name or cls.lower()

    @property
    def learning_rate(self) -> float:
        """The rate; once ``compile`` has built the torch optimizer from this object, that
        optimizer's (which a scheduler or ``model.optimizer.learning_rate = …`` sets), as
        Keras' ``model.optimizer`` is the object given to ``compile``."""
        built = self._built() if self._built is not None else None
        return built.learning_rate if built is not None else self._rate

    @learning_rate.setter
    def learning_rate(self, value) -> None:
        self._rate = _number(value, f"{type(self).__name__}: learning_rate")
        built = self._built() if self._built is not None else None
        if built is not None:  # after compile: the model trains on at this rate
            built.learning_rate = self._rate

    def __getstate__(self) -> dict:
        """Pickled and copied (``torch.save(model)``, ``copy.deepcopy``) with the rate it has
        now and without its tie to the torch optimizer (a weak reference)."""
        return vars(self) | {"_rate": self.learning_rate, "_built": None}

    def get_config(self) -> dict:
        """The arguments, by Keras' names, that make this optimizer again
        (``type(opt).from_config(opt.get_config())``), with the rate it has now."""
        config = {"name": self.name, "learning_rate": self.learning_rate,
                  "weight_decay": self.weight_decay}
        if self.clip is not None:
            config[self.clip[0]] = self.clip[1]
        return config | self._own_config()

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def _own_config(self) -> dict:
        return {}

    def _make(self, params) -> torch.optim.Optimizer:
        raise NotImplementedError

    def _decays_itself(self) -> bool:
        return False

    def build(self, named_params) -> torch.optim.Optimizer:
        """The torch optimizer on ``named_params`` (``model.named_parameters()``), clipping
        and decaying as Keras before each step."""
        named = list(named_params)
        opt = self._make([p for _, p in named])
        decay = None if self._decays_itself() else self.weight_decay
        if self.clip is not None or decay:
            opt.register_step_pre_hook(_BeforeStep(self.clip, decay, keras_variables(named)))
        self._built = weakref.ref(opt)
        return opt


def keras_variables(named) -> list[list]:
    """The parameters grouped as Keras' variables, whose norms ``clipnorm`` takes: each
    parameter alone, but a recurrent layer's ``bias_ih`` and ``bias_hh`` (one direction of
    one layer) together, as Keras' GRU holds them in one (2, 3H) bias."""
    groups: dict = {}
    for name, p in named:
        m = re.fullmatch(r"(.*)bias_(?:ih|hh)(_l\d+(?:_reverse)?)", name)
        groups.setdefault((m.group(1), m.group(2)) if m else name, []).append(p)
    return list(groups.values())


class _BeforeStep:
    """Keras' order before an update: clip the gradients, then decay the weights."""

    def __init__(self, clip, decay, variables):
        self.clip, self.decay, self.variables = clip, decay, variables

    @torch.no_grad()
    def __call__(self, opt, args, kwargs):
        if self.clip is not None:
            kind, c = self.clip
            grads = [p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None]
            if kind == "clipvalue":
                for g in grads:
                    g.clamp_(-c, c)
            elif kind == "clipnorm":  # by each Keras variable's norm
                known = {id(p) for var in self.variables for p in var}
                added = [[p] for g in opt.param_groups for p in g["params"]  # after compile
                         if id(p) not in known]
                for var in self.variables + added:
                    parts = [p.grad for p in var if p.grad is not None]
                    norm = math.sqrt(sum(float(g.pow(2).sum()) for g in parts))
                    for g in parts:
                        g.mul_(c / max(norm, c))
            elif grads:  # global_clipnorm
                total = math.sqrt(sum(float(g.pow(2).sum()) for g in grads))
                for g in grads:
                    g.mul_(c / max(total, c))
        if self.decay:
            for group in opt.param_groups:
                for p in group["params"]:
                    if p.requires_grad:
                        p.mul_(1 - self.decay * group["lr"])


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.betas = (_number(beta_1, "Adam: beta_1"), _number(beta_2, "Adam: beta_2"))
        if max(self.betas) >= 1:  # the moving averages would never forget
            raise ValueError(f"Adam: beta_1 and beta_2 must be below 1; got {beta_1!r}, "
                             f"{beta_2!r}.")
        self.epsilon, self.amsgrad = _number(epsilon, "Adam: epsilon"), bool(amsgrad)

    def _own_config(self) -> dict:
        return {"beta_1": self.betas[0], "beta_2": self.betas[1], "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}

    def _decays_itself(self) -> bool:
        return True  # torch's AdamW decays as Keras, inside its step

    def _make(self, params):
        cls, wd = ((training.KerasAdamW, {"weight_decay": self.weight_decay})
                   if self.weight_decay else (training.KerasAdam, {}))
        return training._fused(cls, params, lr=self.learning_rate, betas=self.betas,
                               eps=self.epsilon, amsgrad=self.amsgrad, **wd)


class AdamW(Adam):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay,
                         **kwargs)

    def _make(self, params):
        return training._fused(training.KerasAdamW, params, lr=self.learning_rate,
                               betas=self.betas, eps=self.epsilon, amsgrad=self.amsgrad,
                               weight_decay=self.weight_decay or 0.0)


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.momentum, self.nesterov = _number(momentum, "SGD: momentum"), bool(nesterov)
        if self.momentum > 1:  # as Keras: the velocity would grow without bound
            raise ValueError(f"SGD: momentum must be between 0 and 1; got {momentum!r}.")
        if self.nesterov and not self.momentum:
            raise ValueError("SGD: nesterov=True needs a momentum above 0.")

    def _own_config(self) -> dict:
        return {"momentum": self.momentum, "nesterov": self.nesterov}

    def _make(self, params):
        if self.momentum:
            return KerasSGD(params, lr=self.learning_rate, momentum=self.momentum,
                            nesterov=self.nesterov)
        return training._fused(training.KerasSGD, params, lr=self.learning_rate)


class KerasSGD(training.KerasSGD):
    """Keras 3's SGD with momentum μ, whose velocity m holds the rate (torch's buffer b
    does not: w ← w − lr·b with b ← μ b + g, the same only while the rate stays):

        m ← μ m − lr · g          w ← w + m              (nesterov: w ← w + μ m − lr · g)

    so a rate a scheduler changes acts on the next step alone, as in Keras. The velocity
    is the state ``momentums`` (a checkpoint's torch buffer b is taken as m = −lr · b)."""

    @torch.no_grad()
    def step(self, closure=None):
        return training.each_parameter(self, closure, self._update)

    def _update(self, p, state: dict, group: dict) -> None:
        lr, mu = group["lr"], group["momentum"]
        if "momentums" not in state:
            b = state.pop("momentum_buffer", None)
            state["momentums"] = torch.zeros_like(p) if b is None else b.mul(-lr)
        m = state["momentums"]  # same shape as p
        m.mul_(mu).add_(p.grad, alpha=-lr)
        if group["nesterov"]:
            p.add_(m, alpha=mu).add_(p.grad, alpha=-lr)
        else:
            p.add_(m)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7,
                 centered=False, weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        if momentum or centered:
            raise ValueError("RMSprop: momentum and centered have no grukit form; leave them "
                             "out, or compile with torch.optim.RMSprop(model.parameters(), "
                             "...).")
        self.rho, self.epsilon = _number(rho, "RMSprop: rho"), _number(epsilon,
                                                                      "RMSprop: epsilon")
        if self.rho >= 1:
            raise ValueError(f"RMSprop: rho must be below 1; got {rho!r}.")

    def _own_config(self) -> dict:
        return {"rho": self.rho, "epsilon": self.epsilon}

    def _make(self, params):
        return training.KerasRMSprop(params, lr=self.learning_rate, alpha=self.rho,
                                     eps=self.epsilon)


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, **kwargs)
        self.initial = _number(initial_accumulator_value, "Adagrad: initial_accumulator_value")
        self.epsilon = _number(epsilon, "Adagrad: epsilon")

    def _own_config(self) -> dict:
        return {"initial_accumulator_value": self.initial, "epsilon": self.epsilon}

    def _make(self, params):
        return training.KerasAdagrad(params, lr=self.learning_rate,
                                     initial_accumulator_value=self.initial, eps=self.epsilon)


def of_keras(opt):
    """grukit's optimizer of the same name and settings as Keras' optimizer object ``opt``
    (``keras.optimizers.Adam(1e-4)``: its ``get_config``), any other value as it is; weights
    excluded from its weight decay (``opt.exclude_from_weight_decay(...)``, which its config
    leaves out) are refused by name."""
    if not (type(opt).__module__.startswith("keras") and hasattr(opt, "get_config")
            and hasattr(opt, "apply_gradients")):
        return opt
    kind = type(opt).__name__
    cls = {c.__name__: c for c in (Adam, AdamW, SGD, RMSprop, Adagrad)}.get(kind)
    if cls is None:
        raise ValueError(f"Keras' {kind} optimizer has no grukit form; grukit has Adam, AdamW, "
                         f"SGD, RMSprop and Adagrad (grukit.models.optimizers, Keras' "
                         f"arguments).")
    if getattr(opt, "_exclude_from_weight_decay", None) \
            or getattr(opt, "_exclude_from_weight_decay_pattern", None) is not None:
        raise ValueError(f"{kind}: exclude_from_weight_decay has no grukit form (weight_decay "
                         f"shrinks every trainable weight); leave it out, or compile with a "
                         f"torch optimizer whose parameter groups set weight_decay=0 for "
                         f"those weights.")
    config = dict(opt.get_config())
    if isinstance(config.get("learning_rate"), dict):  # a schedule's config
        raise TypeError(f"{kind}: learning_rate is a schedule, which has no grukit form: use "
                        f"the LearningRateScheduler callback (grukit.models."
                        f"LearningRateScheduler).")
    return cls.from_config({k: v for k, v in config.items() if k != "name"} |
                           {"name": config.get("name")})


__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "of_keras"]

"""What the text and sequence classifiers share: training through ``Sequential.fit`` (with a
stratified validation split and early stopping), batched prediction, attention weights,
evaluation, k-fold cross-validation and the estimator contract (``fit`` returns ``self``,
``save``/``load`` through ``grukit.tasks.estimator``). Subclasses turn raw inputs into padded
tensors and say what else a saved model needs (tokenizer, scaler).

Labels keep their type: ``predict`` returns the values given to ``fit`` (strings stay
strings, ints ints), also after ``save``/``load``. ``evaluate`` and ``validation_data`` match
labels by value, and by their text when the types differ (a model trained on the strings
"0"/"1" of a CSV scores the ints 0/1); a label the model never saw in training is refused
with one sentence naming it rather than scored, since no prediction could ever match it.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from ...models import EarlyStopping, EpochTimer, History, optimizer
from .. import _diverged
from ..estimator import Estimator, is_flag, load_module_state
from .labels import _as_float, as_labels, encode_labels
from .metrics import classification_scores
from .network import MODELS, build_network


def stratified_split(y: np.ndarray, fraction: float, seed: int, strict: bool = False,
                     classes=None):
    """Indices (train, held out) with ``fraction`` held out, class proportions kept where
    every class has two rows or more and both parts can hold every class; otherwise a plain
    random split, or with ``strict`` (a train/test split to score on) one sentence saying why
    the split cannot be made (naming the class from ``classes`` when given)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    counts = np.bincount(y)
    present = counts[counts > 0]
    k, n = len(present), len(y)
    n_test = math.ceil(fraction * n)  # what train_test_split holds out
    stratifiable = present.min() >= 2 and k <= n_test <= n - k
    if strict and not stratifiable:
        if present.min() < 2:
            small = int(np.flatnonzero(counts == present.min())[0])
            name = repr(str(classes[small])) if classes is not None else f"#{small}"
            raise ValueError(f"class {name} has a single row, so a train/test split cannot "
                             f"have it on both sides; give it more rows or drop it.")
        raise ValueError(f"{n} rows are too few for a stratified {1 - fraction:.0%}/"
                         f"{fraction:.0%} split of {k} classes (each side needs a row of "
                         f"every class); give more rows.")
    strat = y if stratifiable else None
    return train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)


def _plain(value):
    """A numpy number as the Python one (np.int64(3) -> 3); anything else as it is."""
    return value.item() if isinstance(value, np.generic) else value


def _what(value) -> str:
    """A short description of a value in an error: its type, and its length when it has one."""
    name = type(value).__name__
    article = "an" if name[0].lower() in "aeiou" else "a"
    n = len(value) if hasattr(value, "__len__") and not isinstance(value, (str, bytes)) else None
    return f"{article} {name}" + (f" of length {n}" if n is not None else "")


def _whole(name: str, value, least: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be a whole number of {least} or more; got {value!r}.")


def plain_config(cfg):
    """``cfg`` with numpy numbers as Python ones (np.int64(3) -> 3), and a bool setting given
    as numpy's bool, 0 or 1 as Python's bool, which JSON, torch's seeding and the training
    loop take (anything else is left for the checks to refuse)."""
    def plain(f):
        v = _plain(getattr(cfg, f.name))
        return bool(v) if f.type in (bool, "bool") and is_flag(v) else v

    return dataclasses.replace(cfg, **{f.name: plain(f) for f in dataclasses.fields(cfg)})


def check_config(cfg) -> None:
    """One sentence for the first setting no classifier can train with."""
    if cfg.model not in MODELS:
        raise ValueError(f"model must be one of {list(MODELS)}; got {cfg.model!r}.")
    for name in ("hidden", "epochs", "batch_size", "embed_dim", "max_len", "min_frequency"):
        if hasattr(cfg, name):
            _whole(name, getattr(cfg, name))
    if hasattr(cfg, "vocab_size"):  # ids 0 and 1 are padding and the unknown token
        _whole("vocab_size", cfg.vocab_size, 3)
    if not isinstance(cfg.dropout, (int, float)) or not 0 <= cfg.dropout < 1:
        raise ValueError(f"dropout must be in [0, 1); got {cfg.dropout!r}.")
    lr = cfg.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"learning_rate must be a positive number; got {lr!r}.")
    split = cfg.validation_split
    if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split < 1:
        raise ValueError(f"validation_split must be in [0, 1) (0 turns early stopping off); "
                         f"got {split!r}.")
    if cfg.patience is not None:
        _whole("patience", cfg.patience, 0)
    _whole("seed", cfg.seed, 0)
    if cfg.seed >= 2 ** 32:  # scikit-learn's splits take a 32-bit random_state
        raise ValueError(f"seed must be below 2**32 (4294967296); got {cfg.seed}.")
    if getattr(cfg, "tokenizer", "word") not in ("word", "wordpiece"):
        raise ValueError(f"tokenizer must be 'word' or 'wordpiece'; got {cfg.tokenizer!r}.")


class UnseenLabels(ValueError):
    """Labels the model never saw in training: ``names`` (sorted, as text) on ``rows`` rows."""

    def __init__(self, message: str, names: list[str], rows: int):
        super().__init__(message)
        self.names, self.rows = names, rows


class RecurrentClassifier(Estimator):
    """Base class; ``config`` is the subclass' dataclass, keyword arguments override it.
    The constructor only stores the settings; ``fit`` checks them."""

    config_class = None

    def __init__(self, config=None, **overrides):
        base = config if config is not None else self.config_class()
        if not isinstance(base, self.config_class):
            raise TypeError(f"config must be a {self.config_class.__name__}; got a "
                            f"{type(base).__name__}.")
        # numpy numbers as Python's (get_config is JSON); fit checks the settings
        self.config = plain_config(dataclasses.replace(base, **self._checked_settings(overrides)))
        self.model = None

    # -- subclass hooks ----------------------------------------------------------------------
    def _fit_inputs(self, inputs) -> None:  # learn the tokenizer / scaling on training data
        raise NotImplementedError

    def _items(self, inputs) -> list[np.ndarray]:  # one array per example, (T_i, ...)
        raise NotImplementedError

    def _pad(self, items: list[np.ndarray], steps: int) -> torch.Tensor:
        raise NotImplementedError

    def _head(self, steps: int) -> list:
        raise NotImplementedError

    def _prepare(self, inputs):  # check and normalize raw inputs before any split
        return inputs

    def _count(self, inputs) -> int:
        return len(inputs)

    def _take(self, inputs, idx):
        return [inputs[i] for i in idx]

    def _extra_state(self) -> tuple[dict, dict]:  # what else the subclass needs to predict
        return {}, {}

    def _restore_extra(self, tensors: dict, extras: dict) -> None:
        raise NotImplementedError

    # -- training ----------------------------------------------------------------------------
    def fit(self, inputs, labels, *, validation_data=None, validation_split: float | None = None,
            epochs: int | None = None, callbacks=None, verbose=0):
        """Train on ``inputs`` and ``labels``; returns ``self``. The ``History`` (per-epoch
        ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` and ``epoch_time`` in seconds)
        is kept in ``self.history_``.

        Validation: ``validation_data=(inputs, labels)``, or else a stratified
        ``validation_split`` of the training rows (``config.validation_split`` when None; 0
        trains on everything for ``epochs`` epochs). With validation, training stops after
        ``config.patience`` epochs without a lower ``val_loss`` and keeps the best weights.
        ``epochs`` (``config.epochs`` when None) must be 1 or more.
        """
        cfg = self.config = plain_config(self.config)
        check_config(cfg)
        epochs = cfg.epochs if epochs is None else _plain(epochs)
        _whole("epochs", epochs)
        split = cfg.validation_split if validation_split is None else _plain(validation_split)
        if isinstance(split, bool) or not isinstance(split, (int, float)) or not 0 <= split < 1:
            raise ValueError(f"validation_split must be in [0, 1); got {split!r}.")
        self.fitted_ = False  # a failed fit leaves no half-trained model behind
        inputs = self._prepare(inputs)
        labels = as_labels(labels)
        n = self._count(inputs)
        if n != len(labels):
            raise ValueError(f"there are {n} inputs but {len(labels)} labels; they must match.")
        self.classes_, y = encode_labels(labels)
        _classes_to_json(self.classes_)  # labels save cannot write: refused before training
        val = None
        if validation_data is not None:
            if isinstance(validation_data, (str, bytes)) or not hasattr(
                    validation_data, "__len__") or len(validation_data) != 2:
                raise ValueError(f"validation_data must be a pair (inputs, labels); got "
                                 f"{_what(validation_data)}.")
            v_inputs, v_labels = validation_data
            v_y = self._label_index(v_labels, "validation_data")
            if not len(v_y):
                raise ValueError("validation_data holds no rows; give it labelled inputs, or "
                                 "leave it out to hold out validation_split of the training "
                                 "rows.")
            v_inputs = self._prepare(v_inputs)
            if self._count(v_inputs) != len(v_y):
                raise ValueError(f"validation_data has {self._count(v_inputs)} inputs but "
                                 f"{len(v_y)} labels; they must match.")
            val = (v_inputs, v_y)
        elif split:
            tr, va = stratified_split(y, split, cfg.seed)
            lost = np.setdiff1d(y, y[tr])  # classes whose every row went to validation
            if len(lost):
                raise ValueError(
                    f"validation_split={split} leaves class {str(self.classes_[lost[0]])!r} "
                    f"with no training row (its {int((y == lost[0]).sum())} row(s) all went "
                    f"to validation, as the rows are too few to split by class); give it more "
                    f"rows, a smaller validation_split or validation_split=0.")
            val = (self._take(inputs, va), y[va])
            inputs, y = self._take(inputs, tr), y[tr]
        self._fit_inputs(inputs)
        items = self._items(inputs)
        v_items = self._items(val[0]) if val is not None else []
        self.steps_ = max(len(a) for a in items + v_items)  # T of the training tensors
        torch.manual_seed(cfg.seed)
        self.model = self._network()
        self.model.compile(optimizer("adam", self.model.parameters(), lr=cfg.learning_rate),
                           "sparse_categorical_crossentropy", ["accuracy"])
        timer = EpochTimer()
        cbs = [timer] + list(callbacks or [])
        val_t = None
        if val is not None:
            val_t = (self._pad(v_items, self.steps_), torch.as_tensor(val[1]))
            if cfg.patience is not None:
                cbs.append(EarlyStopping("val_loss", patience=cfg.patience,
                                         restore_best_weights=True))
        first = _diverged.FirstBatch()  # without validation: the first batch's loss
        if val_t is None:
            cbs.append(first)
        untrained = None if val_t is None else _diverged.before(self.model, *val_t,
                                                                 cfg.batch_size)
        history = self.model.fit(self._pad(items, self.steps_), torch.as_tensor(y),
                                 batch_size=cfg.batch_size, epochs=epochs,
                                 verbose=verbose, callbacks=cbs, validation_data=val_t,
                                 seed=cfg.seed)
        history.history["epoch_time"] = timer.seconds
        _diverged.check(history, learning_rate=cfg.learning_rate,
                        untrained=first.loss if val_t is None else untrained,
                        key="loss" if val_t is None else "val_loss",
                        what=f"the {type(self).__name__}")
        self.history_: History = history
        self.fitted_ = True
        return self

    def _network(self):
        cfg = self.config
        model = build_network(self._head(self.steps_), cfg.model, cfg.hidden,
                              len(self.classes_), cfg.dropout)
        model.build()
        return model

    def _label_index(self, labels, what: str) -> np.ndarray:
        """Each label's index in ``classes_``: matched by value when both sides are numbers
        (0 and 0.0 alike), else by text (the int 1 matches the string "1"); one sentence
        naming the labels the model never saw."""
        labels = as_labels(labels, what)
        classes = self.classes_
        fc, fl = _as_float(classes), _as_float(labels)
        if fc is not None and fl is not None and classes.dtype.kind == "f":
            fl = fl.astype(classes.dtype).astype(np.float64)  # 0.1 as float32 classes hold it
        if fc is not None and fl is not None and len(set(fc.tolist())) == len(fc):
            keys_c, keys_l = fc.tolist(), fl.tolist()
        else:
            keys_c, keys_l = [str(c) for c in classes], [str(v) for v in labels]
        lookup = {k: i for i, k in enumerate(keys_c)}
        unseen = [v for v, k in zip(labels.tolist(), keys_l, strict=True) if k not in lookup]
        if unseen:
            names = sorted({str(v) for v in unseen})
            raise UnseenLabels(f"{what}: label(s) {names[:5]} ({len(unseen)} row(s)) never "
                               f"occurred in training, so no prediction can match them; the "
                               f"model knows {[str(c) for c in classes[:20]]} - drop those "
                               f"rows or retrain with them.", names, len(unseen))
        return np.array([lookup[k] for k in keys_l], dtype=np.int64)

    # -- inference ---------------------------------------------------------------------------
    def _batches(self, inputs):
        """Each batch padded to its own longest item: (index array, padded tensor)."""
        items = self._items(inputs)
        order = np.argsort([len(a) for a in items], kind="stable")  # similar lengths together
        bs = max(self.config.batch_size, 64)
        for i in range(0, len(order), bs):
            idx = order[i:i + bs]
            chunk = [items[j] for j in idx]
            yield idx, self._pad(chunk, max(len(a) for a in chunk)), chunk

    def predict_proba(self, inputs) -> np.ndarray:
        """Class probabilities (N, K), columns in the order of ``classes_``."""
        self._check_fitted("predict")
        inputs = self._prepare(inputs)
        out = np.zeros((self._count(inputs), len(self.classes_)), dtype=np.float32)
        self.model.eval()
        device = self.model._device()  # where fit left it (a GPU, if there is one)
        with torch.no_grad():
            for idx, x, _ in self._batches(inputs):
                out[idx] = self.model(x.to(device)).cpu().numpy()
        return out

    def predict(self, inputs) -> np.ndarray:
        """The most probable class of each input, as the labels given to ``fit``."""
        proba = self.predict_proba(inputs)  # (N, K)
        return self.classes_[proba.argmax(1)]

    def attention(self, inputs) -> list[np.ndarray]:
        """Each input's attention weights over its steps (T_i,), summing to 1: how much each
        step (token) contributed to the pooled vector the prediction is made from."""
        self._check_fitted("attention")
        inputs = self._prepare(inputs)
        pool = next(la for la in self.model.layers if type(la).__name__ == "AttentionPooling")
        out: list = [None] * self._count(inputs)
        self.model.eval()
        device = self.model._device()
        with torch.no_grad():
            for idx, x, chunk in self._batches(inputs):
                self.model(x.to(device))
                w = pool.last_weights.cpu().numpy()  # (B, T)
                for row, j in enumerate(idx):
                    out[j] = w[row, :len(chunk[row])].copy()
        return out

    def evaluate(self, inputs, labels) -> dict:
        """``{"accuracy", "macro_f1", "confusion", "classes", "n"}`` on labelled data; a label
        the model never saw in training is refused with one sentence naming it."""
        self._check_fitted("evaluate")
        y = self._label_index(labels, "evaluate")
        inputs = self._prepare(inputs)
        if self._count(inputs) != len(y):
            raise ValueError(f"there are {self._count(inputs)} inputs but {len(y)} labels; "
                             f"they must match.")
        if not len(y):
            raise ValueError("evaluate got no rows; give at least one labelled input.")
        return classification_scores(self.classes_[y], self.predict(inputs), self.classes_)

    def cross_validate(self, inputs, labels, folds: int = 5, baseline=None) -> dict:
        from .crossval import cross_validate

        return cross_validate(self, inputs, labels, folds=folds, baseline=baseline)

    # -- export ------------------------------------------------------------------------------
    def export_onnx(self, path: str) -> None:
        """Write the network as ONNX (``grukit.export.to_onnx``) and, beside it,
        ``<stem>.labels.json`` (the class labels, in the order of the output's columns) and
        what else raw input needs (the text classifier's tokenizer). The graph takes the
        padded batch ``predict_proba`` builds (``input``: token ids (B, T) with 0 as
        padding, each text cut to ``config.max_len``, or (B, T, C + 1) values standardised
        with ``mean_`` and ``std_`` with a validity flag) and returns the class
        probabilities ``output`` (B, K). ``grukit.tasks.export.export`` writes, beside the
        graph, a manifest holding max_len, the scaler and the classes. Needs the ``onnx``
        package."""
        from ...export import to_onnx
        from ..export import beside, classes_json, write_json

        self._check_fitted("export_onnx")
        to_onnx(self.model, path)
        write_json(beside(path, "labels"), classes_json(self.classes_))
        self._export_files(path)

    def _export_files(self, path: str) -> None:  # what else a subclass writes beside it
        pass

    # -- saving (grukit.tasks.estimator) -----------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        tensors, extras = self._extra_state()
        tensors = tensors | {f"network.{k}": v for k, v in self.model.state_dict().items()}
        return tensors, extras | {"classes": _classes_to_json(self.classes_),
                                  "steps": int(self.steps_)}

    def _restore(self, tensors: dict, extras: dict) -> None:
        check_config(self.config)
        try:
            self.classes_ = _classes_from_json(extras["classes"])
            self.steps_ = int(extras["steps"])
            self._restore_extra(tensors, extras)
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"the saved {type(self).__name__} is incomplete or damaged "
                             f"({type(err).__name__}: {err}); save the model again.") from None
        self.model = self._network()
        load_module_state(self.model, tensors, "network.", f"the saved {type(self).__name__}")
        self.model.eval()


def _classes_to_json(classes: np.ndarray) -> dict:
    """The class labels with their dtype, so ``load`` gives back the same array."""
    if classes.dtype.kind not in "UiufbO":
        raise TypeError(f"labels of dtype {classes.dtype} cannot be saved; use strings or "
                        f"numbers.")
    values = classes.tolist()
    if classes.dtype.kind == "O" and not all(isinstance(v, (str, int, float, bool))
                                             for v in values):
        raise TypeError("labels other than strings and numbers cannot be saved.")
    return {"dtype": classes.dtype.str, "values": values}


def _classes_from_json(block: dict) -> np.ndarray:
    dtype = np.dtype(block["dtype"])
    if dtype.kind not in "UiufbO":
        raise ValueError(f"class dtype {dtype} is not one save writes")
    out = np.empty(len(block["values"]), dtype=dtype)
    out[:] = block["values"]
    return out

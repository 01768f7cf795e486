"""``ClinicalClassifier``: a binary outcome (in-hospital death by default) from a
``grukit.data.clinical.ClinicalData`` with GRU-D or one of the paper's recurrent baselines
(Che et al. 2018): one recurrent layer, the static descriptors, a sigmoid unit, binary
cross-entropy, Adam, early stopping on a stratified validation split of the training
records; variational dropout of the recurrent layer's inputs (GRU-D: [x̂, m]) and of the
state its recurrent weights read (GRU-D: ĥ), as in the authors' released code, which builds
GRU-D and the GRU baselines from one layer with the same dropout.
z-scoring statistics and x̄ come from the training records only and are saved with
the weights, so a loaded model scores new stays exactly as before saving."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from ..estimator import Estimator, check_flag, is_flag, load_module_state
from .features import PACKED, Encoding, fit_encoding, network_inputs
from .network import CELLS, ClinicalNetwork

MODELS = tuple(CELLS)


@dataclass(frozen=True)
class ClinicalConfig:
    """Settings of ``ClinicalClassifier`` (Che et al. 2018's setup where they state one):
    the model, its width, dropout on the recurrent output and (GRU-D) on its gate inputs,
    the epoch cap, batch, Adam's learning rate, the stratified validation share and patience
    of early stopping, whether the descriptors feed the output, and the seed.

    Where each default comes from: 49 GRU-D units (the paper's model size for PhysioNet),
    each baseline as wide as gives it GRU-D's recurrent parameter count (the paper compares
    models of comparable size; ``paper_hidden``); batch 32, patience 10 and dropout 0.3 on
    the output, on [x̂, m] and on ĥ (recurrent) from the authors' released Keras code
    (Run.ipynb, models.py, grud_layers.py); Adam 1e-3 from both."""

    # grud | gru-mean | gru-forward | gru-simple | gru-simple-forward | lstm-mean
    model: str = "grud"
    hidden: int | None = None  # None: paper_hidden(model, variables)
    dropout: float = 0.3  # on the recurrent output, before the sigmoid unit
    # variational dropout of the recurrent layer's inputs (GRU-D: [x̂, m] where its gates
    # read them) and of the state its recurrent weights read (GRU-D: ĥ), as Che et al.'s code
    input_dropout: float = 0.3
    recurrent_dropout: float = 0.3
    # one dropout mask per gate (r, z, n; LSTM i, f, g, o) for every model, as the Keras
    # layer of Che et al.'s code (implementation=1); False: one mask shared by the gates
    gate_masks: bool = True
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 1e-3
    validation_split: float = 0.15  # of the training records, stratified; 0: no early stop
    patience: int = 10
    statics: bool = True  # feed the static descriptors to the sigmoid unit
    seed: int = 0


PAPER_GRUD_UNITS = 49  # Che et al. 2018, PhysioNet: 18,838 parameters on 33 variables


def paper_hidden(model: str, variables: int) -> int:
    """The paper's width of ``model`` on ``variables`` series: 49 units for GRU-D; for a
    baseline, the width whose recurrent layer has the parameter count closest to GRU-D's at
    49 units on the same variables (the paper's models are of comparable size: on its 33
    variables this gives GRU-mean 64 units, 19,008 recurrent parameters, 18,816 without the
    recurrent bias as in the paper's Keras GRU, against GRU-D's 18,784, 18,834 with the
    sigmoid unit). On PhysioNet set A's 37: GRU-mean / GRU-forward 65, GRU-simple 43,
    LSTM-mean 54 (GRU-D 20,164).
    """
    from ... import cells

    target = cells.GRUD.count(variables, PAPER_GRUD_UNITS)
    if model == "grud":
        return PAPER_GRUD_UNITS
    spec = cells.get("lstm" if model == "lstm-mean" else "gru")
    width = variables * (3 if model.startswith("gru-simple") else 1)  # GRU-simple: [x, m, δ]
    return min(range(1, 4 * PAPER_GRUD_UNITS), key=lambda h: abs(spec.count(width, h) - target))


def _whole(name, value, least=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be a whole number of {least} or more; got {value!r}.")


def check_config(cfg: ClinicalConfig) -> None:
    """One sentence for the first setting the classifier cannot train with."""
    if cfg.model not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}; got {cfg.model!r}.")
    if cfg.hidden is not None:
        _whole("hidden", cfg.hidden)
    for name in ("epochs", "batch_size"):
        _whole(name, getattr(cfg, name))
    _whole("patience", cfg.patience, 0)
    _whole("seed", cfg.seed, 0)
    if cfg.seed >= 2 ** 32:  # scikit-learn's splits take a 32-bit random_state
        raise ValueError(f"seed must be below 2**32 (4294967296); got {cfg.seed}.")
    for name in ("dropout", "input_dropout", "recurrent_dropout"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise ValueError(f"{name} must be in [0, 1); got {v!r}.")
    check_flag(cfg.gate_masks, "gate_masks")
    check_flag(cfg.statics, "statics", note=" (feed the static descriptors to the output unit "
                                            "or not)")  # "no" is true: it fed them
    lr = cfg.learning_rate
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < math.inf:
        raise ValueError(f"learning_rate must be a positive number; got {lr!r}.")
    if not isinstance(cfg.validation_split, (int, float)) or not 0 <= cfg.validation_split < 1:
        raise ValueError(f"validation_split must be in [0, 1) (0 turns early stopping off); "
                         f"got {cfg.validation_split!r}.")


def check_data(data) -> None:
    """One sentence when ``data`` is not a ``ClinicalData`` (an array or a frame raised an
    AttributeError deep inside)."""
    from ...data.clinical import ClinicalData

    if not isinstance(data, ClinicalData):
        raise TypeError(f"data must be a ClinicalData (grukit.data.read_physionet2012 or "
                        f"read_long_csv reads one); got a {type(data).__name__}.")


def labelled_rows(data, rows=None, what: str = "the training records",
                  name: str = "train_indices") -> np.ndarray:
    """The records of ``rows`` (positions, or a boolean mask with one entry per record; all
    when None) with an outcome, which must be 0/1. ``name``: the argument, for errors."""
    check_data(data)
    rows = np.arange(data.n_records) if rows is None else np.asarray(rows)
    if rows.dtype == bool:
        if rows.shape != (data.n_records,):
            raise ValueError(f"a boolean {name} must have one entry per record "
                             f"({data.n_records}); got shape {rows.shape}.")
        rows = np.flatnonzero(rows)
    if rows.size == 0 or not np.issubdtype(rows.dtype, np.integer) \
            or rows.min() < 0 or rows.max() >= data.n_records:
        raise ValueError(f"{name} must be record positions in 0..{data.n_records - 1}.")
    if data.outcome is None:
        raise ValueError("the data has no outcome; read it with its outcome file and the "
                         "outcome column (outcome=), or pick a column it holds with "
                         "data.with_outcome(name).")
    y = np.asarray(data.y)[rows]
    if y.dtype != bool and not np.issubdtype(y.dtype, np.number):  # numpy's isfinite failed
        raise ValueError(f"the outcome {data.outcome!r} must be numbers, 0 or 1 (NaN: "
                         f"unknown); got {y.dtype} values such as {str(y[0])!r}; convert them, "
                         f"e.g. y.astype(float).")
    if not np.isfinite(y).any():  # "only one outcome class" said the records had one
        raise ValueError(f"none of {what} has an outcome ({data.outcome!r} is empty for all "
                         f"{len(rows)}); give records with a 0 or 1 outcome.")
    rows = rows[np.isfinite(y)]
    bad = ~np.isin(data.y[rows], (0.0, 1.0))
    if bad.any():
        raise ValueError(f"the outcome {data.outcome!r} must be 0 or 1; record "
                         f"{data.record_ids[rows[bad][0]]} has {data.y[rows[bad][0]]:g}.")
    if len(np.unique(data.y[rows])) < 2:
        raise ValueError(f"{what} hold only one outcome class ({data.outcome!r}); a classifier "
                         f"needs both 0 and 1.")
    return rows


def _difference(have, want) -> str:
    """How the variables ``have`` differ from ``want``: the first lacking, the first extra,
    or their order."""
    lacks = [v for v in want if v not in have]
    extra = [v for v in have if v not in want]
    if lacks:
        return f"it lacks {lacks[0]!r}" + (f" and {len(lacks) - 1} more" if len(lacks) > 1 else "")
    if extra:
        return f"it has {extra[0]!r}" + (f" and {len(extra) - 1} more" if len(extra) > 1 else "")
    return "the same names in another order"


def auc_scores(y: np.ndarray, p: np.ndarray) -> dict:
    """AUC-ROC and AUC-PR (average precision) by scikit-learn."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {"auc_roc": float(roc_auc_score(y, p)), "auc_pr": float(average_precision_score(y, p)),
            "n": int(len(y)), "positives": int(np.sum(y))}


class ClinicalClassifier(Estimator):
    """Risk of a binary outcome from irregular clinical series.

    >>> data = read_physionet2012("physionet2012")
    >>> clf = ClinicalClassifier(model="grud").fit(data, train_indices=tr)
    >>> clf.evaluate(data, te), clf.predict_proba(data)[te], clf.risk_over_time(data, te[0])
    """

    config_class = ClinicalConfig

    def __init__(self, config: ClinicalConfig | None = None, **overrides):
        base = config if config is not None else ClinicalConfig()
        if not isinstance(base, ClinicalConfig):
            raise TypeError(f"config must be a ClinicalConfig; got a {type(base).__name__}.")
        config = dataclasses.replace(base, **self._checked_settings(overrides))
        # numpy numbers (np.int64(8) from an array) as Python's: they failed fit's checks or,
        # for hidden, the save after training (JSON has no int64)
        config = dataclasses.replace(config, **{
            f.name: getattr(config, f.name).item() for f in dataclasses.fields(config)
            if isinstance(getattr(config, f.name), np.generic)})
        # numpy's bool, 0 and 1 as Python's bools (fit refuses anything else)
        self.config = dataclasses.replace(config, **{
            k: bool(getattr(config, k)) for k in ("gate_masks", "statics")
            if is_flag(getattr(config, k))})
        self.model = None

    # -- training ----------------------------------------------------------------------------
    def fit(self, data, train_indices=None, *, epochs: int | None = None, callbacks=None,
            verbose=0) -> ClinicalClassifier:
        """Train on the records ``train_indices`` of ``data`` (all when None) that have an
        outcome; returns ``self`` (the ``History`` in ``self.history_``)."""
        from ...models import EarlyStopping, EpochTimer, optimizer
        from .. import _diverged
        from ..classify.base import stratified_split

        cfg = self.config
        check_config(cfg)
        epochs = cfg.epochs if epochs is None else epochs
        _whole("epochs", epochs)
        epochs = int(epochs)  # np.int64 too: the training loop takes Python's
        self.fitted_ = False
        rows = labelled_rows(data, train_indices)
        y = data.y[rows].astype(np.int64)
        self.encoding_ = fit_encoding(data, rows)
        self.unseen_ = tuple(data.variables[i] for i in self.encoding_.unseen)
        self.hidden_ = cfg.hidden or paper_hidden(cfg.model, len(data.variables))
        if not cfg.statics:
            self.encoding_.statics = []
        self._remember(data)
        x = network_inputs(data, self.encoding_, cfg.model)[rows]  # (n, T, F + S)
        val = None
        if cfg.validation_split:
            tr, va = stratified_split(y, cfg.validation_split, cfg.seed)
            val = (torch.from_numpy(x[va]), torch.from_numpy(y[va].astype(np.float32)))
            x, y = x[tr], y[tr]
        torch.manual_seed(cfg.seed)
        self.model = self._network()
        self.model.compile(optimizer("adam", self.model.parameters(), lr=cfg.learning_rate),
                           "binary_crossentropy")
        timer = EpochTimer()
        cbs = [timer] + list(callbacks or [])
        if val is not None:
            cbs.append(EarlyStopping("val_loss", patience=cfg.patience,
                                     restore_best_weights=True))
        first = _diverged.FirstBatch()  # without validation: the first batch's loss
        if val is None:
            cbs.append(first)
        untrained = None if val is None else _diverged.before(self.model, *val, cfg.batch_size)
        history = self.model.fit(torch.from_numpy(np.ascontiguousarray(x)),
                                 torch.from_numpy(y.astype(np.float32)),
                                 batch_size=cfg.batch_size, epochs=epochs, verbose=verbose,
                                 callbacks=cbs, validation_data=val, seed=cfg.seed)
        history.history["epoch_time"] = timer.seconds
        _diverged.check(history, learning_rate=cfg.learning_rate,
                        untrained=first.loss if val is None else untrained,
                        key="loss" if val is None else "val_loss",
                        what=f"the {cfg.model} classifier")
        self.history_ = history
        self.model.eval()
        self.fitted_ = True
        return self

    def _remember(self, data) -> None:
        self.variables_ = tuple(data.variables)
        self.steps_ = int(data.n_steps)
        self.step_ = float(data.step)
        self.outcome_ = data.outcome

    def _network(self):
        from ...models import Sequential

        enc, cfg = self.encoding_, self.config
        series = PACKED[cfg.model] * len(self.variables_)
        net = ClinicalNetwork(cfg.model, self.hidden_, series, cfg.dropout,
                              input_shape=(self.steps_, series + enc.static_width))
        model = Sequential([net], name=f"{cfg.model}_clinical")
        model.build()
        net.set_empirical_mean(enc.x_mean)
        net.set_input_dropout(cfg.input_dropout)
        net.set_recurrent_dropout(cfg.recurrent_dropout)
        net.set_gate_masks(cfg.gate_masks)
        return model

    # -- inference ---------------------------------------------------------------------------
    def _inputs(self, data) -> np.ndarray:
        check_data(data)
        if tuple(data.variables) != self.variables_:
            raise ValueError(f"the data's variables are not the model's "
                             f"({_difference(data.variables, self.variables_)}); read it with "
                             f"variables=clf.variables_, the model's {len(self.variables_)} "
                             f"variables in its order.")
        if data.n_steps != self.steps_ or data.step != self.step_:
            raise ValueError(f"the data is on a grid of {data.n_steps} steps of {data.step} h; "
                             f"the model was trained on {self.steps_} of {self.step_} h.")
        return network_inputs(data, self.encoding_, self.config.model)

    def _run(self, x: np.ndarray, per_step: bool) -> np.ndarray:
        net = self.model.layers[0]
        net.per_step = per_step
        self.model.eval()
        device = self.model._device()  # where fit left it (a GPU, if there is one)
        try:
            out = [self.model(torch.from_numpy(x[i:i + 256]).to(device)).cpu().numpy()
                   for i in range(0, len(x), 256)]
        finally:
            net.per_step = False
        return np.concatenate(out) if out else np.zeros((0,), np.float32)

    @torch.no_grad()
    def predict_proba(self, data) -> np.ndarray:
        """(N,) float32: the predicted probability of outcome 1 for every record."""
        self._check_fitted("predict")
        return self._run(self._inputs(data), False)[:, 0]

    def predict(self, data, threshold: float = 0.5) -> np.ndarray:
        """(N,) int64: 1 where the predicted probability is at least ``threshold``."""
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) \
                or not 0 <= threshold <= 1:  # NaN made every prediction 0
            raise ValueError(f"threshold must be a probability in [0, 1]; got {threshold!r}.")
        return (self.predict_proba(data) >= threshold).astype(np.int64)

    @torch.no_grad()
    def risk_over_time(self, data, i: int) -> np.ndarray:
        """(T,) the risk record ``i`` would get after each step (hour) of the grid, read from
        the recurrent state at that step."""
        self._check_fitted("risk_over_time")
        check_data(data)
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) \
                or not 0 <= i < data.n_records:  # True was record 1
            raise ValueError(f"i must be a record position in 0..{data.n_records - 1}; got "
                             f"{i!r}.")
        return self._run(self._inputs(data)[i:i + 1], True)[0]

    def evaluate(self, data, indices=None) -> dict:
        """``{"auc_roc", "auc_pr", "n", "positives"}`` on the records ``indices`` (all when
        None) that have an outcome."""
        self._check_fitted("evaluate")
        rows = labelled_rows(data, indices, "the records scored", "indices")
        p = self.predict_proba(data)[rows]
        return auc_scores(data.y[rows], p)

    # -- saving (grukit.tasks.estimator) -----------------------------------------------------
    def _state(self) -> tuple[dict, dict]:
        enc = self.encoding_
        tensors = {"scaler.mean": enc.mean, "scaler.std": enc.std, "x_mean": enc.x_mean}
        tensors |= {f"network.{k}": v for k, v in self.model.state_dict().items()}
        extras = {"variables": list(self.variables_), "hidden": self.hidden_,
                  "steps": self.steps_,
                  "step": self.step_, "outcome": self.outcome_,
                  "statics": [list(s) for s in enc.statics], "unseen": list(self.unseen_)}
        if self.config.model == "gru-simple":
            extras["simple_fill"] = "mean"  # a gru-simple saved without it read forward-filled x
        return tensors, extras

    def _restore(self, tensors: dict, extras: dict) -> None:
        check_config(self.config)
        if self.config.model == "gru-simple" and extras.get("simple_fill") != "mean":
            # saved when gru-simple read forward-filled x: that model is gru-simple-forward now
            self.config = dataclasses.replace(self.config, model="gru-simple-forward")
        try:
            self.variables_ = tuple(str(v) for v in extras["variables"])
            self.hidden_ = int(extras.get("hidden", self.config.hidden))
            self.steps_, self.step_ = int(extras["steps"]), float(extras["step"])
            self.outcome_ = extras["outcome"]
            statics = [(str(n), str(k), [float(v) for v in vals])
                       for n, k, vals in extras["statics"]]
            d = len(self.variables_)
            self.unseen_ = tuple(str(v) for v in extras.get("unseen", []))
            enc = Encoding(tensors["scaler.mean"].numpy(), tensors["scaler.std"].numpy(),
                           tensors["x_mean"].numpy(), statics,
                           tuple(self.variables_.index(v) for v in self.unseen_))
            if any(a.shape != (d,) for a in (enc.mean, enc.std, enc.x_mean)):
                raise ValueError(f"scaler statistics are not ({d},)")
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"the saved ClinicalClassifier is incomplete or damaged "
                             f"({type(err).__name__}: {err}); save the model again.") from None
        self.encoding_ = enc
        self.model = self._network()
        load_module_state(self.model, tensors, "network.", "the saved ClinicalClassifier")
        self.model.eval()

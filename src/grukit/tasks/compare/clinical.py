"""Compare on irregular clinical series: in-hospital mortality on a PhysioNet/CinC 2012 set
(default set A under ``$GRUKIT_SHARED_DATA/clinical/physionet2012``); metric test AUC-ROC
(higher is better), with test AUC-PR as an extra row.

Models, as Che et al. (2018) name them (``grukit.tasks.clinical.ClinicalClassifier``: one
recurrent layer, the static descriptors at the sigmoid unit, early stopping on a stratified
15 % of the training records):

    grud         GRU-D: x, mask and δ, decays toward the empirical mean
    gru          GRU-mean: missing values replaced by the training mean
    lstm         LSTM-mean: the same inputs as GRU-mean
    gru-simple   GRU-simple: mean-imputed x with the mask and δ concatenated
    gru-simple-forward  the same on forward-filled x
    gru-forward  GRU-forward: forward-filled x

One split per seed, not ``grukit clinical``'s 5-fold cross-validation: seed s trains on four
fifths and tests on fold 1 of the stratified 5-fold split with seed s (for seed 0 the same
fold 1 as ``grukit clinical``). The train metric is the AUC-ROC on the training records, so
train − test is the generalisation gap. GRU-D returns no module for the latency rows: its
input is packed [x, m, δ], which ``latency.measure``'s random steps cannot stand for.
"""

from __future__ import annotations

import os

import numpy as np

from ... import cells, count_params
from .record import fit_record, stop_reason_of

DATA_HELP = ("a PhysioNet 2012 folder with set-a/ and Outcomes-a.txt (default "
             "$GRUKIT_SHARED_DATA/clinical/physionet2012)")
EXTRA_MODELS = {"grud": "GRU-D", "gru-simple": "GRU-simple",
                "gru-simple-forward": "GRU-simple (forward)", "gru-forward": "GRU-forward"}
CELLS = ("gru", "lstm")  # GRU-mean and LSTM-mean: the cells ClinicalClassifier builds
DEFAULT_MODELS = ("grud", "gru", "lstm")  # GRU-D against GRU-mean and LSTM-mean
# compare's model name -> ClinicalClassifier's
ESTIMATOR = {"grud": "grud", "gru": "gru-mean", "lstm": "lstm-mean", "gru-simple": "gru-simple",
             "gru-simple-forward": "gru-simple-forward", "gru-forward": "gru-forward"}
FOLDS = 5  # seed s tests on fold 1 of a stratified 5-fold split with seed s
HIDDEN = 64  # the estimator's default width
# Che et al. 2018, Table 2, PhysioNet in-hospital mortality, AUC-ROC (5-fold CV)
PAPER = {"GRU-D": 0.8424, "GRU-mean": 0.8195, "GRU-simple": 0.8155, "LSTM-mean": 0.8025}


def split(y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions into ``y`` for ``seed``: fold 1 of the stratified 5-fold split
    with that seed."""
    from ..clinical.crossval import fold_indices

    return fold_indices(y, FOLDS, seed)[0]


def network_count(model: str, variables: int, hidden: int) -> int:
    """Parameters of the recurrent layer and the sigmoid unit on it (the descriptors' weights
    are the same for every model and left out) for a compare model name; the GRU and LSTM
    layers as ``grukit.layers`` builds them (Keras' count: one bias vector in the LSTM)."""
    from .sizing import count

    if model == "grud":
        return cells.GRUD.count(variables, hidden) + hidden + 1
    if model.startswith("gru-simple"):
        return count("gru", 3 * variables, hidden, 1, keras=True)  # [x, m, δ]
    return count("gru" if model == "gru-forward" else model, variables, hidden, 1, keras=True)


def prepare(task_class, data: str | None):
    from ..clinical.baselines import baseline_proba
    from ..clinical.cli import data_folder, read_set
    from ..clinical.estimator import auc_scores, labelled_rows

    folder = data_folder(data, "--data")
    try:
        clinical = read_set(folder)
    except (OSError, ValueError) as err:  # sentences naming the file and the line
        raise ValueError(f"--data: {err}") from None
    rows = labelled_rows(clinical, None, "the stays")
    y = clinical.y[rows].astype(np.int64)
    tr, te = split(y, 0)
    feats = clinical.summary_features()[0]
    base = {name: round(auc_scores(y[te], baseline_proba(key, feats, clinical.y, rows[tr],
                                                         rows[te], 0))["auc_roc"], 4)
            for key, name in (("logistic-regression", "logistic regression"),
                              ("gradient-boosting", "gradient boosting"))}
    d = len(clinical.variables)

    class ClinicalTask(task_class):
        def widths(self, models, budget, hidden=None):
            hidden = self.hidden if hidden is None else hidden
            if budget != "equal-params":
                return super().widths(models, budget, hidden)
            target = network_count("gru", d, hidden)
            return {m: min(range(1, 4 * hidden + 1),
                           key=lambda h, m=m: abs(network_count(m, d, h) - target))
                    for m in models}

    name = os.path.basename(os.path.normpath(folder))
    return ClinicalTask(
        f"clinical:{name}", "AUC-ROC", False, d, 1, HIDDEN, (clinical, rows, y),
        {"data": f"{folder}: {len(rows)} stays with an outcome ({int(y.sum())} died in "
                 f"hospital), {d} variables on {clinical.n_steps} steps of "
                 f"{clinical.step:g} h",
         "protocol": f"one split per seed: train on 4/5, test on fold 1 of a stratified "
                     f"{FOLDS}-fold split with that seed (not grukit clinical's {FOLDS}-fold "
                     f"cross-validation); early stopping on 15% of the training stays",
         "models": "GRU = GRU-mean and LSTM = LSTM-mean (missing values replaced by the "
                   "training mean); GRU-simple adds the mask and δ to forward-filled values",
         "baselines on seed 0's split (test AUC-ROC, summary statistics)": base,
         "Che et al. 2018, 5-fold CV (AUC-ROC)": PAPER},
        rows=[("auc_pr", "test AUC-PR", False, "metric")])


WARM_ROWS = 64  # training stays the untimed warm-up epoch reads


def warm_up(task, model: str, hidden: int) -> None:
    """One untimed epoch of ``model`` at ``hidden`` units on ``WARM_ROWS`` of seed 0's
    training stays, both outcomes among them (``classify.warm_rows``), early stopping's
    validation share among them (``tasks.warm_up``: first-call costs out of the timed
    epochs)."""
    from ..clinical import ClinicalClassifier
    from .classify import warm_rows

    if model not in ESTIMATOR:  # run's sentence refuses it
        return
    data, rows, y = task.data
    tr = split(y, 0)[0]
    ClinicalClassifier(model=ESTIMATOR[model], hidden=hidden,
                       epochs=1).fit(data, rows[tr[warm_rows(y[tr], WARM_ROWS)]])


def run(task, model: str, hidden: int, seed: int, *, epochs: int | None):
    """One model, one seed -> (record, the recurrent module, or None for GRU-D)."""
    from ..clinical import ClinicalClassifier
    from ..clinical.estimator import auc_scores

    if model not in ESTIMATOR:
        raise ValueError(f"--task clinical runs {', '.join(ESTIMATOR)} (gru is GRU-mean, lstm "
                         f"LSTM-mean); got {model!r}.")
    data, rows, y = task.data
    tr, te = split(y, seed)
    clf = ClinicalClassifier(model=ESTIMATOR[model], hidden=hidden, seed=seed,
                             **({"epochs": epochs} if epochs else {}))
    clf.fit(data, rows[tr])
    hist = clf.history_
    h = hist.history
    p = clf.predict_proba(data)  # (N,)
    train, test = auc_scores(y[tr], p[rows[tr]]), auc_scores(y[te], p[rows[te]])
    rec = fit_record(h.get("epoch_time", []), h.get("loss", []), h.get("val_loss", []),
                     params=count_params(clf.model),
                     train_metric=train["auc_roc"], test_metric=test["auc_roc"],
                     higher_is_better=True, patience=clf.config.patience,
                     stop_reason=stop_reason_of(len(h.get("loss", [])),
                                                epochs or clf.config.epochs, hist),
                     auc_pr=test["auc_pr"])
    rnn = None if model == "grud" else clf.model.layers[0].rnn.rnn
    return rec, rnn

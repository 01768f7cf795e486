"""Compare on sequence classification: a UEA set bundled with sktime (default
JapaneseVowels, official train/test split); metric test accuracy (higher is better).

Per model and seed: ``SequenceClassifier`` (recurrent layer → attention pooling → softmax)
trained with early stopping on a stratified 10 % of the training split; the train metric is
the accuracy on the whole training split, so train − test is the generalisation gap.
"""

from __future__ import annotations

from ... import count_params
from .record import fit_record, stop_reason_of

DATA_HELP = "a UEA set name (default JapaneseVowels)"


def check_name(name) -> None:
    """One sentence when ``name`` is no bundled UEA set (a path is not read)."""
    from ...data.uea import UEA

    if name not in UEA:
        raise ValueError(f"--task classify takes a UEA set name, one of {sorted(UEA)}; got "
                         f"{name!r}. (grukit classify reads CSV/TSV files.)")


def prepare(task_class, data: str | None):
    from ...data.uea import UEA, load_uea
    from ..classify.baselines import SummaryLogReg

    name = data or "JapaneseVowels"
    check_name(name)
    try:
        x_tr, y_tr = load_uea(name, "train")
        x_te, y_te = load_uea(name, "test")
    except ImportError as err:  # the optional extra is missing: one line, not a traceback
        raise ValueError(str(err)) from None
    base = SummaryLogReg().fit(x_tr, y_tr)
    base_acc = float((base.predict(x_te) == y_te).mean())
    info = UEA[name]
    return task_class(f"classify:{name}", "accuracy", False, info.channels, info.classes, 64,
                      (x_tr, y_tr, x_te, y_te),
                      {"data": f"{name} ({info.description}): {len(x_tr)} train, {len(x_te)} "
                               f"test sequences",
                       "baseline (test accuracy)": {"summary statistics + logistic "
                                                    "regression": base_acc}},
                      pooled=True)  # the network pools with attention (H² + 2H)


WARM_ROWS = 32  # training sequences the untimed warm-up epoch reads


def warm_rows(labels, n: int) -> list[int]:
    """``n`` positions into ``labels`` (all when fewer) that hold every class it can: the
    first row of each class, then the second of each, ... (a training set sorted by label,
    FSDD's or a UEA set's, has one class in its first rows, which a classifier refuses)."""
    import numpy as np

    labels = np.asarray(labels)
    groups = [np.flatnonzero(labels == c).tolist() for c in dict.fromkeys(labels.tolist())]
    order = [g[k] for k in range(max(map(len, groups), default=0)) for g in groups
             if k < len(g)]
    return sorted(order[:n])


def warm_up(task, model: str, hidden: int) -> None:
    """One untimed epoch of ``model`` at ``hidden`` units on ``WARM_ROWS`` training
    sequences of every class (``warm_rows``), validated on them (``tasks.warm_up``:
    first-call costs out of the timed epochs)."""
    import numpy as np

    from ..classify import SequenceClassifier

    rows = warm_rows(task.data[1], WARM_ROWS)
    x, y = [task.data[0][i] for i in rows], np.asarray(task.data[1])[rows]
    SequenceClassifier(model=model, hidden=hidden, epochs=1).fit(x, y, validation_data=(x, y))


def run(task, model: str, hidden: int, seed: int, *, epochs: int | None):
    """One model, one seed -> (record, the network's recurrent module)."""
    from ..classify import SequenceClassifier

    x_tr, y_tr, x_te, y_te = task.data
    clf = SequenceClassifier(model=model, hidden=hidden, seed=seed, **(
        {"epochs": epochs} if epochs else {}))
    hist = clf.fit(x_tr, y_tr).history_
    h, cap = hist.history, epochs or clf.config.epochs
    rec = fit_record(h.get("epoch_time", []), h.get("loss", []), h.get("val_loss", []),
                     params=count_params(clf.model),
                     train_metric=clf.evaluate(x_tr, y_tr)["accuracy"],
                     test_metric=clf.evaluate(x_te, y_te)["accuracy"], higher_is_better=True,
                     patience=clf.config.patience,
                     stop_reason=stop_reason_of(len(h.get("loss", [])), cap, hist))
    rnn = next(layer.rnn for layer in clf.model.layers if hasattr(layer, "rnn"))
    return rec, rnn

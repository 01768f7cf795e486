"""Classification scores: accuracy, macro F1 and the confusion matrix (scikit-learn's)."""

from __future__ import annotations

import numpy as np


def classification_scores(y_true, y_pred, classes) -> dict:
    """``{"accuracy", "macro_f1", "confusion", "classes", "n"}``; ``confusion[i][j]`` counts
    rows of class ``classes[i]`` predicted as ``classes[j]``. Macro F1 averages over the
    classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's default): a class never
    predicted counts 0, a class with no row and no prediction (new data holding some of the
    classes) has no F1 and is left out rather than counted 0. A label that is not among
    ``classes`` is refused (the confusion matrix would drop its rows). scikit-learn scores
    each label's index among ``classes`` (it calls fractional labels such as 0.5
    'continuous' and refuses them)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}  # 0 and 0.0 alike, as == says
    y_true, y_pred = np.asarray(y_true).tolist(), np.asarray(y_pred).tolist()
    other = {v for v in y_true + y_pred if v not in index}
    if other:  # confusion_matrix would drop their rows, f1_score their class
        raise ValueError(f"label(s) {sorted(map(str, other))[:5]} are not among the classes "
                         f"{[str(c) for c in classes[:20]]}; pass every label as a class.")
    t = np.array([index[v] for v in y_true], dtype=np.int64)  # (N,)
    p = np.array([index[v] for v in y_pred], dtype=np.int64)  # (N,)
    present = sorted(set(t.tolist()) | set(p.tolist()))
    return {"accuracy": float(accuracy_score(t, p)),
            "macro_f1": float(f1_score(t, p, labels=present, average="macro",
                                       zero_division=0)),
            "confusion": confusion_matrix(t, p, labels=range(len(classes))).tolist(),
            "classes": [str(c) for c in classes], "n": int(len(t))}

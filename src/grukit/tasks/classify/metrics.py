"""Classification scores: accuracy, macro F1 and the confusion matrix (scikit-learn's)."""

from __future__ import annotations

import numpy as np


def classification_scores(y_true, y_pred, classes) -> dict:
    """``{"accuracy", "macro_f1", "confusion", "classes", "n"}``; ``confusion[i][j]`` counts
    rows of class ``classes[i]`` predicted as ``classes[j]``. Macro F1 averages over the
    classes that occur in ``y_true`` or ``y_pred`` (scikit-learn's default): a class never
    predicted counts 0, a class with no row and no prediction (new data holding some of the
    classes) has no F1 and is left out rather than counted 0. A label that is not among
    ``classes`` is refused (the confusion matrix would drop its rows)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    classes = list(classes)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    seen = set(y_true.tolist()) | set(y_pred.tolist())
    present = [c for c in classes if c in seen]
    other = seen - set(present)
    if other:  # confusion_matrix would drop their rows, f1_score their class
        raise ValueError(f"label(s) {sorted(map(str, other))[:5]} are not among the classes "
                         f"{[str(c) for c in classes[:20]]}; pass every label as a class.")
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro",
                                       zero_division=0)),
            "confusion": confusion_matrix(y_true, y_pred, labels=classes).tolist(),
            "classes": [str(c) for c in classes], "n": int(len(y_true))}

"""The confusion matrix as a PNG (matplotlib, Agg backend), written atomically. Class names
and the title are drawn as written: a "$" in them is a character, not the start of
matplotlib's mathtext (which turned "$0-$50" into an italic "0-50" and stopped on "$x^$").

The matrix takes 0.6 inch a class up to 20 inches (2,000 pixels) in all; cells hold their
counts up to ``NUMBERED`` classes, and at most ``LABELLED`` class names stand on each axis
(every n-th beyond): at 0.6 inch a class and a number a cell, 150 classes drew a 9,200-pixel
square in nearly 3 minutes and 3.3 GB, after training and before ``--save``."""

from __future__ import annotations

NUMBERED = 30  # classes up to which each cell shows its count
LABELLED = 60  # class names on an axis, at most


def plot_confusion(confusion, classes: list[str], title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..._io import atomic_write

    cm = np.asarray(confusion)  # (K, K): rows true, columns predicted
    k = len(classes)
    side = min(0.6 * k, 20.0)  # inches of the matrix
    fig, ax = plt.subplots(figsize=(2 + side, 1.6 + side))
    ax.imshow(cm, cmap="Blues")
    shown = range(0, k, -(-k // LABELLED))  # every n-th class: at most LABELLED names
    small = {} if k <= LABELLED else {"fontsize": 6}
    ax.set_xticks(shown, [classes[i] for i in shown], parse_math=False, rotation=90 * (k > 20),
                  **small)
    ax.set_yticks(shown, [classes[i] for i in shown], parse_math=False, **small)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if k <= NUMBERED:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title, fontsize=9, parse_math=False)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)

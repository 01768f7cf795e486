"""The confusion matrix as a PNG (matplotlib, Agg backend), written atomically. Class names
and the title are drawn as written: a "$" in them is a character, not the start of
matplotlib's mathtext (which turned "$0-$50" into an italic "0-50" and stopped on "$x^$")."""

from __future__ import annotations


def plot_confusion(confusion, classes: list[str], title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from ..._io import atomic_write

    cm = np.asarray(confusion)  # (K, K): rows true, columns predicted
    k = len(classes)
    fig, ax = plt.subplots(figsize=(2 + 0.6 * k, 1.6 + 0.6 * k))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(k), classes, parse_math=False)
    ax.set_yticks(range(k), classes, parse_math=False)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_title(title, fontsize=9, parse_math=False)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)

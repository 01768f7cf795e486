"""The attention heat map of one translation (matplotlib, Agg backend), written atomically:
rows are output pieces, columns source pieces, darker = more weight."""

from __future__ import annotations

from ..._io import atomic_write


def plot_attention(src_pieces: list[str], out_pieces: list[str], weights, path: str,
                   title: str = "") -> str:
    """Write the heat map of ``weights`` (T_out, S) to ``path`` (PNG); returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if weights is None:
        raise ValueError("this model has no attention (attention='none'); there is no map to "
                         "plot.")
    rows, cols = weights.shape
    fig, ax = plt.subplots(figsize=(max(4.0, 0.45 * cols + 1.5), max(3.0, 0.4 * rows + 1.2)))
    ax.imshow(weights, cmap="Greys", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(cols), [p.replace("▁", "_") for p in src_pieces], rotation=70,
                  fontsize=8)
    ax.set_yticks(range(rows), [p.replace("▁", "_") for p in out_pieces[:rows]], fontsize=8)
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    try:
        atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    finally:
        plt.close(fig)
    return path

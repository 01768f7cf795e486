"""PNG plots for the compare report: learning curves, latency, long-sequence memory."""

from __future__ import annotations

import os

from ..._io import atomic_write
from .summary import NAMES, unfused


def _save(fig, folder: str, name: str) -> str:
    atomic_write(os.path.join(folder, name),
                 lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    return name

def latency_labels(res: dict, key: str) -> list[str]:
    """The bars' names of a latency row: a model no fused CPU kernel ran says so under its
    name, as its cell in the table does (the ratio is the missing kernel's)."""
    return [NAMES[m] + ("\n(no fused kernel)" if unfused(res["runs"], m, key) else "")
            for m in res["order"]]


def plot_all(res: dict, folder: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order, runs, out = res["order"], res["runs"], []
    colors = {m: f"C{i}" for i, m in enumerate(order)}
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
    for r in runs:
        c, label = colors[r["model"]], NAMES[r["model"]] if r["seed"] == 0 else None
        ax[0].plot(range(1, len(r["train_curve"]) + 1), r["train_curve"], c, lw=1, label=label)
        ax[1].plot(range(1, len(r["val_curve"]) + 1), r["val_curve"], c, lw=1, label=label)
    for a, title in zip(ax, ("training loss", "validation loss"), strict=True):
        a.set(title=title, xlabel="epoch", yscale="log")
        a.legend()
    out.append(_save(fig, folder, "learning_curves.png"))
    plt.close(fig)

    fig, ax = plt.subplots(1, 2, figsize=(10, 3.2))
    for a, key, title in ((ax[0], "step_us", "streaming step, batch 1 (µs)"),
                          (ax[1], "batch_ms", "forward of a full batch (ms)")):
        st = res["table"][key]
        a.bar(latency_labels(res, key), [st[m]["mean"] for m in order],
              yerr=[st[m]["std"] for m in order], color=[colors[m] for m in order])
        a.set_title(title)
    out.append(_save(fig, folder, "latency.png"))
    plt.close(fig)

    if res["memory_summary"]:
        tasks = list(res["memory_summary"])
        fig, ax = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.4), squeeze=False)
        for a, task in zip(ax[0], tasks, strict=True):
            for m in order:
                rel = res["memory_summary"][task][m]["relative"]
                if not rel:  # a task's own model (not a cell): no memory runs
                    continue
                ts = sorted(rel, key=int)
                a.plot([int(t) for t in ts], [rel[t] for t in ts], "o-", color=colors[m],
                       label=NAMES[m])
            a.axhline(1.0, color="grey", ls="--", lw=1, label="trivial baseline")
            a.axhline(0.1, color="grey", ls=":", lw=1, label="solved below")
            a.set(title=f"{task}: test loss / baseline", xlabel="sequence length T",
                  xscale="log", yscale="log")
            a.set_xticks(sorted({int(t) for m in order
                                 for t in res["memory_summary"][task][m]["relative"]}))
            a.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            a.legend(fontsize=8)
        out.append(_save(fig, folder, "memory.png"))
        plt.close(fig)
    return out

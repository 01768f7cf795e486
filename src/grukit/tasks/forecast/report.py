"""The picture ``grukit forecast`` writes (forecast.png): above, every backtest fold's
forecast of the model with its interval (the fan) and of each baseline against the actuals;
below, the forecast of the future with its interval."""

from __future__ import annotations

import numpy as np

from ..._io import atomic_write

STYLES = {"naive": ("tab:gray", ":"), "seasonal_naive": ("tab:green", ":"),
          "ets": ("tab:blue", "--")}


def plot(series, table, label: str, folds: list | None, path: str, level: float) -> None:
    """``series``: the pandas Series; ``table``: the future forecast (columns forecast,
    lower and upper where the level was reached, and the baselines); ``folds``: the
    backtest's ``forecasts`` ([fold] -> [series] -> {"origin", "model", "lower", "upper",
    baselines}; lower None where the level was not reached), series 0 is drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .intervals import percent

    shown = [f[0] for f in folds or () if f]
    fig, axes = plt.subplots(2 if shown else 1, 1, figsize=(10, 7 if shown else 4),
                             squeeze=False)
    if shown:
        ax = axes[0, 0]
        first = min(f["origin"] for f in shown)
        h = len(shown[0]["model"])
        lo = max(0, first - 4 * h)
        ax.plot(series.index[lo:], series.to_numpy()[lo:], color="black", label="actual")
        for k, f in enumerate(shown):
            idx = series.index[f["origin"]:f["origin"] + len(f["model"])]
            if f["lower"] is not None:  # None: too few calibration windows for the level
                ax.fill_between(idx, f["lower"][:len(idx)], f["upper"][:len(idx)],
                                color="tab:red", alpha=0.2,
                                label=f"{label} {percent(level)} interval" if k == 0 else None)
            ax.plot(idx, f["model"][:len(idx)], color="tab:red", lw=2,
                    label=label if k == 0 else None)
            for name, (color, style) in STYLES.items():
                ax.plot(idx, np.asarray(f[name])[:len(idx)], color=color, ls=style,
                        label=name.replace("_", " ") if k == 0 else None)
        ax.set_title(f"{series.name}: backtest, each fold's forecast against the actuals")
        ax.legend(fontsize=8)
    ax = axes[-1, 0]
    tail = series.iloc[-8 * len(table):]
    ax.plot(tail.index, tail.to_numpy(), color="black", label="history")
    if "lower" in table:
        ax.fill_between(table.index, table["lower"], table["upper"], color="tab:red",
                        alpha=0.2, label=f"{percent(level)} interval")
    ax.plot(table.index, table["forecast"], color="tab:red", lw=2, label=label)
    for name, (color, style) in STYLES.items():
        if name != "naive":
            ax.plot(table.index, table[name], color=color, ls=style,
                    label=name.replace("_", " "))
    ax.set_title(f"{series.name}: {len(table)}-step forecast")
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)

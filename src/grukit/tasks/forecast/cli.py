"""``grukit forecast`` and ``grukit datasets``."""

from __future__ import annotations

import argparse
import json
import os

from ..._io import atomic_write


def add_parsers(sub) -> None:
    p = sub.add_parser("forecast", help="forecast a series with a GRU beside naive, seasonal "
                                        "naive and ETS baselines",
                       description="Backtest (rolling origin) a recurrent forecaster on a "
                                   "built-in series or a CSV, beside naive, seasonal naive and "
                                   "ETS computed in the same run; then forecast the future.")
    p.add_argument("--data", required=True, help="a built-in series (grukit datasets) or a CSV")
    p.add_argument("--horizon", type=int, help="steps ahead (default: 12 monthly, 10 yearly)")
    p.add_argument("--model", choices=("gru", "lstm", "rnn", "mingru"), default="gru")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--lookback", type=int)
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--time-column")
    p.add_argument("--target")
    p.add_argument("--freq", help="pandas frequency (inferred when absent)")
    p.add_argument("--fill", choices=("refuse", "interpolate"), default="refuse",
                   help="missing values: refuse (default) or interpolate")
    p.add_argument("--output", help="directory for metrics.json, forecast.csv, forecast.png")
    p.set_defaults(func=run)
    d = sub.add_parser("datasets", help="list the built-in data sets")
    d.set_defaults(func=list_datasets)


def list_datasets(args) -> int:
    from ...data.series import BUILTIN
    from ...data.uea import UEA

    print("forecasting (grukit forecast --data NAME):")
    for name, info in BUILTIN.items():
        print(f"  {name:<16} {info.description} (season {info.season}, horizon {info.horizon})")
    print("\nsequence classification (grukit classify --data NAME; needs grukit[uea]):")
    for name, u in UEA.items():
        print(f"  {name:<16} {u.description} ({u.channels} channels, {u.classes} classes, "
              f"{u.train} train / {u.test} test)")
    return 0


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from ...data.series import BUILTIN, load_builtin, read_series_csv, season_of
    from . import baselines
    from .forecaster import Forecaster

    if args.data in BUILTIN:
        series, info = load_builtin(args.data), BUILTIN[args.data]
        season, horizon = info.season, args.horizon or info.horizon
    else:
        series = read_series_csv(args.data, args.time_column, args.target, args.freq, args.fill)
        season = season_of(series.index.freqstr)
        horizon = args.horizon or (12 if season == 12 else 10)
    model = Forecaster(model=args.model, horizon=horizon, lookback=args.lookback,
                       hidden=args.hidden, epochs=args.epochs, seed=args.seed)
    res = model.backtest(series.to_numpy(), season, folds=args.folds)
    keys = ("mae", "rmse", "smape", "mase")
    print(f"{series.name}: {len(series)} points, season {season}, horizon {horizon}, "
          f"{args.folds}-fold rolling-origin backtest\n")
    print("| model | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name, r in res.items():
        label = args.model.upper() if name == "model" else name
        print(f"| {label} | " + " | ".join(f"{r[k]:.4f}" for k in keys) + " |")
    best = min(res, key=lambda n: res[n]["mase"])
    print(f"\nlowest MASE: {args.model.upper() if best == 'model' else best}")
    if not args.output:
        return 0
    os.makedirs(args.output, exist_ok=True)
    metrics = {"model": {"name": args.model} | {k: res["model"][k] for k in keys},
               "baselines": {n: {k: res[n][k] for k in keys}
                             for n in ("naive", "seasonal_naive", "ets")},
               "series": str(series.name), "horizon": horizon, "folds": args.folds,
               "per_fold": {n: res[n]["folds"] for n in res}}
    atomic_write(os.path.join(args.output, "metrics.json"),
                  lambda p: open(p, "w").write(json.dumps(metrics, indent=2)))
    y = series.to_numpy()
    model.fit(y, season)  # the forecast of the future uses every point
    future = pd.date_range(series.index[-1], periods=horizon + 1, freq=series.index.freq)[1:]
    table = pd.DataFrame({"forecast": model.predict(),
                          "naive": baselines.naive(y, horizon),
                          "seasonal_naive": baselines.seasonal_naive(y, horizon, season),
                          "ets": baselines.ets(y, horizon, season)}, index=future)
    table.index.name = "time"
    atomic_write(os.path.join(args.output, "forecast.csv"), lambda p: table.to_csv(p))
    _plot(series, table, args.model.upper(), os.path.join(args.output, "forecast.png"))
    print(f"wrote metrics.json, forecast.csv, forecast.png to {args.output}")
    return 0


def _plot(series, table, label: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4))
    tail = series.iloc[-8 * len(table):]
    ax.plot(tail.index, tail.to_numpy(), color="black", label="history")
    ax.plot(table.index, table["forecast"], color="tab:red", lw=2, label=label)
    for name, style in (("seasonal_naive", ":"), ("ets", "--")):
        ax.plot(table.index, table[name], ls=style, label=name.replace("_", " "))
    ax.set_title(f"{series.name}: {len(table)}-step forecast")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=100))
    plt.close(fig)

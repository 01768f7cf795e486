"""``grukit forecast`` and ``grukit datasets``."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..._io import atomic_text, atomic_write
from ..._runs import RUN, UsageError, at_least, predict_args, prepare_output, training_model
from .checks import MODELS, STRATEGIES
from .cli_extra import covariates_of, run_sliding, said_chosen, tuned_model
from .files import FOLDS_DIR, clear_folds, fingerprint, forecast_table, read_folds, write_fold

TRAIN_ONLY = ("horizon", "folds", "lookback", "hidden", "epochs", "seed", "save", "resume",
              "strategy", "learning_rate", "differences",
              "hybrid", "ensemble", "level", "covariates", "tune", "tune_storage",
              "tune_backend", "tune_top", "tune_timeout", "protocol")
# how a CSV is read: options of --data, which a built-in series has no use for
CSV_ONLY = (("--time-column", "time_column"), ("--target", "target"), ("--freq", "freq"),
            ("--fill", "fill"))


def _differences(value: str):
    """--differences: 0, 1 or auto (argparse names the option before the sentence)."""
    if value in ("0", "1", "auto"):
        return value if value == "auto" else int(value)
    raise argparse.ArgumentTypeError(f"{value!r} is not 0 (the values), 1 (their one-step "
                                     f"changes) or auto; give one of them.")


def add_parsers(sub) -> None:
    p = sub.add_parser("forecast", help="forecast a series with a GRU beside naive, seasonal "
                                        "naive and ETS baselines",
                       description="Backtest (rolling origin) a recurrent forecaster on a "
                                   "built-in series or a CSV, beside naive, seasonal naive and "
                                   "ETS computed in the same run; then forecast the future. "
                                   "`grukit forecast predict --model DIR` forecasts with a "
                                   "model saved with --save, after its training series or "
                                   "after the series in --data.")
    p.add_argument("action", nargs="?", choices=("train", "predict"), default="train",
                   help="train (default) or predict with a saved model")
    p.add_argument("--data", help="a built-in series (grukit datasets) or a CSV (predict: "
                                  "optional, the series the forecast continues)")
    p.add_argument("--horizon", type=int, help="steps ahead (default: 12 monthly, 10 yearly)")
    p.add_argument("--model", help=f"train: the network, one of {', '.join(MODELS)} "
                                   f"(default gru); predict: the folder written by --save")
    p.add_argument("--folds", type=int, help="backtest origins (default 3)")
    p.add_argument("--lookback", type=int, help="values a forecast reads (default: two "
                                                "seasons, at least 12; --strategy sequence: "
                                                "four seasons, at least 24)")
    p.add_argument("--hidden", type=int, help="units of the recurrent layer (default 32)")
    p.add_argument("--epochs", type=int, help="most epochs (default 100; early stopping)")
    p.add_argument("--learning-rate", type=float, help="Adam's learning rate (default 3e-3)")
    p.add_argument("--strategy", choices=STRATEGIES,
                   help="direct (default): one output per step ahead; recursive: the next "
                        "value from a window, fed back; sequence: trained on the next value "
                        "at every step of its windows, its state carried on as it feeds each "
                        "forecast back (Darts' RNNModel)")
    p.add_argument("--differences", type=_differences, metavar="{0,1,auto}",
                   help="--strategy sequence: 1 trains on the one-step changes (a trend "
                        "past the training range), 0 on the values (default), auto on the "
                        "better of the two on the calibration windows (both are trained)")
    p.add_argument("--seed", type=int, help="seed of the training (default 0)")
    p.add_argument("--time-column")
    p.add_argument("--target")
    p.add_argument("--freq", help="pandas frequency (inferred when absent)")
    p.add_argument("--fill", choices=("refuse", "interpolate"),
                   help="missing values: refuse (default) or interpolate")
    p.add_argument("--output", help="directory for metrics.json, forecast.csv, forecast.png "
                                    "(predict: forecast.csv; printed when not given)")
    p.add_argument("--save", help="folder to save the model trained on the whole series in")
    p.add_argument("--resume", action="store_true", default=None,
                   help="with --output: skip the backtest folds already in OUTPUT/folds/")
    p.add_argument("--hybrid", action="store_true", default=None,
                   help="ES-GRU: exponential smoothing normalises, the network corrects it")
    p.add_argument("--ensemble", type=int, help="networks (seeds) whose median forecasts "
                                                "(default 1)")
    p.add_argument("--level", type=float, help="the prediction interval (default 0.8)")
    p.add_argument("--covariates", help="comma-separated CSV columns fed beside the target")
    p.add_argument("--tune", type=int, metavar="N",
                   help="search the settings with N Optuna trials on validation folds "
                        "before the backtest's test folds (needs grukit[tune])")
    p.add_argument("--tune-top", type=int, metavar="K",
                   help="with --tune: forecast with the median of the best K trials anchored "
                        "on ETS, its weight chosen on the validation origins (default 1: the "
                        "best trial alone)")
    p.add_argument("--tune-timeout", type=float,
                   help="most seconds of searching (default 600)")
    p.add_argument("--tune-storage", help="optuna: SQLite file of the search, resumed when "
                                          "it exists (default OUTPUT/study.db with "
                                          "--output); ray: a folder (default OUTPUT/ray)")
    p.add_argument("--tune-backend", choices=("optuna", "ray"),
                   help="optuna (default, in this process) or ray: Ray Tune on the cluster "
                        "at RAY_ADDRESS, else a local Ray instance (needs grukit[ray])")
    p.add_argument("--protocol", choices=("rolling", "sliding"),
                   help="rolling origin (default) or sliding: a 70/10/20 split by time and "
                        "every window of the test part (MSE, MAE on standardised values)")
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
        chans = f"{u.channels} channel" + ("" if u.channels == 1 else "s")
        print(f"  {name:<16} {u.description} ({chans}, {u.classes} classes, "
              f"{u.train} train / {u.test} test)")
    return 0


def _read(args):
    """The series named by --data: (pandas Series with a regular DatetimeIndex, season,
    default horizon)."""
    import pandas as pd

    from ...data.series import BUILTIN, load_builtin, read_series_csv, season_of

    given = [flag for flag, key in CSV_ONLY if getattr(args, key, None) is not None]
    if args.data in BUILTIN and given:
        raise UsageError(f"{', '.join(given)} read(s) a CSV; the built-in series {args.data!r} "
                         f"has its own times, values and frequency. Drop {', '.join(given)}.")
    if args.data in BUILTIN:
        if os.path.exists(args.data):  # a file named like it is not read without a word
            print(f"grukit forecast: note: --data {args.data!r} names a built-in series and "
                  f"a file in the working folder; the built-in series is used (give "
                  f"{os.path.join('.', args.data)!r} for the file).", file=sys.stderr)
        info = BUILTIN[args.data]
        return load_builtin(args.data), info.season, info.horizon
    if os.path.isdir(args.data):
        raise UsageError(f"--data {args.data!r} is a folder; give a CSV file or a built-in "
                         f"series (grukit datasets).")
    if not os.path.exists(args.data) and os.sep not in args.data and "." not in args.data:
        raise UsageError(f"--data {args.data!r} is neither a file nor a built-in series; "
                         f"`grukit datasets` lists the built-in ones.")
    try:
        series = read_series_csv(args.data, args.time_column, args.target, args.freq,
                                 args.fill or "refuse")
    except UnicodeDecodeError as err:  # raised inside pandas: said here in one sentence
        raise UsageError(f"--data {args.data!r} is not UTF-8 text ({err.reason} at byte "
                         f"{err.start}); convert it to UTF-8.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise UsageError(f"--data {args.data!r} could not be read as a CSV "
                         f"({' '.join(str(err).split())}).") from None
    except ValueError as err:
        if _raised_by_grukit(err):
            raise
        # e.g. pandas' "Need at least 3 dates to infer frequency" for a header-only file
        raise UsageError(f"--data {args.data!r} could not be read as a time series "
                         f"({' '.join(str(err).split())}).") from None
    if len(series) == 0:
        raise UsageError(f"--data {args.data!r} has a header but no rows; give one row per "
                         f"time step.")
    season = season_of(series.index.freqstr)
    return series, season, 12 if season == 12 else 10


def _raised_by_grukit(err: BaseException) -> bool:
    """Was ``err`` raised in grukit's own code (a sentence for people) rather than inside a
    library?"""
    tb, last = err.__traceback__, None
    while tb is not None:
        last, tb = tb.tb_frame.f_code.co_filename, tb.tb_next
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return last is not None and os.path.abspath(last).startswith(root + os.sep)


def run(args: argparse.Namespace) -> int:
    if args.action == "predict":
        return run_predict(args)
    return run_train(args)



def _fmt(v) -> str:
    return "undefined" if v is None else f"{v:.4f}"


def run_train(args: argparse.Namespace) -> int:
    import pandas as pd

    from . import baselines
    from .forecaster import Forecaster
    from .intervals import percent
    from .metrics import KEYS, lowest, tied
    from .report import plot

    model_name = training_model(args.model, MODELS, "forecast")
    if not args.data:
        raise UsageError("--data is required: a built-in series (grukit datasets) or a CSV.")
    folds = 3 if args.folds is None else args.folds
    for flag, value, least in (("--horizon", args.horizon, 1), ("--folds", folds, 1),
                               ("--lookback", args.lookback, 1), ("--hidden", args.hidden, 1),
                               ("--epochs", args.epochs, 1), ("--seed", args.seed, 0)):
        at_least(flag, value, least)
    if args.resume and not args.output:
        raise UsageError("--resume continues a backtest: give it with the --output folder of "
                         "the interrupted run.")
    out = prepare_output(args.output)
    if args.save:
        from ..estimator import prepare_save

        prepare_save(args.save, output=out)
    RUN.start(out, resumable=out is not None)
    series, season, default_horizon = _read(args)
    horizon = default_horizon if args.horizon is None else args.horizon
    settings = {"model": model_name, "horizon": horizon, "lookback": args.lookback,
                "hidden": args.hidden, "epochs": args.epochs, "seed": args.seed,
                "strategy": args.strategy, "learning_rate": args.learning_rate,
                "differences": args.differences,
                "hybrid": args.hybrid or None, "ensemble": args.ensemble, "level": args.level}
    settings = {k: v for k, v in settings.items() if v is not None}
    try:
        model = Forecaster(**settings)
    except ValueError as err:
        raise UsageError(str(err)) from None
    values = series.to_numpy()
    covariates = covariates_of(args, series)
    label = model_name.upper()
    if args.protocol == "sliding":
        return run_sliding(args, model, series, season, covariates, out)
    for flag, value in (("--tune-backend", args.tune_backend),
                        ("--tune-storage", args.tune_storage), ("--tune-top", args.tune_top),
                        ("--tune-timeout", args.tune_timeout)):
        if value is not None and args.tune is None:
            raise UsageError(f"{flag} sets up the search of --tune N; add --tune N (trials) "
                             f"or drop {flag}.")
    if args.tune is not None:  # --tune 0 is refused, not read as "no search"
        model = tuned_model(args, settings, values, season, folds, covariates, out)
        if not isinstance(model, Forecaster):  # --tune-top K: anchored on ETS
            label = f"{label}-ETS"
    print(f"{series.name}: {len(series)} points, season {season}, horizon {horizon}, "
          f"{folds}-fold rolling-origin backtest", flush=True)
    done, stamp = {}, None
    if out:
        stamp = fingerprint(values, season, folds, model.get_config(), covariates)
        if args.resume:
            done = read_folds(out, folds, stamp)
            print(f"resuming: {len(done)} of {folds} folds already in "
                  f"{os.path.join(out, FOLDS_DIR)}", flush=True)
            if done:
                RUN.finished(f"{len(done)} of {folds} folds")
        else:
            clear_folds(out)

    def report(k, fold):
        if out:
            with RUN.saving(f"fold {k + 1} of {folds}"):
                write_fold(out, k, stamp, fold)
        print(f"  fold {k + 1}: {label} MASE {_fmt(fold['model']['mase'])}, seasonal naive "
              f"{_fmt(fold['seasonal_naive']['mase'])} ({fold['fit_seconds']:.0f} s)",
              flush=True)

    res = model.backtest(values, season, folds=folds, covariates=covariates, on_fold=report,
                         done=done)
    print("\n| model | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for name in ("model", "naive", "seasonal_naive", "ets"):
        r = res[name]
        print(f"| {label if name == 'model' else name} | "
              + " | ".join(_fmt(r[k]) for k in KEYS) + " |")
    names = ("model", "naive", "seasonal_naive", "ets")
    best, best_all = lowest(res, "mase"), tied(res, "mase")

    def said(winners):  # every one of tied names
        shown = [label if n == "model" else n for n in winners]
        return shown[0] if len(shown) == 1 else f"{', '.join(shown)} (tied)"

    if best is None:
        print("\nMASE is undefined: the training part of some fold never changes over a "
              "season, so the seasonal-naive error it divides by is zero; no winner is named "
              f"by it. Lowest MAE: {said(tied(res, 'mae'))}")
    else:
        print(f"\nlowest MASE: {said(best_all)}")
    level, why = model.config.level, None
    if res["model"]["coverage"] is None:  # too few calibration windows for the level
        try:
            model.check_interval(len(values) - folds * horizon, season,
                                 "the first fold's training part", ", fewer --folds or a "
                                 "longer series")
        except ValueError as err:
            why = str(err)
        print(f"{label} {percent(level)} interval: undefined: {why} CRPS "
              f"{res['model']['crps']:.4g}")
    else:
        print(f"{label} {percent(level)} interval: coverage {res['model']['coverage']:.3f}, mean "
              f"width {res['model']['width']:.4g}, CRPS {res['model']['crps']:.4g}")
    if not out and not args.save:
        return 0
    # the forecast of the future and the saved model use every point
    model.fit(series, season, covariates=covariates)
    chosen = getattr(model, "chosen_", None)  # differences="auto": what the whole series chose
    if chosen is not None:
        print(said_chosen(chosen))
    if out:
        metrics = {"model": {"name": model_name} | {k: res["model"][k] for k in KEYS},
                   "baselines": {n: {k: res[n][k] for k in KEYS}
                                 for n in ("naive", "seasonal_naive", "ets")},
                   "lowest_mase": best, "lowest_mase_tied": best_all,
                   "series": str(series.name), "horizon": horizon,
                   "folds": folds, "per_fold": {n: res[n]["folds"] for n in names},
                   "interval": {"level": model.config.level} |
                   {k: res["model"][k] for k in ("coverage", "width", "crps")} |
                   ({"undefined": why} if why else {}),
                   "settings": model.get_config()} | ({"chosen": chosen} if chosen else {})
        atomic_text(os.path.join(out, "metrics.json"),
                    json.dumps(metrics, indent=2, allow_nan=False))
        try:
            lower, upper = model.predict_interval()
            bounds = {"lower": lower, "upper": upper}
        except ValueError as err:  # the whole series' calibration windows, too few for it
            print(f"forecast.csv has no interval: {err}")
            bounds = {}
        table = pd.DataFrame({"forecast": model.predict(),
                              "naive": baselines.naive(values, horizon),
                              "seasonal_naive": baselines.seasonal_naive(values, horizon,
                                                                         season),
                              "ets": baselines.ets(values, horizon, season),
                              **bounds},
                             index=model.future_index())
        table.index.name = "time"
        atomic_write(os.path.join(out, "forecast.csv"), lambda p: table.to_csv(p))
        plot(series, table, label, res["model"]["forecasts"], os.path.join(out, "forecast.png"),
             model.config.level)
        print(f"wrote metrics.json, forecast.csv, forecast.png to {out}")
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save} (grukit forecast predict --model {args.save})")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from ...data.series import BUILTIN
    from ..estimator import load
    from .anchored_model import AnchoredForecaster
    from .forecaster import Forecaster

    predict_args(args, TRAIN_ONLY, "forecast")
    given = [flag for flag, key in CSV_ONLY if getattr(args, key) is not None]
    if given and not args.data:
        raise UsageError(f"{', '.join(given)} read(s) the CSV of --data; without --data the "
                         f"forecast continues the training series. Add --data or drop "
                         f"{', '.join(given)}.")
    if args.output and os.path.isfile(os.path.join(args.output, "metrics.json")):
        raise UsageError(f"--output {args.output!r} holds a training run's results "
                         f"(metrics.json), whose forecast.csv predict would replace; give "
                         f"predict a folder of its own.")
    out = prepare_output(args.output)
    RUN.start(out)
    model = load(args.model)
    if not isinstance(model, (Forecaster, AnchoredForecaster)):
        raise UsageError(f"--model {args.model!r} holds a {type(model).__name__}, not a "
                         f"Forecaster; use its own command.")
    if model.n_cov:
        raise UsageError(f"--model {args.model!r} was trained with {model.n_cov} "
                         f"covariate(s), which the command line cannot give; use "
                         f"Forecaster.predict(recent, covariates) in Python.")
    n = len(model.stats)
    if args.data:
        if n > 1:
            raise UsageError(f"--model {args.model!r} was trained on {n} series, so a --data "
                             f"series is ambiguous; drop --data to continue the training "
                             f"series, or use Forecaster.predict(recent, index=i) in Python.")
        trained = model.times[0]
        if args.target is None and args.data not in BUILTIN and trained is not None and \
                trained.get("name"):  # the column the model was trained on, not the second
            args.target = trained["name"]
        series, _, _ = _read(args)
        if trained is not None and pd.tseries.frequencies.to_offset(trained["freq"]) != \
                series.index.freq:
            raise UsageError(f"--data {args.data!r} has frequency {series.index.freqstr} but "
                             f"the model was trained on {trained['freq']} data; give a series "
                             f"of the same frequency.")
        try:
            forecast = model.predict(series.to_numpy())
        except ValueError as err:
            raise UsageError(f"--data {args.data!r}: {err}") from None
        index = pd.date_range(series.index[-1], periods=model.config.horizon + 1,
                              freq=series.index.freq)[1:]
    else:
        forecast = model.predict()
        index = model.future_index() if n == 1 else [model.future_index(i) for i in range(n)]
    text = forecast_table(forecast, index).to_csv(index=False, lineterminator="\n")
    if out:
        atomic_text(os.path.join(out, "forecast.csv"), text)
        print(f"wrote forecast.csv ({model.config.horizon} steps) to {out}")
    else:
        print(text, end="")
    return 0

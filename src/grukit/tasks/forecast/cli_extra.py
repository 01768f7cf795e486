"""``grukit forecast``: covariate columns of a CSV, ``--tune`` and ``--protocol sliding``."""

from __future__ import annotations

import json
import os

import numpy as np

from ..._io import atomic_text
from ..._runs import RUN, UsageError


def covariates_of(args, series) -> np.ndarray | None:
    """The ``--covariates`` columns of the CSV, (T, C), aligned with ``series``; each read as
    the target is (the same checks, the same --fill)."""
    if not args.covariates:
        return None
    from ...data.series import BUILTIN, read_series_csv

    if args.data in BUILTIN:
        raise UsageError(f"--covariates reads columns of a CSV; the built-in series "
                         f"{args.data!r} has none.")
    names = [c.strip() for c in args.covariates.split(",") if c.strip()]
    if not names:
        raise UsageError("--covariates is empty; give CSV column names separated by commas.")
    import pandas as pd

    try:  # the header, to name a missing column as a covariate rather than as a target
        header = [str(c).strip() for c in pd.read_csv(args.data, sep=None, engine="python",
                                                      nrows=0).columns]
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError):
        header = None
    cols = []
    for name in names:
        if header is not None and name not in header:
            raise UsageError(f"--covariates {name!r} is not a column of {args.data!r}; its "
                             f"columns are {header}.")
        try:
            col = read_series_csv(args.data, args.time_column, name, args.freq,
                                  args.fill or "refuse")
        except ValueError as err:
            raise UsageError(f"--covariates {name!r}: {' '.join(str(err).split())}") from None
        if not col.index.equals(series.index):
            raise UsageError(f"--covariates {name!r} is not on the target's time steps; give "
                             f"columns with a value at every time step the target has.")
        cols.append(col.to_numpy())
    return np.stack(cols, axis=1)  # (T, C)


def tuned_model(args, settings: dict, values, season: int, folds: int, covariates, out):
    """The Forecaster with the settings ``--tune N`` trials chose on validation folds inside
    the points before the backtest's first test fold (the test folds are never seen)."""
    from ..._runs import at_least
    from .files import fingerprint
    from .forecaster import Forecaster
    from .tune import tune

    at_least("--tune", args.tune, 1)  # before anything is printed or written
    at_least("--tune-top", getattr(args, "tune_top", None), 1)
    if (getattr(args, "tune_top", None) or 1) > 1 and args.tune_backend == "ray":
        raise UsageError("--tune-top ranks the trials' validation forecasts, which the optuna "
                         "backend keeps; drop --tune-backend ray or --tune-top.")
    h = settings["horizon"]
    timeout = 600.0 if args.tune_timeout is None else args.tune_timeout
    if not timeout > 0:  # NaN never ran out; 0 or less ran no trial, after the study was made
        raise UsageError(f"--tune-timeout must be a positive number of seconds; got "
                         f"{timeout}.")
    backend = getattr(args, "tune_backend", None) or "optuna"
    default = "ray" if backend == "ray" else "study.db"
    storage = args.tune_storage or (os.path.join(out, default) if out else None)
    if backend == "optuna" and storage is not None:
        _check_storage(storage)
    _check_room(settings, values, season, folds)  # before a search whose result cannot run
    cut = len(values) - folds * h
    fixed = {k: v for k, v in settings.items()
             if k in ("model", "hybrid", "ensemble", "level", "hidden", "lookback", "epochs",
                      "strategy", "learning_rate", "differences")}
    fixed.pop("ensemble", None)  # the search scores one network a trial
    print(f"tuning: {args.tune} trials ({backend}, at most {timeout:.0f} s) on the "
          f"first {cut} points" + (f", study in {storage}" if storage else ""), flush=True)
    seed = settings.get("seed", 0)  # --seed: every trial's and the chosen model's
    # a study of other data or settings in the same file is another study, never resumed
    name = "forecast-" + fingerprint(values[:cut], season, folds, fixed | {"horizon": h} |
                                     ({"seed": seed} if seed else {}))[:16]
    options = {"horizon": h, "seed": seed, "study_name": name, "storage": storage,
               "timeout": timeout, "fixed": fixed, "backend": backend,
               "covariates": None if covariates is None else covariates[:cut]}
    top = getattr(args, "tune_top", None) or 1
    if storage is not None:  # what a Ctrl-C leaves: the finished trials, resumed by rerunning
        options["on_trial"] = lambda n: RUN.finished(
            f"{n} trial(s) of the search, kept in {storage} (the same command resumes it)")
    try:
        if top > 1:
            return _anchored(args, settings, values[:cut], season, top, options)
        best, summary = tune(values[:cut], season, args.tune, **options)
    except ImportError as err:
        raise UsageError(str(err)) from None
    except ValueError as err:
        raise UsageError(f"--tune: {err}") from None
    best |= {k: settings[k] for k in ("ensemble", "level") if k in settings}
    print(f"tuned: best validation MASE {_fmt(summary['best_value'])} (trial "
          f"{summary['best_trial']}): " + ", ".join(f"{k} {v}" for k, v in
                                                     sorted(summary["params"].items())),
          flush=True)
    return Forecaster(**best, tuned=summary)


def _fmt(v) -> str:
    return "undefined" if v is None else f"{v:.4f}"


def _check_storage(path: str) -> None:
    """``--tune-storage``: a SQLite file (or none yet) in a folder that exists."""
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--tune-storage {path!r} is a folder; give a file for the study "
                         f"(e.g. {os.path.join(path, 'study.db')!r}).")
    if not os.path.isdir(folder):
        raise UsageError(f"--tune-storage {path!r}: the folder {folder!r} does not exist; "
                         f"create it or give a file in a folder that exists.")
    if os.path.isfile(path) and os.path.getsize(path):
        with open(path, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise UsageError(f"--tune-storage {path!r} is not a study file (SQLite); "
                                 f"give a new file name or an earlier search's study.")


def _check_room(settings: dict, values, season: int, folds: int) -> None:
    """The backtest's folds fit the series with the shortest lookback the search may choose
    (or the one given): refused before the search rather than after it."""
    from .backtest import check_room
    from .forecaster import Forecaster
    from .tune import lookback_choices

    shortest = settings.get("lookback") or min(lookback_choices(season, 10 ** 9))
    try:
        check_room(Forecaster(**(settings | {"lookback": shortest})), [values], season, folds,
                   True)
    except ValueError as err:
        raise UsageError(f"--tune: {err}") from None


def _anchored(args, settings: dict, train, season: int, top: int, options: dict):
    """``--tune-top K``: the median of the best K trials anchored on ETS (``anchored``), λ
    chosen at the validation origins inside ``train`` (the points before the test folds)."""
    from .anchored_model import AnchoredForecaster

    model = AnchoredForecaster.tune(train, season, args.tune, top=top, fit=False,
                                    level=settings.get("level", 0.8),
                                    member_settings={k: settings[k] for k in ("ensemble",)
                                                     if k in settings}, **options)
    v, lam = model.config.tuned["validation"], model.config.shrink
    print(f"tuned: the median of the best {len(model.config.members)} trials anchored on "
          f"ETS with λ {lam} (validation MASE {_fmt(v['mase'])}; the median "
          f"alone {_fmt(v['median'])}, ETS {_fmt(v['ets'])})", flush=True)
    return model


# options of the rolling-origin backtest that the sliding protocol has no use for
ROLLING_ONLY = (("--tune", "tune"), ("--tune-top", "tune_top"), ("--tune-storage", "tune_storage"),
                ("--tune-backend", "tune_backend"), ("--tune-timeout", "tune_timeout"),
                ("--folds", "folds"), ("--resume", "resume"))


def said_chosen(chosen: dict) -> str:
    """The line that tells what ``differences="auto"`` chose (``Forecaster.chosen_``)."""
    test = f"one-sided Diebold–Mariano p {chosen['p']:.3g}" if chosen.get("tested", True) \
        else (f"not tested: {chosen['windows']} calibration windows, fewer than the "
              f"Diebold–Mariano test needs (two horizons' worth, at least 3), so the values "
              f"are kept")
    return (f"differences auto: the {'changes' if chosen['differences'] else 'values'} "
            f"(calibration MAE, scaled: values {chosen['mae_values']:.4g}, changes "
            f"{chosen['mae_changes']:.4g}; {test})")


def run_sliding(args, model, series, season: int, covariates, out) -> int:
    """``--protocol sliding``: fit on the first 70 %, score every test window; ``--save``
    then saves the model refitted on the whole series (as the rolling protocol does)."""
    from .sliding import sliding

    given = [flag for flag, key in ROLLING_ONLY if getattr(args, key, None) is not None]
    if args.level is not None and not args.save:  # no interval is scored: only saved
        given.append("--level")
    if given:
        raise UsageError(f"--protocol sliding fits once on the first 70 % of the series and "
                         f"scores every window of its last 20 %; {', '.join(given)} belong(s) "
                         f"to the rolling-origin backtest. Drop {', '.join(given)} or the "
                         f"--protocol option.")
    try:
        res = sliding(model, series.to_numpy(), season, covariates=covariates)
    except ValueError as err:
        raise UsageError(f"--protocol sliding: {err}") from None
    train, val, n = res["split"]
    print(f"sliding windows: trained on points 1-{train}, tested every window of points "
          f"{val + 1}-{n} ({res['windows']} windows of {model.config.horizon} steps)")
    chosen = getattr(model, "chosen_", None)  # differences="auto": what the scored fit chose
    if chosen is not None:
        print(said_chosen(chosen))
        res = res | {"chosen": chosen}
    print("\n| model | mse | mae |\n|---|---|---|")
    for name in ("model", "naive"):
        r = res[name]
        print(f"| {model.config.model.upper() if name == 'model' else name} | "
              f"{r['mse']:.4f} | {r['mae']:.4f} |")
    if out:
        atomic_text(os.path.join(out, "metrics.json"),
                    json.dumps({"protocol": "sliding", "series": str(series.name)} | res,
                               indent=2, allow_nan=False))
        # a rolling run's forecast, plot and folds in the same folder would pass for this
        # run's beside its metrics.json
        from .files import clear_folds

        clear_folds(out)
        for name in ("forecast.csv", "forecast.png"):
            if os.path.isfile(os.path.join(out, name)):
                os.remove(os.path.join(out, name))
        print(f"wrote metrics.json to {out}")
    if args.save:  # the forecast of the future uses every point
        model.fit(series, season, covariates=covariates)
        model.save(args.save)
        print(f"saved the model trained on all {len(series)} points to {args.save} (grukit "
              f"forecast predict --model {args.save})")
    return 0

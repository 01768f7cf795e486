"""``grukit forecast``: covariate columns of a CSV, ``--tune`` and ``--protocol sliding``."""

from __future__ import annotations

import json
import os

import numpy as np

from ..._io import atomic_text
from ..._runs import UsageError


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
            col = read_series_csv(args.data, args.time_column, name, args.freq, args.fill)
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
    backend = getattr(args, "tune_backend", None) or "optuna"
    default = "ray" if backend == "ray" else "study.db"
    storage = args.tune_storage or (os.path.join(out, default) if out else None)
    cut = len(values) - folds * h
    fixed = {k: v for k, v in settings.items()
             if k in ("model", "hybrid", "ensemble", "level", "hidden", "lookback", "epochs")}
    fixed.pop("ensemble", None)  # the search scores one network a trial
    print(f"tuning: {args.tune} trials ({backend}, at most {args.tune_timeout:.0f} s) on the "
          f"first {cut} points" + (f", study in {storage}" if storage else ""), flush=True)
    # a study of other data or settings in the same file is another study, never resumed
    name = "forecast-" + fingerprint(values[:cut], season, folds, fixed | {"horizon": h})[:16]
    options = {"horizon": h, "study_name": name, "storage": storage,
               "timeout": args.tune_timeout, "fixed": fixed, "backend": backend,
               "covariates": None if covariates is None else covariates[:cut]}
    top = getattr(args, "tune_top", None) or 1
    try:
        if top > 1:
            return _anchored(args, settings, values[:cut], season, top, options)
        best, summary = tune(values[:cut], season, args.tune, **options)
    except ImportError as err:
        raise UsageError(str(err)) from None
    except ValueError as err:
        raise UsageError(f"--tune: {err}") from None
    best |= {k: settings[k] for k in ("ensemble", "level") if k in settings}
    print(f"tuned: best validation MASE {summary['best_value']:.4f} (trial "
          f"{summary['best_trial']}): " + ", ".join(f"{k} {v}" for k, v in
                                                     sorted(summary["params"].items())),
          flush=True)
    return Forecaster(**best, tuned=summary)


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
          f"ETS with λ {lam} (validation MASE {v['mase']:.4f}; the median "
          f"alone {v['median']:.4f}, ETS {v['ets']:.4f})", flush=True)
    return model


def run_sliding(args, model, series, season: int, covariates, out) -> int:
    from .sliding import sliding

    try:
        res = sliding(model, series.to_numpy(), season, covariates=covariates)
    except ValueError as err:
        raise UsageError(f"--protocol sliding: {err}") from None
    train, val, n = res["split"]
    print(f"sliding windows: trained on points 1-{train}, tested every window of points "
          f"{val + 1}-{n} ({res['windows']} windows of {model.config.horizon} steps)")
    print("\n| model | mse | mae |\n|---|---|---|")
    for name in ("model", "naive"):
        r = res[name]
        print(f"| {model.config.model.upper() if name == 'model' else name} | "
              f"{r['mse']:.4f} | {r['mae']:.4f} |")
    if out:
        atomic_text(os.path.join(out, "metrics.json"),
                    json.dumps({"protocol": "sliding", "series": str(series.name)} | res,
                               indent=2, allow_nan=False))
        print(f"wrote metrics.json to {out}")
    if args.save:
        model.save(args.save)
        print(f"saved the model to {args.save} (grukit forecast predict --model {args.save})")
    return 0

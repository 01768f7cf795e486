"""``Forecaster.tune(..., backend="ray")``: the same search on Ray Tune, for a cluster.

The search space, the validation folds and the score are ``tune``'s (the settings of
``tune.SPACE`` sampled by Optuna's TPE through Ray's ``OptunaSearch``; each trial fits and
scores ``validation_score`` on the same rolling folds inside the series); Ray runs the
trials as tasks on whatever Ray instance is there: the cluster at ``RAY_ADDRESS`` (or one
``ray.init`` already joined), else a local one started for the search and stopped after it.

- Pruning: each trial reports its running mean MASE after every fold, and Ray's
  ``MedianStoppingRule`` stops a trial whose score after a fold is worse than the median of
  the other trials' at the same fold (as Optuna's ``MedianPruner`` does in the other
  backend). Only trials that scored every fold can be the best.
- ``storage``: a folder that holds the experiment (Ray's results and the searcher's state);
  a search started again with the same folder and ``study_name`` continues that experiment
  (Ray's ``Tuner.restore``: finished trials are kept, unfinished ones run again, and the
  trial count is the one it was started with: another count is refused, since Ray would
  not run it). Without ``storage`` the experiment lives in
  a temporary folder removed afterwards. Unlike the Optuna backend, trials may run at the
  same time, so a resumed search samples the same space but not necessarily the same
  settings.

Ctrl-C during the search stops it as anywhere else in grukit (``KeyboardInterrupt``): Ray
Tune's own handler, which would end the search early and let the run go on with the trials
finished so far, is switched off, and the handler in place before the search is back after
it (Ray leaves its own installed otherwise).

Needs ``pip install 'grukit[ray]'`` (``ray[tune]``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import tempfile
import threading

from .tune import _optuna, _suggest, effective, settings_of, strategy_choices, validation_score

METRIC, STEP = "mase", "fold"


def _ray():
    try:
        import ray
        from ray import tune as ray_tune  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch  # noqa: F401
    except ImportError:
        raise ImportError("tune(backend='ray') needs Ray Tune: pip install 'grukit[ray]' "
                          "(or use the default backend='optuna').") from None
    return ray


class _Space:
    """Optuna's define-by-run space for ``OptunaSearch`` (a class: the searcher pickles it):
    what ``fixed`` decides is not sampled, so that every trial's settings are those its
    ``_trial`` runs. A restored experiment's study keeps the strategies its trials were
    sampled from (one begun before "sequence" was searched: two; Optuna refuses a third
    under one name)."""

    def __init__(self, season: int, room: int, fixed: dict | None = None):
        self.season, self.room, self.fixed = season, room, dict(fixed or {})

    def __call__(self, trial) -> None:
        # (an experiment saved before ``fixed`` was kept here has none)
        _suggest(trial, self.season, self.room, getattr(self, "fixed", {}),
                 strategy_choices(trial.study))


def _trial(config: dict, *, ys, covs, season: int, room: int, fixed: dict, folds: int,
           origins: int | None = None, step: int | None = None):
    """One Ray trial: fit and score the sampled settings fold by fold, reporting each."""
    import torch
    from ray import tune as ray_tune

    _optuna()  # one sentence where Optuna is missing
    torch.set_num_threads(1)  # a trial is one CPU of Ray's; many may run at once
    settings = settings_of(config, season, room, fixed)  # (a restored one may predate some)
    validation_score(settings, ys, covs, season, folds, origins=origins, step=step,
                     on_fold=lambda k, mean: ray_tune.report({METRIC: mean, STEP: k + 1}))


def _started_for(path: str) -> int | None:
    """The trial count a kept search was started for (None where it was not written)."""
    try:
        with open(path) as f:
            return int(json.load(f)["trials"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def search(ys, covs, season: int, trials: int, *, room: int, fixed: dict, folds: int,
           seed: int, timeout: float | None, storage: str | None,
           study_name: str, origins: int | None = None,
           step: int | None = None) -> tuple[dict, dict]:
    """-> (best settings for ``Forecaster(**settings)``, summary); see the module doc."""
    if storage and os.path.exists(storage) and not os.path.isdir(storage):
        raise ValueError(f"storage {storage!r} is a file; the ray backend keeps its search in "
                         f"a folder (created if missing), e.g. 'ray/'.")
    ray = _ray()
    from ray import tune as ray_tune
    from ray.tune.schedulers import MedianStoppingRule
    from ray.tune.search.optuna import OptunaSearch

    _optuna()  # one sentence where Optuna is missing
    started = False
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
        started = True
    tmp = None if storage else tempfile.TemporaryDirectory(prefix="grukit-ray-")
    root = os.path.abspath(storage or tmp.name)
    try:
        os.makedirs(root, exist_ok=True)
        trainable = ray_tune.with_parameters(_trial, ys=ys, covs=covs, season=season,
                                             room=room, fixed=fixed, folds=folds,
                                             origins=origins, step=step)
        path = os.path.join(root, study_name)
        count = os.path.join(root, f"{study_name}.trials.json")  # what it was started for
        if ray_tune.Tuner.can_restore(path):
            begun = _started_for(count)
            if begun is not None and begun != trials:
                raise ValueError(f"the Ray search in {path!r} was started for {begun} trials, "
                                 f"and Ray's restore keeps that count; ask for {begun} to "
                                 f"go on with it, or give another storage or study name for "
                                 f"a search of {trials}.")
            tuner = ray_tune.Tuner.restore(path, trainable, resume_errored=True,
                                           restart_errored=False)
        else:
            searcher = OptunaSearch(space=_Space(season, room, fixed),
                                    metric=METRIC, mode="min", seed=seed)
            stopper = MedianStoppingRule(time_attr=STEP, metric=METRIC, mode="min",
                                         grace_period=1, min_samples_required=3)
            with open(count, "w") as f:
                json.dump({"trials": trials}, f)
            tuner = ray_tune.Tuner(
                trainable,
                tune_config=ray_tune.TuneConfig(search_alg=searcher, scheduler=stopper,
                                                num_samples=trials, time_budget_s=timeout),
                run_config=ray_tune.RunConfig(name=study_name, storage_path=root,
                                              verbose=0))
        with _plain_ctrl_c():
            results = tuner.fit()
        groups = min(folds, origins or folds)
        full = [r for r in results if r.metrics and r.metrics.get(STEP) == groups
                and math.isfinite(r.metrics.get(METRIC, math.inf))]
    finally:
        if started:
            ray.shutdown()
        if tmp is not None:  # removed on an error or Ctrl-C too
            tmp.cleanup()
    if not full:
        raise ValueError("no trial of the search scored every validation fold; give it more "
                         "trials or time.")
    best = min(full, key=lambda r: r.metrics[METRIC])
    params = {k: best.config[k] for k in sorted(best.config)}
    settings = settings_of(params, season, room, fixed)
    summary = {"backend": "ray", "trials": len(results), "completed": len(full),
               "best_trial": best.metrics.get("trial_id"), "best_value": float(
                   best.metrics[METRIC]), "params": effective(settings), "folds": folds,
               "origins": origins, "step": step,
               "study": study_name}
    return settings, summary


@contextlib.contextmanager
def _plain_ctrl_c():
    """Run ``Tuner.fit`` with Ray Tune's SIGINT handler switched off, and put back the
    SIGINT handler that was in place before (Ray's stays installed after a search)."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGINT) if main else None
    old = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = old
        if main and before is not None:
            signal.signal(signal.SIGINT, before)

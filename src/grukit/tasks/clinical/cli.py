"""``grukit clinical``: GRU-D (or a recurrent baseline of Che et al. 2018) beside logistic
regression and gradient boosting on summary statistics, in stratified K-fold
cross-validation over a PhysioNet/CinC 2012 set; ``grukit clinical predict`` applies a model
saved with ``--save`` to another set of stays. With ``--output``: metrics.json, a calibration
plot of the pooled out-of-fold risks, the risk of a few test patients after each hour, and
report.html with both (``report.py``).

    grukit clinical --data physionet2012 --model grud --folds 5 --output runs/grud --save m
    grukit clinical predict --model m --data other-stays --output runs/pred
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time

import numpy as np

from ..._runs import RUN, UsageError, at_least, predict_args, prepare_output, training_model
from .estimator import MODELS

TRAIN_ONLY = ("folds", "hidden", "epochs", "seed", "save", "resume", "outcome", "bootstrap",
              "shared_masks", "no_baselines")
DEFAULT_OUTCOME = "In-hospital_death"


def add_parser(sub) -> None:
    p = sub.add_parser("clinical", help="GRU-D on irregular clinical series (PhysioNet 2012) "
                                        "beside its baselines",
                       description="Stratified K-fold cross-validation of GRU-D (or GRU-mean, "
                                   "GRU-forward, GRU-simple, LSTM-mean) on a PhysioNet/CinC "
                                   "2012 set, beside logistic regression and gradient "
                                   "boosting on per-variable summary statistics on the same "
                                   "folds; AUC-ROC and AUC-PR per fold, mean ± std, and "
                                   "pooled with 95% bootstrap intervals in metrics.json. "
                                   "Defaults follow Che et al. (2018) and their released "
                                   "code: 49 GRU-D units (each baseline as wide as gives it "
                                   "GRU-D's parameter count), batch 32, early stopping with "
                                   "patience 10, variational dropout 0.3 on the recurrent "
                                   "layer's inputs and on the state its recurrent weights "
                                   "read (GRU-D: ĥ), one mask per gate for every model "
                                   "as that code's Keras layer (implementation=1) draws "
                                   "them (--shared-masks: one shared by the gates), 0.3 on "
                                   "the output, Adam 1e-3. "
                                   "`grukit clinical predict --model DIR --data DIR2` "
                                   "applies a model saved with --save to other stays.")
    p.add_argument("action", nargs="?", choices=("train", "predict"), default="train",
                   help="train (default: cross-validate) or predict with a saved model")
    p.add_argument("--data", help="a PhysioNet 2012 folder (set-a/ and Outcomes-a.txt; "
                                  "default: $GRUKIT_SHARED_DATA/clinical/physionet2012)")
    p.add_argument("--model", help=f"train: one of {', '.join(MODELS)} (default grud); "
                                   f"predict: the folder written by --save")
    p.add_argument("--outcome", help=f"the outcome column (default {DEFAULT_OUTCOME})")
    p.add_argument("--unknown", choices=("error", "drop", "keep"),
                   help="a parameter name outside the PhysioNet variables: error (default: "
                        "refused), drop (dropped and counted) or keep (a variable of its own; "
                        "predict reads the model's variables and takes error or drop)")
    p.add_argument("--folds", type=int, help="cross-validation folds (default 5)")
    p.add_argument("--epochs", type=int, help="most epochs (early stopping picks fewer)")
    p.add_argument("--hidden", type=int, help="units of the recurrent layer (default: the "
                                                "paper's, 49 for GRU-D; a baseline as wide "
                                                "as gives it GRU-D's parameter count)")
    p.add_argument("--seed", type=int, help="seed of the folds and training (default 0)")
    p.add_argument("--bootstrap", type=int, help="resamples of the 95%% intervals (default "
                                                 "1000)")
    p.add_argument("--shared-masks", action="store_true", default=None,
                   help="one input and one recurrent dropout mask shared by a layer's gates "
                        "(default: one per gate, as Che et al.'s Keras layer)")
    p.add_argument("--no-baselines", action="store_true", default=None,
                   help="skip logistic regression and gradient boosting")
    p.add_argument("--output", help="folder for metrics.json, calibration.png, "
                                    "risk_over_time.png, report.html and folds/ (predict: "
                                    "predictions.csv)")
    p.add_argument("--save", help="folder to save a model trained on all labelled stays")
    p.add_argument("--resume", action="store_true", default=None,
                   help="with --output: skip the folds already in OUTPUT/folds/")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "predict":
        return run_predict(args)
    return run_train(args)


def data_folder(given: str | None, flag: str = "--data") -> str:
    """``given``, or the shared copy of PhysioNet 2012 set A; one sentence when neither."""
    if given is not None:
        return given
    shared = os.environ.get("GRUKIT_SHARED_DATA")
    folder = os.path.join(shared, "clinical", "physionet2012") if shared else None
    if folder and os.path.isdir(folder):
        return folder
    raise UsageError(f"{flag} is missing: give the PhysioNet 2012 folder (set-a/ and "
                     "Outcomes-a.txt), or set GRUKIT_SHARED_DATA to the folder holding "
                     "clinical/physionet2012.")


def read_set(folder: str, outcome: str | None = None, outcomes="auto", unknown: str | None = None,
             variables=None, n_steps: int = 48, step: float = 1.0):
    """A PhysioNet 2012 folder with ``outcome`` (default in-hospital death); ``outcomes=None``
    reads stays without an outcome file; ``unknown`` the policy for parameter names outside
    ``variables`` (default the PhysioNet variables); the grid: ``n_steps`` steps of ``step``
    hours (predict: the saved model's)."""
    from ...data.clinical import read_physionet2012

    kw = {"unknown": unknown or "error", "variables": variables, "n_steps": n_steps,
          "step": step}
    if outcomes is None:
        return read_physionet2012(folder, outcomes=None, **kw)
    return read_physionet2012(folder, outcome=DEFAULT_OUTCOME if outcome is None else outcome,
                             **kw)


def run_train(args: argparse.Namespace) -> int:
    from .baselines import BASELINES
    from .crossval import fingerprint, fold_indices, summarize
    from .estimator import ClinicalClassifier, labelled_rows
    from .report import calibration, write_report

    model = training_model(args.model, MODELS, "clinical", default="grud")
    folds = 5 if args.folds is None else args.folds
    seed = 0 if args.seed is None else args.seed
    at_least("--folds", folds, 2)
    at_least("--epochs", args.epochs, 1)
    at_least("--hidden", args.hidden, 1)
    at_least("--seed", seed, 0)
    if seed >= 2 ** 32:  # the folds' StratifiedKFold takes a 32-bit random_state
        raise UsageError(f"--seed must be below 2**32 (4294967296); got {seed}.")
    rounds = 1000 if args.bootstrap is None else args.bootstrap
    at_least("--bootstrap", rounds, 100)
    if args.resume and not args.output:
        raise UsageError("--resume continues a cross-validation: give the --output folder of "
                         "the interrupted run.")
    folder = data_folder(args.data)
    out = prepare_output(args.output)
    if args.save:
        from ..estimator import prepare_save

        _refuse_save_on_results(args.save, out)
        prepare_save(args.save, output=out)
    RUN.start(out, resumable=True)
    data = read_set(folder, args.outcome, unknown=getattr(args, "unknown", None))
    print(f"{folder}: {data.n_records} stays, {len(data.variables)} variables, "
          f"{data.n_steps} steps of {data.step:g} h; outcome {data.outcome}")
    print(f"what reading changed:\n{data.report}")
    rows = labelled_rows(data, None, "the stays")
    y = data.y[rows].astype(np.int64)
    overrides = {"model": model, "seed": seed}
    if args.hidden is not None:
        overrides["hidden"] = args.hidden
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    if getattr(args, "shared_masks", False):
        overrides["gate_masks"] = False
    config = ClinicalClassifier(**overrides).get_config()
    baselines = () if args.no_baselines else BASELINES
    names = (model, *baselines)
    splits = fold_indices(y, folds, seed)
    stamp = fingerprint(data, rows, folds, seed, config, baselines)
    done = {}
    if out:
        from ..folds import FOLDS_DIR, clear_folds, read_folds

        if args.resume:
            done = read_folds(out, folds, stamp, ("scores", "metrics", "risk"))
            print(f"resuming: {len(done)} of {folds} folds already in "
                  f"{os.path.join(out, FOLDS_DIR)}")
            if done:
                RUN.finished(f"{len(done)} of {folds} folds")
        else:
            clear_folds(out)
    print(f"{len(rows)} stays with an outcome ({int(y.sum())} positive); stratified "
          f"{folds}-fold cross-validation (seed {seed}): {', '.join(names)}", flush=True)
    feats = data.summary_features()[0] if baselines else None
    start = time.perf_counter()
    oof = {n: np.zeros(len(rows)) for n in names}
    per_fold = {n: [] for n in names}
    risk = []  # the first fold's few test patients, risk after each step
    for k, (tr, te) in enumerate(splits):
        if k in done:
            scores, metrics, curves = done[k]["scores"], done[k]["metrics"], done[k]["risk"]
        else:
            scores, metrics, curves = _fold(data, rows, y, tr, te, overrides, baselines, feats,
                                            seed)
            if out:
                from ..folds import write_fold

                with RUN.saving(f"fold {k + 1} of {folds}"):
                    write_fold(out, k, stamp, {"scores": scores, "metrics": metrics,
                                               "risk": curves})
        risk = risk or curves
        for n in names:
            oof[n][te] = scores[n]
            per_fold[n].append({"fold": k + 1} | metrics[n])
        print(f"  fold {k + 1}: " + " | ".join(
            f"{n} AUC-ROC {metrics[n]['auc_roc']:.4f} AUC-PR {metrics[n]['auc_pr']:.4f}"
            for n in names) + f" ({metrics[model]['epochs']} epochs, "
            f"{metrics[model]['seconds']:.0f} s)", flush=True)
        if metrics[model].get("unobserved"):
            print(f"  fold {k + 1}: {unobserved_note(metrics[model]['unobserved'])}",
                  flush=True)
    seconds = time.perf_counter() - start
    results = {n: summarize(per_fold[n], y, oof[n], seed, rounds)
               | {"calibration": calibration(y, oof[n])} for n in names}
    _print_table(results)
    print(f"\n{seconds:.0f} s")
    if out:
        from ..._io import atomic_text

        metrics = {"data": os.path.abspath(folder), "outcome": data.outcome,
                   "protocol": f"stratified {folds}-fold cross-validation (seed {seed})",
                   "folds": folds, "seed": seed, "n": int(len(rows)),
                   "positives": int(y.sum()), "config": config, "models": results,
                   "risk_over_time": risk, "seconds": seconds}
        atomic_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=2))
        written = write_report(out, metrics, risk, data.step)
        print(f"wrote metrics.json, {', '.join(written)} to {out}")
    # a Ctrl-C while the model for --save trains says the cross-validation is done
    RUN.finished(f"the {folds}-fold cross-validation" + ("" if out else " (its table above)"))
    if args.save:
        print(f"training {model} on all {len(rows)} stays for --save", flush=True)
        ClinicalClassifier(**overrides).fit(data, rows).save(args.save)
        print(f"saved the model to {args.save} (grukit clinical predict --model {args.save} "
              f"--data DIR)")
    return 0


def _refuse_save_on_results(save: str, out: str | None) -> None:
    """One sentence when --save names a place this run writes its results: a model folder
    there failed the save after training (OUT/folds/ then holds the fold files) or the
    write of metrics.json or the report (a folder in its place)."""
    from ..folds import FOLDS_DIR
    from .report import FILES

    if out is None:
        return
    ours = {os.path.realpath(os.path.join(out, n)): n
            for n in (FOLDS_DIR, "metrics.json", *FILES)}
    name = ours.get(os.path.realpath(save))
    if name is not None:
        raise UsageError(f"--save {save!r} is where --output writes {name}; give the model a "
                         f"folder of its own (e.g. {os.path.join(out, 'model')!r}).")


def _fold(data, rows, y, tr, te, overrides, baselines, feats, seed):
    """One fold: ({model: test scores}, {model: metrics}, the network's risk after each step
    for a few test patients) for the network and baselines."""
    from .baselines import baseline_proba
    from .estimator import ClinicalClassifier, auc_scores
    from .report import pick_records

    t0 = time.perf_counter()
    clf = ClinicalClassifier(**overrides).fit(data, rows[tr])
    p = clf.predict_proba(data)[rows[te]]
    name = overrides["model"]
    scores = {name: p}
    metrics = {name: auc_scores(y[te], p) | {"epochs": len(clf.history_.epoch),
                                              "seconds": time.perf_counter() - t0}}
    if clf.unseen_:
        metrics[name]["unobserved"] = list(clf.unseen_)
    for b in baselines:
        t0 = time.perf_counter()
        scores[b] = baseline_proba(b, feats, data.y, rows[tr], rows[te], seed)
        metrics[b] = auc_scores(y[te], scores[b]) | {"seconds": time.perf_counter() - t0}
    curves = [{"record": str(data.record_ids[rows[te][i]]), "outcome": int(y[te][i]),
               "risk": [float(v) for v in clf.risk_over_time(data, int(rows[te][i]))]}
              for i in pick_records(y[te])]
    return {k: [float(v) for v in s] for k, s in scores.items()}, metrics, curves


def unobserved_note(names) -> str:
    """The line for variables never observed in a fold's training stays."""
    return (f"{', '.join(names)} never measured in the training stays: read as never "
            f"measured in this fold (mask 0, mean 0, std 1)")


def _print_table(results: dict) -> None:
    print("\n| model | AUC-ROC (folds) | AUC-PR (folds) | AUC-ROC pooled [95% CI] | "
          "AUC-PR pooled [95% CI] |\n|---|---|---|---|---|")
    for name, r in results.items():
        p = r["pooled"]
        print(f"| {name} | {r['auc_roc']:.4f} ± {r['auc_roc_std']:.4f} | {r['auc_pr']:.4f} ± "
              f"{r['auc_pr_std']:.4f} | {p['auc_roc']:.4f} [{p['auc_roc_ci95'][0]:.4f}, "
              f"{p['auc_roc_ci95'][1]:.4f}] | {p['auc_pr']:.4f} [{p['auc_pr_ci95'][0]:.4f}, "
              f"{p['auc_pr_ci95'][1]:.4f}] |")


def run_predict(args: argparse.Namespace) -> int:
    from ..._io import atomic_text
    from ...data.clinical import OutcomeMismatch
    from ..estimator import load
    from .estimator import ClinicalClassifier

    predict_args(args, TRAIN_ONLY, "clinical")
    if args.data is None:
        raise UsageError("predict needs --data DIR, a folder of stays in the PhysioNet 2012 "
                         "format.")
    _refuse_other_results(args.output)
    out = prepare_output(args.output)
    RUN.start(out)
    clf = load(args.model)
    if not isinstance(clf, ClinicalClassifier):
        raise UsageError(f"--model {args.model!r} holds a {type(clf).__name__}, not a "
                         f"clinical model; use its own command.")
    # with --output the risks go to a file and stdout tells the story; without, stdout is
    # the CSV and the story goes to stderr
    say = functools.partial(print, file=sys.stdout if out else sys.stderr, flush=True)
    if args.unknown == "keep":
        raise UsageError("predict reads the variables the model was trained on, so --unknown "
                         "keep cannot add others; use --unknown drop to drop and count them.")
    # the model's variables and grid (a model trained in Python may have another grid)
    kw = {"unknown": args.unknown, "variables": clf.variables_, "n_steps": clf.steps_,
          "step": clf.step_}
    note = None
    try:
        data = read_set(args.data, clf.outcome_, **kw)
    except FileNotFoundError as err:
        if "no outcome file" not in str(err):
            raise
        note = "no outcome file beside the stays"
    except OutcomeMismatch as err:
        note = err.problem
    if note is not None:  # stays without (usable) outcomes: risks only
        data = read_set(args.data, None, outcomes=None, **kw)
        say(f"{note}: writing risks without scoring them against outcomes.")
    say(f"{args.data}: {data.n_records} stays, {len(data.variables)} variables, "
        f"{data.n_steps} steps of {data.step:g} h; what reading changed:\n{data.report}")
    risk = clf.predict_proba(data)  # (N,)
    lines = ["RecordID,risk"] + [f"{r},{float(p):.9g}"
                                 for r, p in zip(data.record_ids, risk, strict=True)]
    text = "\n".join(lines) + "\n"
    scores, why = None, None
    if data.outcome is not None:
        scores, why = _scores(data, risk)
    if why:
        say(f"{why}: writing risks without scoring them against outcomes.")
    if out:
        atomic_text(os.path.join(out, "predictions.csv"), text)
        stale = os.path.join(out, "metrics.json")
        if scores is not None:
            atomic_text(stale, json.dumps(
                {"data": os.path.abspath(args.data), "model": os.path.abspath(args.model),
                 "outcome": data.outcome} | scores, indent=2))
        elif _predict_metrics(stale):  # an earlier predict's scores, of other stays
            os.remove(stale)
        print(f"{args.data}: {len(risk)} risks written to {os.path.join(out, 'predictions.csv')}")
    else:
        print(text, end="")
    if scores is not None:
        say(f"AUC-ROC {scores['auc_roc']:.4f}, AUC-PR {scores['auc_pr']:.4f} on "
            f"{scores['n']} stays with an outcome ({data.outcome})")
    return 0


def _scores(data, risk):
    """(AUC scores, None) of the stays with an outcome, or (None, why they cannot be
    scored): AUCs need outcomes of 0 and 1, both present."""
    from .estimator import auc_scores

    known = np.isfinite(data.y)
    y = data.y[known]
    if not known.any():
        return None, f"no stay has a {data.outcome} outcome"
    if not np.isin(y, (0.0, 1.0)).all():
        i = np.flatnonzero(known)[~np.isin(y, (0.0, 1.0))][0]
        return None, (f"record {data.record_ids[i]} has {data.outcome} {data.y[i]:g}, and an "
                      f"outcome to score risks against is 0 or 1")
    if len(np.unique(y)) < 2:
        return None, (f"all {len(y)} stays with an outcome have {data.outcome} {y[0]:g}, and "
                      f"AUC-ROC and AUC-PR need both outcomes")
    return auc_scores(y, risk[known]), None


def _read_json(path: str):
    """The JSON of ``path``, or None when it is absent or not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _predict_metrics(path: str) -> bool:
    """Whether ``path`` is a metrics.json that predict wrote (scores of a saved model)."""
    body = _read_json(path)
    return isinstance(body, dict) and {"model", "auc_roc"} <= set(body)


def _refuse_other_results(path: str | None) -> None:
    """predict writes metrics.json: one sentence when ``path`` holds another run's (a
    cross-validation's, with folds/, or any not written by predict), which that would
    replace."""
    from ..folds import FOLDS_DIR

    if not path or not os.path.isdir(path):
        return
    metrics = os.path.join(path, "metrics.json")
    if os.path.isdir(os.path.join(path, FOLDS_DIR)) or (os.path.exists(metrics)
                                                        and not _predict_metrics(metrics)):
        raise UsageError(f"--output {path!r} holds another run's results (metrics.json or "
                         f"folds/: a cross-validation's), which predict's metrics.json would "
                         f"replace; give predict a folder of its own.")

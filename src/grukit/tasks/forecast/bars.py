"""The quality-bar run of one built-in series: a budgeted search on the points before the
backtest's first test fold, the anchored median of its best trials (``anchored``), then the
3-fold backtest on the same folds as ``Forecaster.backtest``.

    OMP_NUM_THREADS=1 python -m grukit.tasks.forecast.bars co2 --timeout 600 --clock cpu \\
        --out runs/co2

The search, ``choose`` and the ETS forecasts at the validation origins read ``y[:-folds·h]``
only (the array handed to them is cut before anything runs), so no test point can reach a
choice. Writes ``result.json`` (the scores, λ, the members' settings, trials, times and the
load average) and the Optuna study (``study.db``, resumable) into ``--out``.

``--search-from DIR ...`` skips the search and takes earlier runs' studies instead; several
of them (searches with other ``--seed``, run side by side, a core each) are pooled: the best
``--top`` trials of them all, ranked by their validation MASE on the same origins.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grukit.tasks.forecast.bars")
    p.add_argument("series", help="a built-in series: co2, elnino, sunspots, nile")
    p.add_argument("--out", required=True, help="folder for study.db and result.json")
    p.add_argument("--trials", type=int, default=1000, help="cap on the trials (default 1000)")
    p.add_argument("--timeout", type=float, default=600.0, help="search budget in seconds")
    p.add_argument("--clock", choices=("wall", "cpu"), default="cpu")
    p.add_argument("--top", type=int, default=5, help="trials in the median (default 5)")
    p.add_argument("--origins", type=int, default=9)
    p.add_argument("--step", type=int, default=None)
    p.add_argument("--refits", type=int, default=2, help="validation refits (tune's folds)")
    p.add_argument("--folds", type=int, default=3, help="test folds (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reseed", action="store_true",
                   help="train the k-th member with seed + k (a seed ensemble) instead of the "
                        "seed its trial was scored with")
    p.add_argument("--seeds", type=int, default=1,
                   help="networks per member (its median; seeds seed + k·SEEDS + j with "
                        "--reseed)")
    p.add_argument("--search-from", metavar="DIR", nargs="+",
                   help="skip the search: take the study and plan of an earlier run's DIR; "
                        "several DIRs (searches of other seeds, run side by side) are pooled: "
                        "the best --top trials of them all")
    args = p.parse_args(argv)
    from ..._runs import torch_threads

    with torch_threads(1):  # the run's budget is one CPU; the caller's count comes back
        return _run(args)


def _run(args) -> int:
    import numpy as np
    import optuna

    from ..._runs import UsageError, prepare_output
    from ...data.series import BUILTIN, load_builtin
    from . import anchored
    from .tune import ranked, tune

    if args.series not in BUILTIN:
        print(f"series must be one of {', '.join(sorted(BUILTIN))}; got {args.series!r}.",
              file=sys.stderr)
        return 2
    for flag, value, least in (("--trials", args.trials, 1), ("--timeout", args.timeout, 1e-9),
                               ("--top", args.top, 1), ("--origins", args.origins, 1),
                               ("--refits", args.refits, 1), ("--folds", args.folds, 1),
                               ("--seeds", args.seeds, 1), ("--seed", args.seed, 0)):
        if not value >= least:  # NaN too
            print(f"{flag} must be {'positive' if least else 'at least 0'}; got {value}.",
                  file=sys.stderr)
            return 2
    try:
        prepare_output(args.out, "--out")
    except UsageError as err:
        print(err, file=sys.stderr)
        return 2
    info = BUILTIN[args.series]
    y, h, m = load_builtin(args.series).to_numpy().astype(np.float64), info.horizon, info.season
    train = y[:len(y) - args.folds * h].copy()  # the test folds are cut off here
    log = {"series": args.series, "points": len(y), "search_points": len(train),
           "horizon": h, "season": m, "args": vars(args), "load_start": os.getloadavg()}
    if args.search_from:  # earlier runs' searches on the same points, pooled
        stores, befores = [], []
        for d in args.search_from:
            try:
                with open(os.path.join(d, "result.json")) as fh:
                    before = json.load(fh)
                points, plan = before["search_points"], before["summary"]["plan"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                print(f"--search-from {d!r} holds no readable result.json of a bar run "
                      f"({type(err).__name__}: {err}); give the --out folder of an earlier "
                      f"run.", file=sys.stderr)
                return 2
            if points != len(train) or before["horizon"] != h or \
                    (befores and plan != befores[0]["summary"]["plan"]):
                print("--search-from: those runs searched other points or origins; give "
                      "runs of the same series, folds and origins.", file=sys.stderr)
                return 2
            stores.append(os.path.join(d, "study.db"))
            befores.append(before)
        sums = [b["summary"] for b in befores]
        summary = sums[0] if len(sums) == 1 else {
            "plan": sums[0]["plan"], "pooled": sums, "trials": sum(x["trials"] for x in sums),
            "completed": sum(x["completed"] for x in sums),
            "best_value": min(x["best_value"] for x in sums)}
        # searches run side by side (a core each): the wall time is the longest one's
        log |= {"summary": summary,
                "search_wall_s": max(b["search_wall_s"] for b in befores),
                "search_cpu_s": sum(b["search_cpu_s"] for b in befores)}
    else:
        stores = [os.path.join(args.out, "study.db")]
        w0, c0 = time.monotonic(), time.process_time()
        try:  # e.g. --out holding the study of other origins or seed: one line
            _, summary = tune(train, m, args.trials, horizon=h, folds=args.refits,
                              origins=args.origins, step=args.step, storage=stores[0],
                              timeout=args.timeout, seed=args.seed, clock=args.clock,
                              study_name="forecast")
        except ValueError as err:
            print(err, file=sys.stderr)
            return 2
        log |= {"search_wall_s": time.monotonic() - w0,
                "search_cpu_s": time.process_time() - c0, "summary": summary}
    log["load_after_search"] = os.getloadavg()
    print(f"search: {summary['trials']} trials ({summary['completed']} completed), best "
          f"{summary['best_value']:.4f}, {log['search_wall_s']:.0f} s wall, "
          f"{log['search_cpu_s']:.0f} s CPU, load {os.getloadavg()[0]:.1f}", flush=True)
    pool = [t for store in stores for t in ranked(
        optuna.load_study(study_name="forecast", storage=f"sqlite:///{store}"), args.top)]
    top = sorted(pool, key=lambda t: t[0])[:args.top]  # the best of every search pooled
    w1 = time.monotonic()
    a = anchored.choose(train, m, top, summary["plan"])
    if args.reseed:  # λ stays the one chosen on the trials' own forecasts
        a.members = [st | {"seed": st["seed"] + k * args.seeds} for k, st in
                     enumerate(a.members)]
    if args.seeds > 1:
        a.members = [st | {"ensemble": args.seeds} for st in a.members]
    log |= {"choose_wall_s": time.monotonic() - w1, "shrink": a.shrink,
            "validation": a.validation, "members": a.members}
    print(f"chosen: λ {a.shrink}, validation MASE anchored "
          f"{a.validation['mase_by_shrink'][a.shrink]:.4f}, median "
          f"{a.validation['median']:.4f}, ETS {a.validation['ets']:.4f}, members "
          + " ".join(f"{v:.4f}" for v in a.validation["members"]), flush=True)
    w2 = time.monotonic()

    def fold(k, f):
        print(f"fold {k + 1}: anchored {f['model']['mase']:.4f}, median "
              f"{f['median']['mase']:.4f}, best trial {f['best']['mase']:.4f}, ETS "
              f"{f['ets']['mase']:.4f}, coverage {f['model']['coverage']:.3f}", flush=True)

    res = anchored.backtest(a, y, folds=args.folds, on_fold=fold)
    log |= {"backtest_wall_s": time.monotonic() - w2, "load_end": os.getloadavg(),
            "backtest": res}
    with open(os.path.join(args.out, "result.json.tmp"), "w") as fh:
        json.dump(log, fh, indent=1, default=float)
    os.replace(os.path.join(args.out, "result.json.tmp"), os.path.join(args.out, "result.json"))
    print(f"{args.series}: MASE anchored {res['model']['mase']:.4f}, median "
          f"{res['median']['mase']:.4f}, best trial {res['best']['mase']:.4f}, ETS "
          f"{res['ets']['mase']:.4f}; coverage {res['model']['coverage']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``compare(CompareConfig(...))``: train every model on one task over several seeds, time
it, measure inference latency and long-sequence memory, and summarise with verdicts."""

from __future__ import annotations

import gc
import math
import numbers
import os
import platform
import time
from dataclasses import asdict, dataclass, replace

import torch

from ...data.series import BUILTIN
from . import latency, memory, sizing, summary, tasks

MEMORY_TASKS = ("adding", "copy")


@dataclass
class CompareConfig:
    """Settings of ``compare`` (``grukit compare``'s flags).

    Attributes:
        task (str): one of ``grukit.tasks.compare.tasks.NAMES`` (forecast, classify, music,
            and the plugin tasks such as speech, translate, generate, clinical).
        data (str | os.PathLike | None): a built-in name or a path; the task's default
            when None.
        models (tuple[str, ...]): the models compared (cells, and a task's own models).
        seeds (int): training runs per model.
        budget (str | None): "equal-hidden" or "equal-params"; the task's default when None.
        hidden (int | None): the GRU's width (the task's default when None).
        epochs (int | None): the epoch cap, a safety limit (the task's default when None).
        folds (int): forecasting: rolling origins.
        max_seconds (float | None): a training budget per run, for the tasks that take it.
        memory_tasks (tuple[str, ...]): "adding" and/or "copy".
        memory_lengths (tuple[int, ...]): sequence lengths of the memory rows.
        memory_steps (int): training steps per memory run (0 skips the memory rows).
        memory_seeds (int): memory runs per model and length.
        memory_hidden (int): the GRU's width on the memory tasks.
        latency_batch (tuple[int, int]): (batch, steps) of the full-batch forward timed.
    """

    task: str = "forecast"  # one of tasks.NAMES
    data: str | None = None  # a built-in name or a path; the task's default when None
    models: tuple[str, ...] = ("gru", "lstm")
    seeds: int = 3
    budget: str | None = None  # equal-hidden | equal-params; None: the task's default
    hidden: int | None = None  # the GRU's width (task default when None)
    epochs: int | None = None  # the epoch cap; task default when None (music: 1000)
    folds: int = 3  # forecasting: rolling origins
    max_seconds: float | None = None  # music and tasks that take it: cap per run
    # copy memory is left out by default: no model solves it in the default 300 steps
    memory_tasks: tuple[str, ...] = ("adding",)
    memory_lengths: tuple[int, ...] = (50, 100, 200, 400)
    memory_steps: int = 300
    memory_seeds: int = 1
    memory_hidden: int = 32  # the GRU's width on the memory tasks
    latency_batch: tuple[int, int] = (32, 100)  # (batch, steps) of the full-batch forward


def _plain_numbers(cfg: CompareConfig) -> CompareConfig:
    """numpy whole numbers (seeds=np.int64(3), lengths from np.arange) as Python ints, which
    check takes and results.json can hold; anything else is left for check to judge."""
    def plain(v):
        return int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v

    ints = {k: plain(getattr(cfg, k)) for k in ("seeds", "hidden", "epochs", "folds",
                                                 "memory_steps", "memory_seeds",
                                                 "memory_hidden")}
    if isinstance(cfg.memory_lengths, (list, tuple)) or getattr(cfg.memory_lengths, "ndim", 0):
        ints["memory_lengths"] = tuple(plain(t) for t in cfg.memory_lengths)
    if isinstance(cfg.latency_batch, (list, tuple)) or getattr(cfg.latency_batch, "ndim", 0):
        ints["latency_batch"] = tuple(plain(t) for t in cfg.latency_batch)
    return replace(cfg, **ints)


def _whole(flag: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{flag} must be a whole number, {least} or more; got {value!r}.")


def check(cfg: CompareConfig) -> None:
    """One sentence for the first setting out of range (then for a forecast or music --data
    that is a folder or missing, or a classify --data that is no UEA set name: before the
    run's fingerprint reads it); nothing is replaced by a default."""
    if cfg.task not in tasks.NAMES:
        raise ValueError(f"unknown task {cfg.task!r}; choose from {', '.join(tasks.NAMES)}.")
    known = tasks.task_cells(cfg.task) + tuple(tasks.extra_models(cfg.task))
    if isinstance(cfg.models, str):  # iterated, it would be read letter by letter
        raise ValueError(f"models is one string, {cfg.models!r}; give a tuple of names such as "
                         f"{tuple(m.strip() for m in cfg.models.split(',') if m.strip())!r}.")
    if not cfg.models:
        raise ValueError(f"--models is empty; give a comma-separated list from "
                         f"{','.join(known)}.")
    bad = [m for m in cfg.models if m not in known]
    if bad:  # a cell the task cannot run is refused before the others have trained
        why = [f"{b!r} {'unknown' if b not in sizing.MODELS else 'not run by --task ' + cfg.task}"
               for b in bad]
        raise ValueError(f"--models takes a comma-separated list from "
                         f"{','.join(known)}; got {','.join(cfg.models)} "
                         f"({', '.join(why)}).")
    twice = sorted({m for m in cfg.models if cfg.models.count(m) > 1})
    if twice:
        raise ValueError(f"--models names {', '.join(twice)} more than once; give each model "
                         f"once (two identical rows would only repeat each other).")
    if cfg.data is not None and not str(cfg.data).strip():
        raise ValueError("--data is empty; give a file or a built-in data set, or leave it out "
                         "for the task's default.")
    if cfg.task == "music" and not cfg.data:
        raise ValueError("--task music needs --data PATH.mat (a piano-roll file such as "
                         "JSB_Chorales.mat).")
    if cfg.budget is not None and cfg.budget not in sizing.BUDGETS:
        raise ValueError(f"--budget must be one of {', '.join(sizing.BUDGETS)}; got "
                         f"{cfg.budget!r}.")
    for flag, value, least in (("--seeds", cfg.seeds, 1), ("--folds", cfg.folds, 1),
                               ("--memory-steps", cfg.memory_steps, 0),
                               ("--memory-hidden", cfg.memory_hidden, 1)):
        _whole(flag, value, least)
    if cfg.memory_seeds == 0 and cfg.memory_steps and not isinstance(cfg.memory_seeds, bool):
        # it would leave the memory rows out, and the memory settings beside it unchecked
        raise ValueError("--memory-seeds must be a whole number, 1 or more; got 0 "
                         "(--memory-steps 0 leaves the memory rows out).")
    _whole("--memory-seeds", cfg.memory_seeds, 1 if cfg.memory_steps else 0)
    lb = cfg.latency_batch  # a batch or a length of 0 timed a forward of nothing
    if not isinstance(lb, (tuple, list)) or len(lb) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in lb):
        raise ValueError(f"latency_batch must be (batch, steps), two whole numbers, 1 or "
                         f"more; got {lb!r}.")
    for flag, value in (("--hidden", cfg.hidden), ("--epochs", cfg.epochs)):
        if value is not None:  # None: the task's default
            _whole(flag, value, 1)
    if cfg.max_seconds is not None:
        if not tasks.takes_max_seconds(cfg.task):
            raise ValueError(f"--max-seconds caps each run of a task that takes it; --task "
                             f"{cfg.task} does not use it, so drop it (or cap the epochs "
                             f"with --epochs).")
        v = cfg.max_seconds
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
                or v <= 0:
            raise ValueError(f"--max-seconds must be a positive number of seconds; got {v!r}.")
    if isinstance(cfg.memory_tasks, str):  # iterated, it would be read letter by letter
        names = tuple(t.strip() for t in cfg.memory_tasks.split(",") if t.strip())
        raise ValueError(f"memory_tasks is one string, {cfg.memory_tasks!r}; give a tuple of "
                         f"names such as {names!r}.")
    if isinstance(cfg.memory_lengths, (str, numbers.Number)):  # one length, or text
        raise ValueError(f"memory_lengths is one {type(cfg.memory_lengths).__name__}, "
                         f"{cfg.memory_lengths!r}; give a tuple of lengths such as (50, 100).")
    bad = [t for t in cfg.memory_tasks if t not in MEMORY_TASKS]
    if bad:
        raise ValueError(f"--memory-tasks takes a comma-separated list from "
                         f"{','.join(MEMORY_TASKS)}; got {','.join(map(str, cfg.memory_tasks))} "
                         f"({', '.join(repr(b) for b in bad)} unknown).")
    twice = sorted({t for t in cfg.memory_tasks if cfg.memory_tasks.count(t) > 1})
    if twice:
        raise ValueError(f"--memory-tasks names {twice[0]} more than once; give each task "
                         f"once.")
    if cfg.memory_steps:
        if not cfg.memory_tasks:
            raise ValueError(f"--memory-tasks is empty; give a comma-separated list from "
                             f"{','.join(MEMORY_TASKS)} or skip the memory rows with "
                             f"--memory-steps 0.")
        if not cfg.memory_lengths:
            raise ValueError("--memory-lengths is empty; give lengths such as 50,100 or skip "
                             "the memory rows with --memory-steps 0.")
        for t in cfg.memory_lengths:
            _whole("--memory-lengths", t, 2)
        twice = sorted({t for t in cfg.memory_lengths if cfg.memory_lengths.count(t) > 1})
        if twice:
            raise ValueError(f"--memory-lengths names {twice[0]} more than once; give each "
                             f"length once.")
    if cfg.task == "forecast" and cfg.data is not None and cfg.data not in BUILTIN and (
            os.path.isdir(cfg.data) or not os.path.exists(cfg.data)):
        # a folder would be read through to fingerprint it; --resume would blame the settings
        from .forecast import load

        load(os.fspath(cfg.data))  # its sentence for a folder or a missing file
    if cfg.task == "classify" and cfg.data is not None:
        from .classify import check_name

        check_name(cfg.data)
    if cfg.task == "music" and (os.path.isdir(cfg.data) or not os.path.exists(cfg.data)):
        # before a folder is read through to fingerprint it, or --resume blames the settings
        from ..music import load_piano_rolls

        try:
            load_piano_rolls(cfg.data)  # its sentence for a folder or a missing file
        except (OSError, ValueError) as err:
            raise ValueError(f"--data: {err}") from None


def run_keys(cfg: CompareConfig) -> list[tuple[str, int]]:
    """(model, seed) of every training run, in the order they are run."""
    return [(m, seed) for seed in range(cfg.seeds) for m in cfg.models]


def memory_keys(cfg: CompareConfig) -> list[tuple[str, int, str, int]]:
    """(task, length, model, seed) of every memory run, in the order they are run: the cells
    among the models."""
    if not cfg.memory_steps:
        return []
    return [(name, length, m, seed) for seed in range(cfg.memory_seeds)
            for name in cfg.memory_tasks for length in cfg.memory_lengths for m in cfg.models
            if m in sizing.MODELS]  # a task's own models (not cells) have no memory runs


def compare(cfg: CompareConfig, log=print, done: dict | None = None, on_result=None) -> dict:
    """Every run of ``cfg``; ``done`` ({"runs": [...], "memory": [...]}: records of an
    interrupted run with the same settings) are reused instead of run again.
    ``on_result(kind, runs, memory)`` is called after each new result ("run" or "memory"),
    with every record so far."""
    if isinstance(cfg.data, os.PathLike):  # results.json holds the config: a str, not a Path
        cfg = replace(cfg, data=os.fspath(cfg.data))
    cfg = _plain_numbers(cfg)
    check(cfg)
    started = time.perf_counter()
    order = list(cfg.models)
    task = tasks.prepare(cfg.task, cfg.data, cfg.folds)
    cfg = replace(cfg, budget=cfg.budget or task.budget)
    widths = task.widths(order, cfg.budget, cfg.hidden)
    log(f"{task.name}: {', '.join(f'{summary.NAMES[m]} {widths[m]} units' for m in order)} "
        f"({cfg.budget}), {cfg.seeds} seed(s)")
    done = done or {}
    old_runs = {(r["model"], r["seed"]): r for r in done.get("runs", [])}
    old_mem = {(r["task"], r["length"], r["model"], r["seed"]): r
               for r in done.get("memory", [])}
    for (m, _seed), r in old_runs.items():  # sized by another version's rule: not comparable
        if m in widths and r.get("hidden", widths[m]) != widths[m]:
            raise ValueError(f"the finished runs to resume hold {summary.NAMES[m]} at "
                             f"{r['hidden']} units, where these settings now give "
                             f"{widths[m]}; rerun without --resume to start afresh.")
    runs, mem = [], []
    for m, seed in run_keys(cfg):
        if (m, seed) in old_runs:
            runs.append(old_runs[m, seed])
            continue
        # a full collection now, not inside a timed epoch: the objects left by imports and
        # data loading made one fall in the first run (0.15 s on a 0.35 s music epoch)
        gc.collect()
        rec, rnn = tasks.run(task, m, widths[m], seed, epochs=cfg.epochs, folds=cfg.folds,
                             max_seconds=cfg.max_seconds)
        if rnn is not None:  # None: the task measured its own latency rows, or has none
            rec |= latency.measure(rnn, *cfg.latency_batch)
        rec |= {"model": m, "seed": seed, "hidden": widths[m]}
        runs.append(rec)
        log(f"  {summary.NAMES[m]:<6} seed {seed}: test {task.metric} "
            f"{rec['test_metric']:.4f}, {rec['epochs']} epochs"
            + ("" if rec["seconds_per_epoch"] is None
               else f", {rec['seconds_per_epoch']:.3f} s/epoch")
            + ("" if rec["converged"] else f" — NOT CONVERGED ({rec['convergence']})"))
        if on_result is not None:
            on_result("run", runs, mem)
    for name, length, m, seed in memory_keys(cfg):
        inputs = 2 if name == "adding" else memory.ALPHABET + 2
        outputs = 1 if name == "adding" else memory.ALPHABET + 1
        cells_only = [o for o in order if o in sizing.MODELS]
        w = sizing.widths(cells_only, cfg.budget, cfg.memory_hidden, inputs, outputs)
        if (name, length, m, seed) in old_mem:
            r = old_mem[name, length, m, seed]
            if r.get("hidden", w[m]) != w[m]:
                raise ValueError(f"the finished {name} runs to resume hold {summary.NAMES[m]} "
                                 f"at {r['hidden']} units, where these settings now give "
                                 f"{w[m]}; rerun without --resume to start afresh.")
            mem.append(memory.rescore(r))
            continue
        r = memory.run(name, m, length, w[m], steps=cfg.memory_steps, seed=seed)
        mem.append(r | {"hidden": w[m]})
        log(f"  {name} T={length} {summary.NAMES[m]:<6}: loss/baseline "
            f"{r['relative']:.3f}{' solved' if r['solved'] else ''}"
            f"{'' if r['converged'] else ' (not converged: loss still falling)'}")
        if on_result is not None:
            on_result("memory", runs, mem)
    return summarise(cfg, task, order, runs, mem, time.perf_counter() - started)


def summarise(cfg, task, order, runs, mem, seconds) -> dict:
    table, verdicts = {}, {}
    rows = list(summary.ROWS) + [tuple(r) for r in task.rows]
    for key, label, lower, kind in rows:
        per = {m: summary.stats([r.get(key) for r in runs if r["model"] == m]) for m in order}
        table[key] = per
        lower = task.lower_is_better if lower is None else lower
        # a task's extra rows are judged in their own unit, not in the task's metric
        unit = task.metric if key in ("test_metric", "gap") else label.format(
            metric=task.metric)
        verdicts[key] = summary.verdict(key, kind, lower, per, order, unit) \
            if len(order) > 1 else ""
    for key in summary.UNFUSED:  # a ratio to a fused kernel measures the kernel, not the cell
        slow = [m for m in order if summary.unfused(runs, m, key)]
        if slow and verdicts.get(key):
            verdicts[key] += (f"; {' and '.join(summary.NAMES[m] for m in slow)}: torch's ops "
                              f"one by one, grukit has no fused CPU kernel for "
                              f"{'it' if len(slow) == 1 else 'them'} (see the notes)")
    conv = summary.convergence(runs, mem, order)
    warn = summary.untrusted(conv["runs"])
    for key in summary.TRAINED_ROWS:  # these numbers depend on where training ended
        if warn:
            verdicts[key] = f"{warn}; " + verdicts[key] if verdicts[key] else warn
    recommendation = summary.recommend(table, order, task.metric, task.lower_is_better)
    if warn:
        recommendation = (f"Nothing is decided: {conv['runs']['not_converged']} of "
                          f"{conv['runs']['total']} runs did not converge (early stopping did "
                          f"not end them), so their test {task.metric} is not the models' "
                          f"result; raise --epochs"
                          f"{' (or --max-seconds)' if cfg.max_seconds else ''} and rerun.")
    limits = summary.memory_limits(mem, order)
    notes = dict(task.notes)
    slow = {m: [what for key, what in (("step_us", "streaming step"), ("batch_ms", "full batch"))
                if summary.unfused(runs, m, key)] for m in order}
    if any(slow.values()):
        modes = sorted({r["batch_mode"] for r in runs if r.get("batch_mode")})
        notes[summary.FUSED_NOTE] = (
            "grukit has no fused CPU kernel for "
            + "; ".join(f"{summary.NAMES[m]}'s {' or its '.join(w)}"
                        for m, w in slow.items() if w)
            + ": a step runs grukit.nn.Stream's feed (the module called on one step) and a "
              "batch the reference, torch's ops one by one"
            + (f" (minGRU: the step in sequential mode, the batch in its faster mode, here "
               f"{' and '.join(modes)})" if modes else "")
            + "; a GRU, LSTM or RNN step is one fused numba call, so a ratio to it measures "
              "the missing kernel, not the architecture")
    return {"config": asdict(cfg), "task": {"name": task.name, "metric": task.metric,
                                            "lower_is_better": task.lower_is_better,
                                            "notes": notes},
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "platform": platform.platform(), "threads": torch.get_num_threads()},
            "rows": rows, "order": order, "runs": runs, "memory": mem, "memory_summary": limits,
            "table": table, "verdicts": verdicts, "convergence": conv,
            "recommendation": recommendation, "seconds": seconds}

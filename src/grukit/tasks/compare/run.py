"""``compare(CompareConfig(...))``: train every model on one task over several seeds, time
it, measure inference latency and long-sequence memory, and summarise with verdicts."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, replace

import torch

from . import latency, memory, sizing, summary, tasks


@dataclass
class CompareConfig:
    task: str = "forecast"  # forecast | classify | music
    data: str | None = None  # a built-in name or a path; the task's default when None
    models: tuple[str, ...] = ("gru", "lstm")
    seeds: int = 3
    budget: str | None = None  # equal-hidden | equal-params; None: the task's default
    hidden: int | None = None  # the GRU's width (task default when None)
    epochs: int | None = None  # task default when None
    folds: int = 3  # forecasting: rolling origins
    max_seconds: float | None = None  # music: wall-clock cap per run
    memory_tasks: tuple[str, ...] = ("adding", "copy")
    memory_lengths: tuple[int, ...] = (50, 100, 200, 400)
    memory_steps: int = 300
    memory_seeds: int = 1
    memory_hidden: int = 32  # the GRU's width on the memory tasks
    latency_batch: tuple[int, int] = (32, 100)  # (batch, steps) of the full-batch forward


def check(cfg: CompareConfig) -> None:
    bad = [m for m in cfg.models if m not in sizing.MODELS]
    if bad or not cfg.models:
        raise ValueError(f"--models takes a comma-separated list from "
                         f"{','.join(sizing.MODELS)}; got {','.join(cfg.models) or 'nothing'}.")
    if cfg.budget is not None and cfg.budget not in sizing.BUDGETS:
        raise ValueError(f"--budget must be one of {', '.join(sizing.BUDGETS)}; got "
                         f"{cfg.budget!r}.")
    if cfg.seeds < 1 or cfg.memory_seeds < 0 or cfg.memory_steps < 0:
        raise ValueError("--seeds must be at least 1, --memory-seeds and --memory-steps at "
                         "least 0.")
    if any(t < 2 for t in cfg.memory_lengths):
        raise ValueError(f"--memory-lengths must be at least 2; got {cfg.memory_lengths}.")


def compare(cfg: CompareConfig, log=print) -> dict:
    check(cfg)
    started = time.perf_counter()
    order = list(cfg.models)
    task = tasks.prepare(cfg.task, cfg.data, cfg.folds)
    cfg = replace(cfg, budget=cfg.budget or task.budget)
    widths = task.widths(order, cfg.budget, cfg.hidden)
    log(f"{task.name}: {', '.join(f'{summary.NAMES[m]} {widths[m]} units' for m in order)} "
        f"({cfg.budget}), {cfg.seeds} seed(s)")
    runs = []
    for seed in range(cfg.seeds):
        for m in order:
            rec, rnn = tasks.run(task, m, widths[m], seed, epochs=cfg.epochs, folds=cfg.folds,
                                 max_seconds=cfg.max_seconds)
            rec |= latency.measure(rnn, *cfg.latency_batch)
            rec |= {"model": m, "seed": seed, "hidden": widths[m]}
            runs.append(rec)
            log(f"  {summary.NAMES[m]:<6} seed {seed}: test {task.metric} "
                f"{rec['test_metric']:.4f}, {rec['epochs']} epochs, "
                f"{rec['seconds_per_epoch']:.3f} s/epoch")
    mem = []
    for seed in range(cfg.memory_seeds if cfg.memory_steps else 0):
        for name in cfg.memory_tasks:
            inputs = 2 if name == "adding" else memory.ALPHABET + 2
            outputs = 1 if name == "adding" else memory.ALPHABET + 1
            w = sizing.widths(order, cfg.budget, cfg.memory_hidden, inputs, outputs)
            for length in cfg.memory_lengths:
                for m in order:
                    r = memory.run(name, m, length, w[m], steps=cfg.memory_steps, seed=seed)
                    mem.append(r | {"hidden": w[m]})
                    log(f"  {name} T={length} {summary.NAMES[m]:<6}: loss/baseline "
                        f"{r['relative']:.3f}{' solved' if r['solved'] else ''}")
    return summarise(cfg, task, order, runs, mem, time.perf_counter() - started)


def summarise(cfg, task, order, runs, mem, seconds) -> dict:
    table, verdicts = {}, {}
    for key, _label, lower, kind in summary.ROWS:
        per = {m: summary.stats([r[key] for r in runs if r["model"] == m]) for m in order}
        table[key] = per
        lower = task.lower_is_better if lower is None else lower
        verdicts[key] = summary.verdict(key, kind, lower, per, order, task.metric) \
            if len(order) > 1 else ""
    limits = summary.memory_limits(mem, order)
    return {"config": asdict(cfg), "task": {"name": task.name, "metric": task.metric,
                                            "lower_is_better": task.lower_is_better,
                                            "notes": task.notes},
            "machine": {"python": platform.python_version(), "torch": torch.__version__,
                        "platform": platform.platform(), "threads": torch.get_num_threads()},
            "order": order, "runs": runs, "memory": mem, "memory_summary": limits,
            "table": table, "verdicts": verdicts,
            "recommendation": summary.recommend(table, order, task.metric,
                                                task.lower_is_better),
            "seconds": seconds}

"""Mean ± std over seeds for every row, and a verdict per row that says what the numbers
support: a ratio or difference, or "equal within noise".

Two means differ when Welch's t-test rejects equality at the 5 % level (two-sided):
|m_a − m_b| > t_{0.975, ν}·√(s_a²/n_a + s_b²/n_b), with the Welch–Satterthwaite degrees of
freedom ν = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a − 1) + (s_b²/n_b)²/(n_b − 1)).
With many seeds t is about 2; with 2 or 3 seeds it is 4 to 13, so a difference of two
standard errors is not yet beyond the noise. With one seed per model there is no spread to
judge by, and the verdict says so.
"""

from __future__ import annotations

import math

import numpy as np

from ... import cells

NAMES = {s.name: s.display for s in cells.all_specs()}

# row key, label, lower is better?, unit kind ("count": parameters, "bytes": memory, "time",
# "metric")
ROWS = [("params", "parameters", True, "count"),
        ("seconds_per_epoch", "training s / epoch", True, "time"),
        ("seconds_to_best", "training s to best validation", True, "time"),
        ("step_us", "streaming step, batch 1 (µs)", True, "time"),
        ("torch_step_us", "same step with torch.nn's cell (µs)", True, "time"),
        ("batch_ms", "forward, full batch (ms)", True, "time"),
        ("test_metric", "test {metric}", None, "metric"),
        ("gap", "generalisation gap ({metric}, test vs train)", True, "metric")]


# latency row -> the record's flag for whether a fused CPU kernel served it (speech's
# streaming frame and generate's token at batch 1 step the module of the streaming-step row)
UNFUSED = {"step_us": "step_fused", "batch_ms": "batch_fused", "frame_us": "step_fused",
           "gen_ms_per_token": "step_fused"}
FUSED_NOTE = "latency without a fused kernel"  # the task note that says which, and why


def unfused(runs: list[dict], model: str, key: str) -> bool:
    """Whether ``model``'s ``key`` latency (a row of ``UNFUSED``) ran torch's ops one by
    one, without a fused CPU kernel (records written before the flag was kept: False)."""
    flags = [r.get(UNFUSED[key]) for r in runs if r["model"] == model and r.get(key) is not None]
    return bool(flags) and all(f is False for f in flags)


def stats(values) -> dict:
    """Mean, sample std and count of the values that are not None."""
    v = np.asarray([x for x in values if x is not None], float)
    return {"mean": float(v.mean()) if v.size else float("nan"),
            "std": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def fmt(s: dict, kind: str = "metric") -> str:
    if s["n"] == 0:
        return "–"
    if kind in ("count", "bytes"):
        return f"{s['mean']:,.0f}"
    digits = 3 if abs(s["mean"]) < 10 else 1
    text = f"{s['mean']:.{digits}f}"
    return text + (f" ± {s['std']:.{digits}f}" if s["n"] > 1 else "")


def differ(a: dict, b: dict) -> bool | None:
    """True/False when the spread allows a judgement, None with one seed each."""
    if a["n"] < 2 or b["n"] < 2:
        return None
    from scipy.stats import t

    va, vb = a["std"] ** 2 / a["n"], b["std"] ** 2 / b["n"]  # squared standard errors
    gap = abs(a["mean"] - b["mean"])
    if va + vb == 0:  # no spread in either: any difference is beyond it
        return gap > 0
    nu = (va + vb) ** 2 / (va ** 2 / (a["n"] - 1) + vb ** 2 / (b["n"] - 1))
    return bool(gap > t.ppf(0.975, nu) * math.sqrt(va + vb))


def verdict(key: str, kind: str, lower: bool, per: dict[str, dict], order: list[str],
            metric: str) -> str:
    """The first model against each other one."""
    ref, parts = order[0], []
    for other in order[1:]:
        a, b = per[ref], per[other]
        r, o = NAMES[ref], NAMES[other]
        if a["n"] == 0 or b["n"] == 0:
            continue
        if kind == "count":
            parts.append(f"{r} has {a['mean'] / b['mean']:.2f}× the parameters of {o}")
            continue
        if kind == "bytes":
            parts.append(f"{r} needs {a['mean'] / b['mean']:.2f}× the memory of {o}")
            continue
        if not (math.isfinite(a["mean"]) and math.isfinite(b["mean"])):  # a run diverged
            parts.append(f"{r} vs {o}: no verdict, a mean is not finite ({fmt(a, kind)} vs "
                         f"{fmt(b, kind)})")
            continue
        d = differ(a, b)
        if kind == "time":
            note = " (one seed: no spread)" if d is None else ""
            if d is False:
                parts.append(f"{r} and {o} equal within noise")
            elif a["mean"] == b["mean"]:  # one seed each, the same time: neither is faster
                parts.append(f"{r} and {o} equal ({fmt(a, kind)} vs {fmt(b, kind)}; one seed: "
                             f"no spread)")
            elif min(a["mean"], b["mean"]) <= 0:  # no ratio to a time of 0
                parts.append(f"{r} {'faster' if a['mean'] < b['mean'] else 'slower'} than {o}: "
                             f"{fmt(a, kind)} vs {fmt(b, kind)}{note}")
            else:
                ratio = b["mean"] / a["mean"]
                faster = "faster" if ratio >= 1 else "slower"
                ratio = ratio if ratio >= 1 else 1 / ratio
                parts.append(f"{r} {ratio:.2f}× {faster} than {o}{note}")
            continue
        if d is False:
            parts.append(f"{r} and {o} equal within noise ({fmt(a)} vs {fmt(b)})")
            continue
        if a["mean"] == b["mean"]:  # one seed each, the same value: neither is better
            parts.append(f"{r} and {o} equal ({fmt(a)} vs {fmt(b)}; one seed: no spread)")
            continue
        better_low = True if lower is None else lower
        better = a["mean"] < b["mean"] if better_low else a["mean"] > b["mean"]
        note = " (one seed: no spread)" if d is None else ""
        if key == "gap":
            parts.append(f"{r} overfits {'less' if better else 'more'} than {o}: "
                         f"{fmt(a)} vs {fmt(b)}{note}")
        else:
            parts.append(f"{r} {'better' if better else 'worse'} than {o}: {metric} "
                         f"{fmt(a)} vs {fmt(b)}{note}")
    return "; ".join(parts)


def memory_limits(memory: list[dict], order: list[str]) -> dict:
    """task -> model -> {"solved": the longest T such that every length up to it was solved
    by a majority of seeds (the table shows "T ≤ solved"), or None,
    "relative": {T: mean test loss / baseline}, "ran": whether it has memory runs (a task's
    models that are not cells, e.g. a Transformer, have none)}."""
    out: dict = {}
    for task in sorted({r["task"] for r in memory}):
        out[task] = {}
        for m in order:
            rows = [r for r in memory if r["task"] == task and r["model"] == m]
            lengths = sorted({r["length"] for r in rows})
            rel, solved, gap = {}, None, False
            for t in lengths:
                at = [r for r in rows if r["length"] == t]
                rel[t] = float(np.mean([r["relative"] for r in at]))
                gap = gap or sum(r["solved"] for r in at) * 2 <= len(at)
                if not gap:  # a shorter length unsolved: a longer one solved is not "T ≤"
                    solved = t
            out[task][m] = {"solved": solved, "relative": rel, "ran": bool(rows)}
    return out


def recommend(table: dict, order: list[str], metric: str, lower: bool) -> str:
    """One sentence: which model to use, and the evidence. The model with the best test
    metric wins if it is better beyond the noise; otherwise the fastest of those tied
    with it."""
    per, speed = table["test_metric"], table["seconds_per_epoch"]
    if len(order) == 1:
        return f"Only {NAMES[order[0]]} was run; add models with --models to compare."
    broken = [NAMES[m] for m in order if not math.isfinite(per[m]["mean"])]
    if broken:  # NaN would win or tie any comparison
        return (f"Nothing is decided: the test {metric} of {', '.join(broken)} is not finite "
                f"(a run diverged or failed); see the runs in results.json and rerun.")
    best = min(order, key=lambda m: per[m]["mean"] * (1 if lower else -1))
    fastest = min(order, key=lambda m: speed[m]["mean"])
    if any(per[m]["n"] < 2 for m in order):
        return (f"One seed per model gives no noise estimate, so nothing is decided: "
                f"{NAMES[best]} has the best test {metric} ({fmt(per[best])}) and "
                f"{NAMES[fastest]} trains fastest; run --seeds 3 or more to decide.")
    tied = [m for m in order if m == best or not differ(per[best], per[m])]
    if len(tied) == 1:
        return (f"Use {NAMES[best]}: its test {metric} ({fmt(per[best])}) is better than every "
                f"other model's beyond the noise.")
    fastest = min(tied, key=lambda m: speed[m]["mean"])
    names = ", ".join(NAMES[m] for m in tied)
    if all(differ(speed[fastest], speed[m]) for m in tied if m != fastest):
        return (f"Use {NAMES[fastest]}: test {metric} is equal within noise for {names}, and "
                f"{NAMES[fastest]} trains fastest of them beyond the noise "
                f"({fmt(speed[fastest], 'time')} s per epoch).")
    small = min(tied, key=lambda m: table["params"][m]["mean"])
    return (f"Either: test {metric} and training time per epoch are equal within noise for "
            f"{names}; {NAMES[small]} is the smallest "
            f"({fmt(table['params'][small], 'count')} parameters).")


# rows whose numbers depend on where training ended
TRAINED_ROWS = ("seconds_to_best", "test_metric", "gap")


def _judged(r: dict) -> bool:
    """A record's ``converged``; records written before it was kept are judged from their
    validation curve (best at the last epoch: not converged)."""
    if "converged" in r:
        return bool(r["converged"])
    from .record import convergence

    return convergence(r.get("val_curve", []), patience=r.get("patience"),
                       stop_reason=r.get("stop_reason"))[0]


def convergence(runs: list[dict], memory: list[dict], order: list[str]) -> dict:
    """How many runs did not converge, per model, with each one's reason:
    {"runs": {"not_converged", "total", "per_model": {m: [n, total]}, "why": [...]},
    "memory": {task: {the same}}}."""
    def count(records, label):
        per = {m: [sum(not _judged(r) for r in records if r["model"] == m),
                   sum(r["model"] == m for r in records)] for m in order}
        why = [f"{label(r)}: {r.get('convergence', 'best validation at the last epoch')}"
               for r in records if not _judged(r)]
        return {"not_converged": sum(v[0] for v in per.values()),
                "total": sum(v[1] for v in per.values()), "per_model": per, "why": why}

    out = {"runs": count(runs, lambda r: f"{NAMES[r['model']]} seed {r['seed']}"),
           "memory": {}}
    for task in sorted({r["task"] for r in memory}):
        out["memory"][task] = count(
            [r for r in memory if r["task"] == task],
            lambda r: f"{r['task']} {NAMES[r['model']]} T={r['length']} seed {r['seed']}")
    return out


def untrusted(c: dict, what: str = "runs") -> str:
    """"cannot be trusted: N of M runs did not converge" or "" when all converged."""
    if not c["not_converged"]:
        return ""
    return f"cannot be trusted: {c['not_converged']} of {c['total']} {what} did not converge"


def convergence_cell(c: dict, m: str) -> str:
    bad, total = c["per_model"][m]
    if not total:
        return "–"
    return f"{total} of {total}" if not bad else f"NOT CONVERGED: {bad} of {total} runs"

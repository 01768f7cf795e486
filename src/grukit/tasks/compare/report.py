"""The compare table as text, Markdown and a self-contained HTML page (plots embedded as
base64 PNG), plus results.json with every number per seed. Files are written atomically."""

from __future__ import annotations

import base64
import html
import json
import math
import os

from ..._io import atomic_text
from . import summary
from .summary import FUSED_NOTE, NAMES, ROWS, UNFUSED, fmt, unfused

PLOTS = ("learning_curves.png", "latency.png", "memory.png")


def rows(res: dict) -> list[list[str]]:
    """[label, cell per model..., verdict] for every row of the table."""
    order, metric, out = res["order"], res["task"]["metric"], []
    conv = res.get("convergence") or summary.convergence(res["runs"], res["memory"], order)
    for key, label, _lower, kind in res.get("rows", ROWS):
        per = res["table"][key]
        cells = [fmt(per[m], kind) for m in order]
        if key in summary.TRAINED_ROWS:  # a mark on each model with an unfinished run
            cells = [c + _mark(conv["runs"], m) for c, m in zip(cells, order, strict=True)]
        if key in UNFUSED:  # beside the number: no fused kernel ran it (the notes say more)
            cells = [c + (" (torch ops: no fused kernel)" if unfused(res["runs"], m, key)
                          else "") for c, m in zip(cells, order, strict=True)]
        out.append([label.format(metric=metric)] + cells + [res["verdicts"][key]])
    out.append(["converged (early stopping ended the run)"]
                + [summary.convergence_cell(conv["runs"], m) for m in order]
                + [summary.untrusted(conv["runs"]) or "every run converged"])
    for task, per in res["memory_summary"].items():
        cells, c = [], conv["memory"].get(task)
        for m in order:
            if not per[m].get("ran", True):
                cells.append("– (not a cell: no memory run)")
                continue
            solved, rel = per[m]["solved"], per[m]["relative"]
            longest = max(rel, key=int) if rel else None
            tail = f" ({rel[longest]:.2f} of baseline at T={longest})" if longest else ""
            cells.append((f"T ≤ {solved}" if solved else "none") + tail
                         + (_mark(c, m) if c else ""))
        steps = res["config"]["memory_steps"]
        warn = summary.untrusted(c, "runs") if c else ""
        out.append([f"{task}: longest T solved ({steps} steps)"] + cells
                   + [(f"{warn} (unsolved while the loss was still falling); " if warn else "")
                      + _memory_verdict(per, order)])
    return out


def _mark(c: dict, m: str) -> str:
    bad, total = c["per_model"].get(m, [0, 0])
    return f" [not converged: {bad} of {total}]" if bad else ""


def _memory_verdict(per: dict, order: list[str]) -> str:
    text = [f"{NAMES[m]} {'up to T=' + str(per[m]['solved']) if per[m]['solved'] else 'none'}"
            for m in order if per[m].get("ran", True)]
    return "solved: " + ", ".join(text) + " (solved: test loss ≤ 0.1 × the trivial baseline)"


def markdown(res: dict) -> str:
    order = res["order"]
    head = "| | " + " | ".join(NAMES[m] for m in order) + " | verdict |"
    lines = [head, "|" + "---|" * (len(order) + 2)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(res)]
    notes = [f"- **{k}**: {_note(v)}" for k, v in _notes(res).items()]
    return "\n".join([f"# grukit compare: {res['task']['name']}", "",
                      f"**{res['recommendation']}**", "", *lines, "", *notes,
                      "- widths: " + ", ".join(f"{NAMES[m]} {_width(res, m)}" for m in order)
                      + f" ({res['config']['budget']}); {res['config']['seeds']} seed(s); "
                      f"mean ± std over seeds", f"- run took {res['seconds']:.0f} s on "
                      f"{res['machine']['platform']}, torch {res['machine']['torch']}, "
                      f"{res['machine']['threads']} thread(s)", ""])


def _notes(res: dict) -> dict:
    """The task's notes, and how the memory rows were trained."""
    out = dict(res["task"]["notes"])
    conv = res.get("convergence") or summary.convergence(res["runs"], res["memory"],
                                                         res["order"])
    why = conv["runs"]["why"] + [w for c in conv["memory"].values() for w in c["why"]]
    if why:
        out["not converged"] = "; ".join(why)
    resumed = res.get("resumed") or {}
    if resumed.get("runs") or resumed.get("memory"):  # timed in an earlier process
        out["resumed"] = (f"{resumed.get('runs', 0)} of {len(res['runs'])} runs and "
                          f"{resumed.get('memory', 0)} of {len(res['memory'])} memory runs "
                          f"come from an interrupted run (--resume), timed in its process on "
                          f"this machine")
    if res["memory"]:
        c = res["config"]
        widths = {}  # task -> model -> width (copy's wider input sizes its own widths)
        for r in res["memory"]:
            widths.setdefault(r["task"], {})[r["model"]] = r["hidden"]
        out["memory tasks"] = (
            "widths " + "; ".join(f"{t} " + ", ".join(f"{NAMES[m]} {w}" for m, w in per.items())
                                  for t, per in widths.items())
            + f"; {c['memory_steps']} Adam steps (lr 0.01, batch 32, gradient norm clipped at 1)"
            f" on fresh batches, scored on 256 held-out sequences (the baseline: the trivial "
            f"model's loss on them, for adding always predicting 1); {c['memory_seeds']} "
            f"seed(s)")
    return out


def _width(res, m):
    return next(r["hidden"] for r in res["runs"] if r["model"] == m)


def _note(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k} {x:.3f}" if isinstance(x, float) else f"{k} {x}"
                         for k, x in v.items())
    return str(v)


def text(res: dict) -> str:
    """The table for a terminal: cells, then one verdict line per row."""
    order, table = res["order"], rows(res)
    widths = [max(len(r[i]) for r in table) for i in range(len(order) + 1)]
    widths = [max(w, len(NAMES.get(m, ""))) for w, m in zip(widths, [""] + order, strict=True)]
    out = ["  ".join(h.ljust(w) for h, w in zip([""] + [NAMES[m] for m in order], widths,
                                                  strict=True))]
    out += ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) for r in table]
    out += ["", "verdicts:"] + [f"  {r[0]}: {r[-1]}" for r in table if r[-1]]
    fused = res["task"]["notes"].get(FUSED_NOTE)  # the note the latency verdicts point to
    out += ["", f"{FUSED_NOTE}: {fused}"] if fused else []
    return "\n".join(out + ["", res["recommendation"]])


def _embed(folder: str, name: str) -> str:
    with open(os.path.join(folder, name), "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f'<figure><img alt="{name}" src="data:image/png;base64,{data}"></figure>'


def page(res: dict, folder: str, plots=PLOTS) -> str:
    """The HTML page; ``plots``: the PNG names in ``folder`` to embed (those this run
    wrote)."""
    order = res["order"]
    head = "".join(f"<th>{NAMES[m]}</th>" for m in order)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                   for r in rows(res))
    notes = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(_note(v))}</li>"
                    for k, v in _notes(res).items())
    figures = "".join(_embed(folder, p) for p in plots if os.path.exists(os.path.join(folder, p)))
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
             "text-align:left;vertical-align:top}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>grukit compare: "
            f"{html.escape(res['task']['name'])}</title><style>{style}</style></head><body>"
            f"<h1>grukit compare: {html.escape(res['task']['name'])}</h1>"
            f"<p><b>{html.escape(res['recommendation'])}</b></p>"
            f"<table><tr><th></th>{head}<th>verdict</th></tr>{body}</table>"
            f"<ul>{notes}</ul>{figures}</body></html>")


def _strict(obj):
    """``obj`` with every float that is not finite (the mean of a row no run measured, a
    diverged run's metric) as None: results.json is standard JSON (null), which JavaScript's
    JSON.parse and strict parsers read; Python's NaN token is not JSON."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj


def write(res: dict, folder: str) -> list[str]:
    """results.json (standard JSON: a number that is not finite is null), report.md, the
    PNG plots and report.html into ``folder``."""
    from .plots import plot_all

    os.makedirs(folder, exist_ok=True)
    atomic_text(os.path.join(folder, "results.json"),
                json.dumps(_strict(res), indent=1, allow_nan=False))
    atomic_text(os.path.join(folder, "report.md"), markdown(res))
    pngs = plot_all(res, folder)
    for name in set(PLOTS) - set(pngs):  # an earlier run's plot (e.g. memory.png) is not this one's
        stale = os.path.join(folder, name)
        if os.path.isfile(stale):
            os.remove(stale)
    atomic_text(os.path.join(folder, "report.html"), page(res, folder, pngs))
    return ["results.json", "report.md", "report.html", *pngs]

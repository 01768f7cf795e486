"""What ``grukit clinical`` writes beside metrics.json: the calibration plot of every model's
pooled out-of-fold risks (calibration.png), the risk of a few test patients after each hour
(risk_over_time.png) and one self-contained HTML page with the tables and both plots
embedded (report.html) — each file written atomically.

Calibration: the records sorted by predicted risk and cut into ``bins`` groups of (nearly)
equal size; per group the mean predicted risk against the observed rate of the outcome (a
calibrated model lies on the diagonal), with the Brier score, mean (p − y)².
"""

from __future__ import annotations

import base64
import html
import os

import numpy as np

from ..._io import atomic_text

FILES = ("calibration.png", "risk_over_time.png", "report.html")


def calibration(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict:
    """``{"predicted": [...], "observed": [...], "count": [...], "brier": b}``: per group of
    records of similar predicted risk (``bins`` quantile groups, fewer when there are fewer
    records), the mean predicted risk and the observed rate of outcome 1."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 1 or not len(y):
        raise ValueError(f"calibration needs outcomes and risks of one shape (N,); got "
                         f"{y.shape} and {p.shape}.")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be a whole number of 1 or more; got {bins!r}.")
    order = np.argsort(p, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, len(y))) if len(g)]
    return {"predicted": [float(p[g].mean()) for g in groups],
            "observed": [float(y[g].mean()) for g in groups],
            "count": [int(len(g)) for g in groups],
            "brier": float(np.mean((p - y) ** 2))}


def _figure(width: float = 5.5, height: float = 4.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt, *plt.subplots(figsize=(width, height))


def _save(plt, fig, path: str) -> None:
    tmp = f"{path}.tmp.png"
    fig.tight_layout()
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def plot_calibration(curves: dict, path: str, title: str = "Calibration") -> None:
    """``curves``: {model: ``calibration(...)``} -> a PNG with one line per model."""
    plt, fig, ax = _figure()
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="calibrated")
    top = 0.0
    for name, c in curves.items():
        ax.plot(c["predicted"], c["observed"], marker="o", markersize=3,
                label=f"{name} (Brier {c['brier']:.4f})")
        top = max(top, *c["predicted"], *c["observed"])
    lim = min(1.0, max(0.1, 1.05 * top))
    ax.set(xlim=(0, lim), ylim=(0, lim), xlabel="mean predicted risk",
           ylabel="observed rate", title=title)
    ax.legend(fontsize=8)
    _save(plt, fig, path)


def plot_risk(curves: list, step: float, path: str, title: str = "Risk over time") -> None:
    """``curves``: [{"record", "outcome", "risk": [...]}] -> a PNG of each record's risk after
    each step of ``step`` hours (solid: outcome 1, dashed: outcome 0)."""
    plt, fig, ax = _figure(6.5, 4.2)
    for c in curves:
        r = np.asarray(c["risk"], dtype=np.float64)  # (T,)
        hours = step * np.arange(1, len(r) + 1)
        ax.plot(hours, r, linestyle="-" if c["outcome"] == 1 else "--", linewidth=1.2,
                label=f"{c['record']} (outcome {c['outcome']})")
    ax.set(ylim=(0, 1), xlabel="hours since admission", ylabel="predicted risk", title=title)
    if curves:
        ax.legend(fontsize=7, ncol=2)
    _save(plt, fig, path)


def _image(path: str, alt: str) -> str:
    with open(path, "rb") as f:
        data = base64.b64encode(f.read()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _ci(v) -> str:
    return f"[{v[0]:.4f}, {v[1]:.4f}]"


def html_report(metrics: dict, images: dict, title: str) -> str:
    """One page: the protocol, a row per model (fold mean ± std and pooled with 95%
    intervals, Brier score), each fold, then the PNGs of ``images`` ({heading: path})."""
    esc = html.escape
    head = "".join(f"<tr><td>{esc(k)}</td><td>{esc(str(metrics[k]))}</td></tr>"
                   for k in ("data", "outcome", "protocol", "n", "positives") if k in metrics)
    models = metrics.get("models", {})
    rows, folds = [], []
    for name, r in models.items():
        p = r["pooled"]
        brier = r.get("calibration", {}).get("brier")
        rows.append(f"<tr><td>{esc(name)}</td><td>{r['auc_roc']:.4f} ± {r['auc_roc_std']:.4f}"
                    f"</td><td>{r['auc_pr']:.4f} ± {r['auc_pr_std']:.4f}</td>"
                    f"<td>{p['auc_roc']:.4f} {_ci(p['auc_roc_ci95'])}</td>"
                    f"<td>{p['auc_pr']:.4f} {_ci(p['auc_pr_ci95'])}</td>"
                    f"<td>{'–' if brier is None else f'{brier:.4f}'}</td></tr>")
        folds += [f"<tr><td>{esc(name)}</td><td>{f['fold']}</td><td>{f['auc_roc']:.4f}</td>"
                  f"<td>{f['auc_pr']:.4f}</td></tr>" for f in r.get("per_fold", [])]
    notes = [f"<li>{esc(name)}, fold {f['fold']}: {esc(', '.join(f['unobserved']))} never "
             f"measured in the training stays, read as never measured (mask 0)</li>"
             for name, r in models.items() for f in r.get("per_fold", [])
             if f.get("unobserved")]
    notes = f"<h2>Notes</h2><ul>{''.join(notes)}</ul>" if notes else ""
    pics = "".join(f"<h2>{esc(h)}</h2>{_image(p, h)}" for h, p in images.items())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
            f"<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}"
            f"td,th{{padding:.2em .8em;text-align:left}}</style></head><body>"
            f"<h1>{esc(title)}</h1><table>{head}</table>"
            f"<h2>Models</h2><table><tr><th>model</th><th>AUC-ROC (folds)</th>"
            f"<th>AUC-PR (folds)</th><th>AUC-ROC pooled [95% CI]</th>"
            f"<th>AUC-PR pooled [95% CI]</th><th>Brier</th></tr>{''.join(rows)}</table>"
            f"<h2>Folds</h2><table><tr><th>model</th><th>fold</th><th>AUC-ROC</th>"
            f"<th>AUC-PR</th></tr>{''.join(folds)}</table>{notes}{pics}</body></html>\n")


def write_report(out: str, metrics: dict, risk_curves: list, step: float) -> list[str]:
    """calibration.png (from ``metrics["models"][m]["calibration"]``), risk_over_time.png and
    report.html in ``out``; returns the names written."""
    cal = {m: r["calibration"] for m, r in metrics.get("models", {}).items()
           if "calibration" in r}
    images = {}
    if cal:
        images["Calibration (pooled out-of-fold risks)"] = os.path.join(out, FILES[0])
        plot_calibration(cal, images["Calibration (pooled out-of-fold risks)"],
                         f"Calibration: {metrics.get('outcome', '')}")
    if risk_curves:
        key = "Risk after each hour (test patients of one fold)"
        images[key] = os.path.join(out, FILES[1])
        plot_risk(risk_curves, step, images[key], f"Risk over time: {metrics.get('outcome', '')}")
    title = f"grukit clinical: {metrics.get('outcome', 'outcome')}"
    atomic_text(os.path.join(out, FILES[2]), html_report(metrics, images, title))
    return [os.path.basename(p) for p in images.values()] + [FILES[2]]


def pick_records(y: np.ndarray, each: int = 3) -> np.ndarray:
    """Positions of the first ``each`` records with outcome 1 and the first ``each`` with 0
    (the patients whose risk over time the report plots)."""
    y = np.asarray(y)
    return np.concatenate([np.flatnonzero(y == 1)[:each], np.flatnonzero(y == 0)[:each]])

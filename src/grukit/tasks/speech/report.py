"""What ``grukit speech`` writes: scores with per-speaker accuracy, the confusion matrix PNG,
an HTML report (the PNG embedded) and predictions.csv — each file written atomically."""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os

import numpy as np

from ..._io import atomic_text
from ..classify.metrics import classification_scores


def scores(truth, pred, classes, speakers=None) -> dict:
    """classify's scores (accuracy, macro F1, confusion) plus ``per_speaker`` accuracy."""
    out = classification_scores(np.asarray(truth).astype(str), np.asarray(pred).astype(str),
                                 [str(c) for c in classes])
    if speakers is not None:
        speakers = np.asarray(speakers)
        hit = np.asarray(truth).astype(str) == np.asarray(pred).astype(str)
        out["per_speaker"] = {str(s): {"accuracy": float(hit[speakers == s].mean()),
                                       "n": int((speakers == s).sum())}
                              for s in sorted(set(speakers.tolist()))}
    return out


def predictions_csv(paths, pred, proba, truth=None) -> str:
    """``file,prediction,probability[,label]``, quoted as CSV where a name or label holds a
    comma, a quote or a line break."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "prediction", "probability"] + (["label"] if truth is not None else []))
    for i, (p, y, q) in enumerate(zip(paths, pred, proba, strict=True)):
        name = os.path.basename(p) if isinstance(p, str) else f"#{i}"
        w.writerow([name, y, f"{float(q):.6f}"] + ([truth[i]] if truth is not None else []))
    return buf.getvalue()


def write_results(out: str, metrics: dict, confusion, classes, title: str) -> None:
    """metrics.json, confusion.png and report.html in ``out``."""
    from ..classify.plot import plot_confusion

    atomic_text(os.path.join(out, "metrics.json"), json.dumps(metrics, indent=2))
    png = os.path.join(out, "confusion.png")
    plot_confusion(confusion, [str(c) for c in classes], title, png)
    atomic_text(os.path.join(out, "report.html"), html_report(metrics, png, title))


def html_report(metrics: dict, png: str, title: str) -> str:
    """One self-contained page: the summary, per-speaker accuracy, the confusion matrix."""
    with open(png, "rb") as f:
        image = base64.b64encode(f.read()).decode()
    summary = metrics.get("summary", {})
    rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                   for k, v in summary.items())
    speakers = metrics.get("per_speaker") or {}
    sp = "".join(f"<tr><td>{html.escape(s)}</td><td>{v['accuracy']:.4f}</td><td>{v['n']}</td>"
                 f"</tr>" for s, v in speakers.items())
    sp_table = (f"<h2>Accuracy per speaker</h2><table><tr><th>speaker</th><th>accuracy</th>"
                f"<th>recordings</th></tr>{sp}</table>") if sp else ""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>body{{font-family:sans-serif;max-width:56em;margin:2em auto}}"
            f"td,th{{padding:.2em .8em;text-align:left}}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><table>{rows}</table>{sp_table}"
            f"<h2>Confusion matrix</h2><img alt='confusion matrix' "
            f"src='data:image/png;base64,{image}'></body></html>\n")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)

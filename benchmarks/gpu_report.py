"""The GPU benchmark's report (``bench_gpu.py``): its rows as a Markdown table, and the
issue's targets, each met or not, from ratios measured in the same run."""

from __future__ import annotations

# (target, shape, precision or None for each one measured, model, anchor, least speedup);
# forward + backward, as the targets are stated
SPEEDUPS = (
    ("mid, TF32 allowed: >= 3x cuDNN", "mid", "tf32", "gru", "cuDNN", 3.0),
    ("mid, exact fp32: >= 2x cuDNN", "mid", "fp32", "gru", "cuDNN", 2.0),
    ("long, TF32 allowed: >= 4x cuDNN", "long", "tf32", "gru", "cuDNN", 4.0),
    ("long, exact fp32: >= 3x cuDNN", "long", "fp32", "gru", "cuDNN", 3.0),
    ("large, bf16: no slower than cuDNN", "large", "bf16", "gru", "cuDNN", 1.0),
    ("reset_after=False: >= 30x the eager loop", "mid", None, "gru_reset_before",
     "eager loop", 30.0),
    ("minGRU long: >= 3x the torch log-space scan", "long", None, "mingru", "torch scan", 3.0),
    ("LSTM mid: no slower than cuDNN LSTM", "mid", None, "lstm", "cuDNN", 1.0),
    ("LSTM long: no slower than cuDNN LSTM", "long", None, "lstm", "cuDNN", 1.0),
)


def table(rows: list[dict]) -> str:
    head = ("| shape | precision | model | settings | kernels | mode | grukit ms | anchor "
            "| anchor ms | × anchor | auto ms (backend) | µs/step | floor ms | check |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
    out = []
    for r in rows:
        first = (f"| {r['shape']} | {r['precision']} | {r['model']} | {r['swept']} | "
                 f"{r.get('kernels', '–')} | {r.get('mode', '–')} | ")
        if "error" in r:
            out.append(first + f"error: {r['error'][:70]} | {r.get('anchor', '')} "
                               f"| | | | | | |")
            continue
        out.append(first + f"{r['grukit_ms']:.3f} | {r['anchor']} | {r['anchor_ms']:.3f} | "
                   f"{r['speedup']:.2f} | {r['auto_ms']:.3f} ({r['auto_backend']}) | "
                   f"{r['us_per_step']:.2f} | {r['floor_ms']:.3f} | "
                   f"{_verdict(r)} {r['max_abs_err']:.1e}{_yardstick(r)} |")
    return head + "\n".join(out) + "\n"


def _verdict(r: dict) -> str:
    """ok: within the precision's tolerance of the reference, or no farther from it than
    cuDNN on the same inputs (over hundreds of steps two exact-fp32 roundings drift apart)."""
    return "ok" if r["ok"] else "ok ≤ cuDNN" if _passed(r) else "FAIL"


def _passed(r: dict) -> bool:
    return bool(r["ok"] or r.get("ok_vs_cudnn"))


def _yardstick(r: dict) -> str:
    """cuDNN's own largest deviation from the reference on the same inputs, when known."""
    return f" (cuDNN {r['cudnn_err']:.1e})" if "cudnn_err" in r else ""


def _find(rows: list[dict], **want) -> list[dict]:
    return [r for r in rows if "error" not in r and r.get("mode") == "fwd+bwd"
            and all(r.get(k) == v for k, v in want.items())]


def targets(rows: list[dict]) -> str:
    """The targets that this run measured, each with its figure and whether it is met (a
    failed correctness check counts as not met)."""
    out = []

    def add(text, r, figure, met):
        verdict = ("yes" if met else "no") if _passed(r) else "no (check failed)"
        out.append(f"| {text} | {r['precision']} | {r['swept']} | {figure} | {verdict} |")

    for text, shape, prec, model, anchor, least in SPEEDUPS:
        for r in _find(rows, shape=shape, model=model, anchor=anchor):
            if prec in (None, r["precision"]):
                add(text, r, f"{r['speedup']:.2f}x ({r['grukit_ms']:.3f} vs "
                             f"{r['anchor_ms']:.3f} ms)", r["speedup"] >= least)
    for r in _find(rows, shape="seed", model="gru", anchor="cuDNN"):
        add("seed: backend='auto' no slower than cuDNN", r,
            f"auto ({r['auto_backend']}) {r['auto_ms']:.3f} vs {r['anchor_ms']:.3f} ms",
            r["auto_ms"] <= r["anchor_ms"])
    for r in _find(rows, model="gru_reset_before", anchor="cuDNN"):
        for same in _find(rows, model="gru", anchor="cuDNN", shape=r["shape"],
                          precision=r["precision"], swept=r["swept"]):
            ratio = r["grukit_ms"] / same["grukit_ms"]
            add(f"{r['shape']}: reset_after=False within 1.3x of reset_after=True", r,
                f"{ratio:.2f}x", ratio <= 1.3)
    if not out:
        return "No target's shape, model and precision were measured in this run.\n"
    return ("| target (forward + backward) | precision | settings | measured | met |\n"
            "|---|---|---|---|---|\n" + "\n".join(out) + "\n")

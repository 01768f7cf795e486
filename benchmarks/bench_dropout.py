"""Training speed with recurrent dropout and zoneout against the same GRU without them.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_dropout.py

One training step (forward + backward of ``y.sum()``) of ``grukit.nn.GRU(1, 64)`` at the
article's shape (32, 100, 1, 64), in training mode: without masks, with
``recurrent_dropout=0.2`` (a fresh (B, H) state mask per call, as Keras'
``recurrent_dropout``), with ``zoneout=0.1`` (a fresh (B, T, H) mask per call) and with both;
the reference loop with recurrent dropout (where it ran before) for scale; torch.nn.GRU is
the anchor. The variants are interleaved call by call, median of
``--repeat`` calls after warm-up, and every ratio is taken in the same run. The backend each
variant ran on is printed (the fused "cpu" kernel, or the reference loop where it cannot
serve the masks). The claim checked: dropout within 1.5x of no dropout.
"""

from __future__ import annotations

import argparse
import json
import logging

import torch
from bench_cpu import _interleaved  # benchmarks/ is on sys.path when run

import grukit.nn as gnn
from grukit.ops import dispatch

SHAPE = (32, 100, 1, 64)  # (B, T, I, H): the article's Keras example


def _train_step(m, x):
    def run():
        y, _ = m(x)
        y.sum().backward()
    return run


def _backend(m, x) -> str:
    """The backend ``auto`` picks for the module's first layer (masks of its training mode)."""
    masks = m._masks(x)
    h0 = x.new_zeros(x.shape[0], m.hidden_size)
    return dispatch.explain("gru", m.backend, x=x, h0=h0, lengths=None,
                            reset_after=m.reset_after, **masks)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--reset-after", type=int, default=1, choices=(0, 1))
    args = parser.parse_args()
    logging.getLogger("grukit").setLevel(logging.WARNING)
    b, t, i, h = SHAPE
    torch.manual_seed(0)
    x = torch.randn(b, t, i)
    ra = bool(args.reset_after)
    models = {
        "torch GRU": torch.nn.GRU(i, h, batch_first=True),
        "grukit GRU": gnn.GRU(i, h, batch_first=True, reset_after=ra),
        "grukit GRU recurrent_dropout=0.2": gnn.GRU(i, h, batch_first=True, reset_after=ra,
                                                    recurrent_dropout=0.2),
        "grukit GRU zoneout=0.1": gnn.GRU(i, h, batch_first=True, reset_after=ra, zoneout=0.1),
        "grukit GRU both": gnn.GRU(i, h, batch_first=True, reset_after=ra,
                                   recurrent_dropout=0.2, zoneout=0.1),
        # where recurrent dropout ran before the fused kernel took masks
        "grukit GRU recurrent_dropout=0.2, backend=reference": gnn.GRU(
            i, h, batch_first=True, reset_after=ra, recurrent_dropout=0.2, backend="reference"),
    }
    for m in models.values():
        m.train()
    ms = _interleaved({k: _train_step(m, x) for k, m in models.items()}, args.repeat)
    base = ms["grukit GRU"]
    rows = []
    for k, v in ms.items():
        row = {"shape": list(SHAPE), "reset_after": ra, "mode": "forward+backward", "model": k,
               "ms": round(v, 4), "x grukit GRU": round(v / base, 3),
               "x torch GRU": round(v / ms["torch GRU"], 3)}
        if k.startswith("grukit"):
            row["backend"] = _backend(models[k], x)
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| model | backend | ms | × grukit GRU | × torch GRU |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r.get('backend', 'torch')} | {r['ms']:.3f} | "
              f"{r['x grukit GRU']:.2f} | {r['x torch GRU']:.2f} |")


if __name__ == "__main__":
    main()

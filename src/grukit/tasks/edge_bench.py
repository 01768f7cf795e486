"""The edge table's task-model rows: a saved task model (``grukit <task> ... --save DIR``)
through every deployment path, on sequences of ``steps`` steps at batch 1 and 32.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m grukit.tasks.edge_bench DIR

The anchor of each block is the model's own network eager in torch (grukit's fused kernels);
then ``torch.compile``, the ``torch.export`` program ``grukit export --format pt2`` writes,
int8 weights (``int8_estimator``), and ONNX Runtime on the files ``grukit export`` writes
(fp32 and ``--int8``). The input is random values of the network's input width (for a
classifier, every step marked valid); latency does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..export.bench import (
    ort_session,
    peak_rows,
    per_call,
    print_files,
    table,
    timing_options,
    use_threads,
)


def load(model_dir):
    """(estimator, network, input width, whether the last input channel is a validity flag)
    of a saved task model whose network reads float sequences."""
    from . import estimator
    from .export import pt2_network

    est = estimator.load(model_dir)
    net, example = pt2_network(est)  # refuses task models without a tensor network
    if not example.is_floating_point():
        raise ValueError(f"{model_dir!r} holds a {type(est).__name__}, whose network reads "
                         f"token ids; the task rows time networks that read float sequences "
                         f"(SequenceClassifier, SpeechClassifier, Forecaster).")
    flag = hasattr(est, "channels_")  # classifiers: (B, T, C + 1), the last a validity flag
    return est, net.eval(), int(example.shape[-1]), flag


def _input(batch: int, steps: int, width: int, flag: bool) -> torch.Tensor:
    x = torch.randn(batch, steps, width, generator=torch.Generator().manual_seed(0))
    if flag:
        x[..., -1] = 1.0  # (B, T, C + 1): every step valid
    return x


def export_files(est, folder: Path) -> str | None:
    """model.onnx, model_int8.onnx, model.pt2, model_int8.pt2 (with their manifests) and the
    network's state as safetensors, fp32 and int8 (every weight: grukit's int8 Dense), in
    ``folder``. Returns why there is no pt2 program (a cell torch.export cannot trace over a
    dynamic time: RNN, LayerNorm-GRU), or None: the other files are still written and
    timed."""
    from safetensors.torch import save_file

    from .export import export, int8_estimator, pt2_network

    export(est, folder / "model.onnx")
    export(est, folder / "model_int8.onnx", int8=True)
    why = None
    try:
        export(est, folder / "model.pt2", format="pt2")
        export(est, folder / "model_int8.pt2", format="pt2", int8=True)
    except ValueError as err:  # to_pt2's refusal of the cell
        why = str(err)
    # grukit's int8 Dense (int8 weights and scales as tensors); torch's keeps its weight and
    # bias packed in a tuple, which safetensors cannot hold: the file would lack them
    q = int8_estimator(est, linear="grukit")
    for name, e in (("state.safetensors", est), ("state_int8.safetensors", q)):
        state = pt2_network(e)[0].state_dict()  # every network of an ensemble
        save_file({k: v.contiguous() for k, v in state.items()  # tensors (not the
                   if isinstance(v, torch.Tensor)}, str(folder / name))  # dtypes int8 keeps)
    return why


def sequence_rows(est, net, width: int, flag: bool, steps: int, batch: int, threads: int,
                  budget: float, repeat: int, folder: Path,
                  compile_: bool) -> list[tuple[str, float]]:
    """µs per call of each path on one (batch, steps, width) input; ``export_files`` first."""
    from ..export.pt2 import load_pt2
    from .export import int8_estimator, pt2_network

    x = _input(batch, steps, width, flag)
    rows = []
    with torch.no_grad():
        rows.append(("grukit eager fp32", per_call(lambda: net(x), budget, repeat)))
        if compile_:
            comp = torch.compile(net, fullgraph=True, dynamic=False)
            comp(x)
            rows.append(("grukit torch.compile", per_call(lambda: comp(x), budget, repeat)))
        if (folder / "model.pt2").is_file():  # not for a cell torch.export cannot trace
            prog = load_pt2(folder / "model.pt2").module()
            rows.append(("grukit torch.export (.pt2)", per_call(lambda: prog(x), budget,
                                                                repeat)))
        q = pt2_network(int8_estimator(est, linear="grukit"))[0].eval()  # as ``net``: an
        # ensemble's every network, combined
        rows.append(("grukit int8 (int8_estimator)", per_call(lambda: q(x), budget, repeat)))
    xn = x.numpy()
    for name, file in (("ONNX Runtime fp32", "model.onnx"),
                       ("ONNX Runtime int8 (grukit export --int8)", "model_int8.onnx")):
        sess = ort_session(folder / file, threads)
        feed = {sess.get_inputs()[0].name: xn}
        rows.append((name, per_call(lambda s=sess, f=feed: s.run(None, f), budget, repeat)))
    return rows


def size_rows(folder: Path) -> list[tuple[str, int]]:
    files = ("model.onnx", "model_int8.onnx", "model.pt2", "model_int8.pt2",
             "state.safetensors", "state_int8.safetensors")
    return [(f, (folder / f).stat().st_size) for f in files if (folder / f).is_file()]


def check(net, width: int, flag: bool, folder: Path) -> float:
    """max |ONNX Runtime fp32 − torch| on one batch: the rows time the same function."""
    x = _input(4, 20, width, flag)
    sess = ort_session(folder / "model.onnx", 1)
    with torch.no_grad():
        ref = net(x).numpy()
    return float(np.abs(sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0] - ref).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grukit.tasks.edge_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", metavar="DIR", help="a saved SequenceClassifier, "
                        "SpeechClassifier or Forecaster folder")
    timing_options(parser)
    args = parser.parse_args(argv)
    use_threads(parser, args)
    try:
        est, net, width, flag = load(args.model)
    except (OSError, ValueError, TypeError) as err:  # no model, another task, a bad folder
        parser.error(str(err))
    print(f"threads {args.threads}, torch {torch.__version__}, {os.cpu_count()} CPUs seen")
    print(f"{type(est).__name__} from {args.model}: input (batch, {args.steps}, {width})")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        why = export_files(est, folder)
        if why:
            print(f"no torch.export rows: {why}")
        print(f"ONNX Runtime against torch, max |difference|: "
              f"{check(net, width, flag, folder):.1e}")
        for batch in (1, 32):
            rows = sequence_rows(est, net, width, flag, args.steps, batch, args.threads,
                                 args.budget, args.repeat, folder, not args.no_compile)
            print()
            print(table(f"sequence T={args.steps}, batch {batch}", rows))
        print()
        print_files(size_rows(folder), peak_rows(args.steps, folder, width)
                    if args.memory else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

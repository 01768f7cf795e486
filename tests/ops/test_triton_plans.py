"""Kernel settings as data: the default TritonSettings choose, on a CUDA GPU of 132 SMs (the
H100/H200), the very plans the module globals they replaced chose (table below, recorded
from ``split_plan`` and ``launch_args`` at commit ead1ca1 for the shapes of the Triton tests
and the benchmark's standard shapes), for fp32, TF32 and bf16 — except the exact-fp32 product,
which since the H200 timings is an ``ieee`` dot by default (SUM False in every row). No GPU
needed: the plan is a
function of the settings, the shape and the device's facts (``Target``)."""

import pytest

pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

import torch  # noqa: E402
import triton.language as tl  # noqa: E402

from grukit.ops import _triton  # noqa: E402
from grukit.ops._triton import Target, TritonSettings  # noqa: E402

# (B, H, gates, precision) -> ("rows", grid, BH, NB) or
# ("split", grid, BH, NBJ, HP, KC, SUM, STREAM); BB 16, 8 warps and PREFETCH on throughout.
BEFORE = {
    (3, 20, 3, 'fp32'): ('rows', (1,), 32, 1),
    (3, 20, 3, 'tf32'): ('rows', (1,), 32, 1),
    (3, 20, 3, 'bf16'): ('rows', (1,), 32, 1),
    (3, 20, 4, 'fp32'): ('rows', (1,), 32, 1),
    (3, 20, 4, 'tf32'): ('rows', (1,), 32, 1),
    (3, 20, 4, 'bf16'): ('rows', (1,), 32, 1),
    (17, 40, 3, 'fp32'): ('rows', (2,), 64, 1),
    (17, 40, 3, 'tf32'): ('rows', (2,), 64, 1),
    (17, 40, 3, 'bf16'): ('rows', (2,), 64, 1),
    (17, 40, 4, 'fp32'): ('rows', (2,), 64, 1),
    (17, 40, 4, 'tf32'): ('rows', (2,), 64, 1),
    (17, 40, 4, 'bf16'): ('rows', (2,), 64, 1),
    (18, 12, 3, 'fp32'): ('rows', (2,), 16, 1),
    (18, 12, 3, 'tf32'): ('rows', (2,), 16, 1),
    (18, 12, 3, 'bf16'): ('rows', (2,), 16, 1),
    (18, 12, 4, 'fp32'): ('rows', (2,), 16, 1),
    (18, 12, 4, 'tf32'): ('rows', (2,), 16, 1),
    (18, 12, 4, 'bf16'): ('rows', (2,), 16, 1),
    (18, 24, 3, 'fp32'): ('rows', (2,), 32, 1),
    (18, 24, 3, 'tf32'): ('rows', (2,), 32, 1),
    (18, 24, 3, 'bf16'): ('rows', (2,), 32, 1),
    (18, 24, 4, 'fp32'): ('rows', (2,), 32, 1),
    (18, 24, 4, 'tf32'): ('rows', (2,), 32, 1),
    (18, 24, 4, 'bf16'): ('rows', (2,), 32, 1),
    (40, 40, 3, 'fp32'): ('rows', (3,), 64, 1),
    (40, 40, 3, 'tf32'): ('rows', (3,), 64, 1),
    (40, 40, 3, 'bf16'): ('rows', (3,), 64, 1),
    (40, 40, 4, 'fp32'): ('rows', (3,), 64, 1),
    (40, 40, 4, 'tf32'): ('rows', (3,), 64, 1),
    (40, 40, 4, 'bf16'): ('rows', (3,), 64, 1),
    (40, 12, 3, 'fp32'): ('rows', (3,), 16, 1),
    (40, 12, 3, 'tf32'): ('rows', (3,), 16, 1),
    (40, 12, 3, 'bf16'): ('rows', (3,), 16, 1),
    (40, 12, 4, 'fp32'): ('rows', (3,), 16, 1),
    (40, 12, 4, 'tf32'): ('rows', (3,), 16, 1),
    (40, 12, 4, 'bf16'): ('rows', (3,), 16, 1),
    (5, 20, 3, 'fp32'): ('rows', (1,), 32, 1),
    (5, 20, 3, 'tf32'): ('rows', (1,), 32, 1),
    (5, 20, 3, 'bf16'): ('rows', (1,), 32, 1),
    (5, 20, 4, 'fp32'): ('rows', (1,), 32, 1),
    (5, 20, 4, 'tf32'): ('rows', (1,), 32, 1),
    (5, 20, 4, 'bf16'): ('rows', (1,), 32, 1),
    (3, 4, 3, 'fp32'): ('rows', (1,), 16, 1),
    (3, 4, 3, 'tf32'): ('rows', (1,), 16, 1),
    (3, 4, 3, 'bf16'): ('rows', (1,), 16, 1),
    (3, 4, 4, 'fp32'): ('rows', (1,), 16, 1),
    (3, 4, 4, 'tf32'): ('rows', (1,), 16, 1),
    (3, 4, 4, 'bf16'): ('rows', (1,), 16, 1),
    (17, 20, 3, 'fp32'): ('rows', (2,), 32, 1),
    (17, 20, 3, 'tf32'): ('rows', (2,), 32, 1),
    (17, 20, 3, 'bf16'): ('rows', (2,), 32, 1),
    (17, 20, 4, 'fp32'): ('rows', (2,), 32, 1),
    (17, 20, 4, 'tf32'): ('rows', (2,), 32, 1),
    (17, 20, 4, 'bf16'): ('rows', (2,), 32, 1),
    (40, 256, 3, 'fp32'): ('split', (3, 16), 16, 1, 256, 64, False, False),
    (40, 256, 3, 'tf32'): ('split', (3, 16), 16, 1, 256, 64, False, False),
    (40, 256, 3, 'bf16'): ('split', (3, 16), 16, 1, 256, 64, False, False),
    (40, 256, 4, 'fp32'): ('split', (3, 16), 16, 1, 256, 64, False, False),
    (40, 256, 4, 'tf32'): ('split', (3, 16), 16, 1, 256, 64, False, False),
    (40, 256, 4, 'bf16'): ('split', (3, 16), 16, 1, 256, 64, False, False),
    (64, 256, 3, 'fp32'): ('split', (4, 16), 16, 1, 256, 64, False, False),
    (64, 256, 3, 'tf32'): ('split', (4, 16), 16, 1, 256, 64, False, False),
    (64, 256, 3, 'bf16'): ('split', (4, 16), 16, 1, 256, 64, False, False),
    (64, 256, 4, 'fp32'): ('split', (4, 16), 16, 1, 256, 64, False, False),
    (64, 256, 4, 'tf32'): ('split', (4, 16), 16, 1, 256, 64, False, False),
    (64, 256, 4, 'bf16'): ('split', (4, 16), 16, 1, 256, 64, False, False),
    (144, 256, 3, 'fp32'): ('split', (9, 8), 32, 1, 256, 64, False, False),
    (144, 256, 3, 'tf32'): ('split', (9, 8), 32, 1, 256, 64, False, False),
    (144, 256, 3, 'bf16'): ('split', (9, 8), 32, 1, 256, 64, False, False),
    (144, 256, 4, 'fp32'): ('split', (5, 16), 16, 2, 256, 64, False, False),
    (144, 256, 4, 'tf32'): ('split', (5, 16), 16, 2, 256, 64, False, False),
    (144, 256, 4, 'bf16'): ('split', (9, 8), 32, 1, 256, 64, False, False),
    (64, 500, 3, 'fp32'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (64, 500, 3, 'tf32'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (64, 500, 3, 'bf16'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (64, 500, 4, 'fp32'): ('split', (4, 8), 64, 1, 512, 64, False, True),
    (64, 500, 4, 'tf32'): ('split', (4, 8), 64, 1, 512, 64, False, True),
    (64, 500, 4, 'bf16'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (80, 500, 3, 'fp32'): ('split', (3, 32), 16, 2, 512, 64, False, False),
    (80, 500, 3, 'tf32'): ('split', (3, 32), 16, 2, 512, 64, False, False),
    (80, 500, 3, 'bf16'): ('split', (5, 16), 32, 1, 512, 64, False, False),
    (80, 500, 4, 'fp32'): ('split', (3, 32), 16, 2, 512, 64, False, True),
    (80, 500, 4, 'tf32'): ('split', (3, 32), 16, 2, 512, 64, False, True),
    (80, 500, 4, 'bf16'): ('split', (3, 32), 16, 2, 512, 64, False, False),
    (1040, 500, 3, 'fp32'): ('rows', (65,), 64, 8),
    (1040, 500, 3, 'tf32'): ('rows', (65,), 64, 8),
    (1040, 500, 3, 'bf16'): ('rows', (65,), 64, 8),
    (1040, 500, 4, 'fp32'): ('split', (8, 16), 32, 9, 512, 64, False, True),
    (1040, 500, 4, 'tf32'): ('split', (8, 16), 32, 9, 512, 64, False, True),
    (1040, 500, 4, 'bf16'): ('rows', (65,), 64, 8),
    (64, 1024, 3, 'fp32'): ('split', (2, 64), 16, 2, 1024, 64, False, True),
    (64, 1024, 3, 'tf32'): ('split', (2, 64), 16, 2, 1024, 64, False, True),
    (64, 1024, 3, 'bf16'): ('split', (2, 64), 16, 2, 1024, 64, False, True),
    (64, 1024, 4, 'fp32'): ('split', (2, 64), 16, 2, 1024, 64, False, True),
    (64, 1024, 4, 'tf32'): ('split', (2, 64), 16, 2, 1024, 64, False, True),
    (64, 1024, 4, 'bf16'): ('split', (2, 64), 16, 2, 1024, 64, False, True),
    (64, 512, 3, 'fp32'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (64, 512, 3, 'tf32'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (64, 512, 3, 'bf16'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (64, 512, 4, 'fp32'): ('split', (4, 8), 64, 1, 512, 64, False, True),
    (64, 512, 4, 'tf32'): ('split', (4, 8), 64, 1, 512, 64, False, True),
    (64, 512, 4, 'bf16'): ('split', (4, 32), 16, 1, 512, 64, False, False),
    (32, 64, 3, 'fp32'): ('rows', (2,), 64, 1),
    (32, 64, 3, 'tf32'): ('rows', (2,), 64, 1),
    (32, 64, 3, 'bf16'): ('rows', (2,), 64, 1),
    (32, 64, 4, 'fp32'): ('rows', (2,), 64, 1),
    (32, 64, 4, 'tf32'): ('rows', (2,), 64, 1),
    (32, 64, 4, 'bf16'): ('rows', (2,), 64, 1),
    (16, 256, 3, 'fp32'): ('split', (1, 16), 16, 1, 256, 64, False, False),
    (16, 256, 3, 'tf32'): ('split', (1, 16), 16, 1, 256, 64, False, False),
    (16, 256, 3, 'bf16'): ('split', (1, 16), 16, 1, 256, 64, False, False),
    (16, 256, 4, 'fp32'): ('split', (1, 16), 16, 1, 256, 64, False, False),
    (16, 256, 4, 'tf32'): ('split', (1, 16), 16, 1, 256, 64, False, False),
    (16, 256, 4, 'bf16'): ('split', (1, 16), 16, 1, 256, 64, False, False),
    (256, 1024, 3, 'fp32'): ('split', (4, 32), 32, 4, 1024, 64, False, True),
    (256, 1024, 3, 'tf32'): ('split', (4, 32), 32, 4, 1024, 64, False, True),
    (256, 1024, 3, 'bf16'): ('split', (4, 32), 32, 4, 1024, 64, False, True),
    (256, 1024, 4, 'fp32'): ('split', (2, 64), 16, 8, 1024, 64, False, True),
    (256, 1024, 4, 'tf32'): ('split', (2, 64), 16, 8, 1024, 64, False, True),
    (256, 1024, 4, 'bf16'): ('split', (4, 32), 32, 4, 1024, 64, False, True),
    (20, 48, 3, 'fp32'): ('rows', (2,), 64, 1),
    (20, 48, 3, 'tf32'): ('rows', (2,), 64, 1),
    (20, 48, 3, 'bf16'): ('rows', (2,), 64, 1),
    (20, 48, 4, 'fp32'): ('rows', (2,), 64, 1),
    (20, 48, 4, 'tf32'): ('rows', (2,), 64, 1),
    (20, 48, 4, 'bf16'): ('rows', (2,), 64, 1),
    (20, 200, 3, 'fp32'): ('split', (2, 13), 16, 1, 256, 64, False, False),
    (20, 200, 3, 'tf32'): ('split', (2, 13), 16, 1, 256, 64, False, False),
    (20, 200, 3, 'bf16'): ('split', (2, 13), 16, 1, 256, 64, False, False),
    (20, 200, 4, 'fp32'): ('split', (2, 13), 16, 1, 256, 64, False, False),
    (20, 200, 4, 'tf32'): ('split', (2, 13), 16, 1, 256, 64, False, False),
    (20, 200, 4, 'bf16'): ('split', (2, 13), 16, 1, 256, 64, False, False),
    (20, 512, 3, 'fp32'): ('split', (2, 32), 16, 1, 512, 64, False, False),
    (20, 512, 3, 'tf32'): ('split', (2, 32), 16, 1, 512, 64, False, False),
    (20, 512, 3, 'bf16'): ('split', (2, 32), 16, 1, 512, 64, False, False),
    (20, 512, 4, 'fp32'): ('split', (2, 8), 64, 1, 512, 64, False, True),
    (20, 512, 4, 'tf32'): ('split', (2, 8), 64, 1, 512, 64, False, True),
    (20, 512, 4, 'bf16'): ('split', (2, 32), 16, 1, 512, 64, False, False),
}

TARGETS = {"fp32": Target(True, 132, True, tl.float32, "ieee", False),
           "tf32": Target(True, 132, True, tl.float32, "tf32", False),
           "bf16": Target(True, 132, False, tl.bfloat16, "ieee", False)}


def _summary(batch, hidden, gates, prec, settings):
    tgt = TARGETS[prec]
    plan = _triton.choose_split(settings, tgt, batch, hidden, gates) or \
        _triton.rows_plan(settings, tgt, batch, hidden)
    m = plan.launch
    assert (m["BB"], m["num_warps"], m["DOT"], m["PREC"]) == (16, 8, tgt.dot, tgt.precision)
    if plan.kind == "rows":
        return ("rows", plan.grid, m["BH"], m["NB"])
    assert m["PREFETCH"] and plan.one_launch and plan.spin_limit == 1 << 24
    return ("split", plan.grid, m["BH"], m["NBJ"], m["HP"], m["KC"], m["SUM"], m["STREAM"])


@pytest.mark.parametrize("prec", ["fp32", "tf32", "bf16"])
def test_default_settings_choose_the_plans_of_before_on_cuda(prec):
    settings = TritonSettings()
    got = {k: _summary(*k, settings) for k in BEFORE if k[3] == prec}
    want = {k: v for k, v in BEFORE.items() if k[3] == prec}
    assert got == want


def test_plan_on_cpu_tensors():
    """On the CPU (under the interpreter) the defaults keep the row kernels; split=True
    takes the split-H ones where they fit, phase by phase where programs share a block."""
    x = torch.zeros(17, 3, 2)
    assert _triton.target(x).sms == 132 and not _triton.target(x).cuda
    assert _triton.plan(x, 40, 3).kind == "rows"
    plan = _triton.plan(x, 40, 3, TritonSettings(split=True))
    assert plan.kind == "split" and plan.grid == (2, 3)
    assert plan.one_launch is not _triton.interpreting()
    assert _triton.scan_plan(x, 40).grid == (17, 2)
    assert _triton.scan_plan(x, 40).launch == dict(CT=16, BH=32, num_warps=4)


def test_tf32x3_only_replaces_exact_fp32_dots_on_a_gpu():
    """tf32x3=True turns the exact-fp32 dots of a GPU plan into three-TF32 products; TF32,
    bf16, the interpreter and the default settings keep their precision."""
    on = TritonSettings(tf32x3=True, split_sum=False)
    for prec, want in (("fp32", "tf32x3"), ("tf32", "tf32"), ("bf16", "ieee")):
        tgt = TARGETS[prec]
        assert _triton.precision(on, tgt) == want
        assert _triton.precision(TritonSettings(), tgt) == tgt.precision
        split = _triton.choose_split(on, tgt, 64, 256, 3)
        assert split.launch["PREC"] == want and split.launch["SUM"] is False
        assert _triton.rows_plan(on, tgt, 64, 256).launch["PREC"] == want
    cpu = Target(False, 132, True, tl.float32, "ieee", True)
    assert _triton.precision(on, cpu) == "ieee"
    with pytest.raises(ValueError, match="tf32x3 must be True or False"):
        TritonSettings(tf32x3=1)

"""What the Triton kernels share: when they can serve a call, block sizes, dot precision and
the gradient GEMMs after a backward kernel (the jitted helpers are in ``_triton_lang``).

triton is imported only when a Triton kernel module is first used (``grukit.ops.*.triton``),
so ``import grukit`` and the CPU backends never load it. The kernels run on CUDA tensors; on
CPU tensors only under Triton's interpreter (``TRITON_INTERPRET=1``, read by triton when a
kernel module is imported), which is how the test suite checks them without a GPU.

Plan shared by every recurrence (B batch, T steps, H hidden, G gates):

- the input projection of all steps is one torch GEMM outside the kernel: gi (B, T, G·H);
- ONE launch loops over all T steps. Each program owns ``block_b`` batch rows and all H
  units, so programs never wait for one another; within a step it walks the hidden units in
  blocks of at most ``max_block_h`` and exchanges the state through a double-buffered fp32 scratch
  (2, B, H) with a block-level barrier between steps;
- when H fits one block the recurrent weights are loaded into registers once, before the
  time loop; above that they are streamed per step from L2 (the whole W_hh of H = 1024 in
  fp32 is 12 MB, beyond any one SM);
- except where ``split_plan`` fits (GRU and LSTM on CUDA for H > 64, one program an SM): there
  several programs share a batch block, each owning BH units and keeping its slice of W_hh
  on chip for the whole sequence, and they meet at a counter barrier every step
  (``gru/triton_split.py``, ``lstm/triton_split.py``);
- backward walks time in reverse in one launch, writing dgi (B, T, G·H); the weight
  gradients are single GEMMs in torch afterwards.

Kernel settings are data: a frozen ``TritonSettings`` (``_triton_settings``, checked when built),
active for a block of code through ``triton_settings(...)`` (a context variable: per thread
and per task) or passed as ``settings=`` to a backend function. Forward turns them into a
frozen ``Plan`` once per call (which kernels, grid, constexprs, barrier budget) and keeps it
on the autograd context, so backward launches what forward chose, whatever the settings are
when it runs (on CUDA, autograd runs backward on a thread of its own).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from dataclasses import dataclass

import torch
from torch import Tensor

from ._fused import transform_why_not
from ._triton_settings import (  # noqa: F401 - the settings' names, used here and re-exported
    DEFAULTS,
    TritonSettings,
    current_settings,
    resolve,
    triton_settings,
)

log = logging.getLogger(__name__)
DTYPES = (torch.float32, torch.bfloat16)
@dataclass(frozen=True)
class Target:
    """What a plan depends on besides the settings and the shape: the device and dtype."""

    cuda: bool  # kernels compiled for a GPU (else the interpreter on CPU tensors)
    sms: int  # streaming multiprocessors (132 stands in on the CPU)
    float32: bool
    dot: object  # tl.dot operand type (a triton.language dtype)
    precision: str  # tl.dot input_precision: "ieee" or "tf32"
    interpreted: bool


def target(x: Tensor) -> Target:
    """The Target of a call on x."""
    sms = torch.cuda.get_device_properties(x.device).multi_processor_count if x.is_cuda \
        else 132
    return Target(x.is_cuda, sms, x.dtype == torch.float32, dot_dtype(x), dot_precision(x),
                  interpreting())


@dataclass(frozen=True)
class Plan:
    """How one call runs, chosen once in forward and kept for backward.

    kind: "rows" (a program per batch block: ``*/triton.py``), "split" (split-H kernels)
    or "scan" (minGRU); grid: the launch grid; meta: the launches' constexprs and
    num_warps as (name, value) pairs (``launch`` gives them as a dict); one_launch: split-H
    steps in one launch through barriers; spin_limit: the barriers' poll budget."""

    kind: str
    grid: tuple[int, ...]
    meta: tuple[tuple[str, object], ...]
    one_launch: bool = True
    spin_limit: int = 0

    @property
    def launch(self) -> dict:
        return dict(self.meta)


def interpreting() -> bool:
    """True when Triton's interpreter is switched on (``TRITON_INTERPRET=1``)."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


@functools.cache
def _triton_missing() -> str | None:
    try:
        import triton  # noqa: F401
    except ImportError as err:
        return f"triton cannot be imported ({err}); pip install triton."
    return None


def _compiled_for_gpu() -> bool:
    """A kernel module imported before TRITON_INTERPRET=1 was set holds GPU kernels."""
    mods = [sys.modules.get(f"grukit.ops.{op}.triton") for op in ("gru", "lstm", "mingru",
                                                                  "lngru")]
    return any(m is not None and not m.INTERPRETED for m in mods)


def why_not(x: Tensor, state_mask: Tensor | None = None, h0: object = None,
            **_: object) -> str | None:
    """None when the Triton kernels can serve a call on x, else the reason.

    ``backend="auto"`` tries this backend after the CPU ones, so it never takes CPU tensors
    (the cpu backend serves float32 and float64 there; bfloat16 on the CPU is declined here).
    """
    if state_mask is not None:
        return "state_mask (recurrent dropout) is served by the reference only."
    if x.device.type == "cpu":
        if not interpreting():
            return (f"x is on {x.device}; the triton backend serves CUDA tensors (CPU tensors "
                    f"only under the Triton interpreter, TRITON_INTERPRET=1).")
        if x.dtype != torch.float32:
            return (f"x is {x.dtype} on the CPU; under the Triton interpreter the triton "
                    f"backend serves float32 only (bfloat16 runs on CUDA).")
        if _compiled_for_gpu():
            return ("the Triton kernels were loaded for the GPU before TRITON_INTERPRET=1 "
                    "was set; set it before the first call to run them on the CPU.")
    elif x.device.type != "cuda":
        return f"x is on {x.device}; the triton backend serves CUDA tensors only."
    if x.dtype not in DTYPES:
        return f"x is {x.dtype}; the triton backend serves float32 and bfloat16."
    if x.shape[1] == 0 or x.shape[0] == 0:
        return "x has no time steps or no sequences; nothing to fuse."
    state = h0[-1] if isinstance(h0, (tuple, list)) else h0  # (B, H): the LSTM's c
    hidden = state.shape[-1] if isinstance(state, Tensor) else 0
    if x.shape[1] * 5 * hidden >= 2**31:  # a row of the saved gates: T·5H values
        return (f"x has {x.shape[1]} steps of {hidden} units: a sequence's saved gates "
                f"(T·5H values) pass the kernels' int32 offsets; split the sequence.")
    return transform_why_not() or _triton_missing()


def why_not_one_block(x: Tensor, h0: object = None, settings: TritonSettings | None = None,
                      **call: object) -> str | None:
    """``why_not`` of the kernels that hold all H units of a row in one block (the
    LayerNorm-GRU's: its normalisation needs a step's whole row at once)."""
    hidden = h0.shape[-1] if isinstance(h0, Tensor) else 0
    reason = why_not(x, h0=h0, **call) or one_block_limit(hidden, settings)
    if reason is None and x.shape[1] * 7 * hidden >= 2**31:  # a row of the saved values
        reason = (f"x has {x.shape[1]} steps of {hidden} units: a sequence's saved values "
                  f"(T·7H) pass the kernel's int32 offsets; split the sequence.")
    return reason


def one_block_limit(hidden: int, settings: TritonSettings | None = None) -> str | None:
    """Why ``hidden`` units do not fit the one block of such a kernel, or None."""
    most = resolve(settings).max_block_h
    if hidden <= most:
        return None
    return (f"h0 has {hidden} units, and this Triton kernel holds all the units of a row in "
            f"one block of at most max_block_h = {most} (TritonSettings); use backend='cpu' "
            f"for CPU tensors, else 'reference'.")


def block_h(hidden: int, most: int = 64) -> int:
    """Hidden units per block of the row kernels: a power of two in [16, most]."""
    return max(16, min(1 << (hidden - 1).bit_length(), most))


def plan(x: Tensor, hidden: int, gates: int, settings: TritonSettings | None = None) -> Plan:
    """The plan of a GRU/LSTM call on x with ``hidden`` units and ``gates`` gate blocks:
    the split-H kernels where ``split_plan`` gives one, else a program per batch block."""
    s = resolve(settings)
    tgt = target(x)
    return choose_split(s, tgt, x.shape[0], hidden, gates) or rows_plan(s, tgt, x.shape[0],
                                                                        hidden)


def rows_plan(s: TritonSettings, tgt: Target, batch: int, hidden: int) -> Plan:
    """A program per batch block of ``block_b`` rows, H in blocks of at most max_block_h."""
    bh = block_h(hidden, s.max_block_h)
    meta = dict(BB=s.block_b, BH=bh, NB=(hidden + bh - 1) // bh, DOT=tgt.dot,
                PREC=precision(s, tgt), num_warps=s.num_warps)
    return Plan("rows", ((batch + s.block_b - 1) // s.block_b,), tuple(meta.items()))


def scan_plan(x: Tensor, hidden: int, settings: TritonSettings | None = None) -> Plan:
    """minGRU's scan: a program per sequence and ``scan_block_h`` units."""
    s = resolve(settings)
    meta = dict(CT=s.scan_block_t, BH=s.scan_block_h, num_warps=s.scan_warps)
    return Plan("scan", (x.shape[0], (hidden + s.scan_block_h - 1) // s.scan_block_h),
                tuple(meta.items()))


def split_plan(x: Tensor, hidden: int, gates: int,
               settings: TritonSettings | None = None) -> Plan | None:
    """The split-H plan of a call on x (see ``choose_split``), or None."""
    return choose_split(resolve(settings), target(x), x.shape[0], hidden, gates)


def choose_split(s: TritonSettings, tgt: Target, batch: int, hidden: int,
                 gates: int) -> Plan | None:
    """The split-H plan, or None where the kernels with one program per batch block serve.

    The grid (groups, ⌈H/BH⌉) must be resident at once (the programs wait for one another),
    so it has at most one program per SM (split_max_programs, default the GPU's SM count);
    a group serves NBJ ≤ split_max_blocks batch blocks of split_block_b rows one after
    another within each step. Where its weight slice (gates × HP × BH, HP = H padded to a
    power of two ≤ split_max_hp) fits split_w_bytes, a program holds it for the whole
    sequence, BH the smallest of 16, 32, 64 that needs one block a group if any does, else
    the smallest that fits; otherwise (or with split_stream) it reads the slice in chunks of
    split_kc every step, BH chosen for the least L2 traffic a step (weights once a group,
    the state once a program and block)."""
    if s.split is False or (s.split is None and (not tgt.cuda or hidden <= s.max_block_h)):
        return None
    most = s.split_max_programs or tgt.sms
    exact = bool(s.split_sum)
    elt = 4 if exact or tgt.dot.primitive_bitwidth == 32 else 2  # weight bytes as held
    hp = max(16, 1 << (hidden - 1).bit_length())
    bb = s.split_block_b
    nbb = (batch + bb - 1) // bb  # batch blocks

    def ns(bh: int) -> int:
        return (hidden + bh - 1) // bh

    def traffic(bh: int) -> int:  # bytes read from L2 a step, streamed weights
        return min(most // ns(bh), nbb) * gates * hidden * hidden * elt + \
            ns(bh) * nbb * bb * hidden * 4

    sizes = [bh for bh in ((s.split_bh,) if s.split_bh else (16, 32, 64)) if ns(bh) <= most]
    held = [bh for bh in sizes if hp <= s.split_max_hp and gates * hp * bh * elt
            <= s.split_w_bytes]
    stream = s.split_stream if s.split_stream is not None else not held
    if not sizes or not (stream or held):
        return None
    bh = min(sizes, key=traffic) if stream else \
        next((b for b in held if nbb * ns(b) <= most), held[0])
    groups = min(most // ns(bh), nbb)
    nbj = (nbb + groups - 1) // groups  # batch blocks a group
    if nbj > s.split_max_blocks:
        return None
    grid = ((nbb + nbj - 1) // nbj, ns(bh))
    one = s.split_one_launch if s.split_one_launch is not None else (
        not tgt.interpreted or grid[1] == 1)
    meta = dict(BB=bb, NBJ=nbj, BH=bh, HP=hp, DOT=tgt.dot, PREC=precision(s, tgt), SUM=exact,
                PREFETCH=s.split_prefetch, KC=min(s.split_kc, hp), STREAM=stream,
                num_warps=s.num_warps)
    return Plan("split", grid, tuple(meta.items()), one, s.spin_limit)


def run_split(kernel, plan: Plan, tensors: tuple, dims: tuple, phases: int, kw: dict,
              name: str) -> None:
    """Launch a split-H ``kernel`` over all T = dims[1] steps: once (PHASE=0) where
    ``plan.one_launch``, else phase by phase and step by step (PHASE=1..phases, a launch
    boundary for each barrier). Its trailing arguments are (sync, *dims, t0, t1, limit)."""
    grid, meta = plan.grid, plan.launch
    steps = dims[1]
    sync = torch.zeros(grid[0] + 1, dtype=torch.int32, device=tensors[0].device)  # (nbb + 1,)
    if plan.one_launch:
        kernel[grid](*tensors, sync, *dims, 0, steps, plan.spin_limit, PHASE=0, **kw, **meta)
        check_barriers(sync, name, plan.spin_limit)
        return
    for t in range(steps):
        for phase in range(1, phases + 1):
            kernel[grid](*tensors, sync, *dims, t, t + 1, 0, PHASE=phase, **kw, **meta)


def check_barriers(sync: Tensor, kernel: str, limit: int) -> None:
    """Raise if a split-H launch gave up waiting at a barrier (flag sync[-1]); logs the
    counters at DEBUG level."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("%s: barrier counters and flag %s", kernel, sync.tolist())
    if int(sync[-1]) != 0:
        raise RuntimeError(
            f"{kernel}: the programs of a batch block did not all reach a step barrier "
            f"within {limit} polls, so the result was dropped; the GPU did not run the "
            f"whole grid at once (another process on it?). Run it within "
            f"grukit.ops.triton_settings(split=False) to use the kernels that do not wait.")


def dot_precision(x: Tensor) -> str:
    """The recurrent matmul's ``input_precision``: TF32 only where torch allows it for fp32
    matmuls (``torch.backends.cuda.matmul.allow_tf32`` or a float32 matmul precision other
    than "highest"), exact fp32 ("ieee") otherwise."""
    if x.dtype == torch.float32 and (torch.backends.cuda.matmul.allow_tf32
                                     or torch.get_float32_matmul_precision() != "highest"):
        return "tf32"
    return "ieee"


def precision(s: TritonSettings, tgt: Target) -> str:
    """The ``input_precision`` a plan's dots use: the target's, with exact fp32 on a GPU
    as three TF32 products where ``s.tf32x3`` asks for it."""
    if s.tf32x3 and tgt.precision == "ieee" and tgt.cuda and tgt.float32:
        return "tf32x3"
    return tgt.precision


def dot_dtype(x: Tensor):
    """Operand type of the recurrent tl.dot: bf16 operands (fp32 accumulate) for bf16 on
    CUDA; fp32 otherwise (Triton 3.9's interpreter gets bf16 dots wrong, so on the CPU the
    bf16 weights are widened to fp32)."""
    import triton.language as tl

    return tl.bfloat16 if x.dtype == torch.bfloat16 and x.is_cuda else tl.float32


def lens_tensor(lengths: Tensor | None, batch: int, steps: int, device) -> Tensor:
    """(B,) int32 lengths on the kernel's device (all T when None)."""
    if lengths is None:
        return torch.full((batch,), steps, dtype=torch.int32, device=device)
    return lengths.to(device=device, dtype=torch.int32)


def input_grads(ctx, dg: Tensor, x: Tensor, w_ih: Tensor, has_bias: bool):
    """dx, dW_ih, db_ih from dgi (B·T, G·H) fp32 = ∂L/∂(W_ih x + b_ih): single GEMMs."""
    dx = None
    if ctx.needs_input_grad[0]:
        dx = (dg @ w_ih.detach().float()).reshape(x.shape).to(x.dtype)  # (B, T, I)
    dw_ih = (dg.t() @ x.detach().reshape(-1, x.shape[2]).float()).to(w_ih.dtype)  # (G·H, I)
    db_ih = dg.sum(0).to(w_ih.dtype) if has_bias else None
    return dx, dw_ih, db_ih


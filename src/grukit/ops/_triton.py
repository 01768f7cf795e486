"""What the Triton kernels share: when they can serve a call, block sizes, dot precision and
the gradient GEMMs after a backward kernel (the jitted helpers are in ``_triton_lang``).

triton is imported only when a Triton kernel module is first used (``grukit.ops.*.triton``),
so ``import grukit`` and the CPU backends never load it. The kernels run on CUDA tensors; on
CPU tensors only under Triton's interpreter (``TRITON_INTERPRET=1``, read by triton when a
kernel module is imported), which is how the test suite checks them without a GPU.

Plan shared by every recurrence (B batch, T steps, H hidden, G gates):

- the input projection of all steps is one torch GEMM outside the kernel: gi (B, T, G·H);
- ONE launch loops over all T steps. Each program owns ``BLOCK_B`` batch rows and all H
  units, so programs never wait for one another; within a step it walks the hidden units in
  blocks of ``BLOCK_H`` and exchanges the state through a double-buffered fp32 scratch
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
"""

from __future__ import annotations

import functools
import os
import sys

import torch
from torch import Tensor

DTYPES = (torch.float32, torch.bfloat16)
BLOCK_B = 16  # batch rows per program; tl.dot needs M >= 16 (padded rows are masked)
MAX_BLOCK_H = 64  # hidden units per block (N and K of each tl.dot; >= 16)
# Warps per program of the recurrences. With 4, ptxas spills: compiled for sm_90 the fp32
# GRU/LSTM kernels keep 0.6-8 KB a thread on the stack (the LSTM forward with resident
# weights 8 KB), with 8 at most 1.8 KB and none for TF32 with resident weights
# (tests/ops/triton_gpu_compile.py prints the registers and stack of every launch).
# bench_gpu.py --num-warps times the choices on a GPU.
NUM_WARPS = 8
SCAN_WARPS = 4  # minGRU's chunked scan: 38-72 registers, no stack at 4

# Split-H kernels (``*/triton_split.py``): a program owns SPLIT_BLOCK_B rows × BH units and
# keeps its slice of W_hh on chip for the whole sequence; the programs of a batch block
# exchange the state through L2 and meet at a counter barrier every step.
SPLIT: bool | None = None  # None: on CUDA for H > MAX_BLOCK_H where a plan fits; True:
#                            wherever it fits (CPU under the interpreter too); False: never
SPLIT_BLOCK_B = 16  # rows per program (tl.dot's M >= 16)
SPLIT_W_BYTES = 96 * 1024  # most weight bytes a program holds (all gates of its units)
SPLIT_SUM: bool | None = None  # exact fp32 as multiply + sum; None: for exact fp32 on CUDA
SPLIT_STREAM: bool | None = None  # weights read every step: None where they do not fit
SPLIT_KC = 64  # K chunk of the streamed products
SPLIT_BH: int | None = None  # units a program (16, 32 or 64); None: split_plan's choice
SPLIT_PREFETCH = True  # read the next step's inputs while a barrier waits (one block)
SPLIT_MAX_PROGRAMS: int | None = None  # programs at once; None: the GPU's SMs (CPU: 132)
SPLIT_MAX_BLOCKS = 16  # batch blocks a program serves one after another, at most
# H padded, at most: a program holds a (16, HP) state tile and its weights in registers.
# Compiled for sm_90 at HP = 1024 the kernels asked for 230-490 KB of shared memory (over
# the SM's 227 KB) and spilled 1.4-7 KB a thread; at 512, 80-98 KB and under 150 B.
SPLIT_MAX_HP = 512
SPIN_LIMIT = 1 << 24  # barrier polls (~1 µs each) before a call is failed, not hung


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
    mods = [sys.modules.get(f"grukit.ops.{op}.triton") for op in ("gru", "lstm", "mingru")]
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
    return _triton_missing()


def block_h(hidden: int) -> int:
    """Hidden units per block: a power of two in [16, MAX_BLOCK_H]."""
    return max(16, min(1 << (hidden - 1).bit_length(), MAX_BLOCK_H))


def launch_args(x: Tensor, hidden: int) -> dict:
    """The recurrent kernels' block sizes and dot settings for x and ``hidden`` units."""
    bh = block_h(hidden)
    return dict(BB=BLOCK_B, BH=bh, NB=(hidden + bh - 1) // bh, DOT=dot_dtype(x),
                PREC=dot_precision(x), num_warps=NUM_WARPS)


def split_plan(x: Tensor, hidden: int, gates: int) -> tuple[tuple[int, int], dict] | None:
    """(grid, launch settings) of the split-H kernels for x, or None where the kernels with
    one program per batch block serve the call.

    The grid (groups, ⌈H/BH⌉) must be resident at once (the programs wait for one another),
    so it has at most one program per SM (SPLIT_MAX_PROGRAMS, default the GPU's SM count);
    a group serves NBJ ≤ SPLIT_MAX_BLOCKS batch blocks of SPLIT_BLOCK_B rows one after
    another within each step. Where its weight slice (gates × HP × BH, HP = H padded to a
    power of two ≤ SPLIT_MAX_HP) fits SPLIT_W_BYTES, a program holds it for the whole
    sequence, BH the smallest of 16, 32, 64 that needs one block a group if any does, else
    the smallest that fits; otherwise (or with SPLIT_STREAM) it reads the slice in chunks of
    SPLIT_KC every step, BH chosen for the least L2 traffic a step (weights once a group,
    the state once a program and block)."""
    if SPLIT is False or (SPLIT is None and (not x.is_cuda or hidden <= MAX_BLOCK_H)):
        return None
    for name, value in (("SPLIT_KC", SPLIT_KC), ("SPLIT_BH", SPLIT_BH or 16)):
        if value not in (16, 32, 64, 128, 256, 512):
            raise ValueError(f"grukit.ops._triton.{name} = {value}: it must be a power of two "
                             f"from 16 to 512 (tl.dot's smallest side is 16).")
    most = SPLIT_MAX_PROGRAMS or (torch.cuda.get_device_properties(x.device)
                                  .multi_processor_count if x.is_cuda else 132)
    prec = dot_precision(x)
    exact = SPLIT_SUM if SPLIT_SUM is not None else (prec == "ieee" and x.is_cuda
                                                     and x.dtype == torch.float32)
    dot = dot_dtype(x)
    elt = 4 if exact or dot.primitive_bitwidth == 32 else 2  # weight bytes as held
    hp = max(16, 1 << (hidden - 1).bit_length())
    nbb = (x.shape[0] + SPLIT_BLOCK_B - 1) // SPLIT_BLOCK_B  # batch blocks

    def ns(bh: int) -> int:
        return (hidden + bh - 1) // bh

    def traffic(bh: int) -> int:  # bytes read from L2 a step, streamed weights
        return min(most // ns(bh), nbb) * gates * hidden * hidden * elt + \
            ns(bh) * nbb * SPLIT_BLOCK_B * hidden * 4

    sizes = [bh for bh in ((SPLIT_BH,) if SPLIT_BH else (16, 32, 64)) if ns(bh) <= most]
    held = [bh for bh in sizes if hp <= SPLIT_MAX_HP and gates * hp * bh * elt <= SPLIT_W_BYTES]
    stream = SPLIT_STREAM if SPLIT_STREAM is not None else not held
    if not sizes or not (stream or held):
        return None
    bh = min(sizes, key=traffic) if stream else \
        next((b for b in held if nbb * ns(b) <= most), held[0])
    groups = min(most // ns(bh), nbb)
    nbj = (nbb + groups - 1) // groups  # batch blocks a group
    if nbj > SPLIT_MAX_BLOCKS:
        return None
    return ((nbb + nbj - 1) // nbj, ns(bh)), dict(
        BB=SPLIT_BLOCK_B, NBJ=nbj, BH=bh, HP=hp, DOT=dot, PREC=prec, SUM=exact,
        PREFETCH=SPLIT_PREFETCH, KC=min(SPLIT_KC, hp), STREAM=stream, num_warps=NUM_WARPS)


def one_launch(grid: tuple[int, int]) -> bool:
    """All steps of a split-H kernel in one launch with barriers (PHASE=0): always on a GPU;
    under the interpreter, which runs a grid's programs one after another, only when a
    batch block has one program (its barriers open at once)."""
    return not interpreting() or grid[1] == 1


def run_split(kernel, plan, tensors: tuple, dims: tuple, phases: int, kw: dict,
              name: str) -> None:
    """Launch a split-H ``kernel`` over all T = dims[1] steps: once (PHASE=0), or phase by
    phase and step by step (PHASE=1..phases, a launch boundary for each barrier) where
    ``one_launch`` says no. Its trailing arguments are (sync, *dims, t0, t1, limit)."""
    grid, meta = plan
    steps = dims[1]
    sync = torch.zeros(grid[0] + 1, dtype=torch.int32, device=tensors[0].device)  # (nbb + 1,)
    if one_launch(grid):
        kernel[grid](*tensors, sync, *dims, 0, steps, SPIN_LIMIT, PHASE=0, **kw, **meta)
        check_barriers(sync, name)
        return
    for t in range(steps):
        for phase in range(1, phases + 1):
            kernel[grid](*tensors, sync, *dims, t, t + 1, 0, PHASE=phase, **kw, **meta)


def check_barriers(sync: Tensor, kernel: str) -> None:
    """Raise if a split-H launch gave up waiting at a barrier (flag sync[-1])."""
    if int(sync[-1]) != 0:
        raise RuntimeError(
            f"{kernel}: the programs of a batch block did not all reach a step barrier "
            f"within {SPIN_LIMIT} polls, so the result was dropped; the GPU did not run the "
            f"whole grid at once (another process on it?). Set "
            f"grukit.ops._triton.SPLIT = False to use the kernels that do not wait.")


def dot_precision(x: Tensor) -> str:
    """The recurrent matmul's ``input_precision``: TF32 only where torch allows it for fp32
    matmuls (``torch.backends.cuda.matmul.allow_tf32`` or a float32 matmul precision other
    than "highest"), exact fp32 ("ieee") otherwise."""
    if x.dtype == torch.float32 and (torch.backends.cuda.matmul.allow_tf32
                                     or torch.get_float32_matmul_precision() != "highest"):
        return "tf32"
    return "ieee"


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


def needs_grad(*tensors: Tensor | None) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def grid(batch: int) -> tuple[int]:
    return ((batch + BLOCK_B - 1) // BLOCK_B,)


def input_grads(ctx, dg: Tensor, x: Tensor, w_ih: Tensor, has_bias: bool):
    """dx, dW_ih, db_ih from dgi (B·T, G·H) fp32 = ∂L/∂(W_ih x + b_ih): single GEMMs."""
    dx = None
    if ctx.needs_input_grad[0]:
        dx = (dg @ w_ih.detach().float()).reshape(x.shape).to(x.dtype)  # (B, T, I)
    dw_ih = (dg.t() @ x.detach().reshape(-1, x.shape[2]).float()).to(w_ih.dtype)  # (G·H, I)
    db_ih = dg.sum(0).to(w_ih.dtype) if has_bias else None
    return dx, dw_ih, db_ih


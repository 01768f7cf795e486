"""Triton kernel settings as data: a frozen, checked ``TritonSettings`` (the defaults are what
a call gets), active for a block of code through ``triton_settings(...)`` (a context
variable: per thread and per task) or passed as ``settings=`` to a backend function."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

# settings that must be powers of two, with their least and greatest values
_POW2 = {"num_warps": (1, 32), "scan_warps": (1, 32), "scan_block_t": (2, 1024),
         "scan_block_h": (16, 1024), "block_b": (16, 128), "max_block_h": (16, 128),
         "split_block_b": (16, 128), "split_kc": (16, 512), "split_bh": (16, 512),
         "split_max_hp": (16, 1024)}


@dataclass(frozen=True)
class TritonSettings:
    """How grukit's Triton kernels run; the defaults are what a call gets.

    num_warps: warps a program of the recurrences. With 4, ptxas spills: compiled for sm_90
        the fp32 GRU/LSTM kernels keep 0.6-8 KB a thread on the stack, with 8 at most
        1.8 KB (``tests/ops/triton_gpu_compile.py`` prints them).
    scan_warps, scan_block_t, scan_block_h: minGRU's chunked scan (warps, steps a chunk,
        units a program; 38-72 registers and no stack at 4 warps).
    block_b: batch rows a program of the row kernels (tl.dot needs M >= 16).
    max_block_h: hidden units a block of the row kernels (N and K of each tl.dot).
    split: the split-H kernels (``*/triton_split.py``): None on CUDA for H > max_block_h
        where a plan fits; True wherever one fits (CPU under the interpreter too); False
        never.
    split_block_b: rows a split-H program.  split_w_bytes: most weight bytes it holds.
    split_sum: exact fp32 as multiply + sum with the weights in registers instead of an
        ``ieee`` ``tl.dot`` (None, the default: the dot, which on an H200 at the mid shape
        ran forward + backward 1.9x faster (19.9 vs 38.1 ms) with a deviation from the
        reference (2.9e-4) under cuDNN's own (6.0e-4); BENCHMARKS.md).
    split_stream: weights read every step (None: where they do not fit).
    split_kc: K chunk of the streamed products.  split_bh: units a program (None: the
        plan's choice of 16, 32, 64).
    split_prefetch: read the next step's inputs while a barrier waits (one batch block).
    split_max_programs: programs at once (None: the GPU's SMs; 132 on the CPU).
    split_max_blocks: batch blocks a program serves one after another, at most.
    split_max_hp: H padded, at most (a program holds a (16, HP) state tile and its weights
        in registers; at HP = 1024 the sm_90 kernels asked for 230-490 KB of shared memory).
    split_one_launch: all steps in one launch through the barriers (None: always on a GPU;
        under the interpreter, which runs programs one after another, only where a batch
        block has one program); False launches phase by phase and step by step.
    spin_limit: barrier polls (~1 µs each) before a call is failed, not hung.
    tf32x3: exact-fp32 ``tl.dot`` products (TF32 not allowed, fp32 on a GPU) as three TF32
        products (Triton's ``input_precision="tf32x3"``: a·b ≈ aₕbₕ + aₕbₗ + aₗbₕ with
        x = xₕ + xₗ split into TF32 parts; relative error near fp32's, on tensor cores)
        instead of ``"ieee"`` (fp32 FMAs). The split-H kernels use a dot unless
        ``split_sum=True``.
    """

    num_warps: int = 8
    scan_warps: int = 4
    scan_block_t: int = 16
    scan_block_h: int = 32
    block_b: int = 16
    max_block_h: int = 64
    split: bool | None = None
    split_block_b: int = 16
    split_w_bytes: int = 96 * 1024
    split_sum: bool | None = None
    split_stream: bool | None = None
    split_kc: int = 64
    split_bh: int | None = None
    split_prefetch: bool = True
    split_max_programs: int | None = None
    split_max_blocks: int = 16
    split_max_hp: int = 512
    split_one_launch: bool | None = None
    spin_limit: int = 1 << 24
    tf32x3: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v, name, kind = getattr(self, f.name), f.name, str(f.type)
            auto = " or None (auto)" if "None" in kind else ""
            if v is None and auto:
                continue
            if kind.startswith("bool") and not isinstance(v, bool):
                raise ValueError(f"TritonSettings({name}={v!r}): {name} must be True or "
                                 f"False{auto}.")
            if kind.startswith("int") and (isinstance(v, bool) or not isinstance(v, int)):
                raise ValueError(f"TritonSettings({name}={v!r}): {name} must be an integer"
                                 f"{auto}.")
            lo, hi = _POW2.get(name, (1, None))
            if hi is not None and (v & (v - 1) or not lo <= v <= hi):
                raise ValueError(f"TritonSettings({name}={v}): {name} must be a power of two "
                                 f"from {lo} to {hi}"
                                 f"{' (tl.dot sides are at least 16)' if lo == 16 else ''}.")
            if not kind.startswith("bool") and v < lo:
                raise ValueError(f"TritonSettings({name}={v}): {name} must be at least {lo}.")

    def replace(self, **changes: object) -> TritonSettings:
        """A copy with ``changes`` (checked like the constructor's arguments)."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"TritonSettings has no setting {unknown[0]!r}; the settings are "
                             f"{', '.join(sorted(names))}.")
        return dataclasses.replace(self, **changes)


DEFAULTS = TritonSettings()
_ACTIVE: contextvars.ContextVar[TritonSettings | None] = contextvars.ContextVar(
    "grukit_triton_settings", default=None)


def current_settings() -> TritonSettings:
    """The settings active here (``triton_settings``), the defaults outside any block."""
    return _ACTIVE.get() or DEFAULTS


@contextlib.contextmanager
def triton_settings(settings: TritonSettings | None = None,
                    **changes: object) -> Iterator[TritonSettings]:
    """Run the block with other Triton kernel settings: ``settings`` (default: those active
    now) with ``changes``, e.g. ``with triton_settings(split=False): gru(...)``. Per thread
    and per asyncio task (a context variable); blocks nest. Yields the settings."""
    base = current_settings() if settings is None else resolve(settings)
    token = _ACTIVE.set(base.replace(**changes) if changes else base)
    try:
        yield current_settings()
    finally:
        _ACTIVE.reset(token)


def resolve(settings: TritonSettings | None) -> TritonSettings:
    """``settings``, or the active ones for None; anything else refused in one sentence."""
    if settings is None:
        return current_settings()
    if not isinstance(settings, TritonSettings):
        raise TypeError(f"settings is a {type(settings).__name__}; pass a TritonSettings "
                        f"(or None for the active ones).")
    return settings

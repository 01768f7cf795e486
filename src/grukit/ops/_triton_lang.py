"""Jitted helpers shared by the Triton recurrences (imports triton: load it lazily).

Tiles are (BB, BH): BB batch rows of one program by BH hidden units; rows past B and
units past H are masked to zero, so H need not be a power of two.

The kernels call only triton.language builtins (``tl.full``, not the jitted ``tl.zeros``):
builtins follow TRITON_INTERPRET at kernel definition, jitted library functions at the
import of triton, which a test process may have done before switching the interpreter on.
"""

import triton
import triton.language as tl

# tl.sum's combine function, for the builtin tl.reduce: tl.sum itself is a jitted library
# function (see above), and the interpreter sums with numpy when it meets this combine.
_SUM = tl.standard._sum_combine


@triton.jit
def sigmoid(v):
    return 1.0 / (1.0 + tl.exp(-v))


@triton.jit
def tanh(v):  # odd, from e^{−2|v|} ∈ (0, 1]: no overflow, exact sign
    e = tl.exp(-2.0 * tl.abs(v))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(v < 0, -t, t)


@triton.jit
def load_rows(p, rows, rmask, ld, col0, cols, ncol):
    """(BB, BC) fp32 tile p[rows·ld + col0 + cols], zero outside (rows < B, cols < ncol)."""
    c = col0 + cols
    m = rmask[:, None] & (c[None, :] < ncol)
    return tl.load(p + rows[:, None] * ld + c[None, :], mask=m, other=0.0).to(tl.float32)


@triton.jit
def store_rows(p, v, rows, rmask, ld, col0, cols, ncol):
    c = col0 + cols
    m = rmask[:, None] & (c[None, :] < ncol)
    tl.store(p + rows[:, None] * ld + c[None, :], v.to(p.dtype.element_ty), mask=m)


@triton.jit
def w_tile(w, row0, n0, k0, H, cols, TRANS: tl.constexpr, DOT: tl.constexpr):
    """(BH, BH) tile of a (·, H) weight. TRANS=False: tile[k, n] = W[row0+n0+n, k0+k]
    (the right operand of h Wᵀ); TRANS=True: tile[m, n] = W[row0+k0+m, n0+n] (of d W)."""
    k = k0 + cols
    n = n0 + cols
    if TRANS:
        m = (k[:, None] < H) & (n[None, :] < H)
        t = tl.load(w + (row0 + k)[:, None] * H + n[None, :], mask=m, other=0.0)
    else:
        m = (k[:, None] < H) & (n[None, :] < H)
        t = tl.load(w + (row0 + n)[None, :] * H + k[:, None], mask=m, other=0.0)
    return t.to(DOT)


@triton.jit
def mm(acc, src, rows, rmask, ld, w, row0, n0, H, cols, BH: tl.constexpr,
       NB: tl.constexpr, TRANS: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """acc + src[rows, :H] @ (W[row0 + n0 + :BH, :]ᵀ, or W[row0 + :H, n0 + :BH] when
    TRANS), walking K in blocks of BH with the weight tiles streamed from memory."""
    for kb in range(NB):
        a = load_rows(src, rows, rmask, ld, kb * BH, cols, H)
        acc = tl.dot(a.to(DOT), w_tile(w, row0, n0, kb * BH, H, cols, TRANS, DOT), acc,
                     input_precision=PREC)
    return acc


@triton.jit
def resident(w, row0, H, cols, NB: tl.constexpr, TRANS: tl.constexpr, DOT: tl.constexpr):
    """The whole (H, H) gate block of W at row0 as one on-chip tile when H fits one block
    (NB == 1), loaded once before the time loop; a placeholder otherwise."""
    if NB == 1:
        return w_tile(w, row0, 0, 0, H, cols, TRANS, DOT)
    else:
        return 0.0


@triton.jit
def rec(acc, src, rows, rmask, ld, w, row0, n0, H, cols, wres, BH: tl.constexpr,
        NB: tl.constexpr, TRANS: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr):
    """The recurrent product of one unit block (see ``mm``), from the resident tile wres
    when NB == 1."""
    if NB == 1:
        a = load_rows(src, rows, rmask, ld, 0, cols, H)
        acc = tl.dot(a.to(DOT), wres, acc, input_precision=PREC)
    else:
        acc = mm(acc, src, rows, rmask, ld, w, row0, n0, H, cols, BH, NB, TRANS, DOT, PREC)
    return acc


# Split-H recurrences: a program owns BB rows × BH units and its slice of W_hh; programs of
# one batch block exchange the state through global memory and meet at a counter barrier.


@triton.jit
def split_program(sync, H, BH: tl.constexpr, HP: tl.constexpr):
    """This program's place in a split-H grid (groups, programs a group): its group, the
    programs of a group, its first unit u0, unit offsets (BH,), K offsets (HP,) and their
    mask, and the pointers to its group's barrier counter and to the give-up flag."""
    pg = tl.program_id(0)
    k = tl.arange(0, HP)
    return (pg, tl.num_programs(1), tl.program_id(1) * BH, tl.arange(0, BH), k, k < H,
            sync + pg, sync + tl.num_programs(0))


@triton.jit
def block_rows(pg, j, NBJ: tl.constexpr, BB: tl.constexpr, B, lens, t):
    """Rows (BB,) int64, their mask and (BB, 1) "step t is within the length" of batch
    block pg·NBJ + j: a program of group pg serves NBJ blocks one after another."""
    rows = (pg * NBJ + j) * BB + tl.arange(0, BB)
    rmask = rows < B
    active = (t < tl.load(lens + rows, mask=rmask, other=0))[:, None]
    return rows.to(tl.int64), rmask, active


@triton.jit
def load_all(p, rows, rmask, ld, k, kmask):
    """(BB, HP) fp32 tile p[rows·ld + k], zero outside, read past L1 (``.cg``): other
    programs wrote it, and L1 is not coherent between SMs."""
    m = rmask[:, None] & kmask[None, :]
    return tl.load(p + rows[:, None] * ld + k[None, :], mask=m, other=0.0,
                   cache_modifier=".cg").to(tl.float32)


@triton.jit
def w_slice(w, row0, H, u0, cols, k, kmask, TRANS: tl.constexpr):
    """(HP, BH) slice of the (·, H) weight W for the units u0 + cols. TRANS=False:
    tile[k, n] = W[row0 + u0 + n, k] (right operand of h Wᵀ for those units' gates);
    TRANS=True: tile[k, n] = W[row0 + k, u0 + n] (right operand of d W for those units)."""
    u = u0 + cols
    m = kmask[:, None] & (u[None, :] < H)
    if TRANS:
        return tl.load(w + (row0 + k)[:, None] * H + u[None, :], mask=m, other=0.0)
    else:
        return tl.load(w + (row0 + u)[None, :] * H + k[:, None], mask=m, other=0.0)


@triton.jit
def rowmm(a, w, DOT: tl.constexpr, PREC: tl.constexpr, SUM: tl.constexpr):
    """(BB, HP) @ (HP, BH) -> (BB, BH) fp32: ``tl.dot`` on DOT operands, or with SUM an
    exact fp32 multiply and sum over HP (w held in fp32 registers, no shared-memory reads).

    The product is written w[None] * a[..., None], not a[..., None] * w[None]: Triton's
    combine pass rewrites sum(a[:, :, None] * w[None, :, :], 1) into a tt.dot, and until
    triton-lang/triton#9831 (so in Triton 3.6) with TF32 inputs: on a GPU the "exact" path
    rounded every operand to 10 mantissa bits (errors ~1e-3 where the ieee tl.dot is
    exact). The interpreter never runs that pass."""
    if SUM:
        return tl.reduce(w[None, :, :] * a[:, :, None], 1, _SUM)
    else:
        return tl.dot(a.to(DOT), w, input_precision=PREC)


@triton.jit
def grid_barrier(cnt, err, target, limit):
    """Wait until the counter ``cnt`` has ``target`` arrivals, this program's included, and
    return the polls later barriers may spend: ``limit``, or 0 once this one gave up.

    bar.sync (every thread's stores issued), one release add (arrive), acquire reads until
    the count is reached (Triton turns the add of 0 into one thread's ld.acquire, its value
    shared through shared memory); after ``limit`` reads it gives up and raises the flag
    ``err``, and so does every later barrier at once, so a grid that is not resident at
    once fails the call within one limit instead of hanging the GPU for T of them."""
    tl.debug_barrier()
    tl.atomic_add(cnt, 1, sem="release", scope="gpu")
    seen = tl.atomic_add(cnt, 0, sem="acquire", scope="gpu")
    polls = 0
    while (seen < target) & (polls < limit):
        seen = tl.atomic_add(cnt, 0, sem="acquire", scope="gpu")
        polls += 1
    if seen < target:
        tl.atomic_max(err, 1, sem="relaxed", scope="gpu")
    tl.debug_barrier()
    return tl.where(seen < target, 0, limit)


@triton.jit
def w_held(w, row0, H, u0, cols, k, kmask, TRANS: tl.constexpr, WT: tl.constexpr,
           STREAM: tl.constexpr):
    """``w_slice`` as WT, loaded once before the time loop; a placeholder with STREAM, where
    the products read the slice from memory in chunks every step instead."""
    if STREAM:
        return 0.0
    else:
        return w_slice(w, row0, H, u0, cols, k, kmask, TRANS).to(WT)


@triton.jit
def w_chunk(w, row0, H, u0, cols, kb, KC: tl.constexpr, TRANS: tl.constexpr,
            WT: tl.constexpr):
    """Rows kb·KC .. kb·KC + KC of the (HP, BH) slice of ``w_slice``: (KC, BH) as WT."""
    kk = kb * KC + tl.arange(0, KC)
    return w_slice(w, row0, H, u0, cols, kk, kk < H, TRANS).to(WT)


@triton.jit
def chunk_all(p, rows, rmask, ld, H, kb, KC: tl.constexpr):
    """Columns kb·KC .. kb·KC + KC of ``load_all``'s (BB, HP) tile: (BB, KC) fp32."""
    kk = kb * KC + tl.arange(0, KC)
    return load_all(p, rows, rmask, ld, kk, kk < H)


@triton.jit
def prod(src, rows, rmask, ld, H, w, row0, u0, cols, wh, HP: tl.constexpr,
         KC: tl.constexpr, TRANS: tl.constexpr, STREAM: tl.constexpr, WT: tl.constexpr,
         DOT: tl.constexpr, PREC: tl.constexpr, SUM: tl.constexpr):
    """src[rows, :H] @ the (HP, BH) slice of W for units u0 + cols (see ``w_slice``): from
    the held slice wh, or with STREAM in chunks of KC, each weight chunk read from memory."""
    if STREAM:
        acc = tl.full((rows.shape[0], cols.shape[0]), 0.0, tl.float32)
        for kb in range(HP // KC):
            acc += rowmm(chunk_all(src, rows, rmask, ld, H, kb, KC),
                         w_chunk(w, row0, H, u0, cols, kb, KC, TRANS, WT), DOT, PREC, SUM)
        return acc
    else:
        k = tl.arange(0, HP)
        return rowmm(load_all(src, rows, rmask, ld, k, k < H), wh, DOT, PREC, SUM)


@triton.jit
def prod_gates(src, rows, rmask, H, w, u0, cols, HP: tl.constexpr, KC: tl.constexpr,
               G: tl.constexpr, WT: tl.constexpr, DOT: tl.constexpr, PREC: tl.constexpr,
               SUM: tl.constexpr):
    """h_{t−1} (BB, H) @ the slices of own units of the first G (2 to 4) gate blocks of W
    (rows g·H ..), the weights read from memory in chunks of KC and each chunk of h read
    once for all gates: four (BB, BH) fp32 products, those past G zero."""
    a0 = tl.full((rows.shape[0], cols.shape[0]), 0.0, tl.float32)
    a1 = a0
    a2 = a0
    a3 = a0
    for kb in range(HP // KC):
        a = chunk_all(src, rows, rmask, H, H, kb, KC)  # (BB, KC)
        a0 += rowmm(a, w_chunk(w, 0, H, u0, cols, kb, KC, False, WT), DOT, PREC, SUM)
        a1 += rowmm(a, w_chunk(w, H, H, u0, cols, kb, KC, False, WT), DOT, PREC, SUM)
        if G > 2:
            a2 += rowmm(a, w_chunk(w, 2 * H, H, u0, cols, kb, KC, False, WT), DOT, PREC, SUM)
        if G > 3:
            a3 += rowmm(a, w_chunk(w, 3 * H, H, u0, cols, kb, KC, False, WT), DOT, PREC, SUM)
    return a0, a1, a2, a3

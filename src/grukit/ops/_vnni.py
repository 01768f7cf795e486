"""int8 × int8 matrix-vector products for the streaming kernels: AVX-512 VNNI where the CPU
has it, the same integer sums from a plain loop where it does not.

The product a streaming step needs is W v for a weight W (R, K) held as int8 and a vector v
quantised to unsigned bytes as it arrives (``quantize_u8``)::

    s_v = max_k |v_k| / 127   (1 where v is all zero)     u_k = round(v_k / s_v) + 128 ∈ [1, 255]
    (W v)_j ≈ s_j s_v Σ_k q_jk (u_k − 128)                  (s_j, q: ``quantize_rows``)

``dot_u8s8`` gives those int32 sums exactly: it starts each row at −128 Σ_k q_jk (packed
once) and adds Σ_k q_jk u_k, unsigned bytes times signed as VNNI multiplies. With VNNI
each ``vpdpbusd`` adds 64 byte products into 16 int32 lanes, so GRU(64)'s recurrent product
(192 × 64) is 192 instructions; LLVM does not emit it from a loop (it widens to
``vpmaddwd`` or converts to float, both slower than the float32 product), so it is called as
an LLVM intrinsic here (``numba.extending.intrinsic``; no library offers it to numba).

Weight layout (``block_weight``): rows padded to a multiple of 64, columns to a multiple of
4, int8, as [R/64][K/4][64][4]: the 256 bytes of one column quad of 64 rows are contiguous,
which is what one ``vpdpbusd`` per 16 rows reads (row j's four bytes k..k+3 in lane j).
"""

from __future__ import annotations

import numpy as np
import torch
from numba import njit, types
from numba.extending import intrinsic

from . import _numba_cache  # noqa: F401  (kernels' cache stamps: before any kernel)

ROWS = 64  # rows per block: four zmm accumulators of 16 int32
OFFSET = 128  # u = q + OFFSET: the state's bytes as unsigned


def vnni_available() -> bool:
    """Whether numba compiles for a CPU with AVX-512 VNNI (``vpdpbusd`` on zmm)."""
    import llvmlite.binding as llvm
    import numba

    if numba.config.CPU_NAME not in (None, "host"):
        return False  # a portable target (NUMBA_CPU_NAME=generic) may lack it
    try:
        feats = llvm.get_host_cpu_features()
    except RuntimeError:
        return False
    return all(feats.get(f, False) for f in ("avx512f", "avx512bw", "avx512vnni"))


def _i64(builder, v):
    from llvmlite import ir

    i64 = ir.IntType(64)
    return v if v.type == i64 else builder.sext(v, i64)


@intrinsic
def _dp64(typingctx, acc, ai, w, wi, x4, xi, k4, ci):
    """acc[ai:ai+64] (int32) = acc[ci:ci+64] + Σ_{kk<k4} the ``vpdpbusd`` of x4[xi + kk]
    (four u8, broadcast) with the 256 bytes at w[wi + 256 kk]: four accumulators, one loop
    in IR."""
    sig = types.void(acc, ai, w, wi, x4, xi, k4, ci)

    def codegen(context, builder, signature, args):
        from llvmlite import ir
        from numba.core import cgutils

        accv, aiv, wv, wiv, x4v, xiv, k4v, civ = args
        i32, i64 = ir.IntType(32), ir.IntType(64)
        v16, v64b = ir.VectorType(i32, 16), ir.VectorType(ir.IntType(8), 64)
        a = context.make_array(signature.args[0])(context, builder, accv)
        w_ = context.make_array(signature.args[2])(context, builder, wv)
        x_ = context.make_array(signature.args[4])(context, builder, x4v)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v16, [v16, v64b,
                                            v64b]), "llvm.x86.avx512.vpdpbusd.512")
        accs = [cgutils.alloca_once(builder, v16) for _ in range(4)]
        init = builder.gep(a.data, [_i64(builder, civ)])
        for q, s in enumerate(accs):
            p = builder.gep(init, [ir.Constant(i64, 16 * q)])
            builder.store(builder.load(builder.bitcast(p, v16.as_pointer()), align=4, typ=v16),
                          s)
        wbase = builder.gep(w_.data, [_i64(builder, wiv)])
        xbase = builder.gep(x_.data, [_i64(builder, xiv)])
        zero16 = ir.Constant(v16, [0] * 16)
        with cgutils.for_range(builder, _i64(builder, k4v)) as loop:
            xk = builder.load(builder.gep(xbase, [loop.index]))  # 4 u8 as one i32
            xb = builder.insert_element(ir.Constant(v16, ir.Undefined), xk,
                                        ir.Constant(i32, 0))
            xb = builder.bitcast(builder.shuffle_vector(xb, xb, zero16), v64b)
            row = builder.gep(wbase, [builder.mul(loop.index, ir.Constant(i64, 256))])
            for q, s in enumerate(accs):
                p = builder.gep(row, [ir.Constant(i64, 64 * q)])
                wq = builder.load(builder.bitcast(p, v64b.as_pointer()), align=1, typ=v64b)
                builder.store(builder.call(fn, [builder.load(s), xb, wq]), s)
        out = builder.gep(a.data, [_i64(builder, aiv)])
        for q, s in enumerate(accs):
            p = builder.gep(out, [ir.Constant(i64, 16 * q)])
            builder.store(builder.load(s), builder.bitcast(p, v16.as_pointer()), align=4)
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", cache=True)
def _dot_vnni(ints, acc_at, w, w_at, x_at, rows, k4, c_at):
    for b in range(rows // ROWS):
        _dp64(ints, acc_at + b * ROWS, w, w_at + b * ROWS * 4 * k4, ints, x_at, k4,
              c_at + b * ROWS)


@njit(inline="always", cache=True)
def _dot_loop(ints, acc_at, w, w_at, x_at, rows, k4, c_at):
    for b in range(rows // ROWS):
        blk = w_at + b * ROWS * 4 * k4  # (k4, 64, 4) bytes
        for j in range(ROWS):
            s = ints[c_at + b * ROWS + j]
            for kk in range(k4):
                word = ints[x_at + kk]
                for i in range(4):
                    u = np.int32((word >> (8 * i)) & 0xFF)
                    s += u * np.int32(w[blk + (kk * ROWS + j) * 4 + i])
            ints[acc_at + b * ROWS + j] = s


VNNI = vnni_available()
dot_u8s8 = _dot_vnni if VNNI else _dot_loop
dot_u8s8.__doc__ = """ints[acc_at:acc_at+R] = c_j + Σ_k u_k q_jk (int32): u the bytes of the
words ints[x_at:x_at+k4] (unsigned), q the blocked int8 weight (``block_weight``) from byte
``w_at`` of w, c = ints[c_at:c_at+R] the start (−128 Σ_k q_jk: the sum is then Σ_k q_jk
(u_k − 128), the signed product); R = rows (a multiple of 64), K = 4·k4."""

_F127 = np.float32(127.0)
_INV127 = np.float32(1.0 / 127.0)
_ONE32 = np.float32(1.0)
_ROUND = np.float32(OFFSET + 0.5)  # u = ⌊v/s + 128.5⌋: round to nearest, ties up
_ABS = np.int32(0x7FFFFFFF)
_INF_BITS = np.int32(0x7F800000)  # float32 Inf; a larger pattern (sign cleared) is a NaN
_NAN_BITS = np.int32(0x7FC00000)


@njit(inline="always", cache=True)
def amax_bits(bits):
    """max_k |v_k| of a float32 v (K,) from its int32 view ``bits``, as that int32 pattern:
    the largest |v_k| has the largest pattern with the sign cleared, and an integer max
    vectorises where a float max (NaN-aware) does not. A NaN gives a pattern above Inf's."""
    m = np.int32(0)
    for k in range(bits.shape[0]):
        m = max(m, bits[k] & _ABS)
    return m


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def quantize_u8(v, bits, params, ints, tmp, x_at):
    """v (K,) float32 (``bits`` its int32 view) -> its scale s_v = max_k |v_k| / 127 (1 for
    v = 0), and its bytes u_k = ⌊v_k / s_v + 128.5⌋ written from word x_at of the int32
    view ``ints`` of params (padding bytes up to a whole word are 128); params[tmp] is
    scratch. A NaN or an Inf in v makes s_v NaN, so the product and the step are NaN, never
    a finite wrong number (an Inf has no byte: its product with a scale of Inf gave finite
    garbage)."""
    m = amax_bits(bits)
    ints[tmp] = m if m < _INF_BITS else _NAN_BITS
    amax = params[tmp]  # the float32 of that pattern
    pos = m > 0  # an integer test: fastmath may assume a float is never NaN
    scale = amax * _INV127 if pos else _ONE32
    inv = _F127 / amax if pos else _ONE32
    k = v.shape[0]
    qb = ints[x_at:x_at + (k + 3) // 4].view(np.uint8)  # (K padded to 4,)
    for i in range(k):
        qb[i] = np.int32(v[i] * inv + _ROUND)  # stored as its low byte
    for i in range(k, qb.shape[0]):
        qb[i] = OFFSET
    return scale


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def quantize_input(layer, x, h, bits, params, ints, tmp, xw, xf, kh4):
    """The bytes of a layer's input, quantised at ``xw`` (``quantize_u8``) -> (its scale
    s_v, its length in groups of four). Layer 0 reads x (any strides: copied first to
    ``params[xf:]``, where its bits can be read); a later layer reads the state below it."""
    if layer == 0:
        inp = x.shape[0]
        for k in range(inp):
            params[xf + k] = x[k]
        return (quantize_u8(params[xf:xf + inp], ints[xf:xf + inp], params, ints, tmp, xw),
                (inp + 3) // 4)
    return quantize_u8(h[layer - 1], bits[layer - 1], params, ints, tmp, xw), kh4


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def rescale(out, acc, s, sv, b, rows):
    """out[j] = s_j s_v acc_j + b_j for j < rows: the float product W v (plus a bias) back
    from its int32 sums (float32 throughout: int − float would widen to float64)."""
    for j in range(rows):
        out[j] = s[j] * sv * np.float32(acc[j]) + b[j]


@njit(inline="always", fastmath=True, error_model="numpy", cache=True)
def rescale_add(out, acc, s, sv, b, rows):
    """out[j] += s_j s_v acc_j + b_j for j < rows (``rescale`` into a sum): the gate loops
    that follow then read fewer arrays."""
    for j in range(rows):
        out[j] += s[j] * sv * np.float32(acc[j]) + b[j]


MAX_K = 16384  # |Σ_k q (u − 128)| ≤ K·128·127 stays inside int32 up to K = 132,000; kept far


def check_sizes(input_size: int, hidden: int) -> None:
    """Raise where a w8a8 product would be too long for its int32 sums."""
    if max(input_size, hidden) > MAX_K:
        raise ValueError(f"the w8a8 kernels sum at most {MAX_K} products a row in int32; got "
                         f"input_size={input_size}, hidden={hidden}. Use w8a8=False.")


def padded(n: int, to: int) -> int:
    return -(-n // to) * to


@njit(inline="always", cache=True)
def pad64(n):
    return -(-n // ROWS) * ROWS


def block_weight(q: torch.Tensor) -> np.ndarray:
    """q (R, K) int8 -> the blocked layout above, flat (R/64 · K/4 · 256,) int8, padded."""
    rows, cols = q.shape
    rp, kp = padded(rows, ROWS), padded(cols, 4)
    full = torch.zeros(rp, kp, dtype=torch.int8)  # (Rp, Kp)
    full[:rows, :cols] = q
    # (Rp/64, 64, Kp/4, 4) -> (Rp/64, Kp/4, 64, 4)
    return full.reshape(rp // ROWS, ROWS, kp // 4, 4).permute(0, 2, 1, 3).contiguous() \
        .reshape(-1).numpy()


def offsets(q: torch.Tensor) -> torch.Tensor:
    """The rows' −128 Σ_k q_jk (R,) int64: ``dot_u8s8``'s start, which takes the offset of
    the unsigned bytes back out."""
    return -OFFSET * q.to(torch.int64).sum(dim=1)


# -- the packed layout of the w8a8 streaming kernels ---------------------------------------
#
# One float32 array, read as float32, as int32 (the same indices) and as int8 (4× them):
# [per layer: s_ih, c_ih, b_ih (Ri each), s_hh, c_hh, b_hh (Rh each)] (s the row scales, c
# the int32 starts −128 Σ_k q_jk, b the biases; zeros where a row is padding), then the scratch
# each step writes: float gi (Ri), gh (Rh), int32 acc_i (Ri), acc_h (Rh), the quantised
# vector's words (K_max/4), the input copied (K_max) and one word; then the int8 weights [per layer:
# q_ih (Ri, I or H), q_hh (Rh, H)] blocked (``block_weight``), padded to whole words.
# Ri = Rh = the gates' rows padded to 64, except a reset_after=False GRU, whose W_hh is two
# blocks: W_h(r,z) (2H rows) and W_hn (H rows), each padded to 64.


@njit(inline="always", cache=True)
def layout(layers, ri, rh, kmax4):
    """Indices of the scratch: gi, gh, acc_i, acc_h, the x words, x as float (a contiguous
    copy of the input), tmp; and the byte where the weights start."""
    gi = layers * 3 * (ri + rh)
    gh = gi + ri
    acc_i = gh + rh
    acc_h = acc_i + ri
    xw = acc_h + rh
    xf = xw + kmax4
    tmp = xf + 4 * kmax4
    return gi, gh, acc_i, acc_h, xw, xf, tmp, 4 * (tmp + 1)


SIZES = ("the w8a8 step's x (input_size,), state h (layers, hidden) and packed weights "
         "disagree in size (a step would read and write outside them); pass the state the "
         "kernel was made for, an x of its input_size and the weights its pack gave.")


@njit(inline="always", cache=True)
def packed_size(inp, layers, hid, ri, rh):
    """The length of a packed array (``pack_w8a8``) for an input of ``inp`` features, a state
    (layers, hid) and Ri, Rh rows a layer: what a step checks its arguments by."""
    ki4, kh4 = (inp + 3) // 4, (hid + 3) // 4
    words = 2 * (ri + rh) + 5 * ((max(inp, hid) + 3) // 4) + 1  # the scratch
    weights = ri * ki4 + rh * kh4 + (layers - 1) * (ri + rh) * kh4  # int8, in words
    return layers * 3 * (ri + rh) + words + weights


def _rows(t: torch.Tensor | None, groups: list[int], dtype=torch.float32) -> np.ndarray:
    """A (R,) vector laid out in row groups each padded to 64; zeros for None; float32, or
    int32 read back as float32 bits."""
    out = torch.zeros(sum(padded(g, ROWS) for g in groups), dtype=dtype)
    if t is not None:
        at, src = 0, 0
        for g in groups:
            out[at:at + g] = t.detach().reshape(-1)[src:src + g].to(dtype)
            at, src = at + padded(g, ROWS), src + g
    return out.numpy().view(np.float32)


def _block_groups(q: torch.Tensor, groups: list[int]) -> np.ndarray:
    parts, src = [], 0
    for g in groups:
        parts.append(block_weight(q[src:src + g]))
        src += g
    return np.concatenate(parts)


def pack_w8a8(layers, hh_groups: list[int]) -> np.ndarray:
    """The float32 layout above from int8 layers (dicts of ``weight_ih_int8`` (G, In),
    ``weight_ih_scale`` (G,), ``weight_hh_int8`` (G, H), ``weight_hh_scale``, ``bias_ih``,
    ``bias_hh`` (G,) or None); ``hh_groups``: the row counts of W_hh's blocks, e.g. [3H] or
    [2H, H]."""
    floats, ints, kmax = [], [], 0
    for p in layers:
        g = p["weight_hh_int8"].shape[0]
        q_ih, q_hh = p["weight_ih_int8"], p["weight_hh_int8"]
        kmax = max(kmax, q_ih.shape[1], q_hh.shape[1])
        for q, s, b, groups in ((q_ih, p["weight_ih_scale"], p["bias_ih"], [g]),
                                (q_hh, p["weight_hh_scale"], p["bias_hh"], hh_groups)):
            floats += [_rows(s, groups), _rows(offsets(q), groups, torch.int32),
                       _rows(b, groups)]
            ints.append(_block_groups(q, groups))
    ri = padded(layers[0]["weight_hh_int8"].shape[0], ROWS)
    rh = sum(padded(g, ROWS) for g in hh_groups)
    words = 2 * (ri + rh) + 5 * (padded(kmax, 4) // 4) + 1  # the scratch
    body = np.concatenate(ints)  # int8
    tail = np.zeros(padded(body.size, 4), np.int8)  # whole words
    tail[:body.size] = body
    return np.concatenate(floats + [np.zeros(words, np.float32), tail.view(np.float32)])

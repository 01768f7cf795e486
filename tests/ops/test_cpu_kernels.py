"""Fused CPU kernels against the reference: outputs and every gradient, on a grid."""

import itertools

import pytest
import torch

import grukit.nn as gnn
from grukit import ops
from grukit.ops import dispatch

SHAPES = [(3, 5, 2, 4), (1, 9, 1, 7), (6, 4, 19, 3)]  # I = 19: wider than gru.cpu.NARROW
LENGTHS = {3: [5, 2, 0], 1: [6], 6: [4, 1, 3, 4, 2, 0]}


def _sid(s):
    return "B{}-T{}-I{}-H{}".format(*s)


def _make(shape, gates, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, t, i, h = shape

    def r(*s, scale=1.0):
        return (torch.randn(*s, generator=g, dtype=dtype) * scale).requires_grad_()

    return dict(x=r(b, t, i), w_ih=r(gates * h, i), w_hh=r(gates * h, h, scale=0.5),
                b_ih=r(gates * h), b_hh=r(gates * h), h0=r(b, h), c0=r(b, h))


def _grads(fn, tensors):
    out = fn()
    flat = [o for o in out]
    g = torch.Generator().manual_seed(9)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in flat)
    grads = torch.autograd.grad(loss, tensors)
    return [o.detach() for o in flat], grads


def _compare(fn, tensors, dtype):
    ref_out, ref_g = _grads(lambda: fn("reference"), tensors)
    cpu_out, cpu_g = _grads(lambda: fn("cpu"), tensors)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-9, atol=1e-10)
    for a, b in zip(ref_out + list(ref_g), cpu_out + list(cpu_g), strict=True):
        torch.testing.assert_close(b, a, **tol)


GRID = list(itertools.product(SHAPES, [torch.float32, torch.float64], [False, True],
                              [False, True]))


def _gid(p):
    shape, dtype, lengths, reverse = p
    return f"{_sid(shape)}-{str(dtype)[6:]}-{'len' if lengths else 'full'}-" \
           f"{'rev' if reverse else 'fwd'}"


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", GRID, ids=_gid)
def test_gru_cpu_matches_reference(case, reset_after):
    shape, dtype, use_len, reverse = case
    p = _make(shape, 3, dtype)
    lengths = LENGTHS[shape[0]] if use_len else None
    b_hh = p["b_hh"] if reset_after else None
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["h0"]] + ([b_hh] if reset_after else [])

    def fn(backend):
        return ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"],
                       lengths=lengths, reset_after=reset_after, reverse=reverse,
                       backend=backend)

    _compare(fn, tensors, dtype)


@pytest.mark.parametrize("case", GRID, ids=_gid)
def test_lstm_cpu_matches_reference(case):
    shape, dtype, use_len, reverse = case
    p = _make(shape, 4, dtype)
    lengths = LENGTHS[shape[0]] if use_len else None
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"]]

    def fn(backend):
        y, (h, c) = ops.lstm(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                             h0=(p["h0"], p["c0"]), lengths=lengths, reverse=reverse,
                             backend=backend)
        return y, h, c

    _compare(fn, tensors, dtype)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("case", GRID[::2], ids=_gid)
def test_rnn_cpu_matches_reference(case, nonlinearity):
    shape, dtype, use_len, reverse = case
    p = _make(shape, 1, dtype)
    lengths = LENGTHS[shape[0]] if use_len else None
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"]]

    def fn(backend):
        return ops.rnn(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], h0=p["h0"],
                       lengths=lengths, nonlinearity=nonlinearity, reverse=reverse,
                       backend=backend)

    _compare(fn, tensors, dtype)


def test_no_bias_and_no_h0_gradients():
    p = _make((2, 6, 3, 5), 3, torch.float64)

    def fn(backend):
        return ops.gru(p["x"], p["w_ih"], p["w_hh"], backend=backend)

    _compare(fn, [p["x"], p["w_ih"], p["w_hh"]], torch.float64)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["gru", "lstm", "rnn"])
def test_inference_path_matches_training_path(op, dtype):
    """The no-grad forward (no gates saved) against the training one: two code paths, so the
    dtype's own tolerance (vectorised loops may round differently, e.g. with AVX-512); the
    same path run twice is bit-identical."""
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[op]
    p = _make((4, 8, 3, 6), gates, dtype)
    fn = getattr(ops, op)

    def run():
        y, s = fn(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], backend="cpu")
        return [y, *s] if op == "lstm" else [y, s]

    train = [o.detach() for o in run()]
    with torch.no_grad():
        inf = run()
        again = run()
    for a, b, c in zip(train, inf, again, strict=True):
        torch.testing.assert_close(b, a)  # torch's defaults for the dtype
        assert torch.equal(b, c)  # the same code twice


def test_auto_runs_the_fused_kernel_on_cpu(monkeypatch):
    """"auto" must pick the cpu backend for CPU tensors: a spy on the kernel proves it ran."""
    from grukit.ops.gru import cpu as gru_cpu

    calls = []
    original = gru_cpu._forward
    monkeypatch.setattr(gru_cpu, "_forward", lambda *a, **k: calls.append(1) or original(*a, **k))
    p = _make((2, 3, 2, 4), 3, torch.float32)
    ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
    assert calls, "backend='auto' did not run the fused CPU kernel"
    for op, kw in (("gru", {}), ("lstm", {"lengths": torch.tensor([3, 2])}), ("rnn", {})):
        assert dispatch.explain(op, "auto", x=p["x"], **kw)[0] == "cpu"


def test_fallbacks_say_why():
    x = torch.randn(2, 3, 4, dtype=torch.bfloat16)
    name, skipped = dispatch.explain("gru", "auto", x=x)
    assert name == "torch"  # torch's own GRU before the reference loop
    assert skipped["cpu"] == "x is torch.bfloat16; the cpu backend serves float32 and float64."
    name, skipped = dispatch.explain("gru", "auto", x=x, reset_after=False)
    assert name == "reference" and "only the reset-after form" in skipped["torch"]
    name, skipped = dispatch.explain("gru", "auto", x=x, lengths=torch.tensor([3, 1]))
    assert name == "reference" and "packing" in skipped["torch"]
    with pytest.raises(ValueError, match="backend='cpu' cannot serve this call: x is "
                                         "torch.bfloat16"):
        ops.gru(x, torch.randn(12, 4, dtype=torch.bfloat16),
                torch.randn(12, 4, dtype=torch.bfloat16), backend="cpu")
    name, skipped = dispatch.explain("lstm", "auto", x=torch.randn(2, 3, 4),
                                     lengths=torch.tensor([3, 1]), weight_hr=torch.randn(2, 4))
    assert name == "reference" and "projection" in skipped["cpu"]
    x_meta = torch.randn(2, 3, 4, device="meta")
    assert "CPU tensors only" in dispatch.explain("gru", "auto", x=x_meta)[1]["cpu"]


def _flat(out):
    y, (h, c) = out
    return y, h, c


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_both_gemm_paths_match_reference(monkeypatch, dtype):
    """MKL's gemm (where torch carries it) and the np.dot fallback both give the reference."""
    from grukit.ops import _gemm
    from grukit.ops.gru import cpu as gru_cpu
    from grukit.ops.lstm import cpu as lstm_cpu
    from grukit.ops.rnn import cpu as rnn_cpu

    shape, lengths = (6, 4, 5, 3), torch.tensor(LENGTHS[6])
    paths = ["numpy"] + (["mkl"] if _gemm.gemm_address(str(dtype)[6:]) else [])
    for path in paths:
        if path == "numpy":
            for mod in (gru_cpu, lstm_cpu, rnn_cpu):
                monkeypatch.setattr(mod, "gemm_address", lambda _: 0)
        for reset_after in (True, False):
            p = _make(shape, 3, dtype)
            ts = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["h0"]]
            b_hh = p["b_hh"] if reset_after else None
            _compare(lambda be, p=p, b_hh=b_hh, ra=reset_after: ops.gru(
                p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"], lengths=lengths,
                reset_after=ra, backend=be), ts, dtype)
        p = _make(shape, 4, dtype)
        _compare(lambda be, p=p: _flat(ops.lstm(p["x"], p["w_ih"], p["w_hh"], p["b_ih"],
                                                p["b_hh"], h0=(p["h0"], p["c0"]),
                                                lengths=lengths, backend=be)),
                 [p["x"], p["w_hh"], p["h0"], p["c0"]], dtype)
        p = _make(shape, 1, dtype)
        _compare(lambda be, p=p: ops.rnn(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                                    h0=p["h0"], lengths=lengths, backend=be),
                 [p["x"], p["w_hh"], p["h0"]], dtype)
        monkeypatch.undo()


def test_respects_torch_threads():
    import numba

    from grukit.ops import _cpu
    from grukit.ops.gru import cpu as gru_cpu

    p = _make((4, 5, 3, 6), 3, torch.float32)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # one chunk: the serial build, numba's pool never used
        assert _cpu.threads(4) == 1
        y1 = ops.gru(p["x"], p["w_ih"], p["w_hh"], backend="cpu")[0]
        assert gru_cpu._fwd_after.serial.signatures
        if numba.config.NUMBA_NUM_THREADS >= 2:
            torch.set_num_threads(2)  # two chunks of rows, two of numba's threads
            assert _cpu.threads(4) == 2 and numba.get_num_threads() == 2
            assert torch.get_num_threads() == 2  # numba's pool leaves torch's count alone
            assert _cpu.threads(1) == 1
            y2 = ops.gru(p["x"], p["w_ih"], p["w_hh"], backend="cpu")[0]
            assert gru_cpu._fwd_after.parallel.signatures
            # the GEMM's summation order may depend on its row count (2 rows against 4)
            torch.testing.assert_close(y1, y2, rtol=1e-6, atol=1e-6)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("proj", [0, 3], ids=["noproj", "proj3"])
def test_lstm_torch_backend_matches_reference(proj):
    g = torch.Generator().manual_seed(4)
    b, t, i, h = 3, 6, 4, 5
    p = proj or h

    def r(*s):
        return torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_()

    x, wi, wh, bi, bh = r(b, t, i), r(4 * h, i), r(4 * h, p), r(4 * h), r(4 * h)
    h0, c0 = r(b, p), r(b, h)
    wr = r(proj, h) if proj else None
    tensors = [x, wi, wh, bi, bh, h0, c0] + ([wr] if proj else [])

    def fn(backend):
        y, (hn, cn) = ops.lstm(x, wi, wh, bi, bh, weight_hr=wr, h0=(h0, c0), reverse=True,
                               backend=backend)
        return y, hn, cn

    ref_out, ref_g = _grads(lambda: fn("reference"), tensors)
    out, grads = _grads(lambda: fn("torch"), tensors)
    for a, b_ in zip(ref_out + list(ref_g), out + list(grads), strict=True):
        torch.testing.assert_close(b_, a)


@pytest.mark.parametrize("bias", [True, False])
def test_gru_torch_backend_matches_reference(bias):
    """torch's own GRU (cuDNN on a GPU) behind ops.gru: outputs and every gradient."""
    g = torch.Generator().manual_seed(5)
    b, t, i, h = 3, 6, 4, 5

    def r(*s):
        return torch.randn(*s, generator=g, dtype=torch.float64).requires_grad_()

    x, wi, wh, h0 = r(b, t, i), r(3 * h, i), r(3 * h, h), r(b, h)
    bi, bh = (r(3 * h), r(3 * h)) if bias else (None, None)
    tensors = [x, wi, wh, h0] + ([bi, bh] if bias else [])
    for reverse in (False, True):
        def fn(backend, reverse=reverse):
            return ops.gru(x, wi, wh, bi, bh, h0=h0, reverse=reverse, backend=backend)

        ref_out, ref_g = _grads(lambda: fn("reference"), tensors)
        out, grads = _grads(lambda: fn("torch"), tensors)
        for a, b_ in zip(ref_out + list(ref_g), out + list(grads), strict=True):
            torch.testing.assert_close(b_, a)
    with pytest.raises(ValueError, match="backend='torch' cannot serve this call: torch's GRU"):
        ops.gru(x, wi, wh, bi, None, h0=h0, reset_after=False, backend="torch")


def test_gru_auto_takes_torch_for_bfloat16_on_cpu_and_cudnn_for_small_h(monkeypatch, tf32):
    """On a CPU, auto reaches torch's GRU only for what the fused kernel declines (bfloat16
    here, instead of the reference loop); on CUDA torch's GRU (cuDNN's persistent kernel)
    serves H <= 192 and the Triton kernel what lies above (on a GPU where it is verified)."""
    import types

    from grukit.ops import _gpu_verified
    from grukit.ops.gru import native

    monkeypatch.setattr(_gpu_verified, "capability", lambda x: (9, 0))
    monkeypatch.setattr(_gpu_verified, "VERIFIED", {(9, 0): "stand-in"})
    tf32(matmul=True)  # where the Triton GRU takes H > 192

    torch.manual_seed(0)
    x = torch.randn(2, 4, 3)
    w = dict(weight_ih=torch.randn(15, 3), weight_hh=torch.randn(15, 5),
             bias_ih=torch.randn(15), bias_hh=torch.randn(15))
    y_ref, h_ref = ops.gru(x, **w, backend="reference")
    yb, hb = ops.gru(x.bfloat16(), **{k: v.bfloat16() for k, v in w.items()})
    assert yb.dtype == torch.bfloat16
    torch.testing.assert_close(yb.float(), y_ref, rtol=0.05, atol=0.05)
    cuda_x = types.SimpleNamespace(device=torch.device("cuda"), shape=(2, 4, 3),
                                   dtype=torch.float32)
    assert native.why_not(cuda_x, h0=torch.zeros(2, 192)) is None
    assert "persistent" in native.why_not(cuda_x, h0=torch.zeros(2, 256))
    assert native.why_not(x, h0=torch.zeros(2, 256)) is None  # the size rule is CUDA's


def test_lstm_auto_choice():
    x = torch.randn(4, 5, 3)
    assert dispatch.explain("lstm", "auto", x=x)[0] == "torch"
    name, skipped = dispatch.explain("lstm", "auto", x=x, lengths=torch.tensor([5, 4, 3, 1]))
    assert name == "cpu" and "packing" in skipped["torch"]
    name, skipped = dispatch.explain("lstm", "auto", x=torch.randn(1, 5, 3))
    assert name == "cpu" and "batch of one" in skipped["torch"]


def test_empty_sequences_fall_back_with_a_reason():
    x = torch.randn(2, 0, 3, requires_grad=True)
    w_ih = torch.randn(12, 3, requires_grad=True)
    w_hh = torch.randn(12, 4, requires_grad=True)
    name, skipped = dispatch.explain("gru", "auto", x=x)
    assert name == "reference" and "no time steps" in skipped["cpu"]
    assert "no time steps" in skipped["torch"]
    y, h = ops.gru(x, w_ih, w_hh)
    assert y.shape == (2, 0, 4) and torch.all(h == 0)
    name, skipped = dispatch.explain("lstm", "auto", x=x)
    assert name == "reference" and "no time steps" in skipped["torch"]
    y, (h, c) = ops.lstm(x, torch.randn(16, 3), torch.randn(16, 4))
    assert y.shape == (2, 0, 4) and torch.all(h == 0) and torch.all(c == 0)


@pytest.mark.parametrize("unbatched", [False, True], ids=["batch1", "unbatched"])
def test_lstm_torch_backend_named_runs_a_single_sequence(unbatched):
    """A single sequence is auto's reason to skip torch's LSTM (speed), not a refusal:
    backend="torch" named runs it, equal to the reference."""
    assert "batch of one" in dispatch.explain("lstm", "auto", x=torch.randn(1, 5, 3))[1]["torch"]
    assert dispatch.explain("lstm", "torch", x=torch.randn(1, 5, 3))[0] == "torch"
    torch.manual_seed(0)
    m = gnn.LSTM(3, 5, batch_first=True, dtype=torch.float64, backend="torch")
    ref = gnn.LSTM(3, 5, batch_first=True, dtype=torch.float64, backend="reference")
    ref.load_state_dict(m.state_dict())
    x = torch.randn(7, 3, dtype=torch.float64)
    x = x if unbatched else x[None]
    for a, b in zip(m(x)[0:1] + m(x)[1], ref(x)[0:1] + ref(x)[1], strict=True):
        torch.testing.assert_close(a, b)


def test_blas_limited_only_where_the_kernels_call_it():
    """With np.dot in the loop numba's BLAS runs one thread inside a kernel and gets its count
    back after; with MKL's gemm (which the kernels call instead) it is left alone."""
    from grukit.ops import _cpu

    libs = _cpu._blas_libs()
    if not libs:
        pytest.skip("threadpoolctl sees no BLAS")
    before = [lib.num_threads for lib in libs]
    with _cpu.kernel_threads(4, 0):
        assert [lib.num_threads for lib in libs] == [1] * len(libs)
    assert [lib.num_threads for lib in libs] == before
    with _cpu.kernel_threads(4, 12345):  # an address: nothing of numba's BLAS is called
        assert [lib.num_threads for lib in libs] == before


@pytest.mark.parametrize("op", ["gru", "lstm", "rnn"])
def test_weight_edits_between_calls_show(op):
    """Nothing derived from W_hh may outlive a call: an in-place edit or new storage shows
    (a cache keyed on the tensor's version would miss edits through ``.data``, which
    gradcheck and old optimizer code make)."""
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[op]
    p = _make((3, 5, 2, 4), gates, torch.float32)
    w = p["w_hh"].detach().clone()
    fn = getattr(ops, op)

    def run(weight, backend):
        with torch.no_grad():
            return fn(p["x"], p["w_ih"], weight, p["b_ih"], p["b_hh"], backend=backend)[0]

    first = run(w, "cpu")
    with torch.no_grad():
        w.mul_(-1.5)  # same tensor, same storage, new version
    torch.testing.assert_close(run(w, "cpu"), run(w, "reference"), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(run(w, "cpu"), first)
    w.data = torch.randn_like(w)  # same tensor, new storage
    torch.testing.assert_close(run(w, "cpu"), run(w, "reference"), rtol=1e-4, atol=1e-5)
    w.data.add_(0.25)  # through .data: the version does not move
    torch.testing.assert_close(run(w, "cpu"), run(w, "reference"), rtol=1e-4, atol=1e-5)


def test_step_gemm_matches_numpy_for_any_layout():
    """``mm`` (the kernels' per-step GEMM) on contiguous, strided and one-row operands."""
    import numpy as np
    from numba import njit

    from grukit.ops._gemm import gemm_address, gemm_scratch, mm, mm_nt

    @njit
    def run(a, b, out, gemm):
        ints, ab = gemm_scratch(out)
        mm(a, b, out, gemm, ints, ab)

    @njit
    def run_nt(a, w, out, gemm):
        ints, ab = gemm_scratch(out)
        mm_nt(a, w, out, gemm, ints, ab)

    rng = np.random.default_rng(0)
    big = rng.standard_normal((6, 10)).astype(np.float32)
    w = rng.standard_normal((5, 7)).astype(np.float32)
    w_rows = np.ascontiguousarray(w.T)  # (7, 5): the weight as torch stores it, for mm_nt
    for a in (big[:, :5].copy(), big[:, ::2], big[:1, :5].copy(), big[::2, 1:6]):
        for gemm in {0, gemm_address(np.dtype(np.float32))}:
            for fn, weight in ((run, w), (run_nt, w_rows)):
                out = np.full((a.shape[0], 7), np.nan, np.float32)
                fn(a, weight, out, gemm)
                np.testing.assert_allclose(out, a @ w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["lstm", "rnn"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_lstm_and_rnn_both_weight_layouts_match_reference(op, dtype):
    """The LSTM and RNN forwards take W_hh as the GRU's does (``transposes_pay``): each
    layout gives the reference, forward and backward, and in inference."""
    from grukit.ops._gemm import transposes_pay

    gates = {"lstm": 4, "rnn": 1}[op]
    cases = {(1, 70, 2, 5): True, (1, 3, 2, 5): False, (4, 20, 2, 5): True,
             (4, 3, 2, 5): False}
    names = ("x", "w_ih", "w_hh", "b_ih", "b_hh")
    for shape, transposed in cases.items():
        assert transposes_pay(shape[0], shape[1], shape[3]) is transposed, shape
        p = _make(shape, gates, dtype)
        ts = [p[n] for n in names] + [p["h0"]] + ([p["c0"]] if op == "lstm" else [])

        def fn(backend, p=p):
            if op == "lstm":
                y, (h, c) = ops.lstm(*(p[n] for n in names), h0=(p["h0"], p["c0"]),
                                     backend=backend)
                return y, h, c
            return ops.rnn(*(p[n] for n in names), h0=p["h0"], backend=backend)

        _compare(fn, ts, dtype)
        with torch.no_grad():  # the inference forward too
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else {}
            for a, b in zip(fn("cpu"), fn("reference"), strict=True):
                torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_gru_both_weight_layouts_match_reference(dtype, reset_after):
    """The forward takes W_hh transposed (a copy) only where that pays (``transposes_pay``)
    and as torch stores it otherwise (``mm_nt``: one-row dot products, or MKL's GEMM with a
    transposed operand): every case gives the reference, forward and backward."""
    from grukit.ops._gemm import transposes_pay

    cases = {(1, 70, 2, 5): True, (1, 3, 2, 5): False, (1, 66, 2, 130): False,
             (4, 20, 2, 5): True, (4, 3, 2, 5): False, (3, 2, 19, 6): False}
    for shape, transposed in cases.items():
        b, t, _, h = shape
        assert transposes_pay(b, t, h) is transposed, shape
        p = _make(shape, 3, dtype)
        if h > 16:  # W_hh ~ N(0, 0.5²) at H = 130 is chaotic: float32 rounding grows to O(1)
            p["w_hh"] = (p["w_hh"].detach() * 0.1).requires_grad_()
        b_hh = p["b_hh"] if reset_after else None
        ts = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["h0"]]
        _compare(lambda be, p=p, b_hh=b_hh: ops.gru(
            p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"],
            reset_after=reset_after, backend=be), ts, dtype)
        with torch.no_grad():  # the inference forward (no saved gates) too
            args = (p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh)
            tol = dict(rtol=1e-4, atol=1e-5) if dtype == torch.float32 else {}
            torch.testing.assert_close(
                ops.gru(*args, h0=p["h0"], reset_after=reset_after, backend="cpu")[0],
                ops.gru(*args, h0=p["h0"], reset_after=reset_after, backend="reference")[0],
                **tol)


@pytest.mark.parametrize("rows", [1, 3, 4, 7, 8, 13, 64])
def test_one_row_dot_products_match_numpy(rows):
    """``matvec`` (batch-1 steps on W as torch stores it) over every mix of its 4- and 1-row
    passes, float32 and float64."""
    import numpy as np
    from numba import njit

    from grukit.ops._cpu_math import matvec

    @njit
    def run(out, w, v):
        matvec(out, w, v)

    rng = np.random.default_rng(rows)
    for dtype in (np.float32, np.float64):
        w = rng.standard_normal((rows, 9)).astype(dtype)
        v = rng.standard_normal(9).astype(dtype)
        out = np.full(rows, np.nan, dtype)
        run(out, w, v)
        np.testing.assert_allclose(out, w.astype(np.float64) @ v.astype(np.float64),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 3, 4, 7, 8, 13, 64])
def test_one_row_product_matches_numpy(rows):
    """``vecmat_add`` (batch-1 steps, streaming) over every mix of its 4- and 1-row
    passes, float32 and float64."""
    import numpy as np
    from numba import njit

    from grukit.ops._cpu_math import vecmat_add

    @njit
    def run(acc, v, w_t):
        vecmat_add(acc, v, w_t)

    rng = np.random.default_rng(rows)
    for dtype in (np.float32, np.float64):
        v = rng.standard_normal(rows).astype(dtype)
        w_t = rng.standard_normal((rows, 11)).astype(dtype)
        acc = rng.standard_normal(11).astype(dtype)
        want = acc.astype(np.float64) + v.astype(np.float64) @ w_t.astype(np.float64)
        run(acc, v, w_t)
        np.testing.assert_allclose(acc, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("used", ["y", "state"])
@pytest.mark.parametrize("cell", ["gru", "gru_reset_before", "lstm"])
def test_unused_outputs_get_no_gradient_and_the_rest_matches_reference(cell, used):
    """A loss on y alone or on the final state alone (autograd hands the fused backward None
    for the other output): every gradient equals the reference's."""
    dtype = torch.float64
    p = _make((3, 5, 2, 4), 4 if cell == "lstm" else 3, dtype)
    lengths = LENGTHS[3]
    b_hh = None if cell == "gru_reset_before" else p["b_hh"]  # the textbook GRU has none
    tensors = [t for t in (p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, p["h0"])
               if t is not None]

    def fn(backend):
        if cell == "lstm":
            y, (h, c) = ops.lstm(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh,
                                 h0=(p["h0"], p["c0"]), lengths=lengths, backend=backend)
            return [y] if used == "y" else [h, c]
        y, h = ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"],
                       lengths=lengths, reset_after=cell == "gru", backend=backend)
        return [y] if used == "y" else [h]

    ref_out, ref_g = _grads(lambda: fn("reference"), tensors)
    cpu_out, cpu_g = _grads(lambda: fn("cpu"), tensors)
    for a, b in zip(ref_out + list(ref_g), cpu_out + list(cpu_g), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize(("dtype", "masks"), [(torch.float32, False), (torch.float32, True),
                                              (torch.float64, False)],
                         ids=["f32-plain", "f32-dropout-zoneout", "f64-plain"])
def test_gru_narrow_input_projected_in_kernel_equals_gemm_path(monkeypatch, dtype, reset_after,
                                                               masks):
    """Inputs up to NARROW wide are projected inside the gate loop; the same call with the
    projection as one GEMM (NARROW = 0) gives the same outputs and gradients. (Both masks in
    float64 too would compile four more kernel variants of the same source, 70-80 s each on
    a CI core, for a path float32 already runs.)"""
    from grukit.ops.gru import cpu as gru_cpu

    shape, lengths = (6, 5, 3, 4), torch.tensor([5, 2, 4, 0, 1, 3])
    assert shape[2] <= gru_cpu.NARROW
    g = torch.Generator().manual_seed(3)
    drop = (torch.rand(6, 4, generator=g) > 0.3).to(dtype) / 0.7 if masks else None
    zone = (torch.rand(6, 5, 4, generator=g) > 0.5).to(dtype) if masks else None

    def run(narrow):
        monkeypatch.setattr(gru_cpu, "NARROW", narrow)
        p = _make(shape, 3, dtype, seed=1)
        b_hh = p["b_hh"] if reset_after else None
        ts = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["h0"]] + ([b_hh] if reset_after else [])
        y, h = ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"],
                       lengths=lengths, reset_after=reset_after, backend="cpu",
                       state_mask=drop, zoneout_mask=zone)
        (y.square().sum() + h.sum()).backward()
        with torch.no_grad():
            y_inf, h_inf = ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"],
                                   lengths=lengths, reset_after=reset_after, backend="cpu",
                                   state_mask=drop, zoneout_mask=zone)
        return [y, h, y_inf, h_inf] + [t.grad for t in ts]

    tol = dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10, atol=1e-10)
    for a, b in zip(run(gru_cpu.NARROW), run(0), strict=True):
        torch.testing.assert_close(a.detach(), b.detach(), **tol)


@pytest.mark.parametrize("op", ["gru", "lstm", "rnn"])
def test_gradient_of_a_gradient_through_the_fused_kernel_says_to_use_reference(op):
    """create_graph=True through the fused backward used to drop the second-order term
    silently (None under allow_unused); it now refuses in one sentence, and the reference
    backend it names gives the term."""
    gates = {"gru": 3, "lstm": 4, "rnn": 1}[op]
    p = _make((2, 3, 2, 4), gates, torch.float64)
    fn = getattr(ops, op)

    def grad_penalty(backend):
        y, _ = fn(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], backend=backend)
        gx, = torch.autograd.grad((y ** 2).sum(), p["x"], create_graph=True)
        return torch.autograd.grad((gx ** 2).sum(), p["w_hh"], allow_unused=True)[0]

    with pytest.raises(RuntimeError, match="first derivatives only.*backend='reference'"):
        grad_penalty("cpu")
    assert grad_penalty("reference").abs().sum() > 0

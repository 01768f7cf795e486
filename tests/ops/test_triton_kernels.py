"""Triton kernels against the reference: outputs and every gradient, on a grid (on CUDA
with a GPU, else on the CPU under Triton's interpreter: see ``triton_cases``)."""

import itertools

import pytest
import torch

pytest.importorskip("triton", reason="triton is not installed (pip install triton)")

from triton_cases import (  # noqa: E402
    CUDA,
    DEVICE,
    compare,
    grads,
    gru_case,
    lstm_case,
    make,
    needs_cuda,
    use_interpreter,
)

from grukit import ops  # noqa: E402
from grukit.ops import _triton, dispatch, triton_settings  # noqa: E402

_interpreter = pytest.fixture(scope="module", autouse=True)(use_interpreter)

SHAPES = [(3, 5, 2, 4), (17, 4, 3, 20)]  # B = 17: two programs, the second mostly padding
LENGTHS = {3: [5, 2, 0], 17: [4, 1, 3, 4, 2, 0, 4, 4, 1, 2, 3, 4, 4, 4, 2, 3, 1]}


GRID = list(itertools.product(SHAPES, [False, True], [False, True]))


def _gid(p):
    shape, lengths, h0 = p
    b, t, i, h = shape
    return f"B{b}-T{t}-I{i}-H{h}-{'len' if lengths else 'full'}-{'h0' if h0 else 'zero_h0'}"


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", GRID, ids=_gid)
def test_gru_triton_matches_reference(case, reset_after):
    shape, use_len, use_h0 = case
    compare(*gru_case(shape, LENGTHS[shape[0]] if use_len else None, reset_after, use_h0))


@pytest.mark.parametrize("case", GRID, ids=_gid)
def test_lstm_triton_matches_reference(case):
    shape, use_len, use_h0 = case
    compare(*lstm_case(shape, LENGTHS[shape[0]] if use_len else None, use_h0))


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_hidden_in_several_blocks(reset_after):
    """H = 20 in blocks of 16: weights streamed per step, state exchanged between blocks.
    split off: on CUDA, H above max_block_h would take the split-H kernels instead."""
    assert _triton.block_h(20, 16) == 16
    p = make((3, 4, 2, 20), 3)
    lengths = [4, 1, 3]
    b_hh = p["b_hh"] if reset_after else None
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["h0"]] + ([b_hh] if reset_after else [])

    def fn(backend):
        return ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=p["h0"],
                       lengths=lengths, reset_after=reset_after, backend=backend)

    with triton_settings(max_block_h=16, split=False):
        assert _triton.plan(p["x"], 20, 3).launch["NB"] == 2
        compare(fn, tensors)


def test_lstm_hidden_in_several_blocks():
    p = make((3, 4, 2, 20), 4)
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], p["h0"], p["c0"]]

    def fn(backend):
        y, (h, c) = ops.lstm(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"],
                             h0=(p["h0"], p["c0"]), lengths=[2, 4, 0], backend=backend)
        return y, h, c

    with triton_settings(max_block_h=16, split=False):  # the kernels of triton.py on CUDA too
        assert _triton.plan(p["x"], 20, 4).launch["NB"] == 2
        compare(fn, tensors)


@pytest.mark.parametrize("op", ["gru", "lstm"])
def test_reverse_no_bias_and_inference(op):
    """reverse with lengths, no biases, and the no-grad path equal to the training path."""
    gates = 3 if op == "gru" else 4
    p = make((3, 5, 2, 6), gates)
    lengths = [5, 2, 3]
    f = getattr(ops, op)

    def fn(backend):
        y, s = f(p["x"], p["w_ih"], p["w_hh"], lengths=lengths, reverse=True, backend=backend)
        return (y, s) if op == "gru" else (y, *s)

    compare(fn, [p["x"], p["w_ih"], p["w_hh"]])
    with torch.no_grad():
        inf = fn("triton")
    train = [o.detach() for o in fn("triton")]
    for a, b in zip(train, inf, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


@pytest.mark.parametrize("op", ["gru", "lstm"])
def test_bf16_forward(op):
    """bf16 in and out, state and accumulation in fp32 (on the CPU the interpreter widens
    the bf16 weights to fp32 for the dot: its bf16 tl.dot is wrong in Triton 3.9)."""
    from grukit.ops.gru.triton import gru_triton
    from grukit.ops.lstm.triton import lstm_triton

    p = make((3, 6, 4, 8), 3 if op == "gru" else 4, torch.bfloat16)
    lens = torch.tensor([6, 3, 0])
    with torch.no_grad():
        if op == "gru":
            kw = dict(h0=p["h0"], lengths=lens, reset_after=True, reverse=False)
            args = (p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
            ref = ops.gru(*args, h0=p["h0"], lengths=lens, backend="reference")
            out = gru_triton(*args, **kw)
        else:
            kw = dict(h0=(p["h0"], p["c0"]), lengths=lens, weight_hr=None, reverse=False)
            args = (p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])
            y, (h, c) = ops.lstm(*args, h0=(p["h0"], p["c0"]), lengths=lens,
                                 backend="reference")
            ref = (y, h, c)
            y, (h, c) = lstm_triton(*args, **kw)
            out = (y, h, c)
    for a, b in zip(ref, out, strict=True):
        assert b.dtype == torch.bfloat16
        torch.testing.assert_close(b.float(), a.float(), rtol=0.05, atol=0.05)


def test_dispatch_serves_cpu_only_under_the_interpreter(monkeypatch):
    x = torch.randn(2, 3, 4)
    if CUDA:  # the kernels are GPU kernels in this process: CPU tensors are declined
        import grukit.ops.gru.triton  # noqa: F401 - loaded before the interpreter is set
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    if CUDA:
        with pytest.raises(ValueError, match="loaded for the GPU"):
            dispatch.explain("gru", "triton", x=x)
    else:
        assert dispatch.explain("gru", "triton", x=x)[0] == "triton"
    assert dispatch.explain("gru", "auto", x=x)[0] == "cpu"  # never triton for CPU tensors
    assert dispatch.explain("lstm", "auto", x=x, lengths=torch.tensor([3, 1]))[0] == "cpu"
    xb = x.bfloat16()
    name, skipped = dispatch.explain("gru", "auto", x=xb, reset_after=False)
    assert name == "reference" and "float32 only" in skipped["triton"]
    assert "projection" in dispatch.explain("lstm", "auto", x=x, weight_hr=torch.randn(2, 4),
                                            lengths=torch.tensor([3, 1]))[1]["triton"]
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(ValueError, match="serves CUDA tensors .*TRITON_INTERPRET=1"):
        ops.gru(x, torch.randn(12, 4), torch.randn(12, 4), backend="triton")


def test_missing_triton_says_how_to_install(monkeypatch):
    import builtins

    x = torch.randn(2, 3, 4, device=DEVICE)  # on a GPU: its kernels are loaded for CUDA
    real = builtins.__import__

    def no_triton(name, *a, **k):
        if name == "triton" or name.startswith("triton."):
            raise ImportError("No module named 'triton'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_triton)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    _triton._triton_missing.cache_clear()
    try:
        reason = _triton.why_not(x)
    finally:
        monkeypatch.undo()
        _triton._triton_missing.cache_clear()
    assert reason is not None and "pip install triton" in reason


@needs_cuda
def test_auto_picks_triton_on_cuda(monkeypatch, tf32):
    """On a GPU where the kernels are verified: Triton for the textbook GRU, lengths and, with
    TF32 allowed, the GRU above cuDNN's persistent kernel; cuDNN for the rest."""
    from grukit.ops import _gpu_verified

    x = torch.randn(2, 3, 4, device="cuda")
    if _gpu_verified.capability(x) not in _gpu_verified.VERIFIED:
        monkeypatch.setenv(_gpu_verified.POLICY_ENV, "allow")
    big = torch.zeros(2, 256, device="cuda")  # h0 with H = 256: past cuDNN's persistent GRU
    tf32(matmul=True)
    assert dispatch.explain("gru", "auto", x=x, h0=big)[0] == "triton"
    tf32(matmul=False)
    assert dispatch.explain("gru", "auto", x=x, h0=big)[0] == "torch"  # exact fp32: cuDNN
    assert dispatch.explain("gru", "auto", x=x, h0=big[:, :64])[0] == "torch"  # cuDNN
    assert dispatch.explain("gru", "auto", x=x, h0=big[:, :64], reset_after=False)[0] \
        == "triton"
    assert dispatch.explain("lstm", "auto", x=x, lengths=torch.tensor([3, 1]))[0] == "triton"


@needs_cuda
@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
def test_bf16_forward_and_backward_on_cuda(reset_after):
    """Against the reference in fp32 on the same (bf16-exact) values: the reference run in
    bf16 rounds every op to 8 bits and was itself off by more than the tolerance."""
    p = make((5, 7, 6, 32), 3, torch.bfloat16)
    p32 = {k: v.detach().float().requires_grad_() for k, v in p.items()}
    names = ["x", "w_ih", "w_hh", "b_ih", "h0"]

    def fn(backend, q):
        return ops.gru(q["x"], q["w_ih"], q["w_hh"], q["b_ih"], q["b_hh"] if reset_after
                       else None, h0=q["h0"], lengths=[7, 3, 5, 1, 0],
                       reset_after=reset_after, backend=backend)

    ref_out, ref_g = grads(lambda: fn("reference", p32), [p32[k] for k in names])
    out, got = grads(lambda: fn("triton", p), [p[k] for k in names])
    for a, b in zip(ref_out + ref_g, out + got, strict=True):
        torch.testing.assert_close(b.float(), a.float(), rtol=0.05, atol=0.1)


@needs_cuda
def test_tf32_follows_torch_switch():
    x = torch.randn(2, 3, 4, device="cuda")
    before = torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32 = False
        assert _triton.dot_precision(x) == "ieee"
        torch.backends.cuda.matmul.allow_tf32 = True
        assert _triton.dot_precision(x) == "tf32"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


MINGRU = list(itertools.product([False, True], [False, True], ["parallel", "sequential"]))


def _mid(p):
    lengths, reverse, mode = p
    return f"B2-T20-I3-H5-{'len' if lengths else 'full'}-{'rev' if reverse else 'fwd'}-{mode}"


@pytest.mark.parametrize("case", MINGRU[::3] + MINGRU[1:3], ids=_mid)
def test_mingru_triton_matches_reference(case):
    """T = 20 spans two chunks of 16 steps, the second one partial. The oracle is the
    reference's sequential loop (its log-space parallel form rounds differently)."""
    use_len, reverse, mode = case
    g = torch.Generator().manual_seed(3)

    def r(*s):
        return torch.randn(*s, generator=g).to(DEVICE).requires_grad_()

    x, w, b, h0 = r(2, 20, 3), r(10, 3), r(10), r(2, 5)
    lengths = [13, 0] if use_len else None

    def fn(backend):
        return ops.mingru(x, w, b, h0=h0, lengths=lengths, reverse=reverse, backend=backend,
                          mode=mode if backend == "triton" else "sequential")

    compare(fn, [x, w, b, h0])


def test_mingru_triton_gradient_of_a_gradient_says_to_use_reference():
    """create_graph=True through the Triton backward used to drop the second-order term
    silently; it now refuses in one sentence naming the reference backend."""
    g = torch.Generator().manual_seed(3)
    x, w = (torch.randn(*s, generator=g).to(DEVICE).requires_grad_() for s in ((2, 5, 3),
                                                                               (10, 3)))
    y, _ = ops.mingru(x, w, backend="triton")
    with pytest.raises(RuntimeError, match="first derivatives only.*backend='reference'"):
        torch.autograd.grad((y ** 2).sum(), x, create_graph=True)


def test_mingru_auto_takes_the_cpu_kernel_not_triton_on_cpu(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    x = torch.randn(2, 3, 4)
    assert dispatch.explain("mingru", "auto", x=x)[0] == "cpu"
    # triton serves CPU tensors under the interpreter; with a GPU its kernels were loaded
    # for the GPU, and it serves CUDA tensors
    assert dispatch.explain("mingru", "triton", x=x.to(DEVICE))[0] == "triton"

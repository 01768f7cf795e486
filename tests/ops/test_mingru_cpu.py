"""The minGRU's fused CPU kernel (backend "cpu") against its reference: outputs, final
state and every gradient (x, W_ih, b_ih, h0) across lengths, reverse, h0, bias and mode,
float32 and float64; saturated and non-finite inputs; gradcheck; the smallest sizes."""

import pytest
import torch
from torch.autograd import gradcheck

from conftest import ran_only
from grukit import ops
from grukit.ops import dispatch

TOL = {torch.float64: dict(rtol=1e-10, atol=1e-10), torch.float32: dict(rtol=1e-5, atol=1e-5)}


def _case(b, t, i, h, dtype, bias=True, h0=True, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=torch.float64).to(dtype)

    return dict(x=r(b, t, i), weight_ih=r(2 * h, i), bias_ih=r(2 * h) if bias else None,
                h0=r(b, h) if h0 else None)


def _run(case, backend, **kw):
    """y, h_n and the gradients of a loss that weighs every output differently."""
    leaves = {k: v.clone().requires_grad_() for k, v in case.items() if v is not None}
    y, hn = ops.mingru(leaves["x"], leaves["weight_ih"], leaves.get("bias_ih"),
                       h0=leaves.get("h0"), backend=backend, **kw)
    wy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
    wh = torch.linspace(2, -1, hn.numel(), dtype=y.dtype).view(hn.shape)
    grads = torch.autograd.grad((y * wy).sum() + (hn * wh).sum(), list(leaves.values()))
    return [y.detach(), hn.detach(), *grads]


def _assert_same(got, want, dtype):
    assert len(got) == len(want)
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, **TOL[dtype])


GRID = [(3, 7, 2, 5), (1, 1, 1, 1), (4, 9, 3, 1), (1, 6, 4, 3), (5, 1, 2, 4)]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("shape", GRID, ids=lambda p: "B{}-T{}-I{}-H{}".format(*p))
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_outputs_and_gradients_equal_the_reference(shape, dtype, mode, reverse, backend_calls):
    b, t = shape[:2]
    for lengths in (None, [max(t - k, 0) for k in range(b)]):  # 0 where the batch allows
        for bias, h0 in ((True, True), (False, False)):
            case = _case(*shape, dtype, bias=bias, h0=h0)
            kw = dict(lengths=lengths, reverse=reverse, mode=mode)
            want = _run(case, "reference", **kw)
            backend_calls.clear()
            got = _run(case, "cpu", **kw)
            ran_only(backend_calls, "cpu")
            _assert_same(got, want, dtype)


def test_padding_past_each_length_is_zero_and_state_kept():
    case = _case(3, 6, 2, 4, torch.float64)
    y, hn = ops.mingru(case["x"], case["weight_ih"], case["bias_ih"], h0=case["h0"],
                       lengths=[6, 2, 0], backend="cpu")
    assert torch.all(y[1, 2:] == 0) and torch.all(y[2] == 0)
    torch.testing.assert_close(hn[1], y[1, 1], rtol=0, atol=0)
    torch.testing.assert_close(hn[2], case["h0"][2], rtol=0, atol=0)  # length 0: h0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", ["parallel", "sequential"])
def test_saturated_inputs_equal_the_reference(dtype, mode):
    """Pre-activations of ±1e4: z and 1 − z are exactly 0 or 1, σ(v) underflows; never NaN.
    The oracle is the step loop: the reference's float64 log-space scan cancels terms of
    |Σ log(1 − z)| ~ 1e4 per step there, 1e-9 off in its own gradients."""
    case = _case(3, 6, 2, 4, dtype, seed=1)
    case["x"] = 1e4 * case["x"]
    want = _run(case, "reference", mode="sequential", lengths=[6, 3, 0])
    got = _run(case, "cpu", mode=mode, lengths=[6, 3, 0])
    for a in got:
        assert a.isfinite().all()
    _assert_same(got, want, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_nan_and_inf_in_x_reach_what_they_reach_in_the_reference(dtype):
    g = torch.Generator().manual_seed(0)
    h0 = torch.randn(3, 4, generator=g, dtype=dtype)
    w = torch.tensor([[1.0, 1.0]] * 4 + [[-1.0, 1.0]] * 4, dtype=dtype)  # k = x₀ + x₁
    x = torch.randn(3, 5, 2, generator=g, dtype=dtype)                   # v = x₁ − x₀
    x[0, 1, 0] = float("inf")  # z = 1, h̃ = σ(−Inf) = 0: h = 0, then on
    x[1, 2, 1] = -float("inf")  # z = 0 and h̃ = 0: h kept
    x[2, 3, 0] = float("nan")
    with torch.no_grad():
        got = ops.mingru(x, w, None, h0=h0, backend="cpu")
        want = ops.mingru(x, w, None, h0=h0, mode="sequential", backend="reference")
    assert want[0][:2].isfinite().all()
    for a, e in zip(got, want, strict=True):
        torch.testing.assert_close(a, e, rtol=1e-6, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gradcheck(reverse, backend_calls):
    g = torch.Generator().manual_seed(0)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)

    args = (r(3, 5, 2), r(6, 2), r(6), r(3, 3))

    def f(x, w, b, h0):
        return ops.mingru(x, w, b, h0=h0, lengths=[5, 2, 0], reverse=reverse, backend="cpu")

    assert gradcheck(f, args)
    ran_only(backend_calls, "cpu")


def test_long_float32_sequence_is_as_accurate_as_the_step_loop():
    """float32 runs in float32, as the reference's mode="sequential": both within a few
    float32 roundings of the float64 result over 2000 steps of a slow gate (z ≈ σ(−6))."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2000, 3, generator=g)
    w = 0.3 * torch.randn(8, 3, generator=g)
    b = torch.cat([torch.full((4,), -6.0), torch.zeros(4)])
    h0 = torch.randn(2, 4, generator=g)
    exact = ops.mingru(x.double(), w.double(), b.double(), h0=h0.double(),
                       backend="reference")[0]
    loop = ops.mingru(x, w, b, h0=h0, mode="sequential", backend="reference")[0]
    got = ops.mingru(x, w, b, h0=h0, backend="cpu")[0]
    err, err_loop = (got.double() - exact).abs().max(), (loop.double() - exact).abs().max()
    assert err < 1e-5 and err < 4 * err_loop + 1e-6


def test_output_changed_in_place_leaves_the_gradient_alone():
    case = _case(2, 5, 3, 4, torch.float64)
    want = _run(case, "reference")[2:]
    leaves = [v.clone().requires_grad_() for v in case.values()]
    y, hn = ops.mingru(leaves[0], leaves[1], leaves[2], h0=leaves[3], backend="cpu")
    wy = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).view(y.shape)
    wh = torch.linspace(2, -1, hn.numel(), dtype=y.dtype).view(hn.shape)
    loss = (y * wy).sum() + (hn * wh).sum()
    with torch.no_grad():
        y.zero_()  # the states backward reads are the kernel's own copy
    grads = torch.autograd.grad(loss, leaves)
    for a, e in zip(grads, want, strict=True):
        torch.testing.assert_close(a, e, **TOL[torch.float64])


def test_loss_of_y_alone_or_h_n_alone():
    case = _case(3, 4, 2, 3, torch.float64)
    for pick in (0, 1):
        outs = []
        for backend in ("reference", "cpu"):
            leaves = [v.clone().requires_grad_() for v in case.values()]
            out = ops.mingru(leaves[0], leaves[1], leaves[2], h0=leaves[3], lengths=[4, 1, 0],
                             backend=backend)[pick]
            outs.append(torch.autograd.grad(out.square().sum(), leaves))
        for a, e in zip(*outs, strict=True):
            torch.testing.assert_close(a, e, **TOL[torch.float64])


def test_gradient_of_x_alone_and_of_h0_alone():
    case = _case(2, 4, 2, 3, torch.float64)
    for name in ("x", "h0"):
        outs = []
        for backend in ("reference", "cpu"):
            t = {k: v.clone().requires_grad_(k == name) for k, v in case.items()}
            y, _ = ops.mingru(t["x"], t["weight_ih"], t["bias_ih"], h0=t["h0"], backend=backend)
            outs.append(torch.autograd.grad(y.sum(), t[name])[0])
        torch.testing.assert_close(outs[1], outs[0], **TOL[torch.float64])


def test_threads_change_nothing():
    case = _case(5, 8, 3, 6, torch.float32)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _run(case, "cpu", lengths=[8, 3, 0, 5, 1])
        torch.set_num_threads(2)
        two = _run(case, "cpu", lengths=[8, 3, 0, 5, 1])
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one[:2], two[:2], strict=True):  # each row's loop is the same code
        assert torch.equal(a, b)
    _assert_same(two, one, torch.float32)  # the gradient GEMMs may sum in another order


def test_gradient_of_a_gradient_says_to_use_reference():
    case = _case(2, 3, 2, 3, torch.float64)
    x = case["x"].requires_grad_()
    y, _ = ops.mingru(x, case["weight_ih"], backend="cpu")
    with pytest.raises(RuntimeError, match="first derivatives only.*backend='reference'"):
        torch.autograd.grad(y.square().sum(), x, create_graph=True)


def test_named_cpu_check_finite_and_what_it_cannot_serve():
    x = torch.randn(2, 3, 2)
    w = torch.randn(6, 2)
    x[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN/Inf"):
        ops.mingru(x, w, backend="cpu", check_finite=True)
    with pytest.raises(ValueError, match="backend='cpu' cannot serve this call: x has no time "
                                         "steps"):
        ops.mingru(torch.randn(2, 0, 2), w, backend="cpu")
    with pytest.raises(ValueError, match=r"backend='cpu' cannot serve this call: x is "
                                         r"torch.bfloat16"):
        ops.mingru(x.bfloat16(), w.bfloat16(), backend="cpu")


def test_backend_is_registered_and_auto_takes_it_on_cpu():
    x = torch.randn(2, 3, 2)
    assert dispatch.backends("mingru")[0] == "cpu"
    assert dispatch.explain("mingru", "auto", x=x)[0] == "cpu"
    assert dispatch.explain("mingru", "auto", x=x.half())[0] == "reference"  # no float16
    assert dispatch.explain("mingru", "cpu", x=x)[0] == "cpu"


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_non_finite_padding_is_never_read(reverse):
    """NaN or Inf past each length (what pandas pads with) leaves outputs and gradients as
    zero padding does."""
    case = _case(3, 5, 2, 4, torch.float64, seed=2)
    lengths = [5, 2, 0]
    for s, n in enumerate(lengths):
        case["x"][s, n:] = 0.0
    want = _run(case, "reference", lengths=lengths, reverse=reverse)
    for pad in (float("nan"), float("inf")):
        for s, n in enumerate(lengths):
            case["x"][s, n:] = pad
        _assert_same(_run(case, "cpu", lengths=lengths, reverse=reverse), want, torch.float64)

"""LayerNorm-GRU (grukit.ops.lngru): the reference oracle (gradcheck, lengths, reverse, the
normalisation itself), the fused CPU kernel against it (outputs and every gradient), and bad
input refused in one sentence."""

import itertools

import numpy as np
import pytest
import torch

from conftest import ran_only
from grukit.ops import dispatch
from grukit.ops.lngru import lngru
from grukit.ops.lngru.reference import EPS

NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "ln_ih_weight", "ln_ih_bias",
         "ln_hh_weight", "ln_hh_bias")
SHAPES = [(3, 5, 2, 4), (1, 7, 1, 6), (5, 4, 3, 3)]
LENGTHS = {3: [5, 2, 0], 1: [4], 5: [4, 1, 3, 4, 2]}


def _make(shape, dtype, reset_after=True, seed=0):
    """x, h0 and every parameter, gains around 1 and shifts around 0 (not their initial
    values, so that a gradient or a slice taken wrongly shows)."""
    g = torch.Generator().manual_seed(seed)
    b, t, i, h = shape

    def r(*s, scale=1.0, mean=0.0):
        return (mean + torch.randn(*s, generator=g, dtype=dtype) * scale).requires_grad_()

    p = dict(x=r(b, t, i), h0=r(b, h), weight_ih=r(3 * h, i), weight_hh=r(3 * h, h, scale=0.5),
             bias_ih=r(3 * h, scale=0.3), bias_hh=r(3 * h, scale=0.3),
             ln_ih_weight=r(3 * h, scale=0.3, mean=1.0), ln_ih_bias=r(3 * h, scale=0.3),
             ln_hh_weight=r(3 * h, scale=0.3, mean=1.0), ln_hh_bias=r(3 * h, scale=0.3))
    if not reset_after:
        p["bias_hh"] = None
    return p


def _run(p, backend, **kw):
    return lngru(p["x"], *(p[n] for n in NAMES), h0=p["h0"], backend=backend, **kw)


def _grads(p, backend, **kw):
    """Outputs and the gradients of every tensor in p of a fixed random loss."""
    leaves = [v for v in p.values() if v is not None]
    y, hn = _run(p, backend, **kw)
    g = torch.Generator().manual_seed(9)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in (y, hn))
    return [y.detach(), hn.detach()], list(torch.autograd.grad(loss, leaves))


def _placement(reset_after):
    return "reset_after" if reset_after else "reset_before"


# --- the reference ---------------------------------------------------------------------

@pytest.mark.parametrize("backend,reverse", [("reference", False), ("reference", True),
                                             ("cpu", True)], ids=["reference-fwd",
                                                                  "reference-rev", "cpu-rev"])
@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_gradcheck_float64(reset_after, backend, reverse, backend_calls):
    p = _make((3, 3, 2, 3), torch.float64, reset_after)
    leaves = [v for v in p.values() if v is not None]
    keys = [k for k, v in p.items() if v is not None]

    def fn(*ts):
        q = dict(zip(keys, ts, strict=True)) | ({} if reset_after else {"bias_hh": None})
        return _run(q, backend, lengths=[3, 1, 0], reset_after=reset_after, reverse=reverse)

    # fast mode: v·J·u for random u, v against finite differences (the full Jacobian of ten
    # inputs took 10-20 s a case on the shared 2-core machine)
    assert torch.autograd.gradcheck(fn, leaves, fast_mode=True)
    ran_only(backend_calls, backend)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_reference_lengths_equal_each_sequence_run_alone(reset_after, reverse):
    """A padded batch with lengths gives, per sequence, what that sequence gives unpadded:
    outputs past its end are zero, h_n is its state at its own last step, and reverse
    starts there."""
    p = _make((3, 5, 2, 4), torch.float64, reset_after)
    lengths = [5, 2, 0]
    y, hn = _run(p, "reference", lengths=lengths, reset_after=reset_after, reverse=reverse)
    for b, n in enumerate(lengths):
        q = dict(p, x=p["x"][b:b + 1, :n], h0=p["h0"][b:b + 1])
        yb, hb = _run(q, "reference", reset_after=reset_after, reverse=reverse)
        torch.testing.assert_close(y[b:b + 1, :n], yb, rtol=0, atol=1e-12)
        assert torch.all(y[b, n:] == 0)
        torch.testing.assert_close(hn[b:b + 1], hb, rtol=0, atol=1e-12)


def test_reference_step_by_hand_reset_after():
    """One step of the reference against the equations written out with plain tensor ops
    (the normalisation spelled as mean and biased variance, not F.layer_norm)."""
    p = _make((2, 1, 3, 4), torch.float64)
    h = p["h0"]

    def ln(v, g, b):
        mu = v.mean(-1, keepdim=True)
        var = ((v - mu) ** 2).mean(-1, keepdim=True)
        return (v - mu) / torch.sqrt(var + EPS) * g + b

    gi = ln(p["x"][:, 0] @ p["weight_ih"].T, p["ln_ih_weight"], p["ln_ih_bias"]) + p["bias_ih"]
    gh = ln(h @ p["weight_hh"].T, p["ln_hh_weight"], p["ln_hh_bias"]) + p["bias_hh"]
    (ir, iz, in_), (hr, hz, hn_) = gi.chunk(3, 1), gh.chunk(3, 1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + r * hn_)
    y, hn = _run(p, "reference")
    torch.testing.assert_close(hn, (1 - z) * n + z * h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_normalisation_makes_the_cell_blind_to_the_scale_of_its_weights(reset_after):
    """With gains 1 and shifts 0, multiplying W_ih and W_hh by 10 (from 100x to 1000x their
    size, where ε in the variance no longer counts) leaves every output as it was: what layer
    normalisation is for."""
    p = _make((3, 6, 2, 5), torch.float64, reset_after)
    with torch.no_grad():
        for n in ("ln_ih_weight", "ln_hh_weight"):
            p[n].fill_(1)
        for n in ("ln_ih_bias", "ln_hh_bias"):
            p[n].zero_()
        runs = []
        for scale in (100, 10):
            p["weight_ih"].mul_(scale)
            p["weight_hh"].mul_(scale)
            runs.append(_run(p, "reference", reset_after=reset_after))
    for a, b in zip(*runs, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-6)  # ε: ~1e-7 here


# --- the fused CPU kernel against the reference ----------------------------------------

GRID = list(itertools.product(SHAPES, [torch.float32, torch.float64], [False, True],
                              [False, True], [True, False]))


def _gid(c):
    (b, t, i, h), dtype, use_len, reverse, reset_after = c
    return (f"B{b}-T{t}-I{i}-H{h}-{str(dtype)[6:]}-{'len' if use_len else 'full'}-"
            f"{'rev' if reverse else 'fwd'}-{_placement(reset_after)}")


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-5) if dtype == torch.float32 else dict(rtol=1e-10,
                                                                           atol=1e-10)


@pytest.mark.parametrize("case", GRID, ids=_gid)
def test_cpu_matches_reference(case):
    shape, dtype, use_len, reverse, reset_after = case
    p = _make(shape, dtype, reset_after)
    kw = dict(lengths=LENGTHS[shape[0]] if use_len else None, reverse=reverse,
              reset_after=reset_after)
    ref_out, ref_g = _grads(p, "reference", **kw)
    cpu_out, cpu_g = _grads(p, "cpu", **kw)
    names = ["y", "h_n"] + [f"d{k}" for k, v in p.items() if v is not None]
    for name, a, b in zip(names, ref_out + ref_g, cpu_out + cpu_g, strict=True):
        torch.testing.assert_close(b, a, **_tol(dtype), msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_cpu_both_weight_layouts_match_reference(reset_after, dtype):
    """The forward takes W_hh transposed (a copy) only where that pays (``transposes_pay``),
    as torch stores it otherwise: each layout gives the reference, forward, backward and in
    inference."""
    from grukit.ops._gemm import transposes_pay

    cases = {(1, 70, 2, 5): True, (1, 3, 2, 5): False, (4, 20, 2, 5): True,
             (4, 3, 2, 5): False}
    for shape, transposed in cases.items():
        assert transposes_pay(shape[0], shape[1], shape[3]) is transposed, shape
        p = _make(shape, dtype, reset_after)
        kw = dict(reset_after=reset_after)
        ref_out, ref_g = _grads(p, "reference", **kw)
        cpu_out, cpu_g = _grads(p, "cpu", **kw)
        for a, b in zip(ref_out + ref_g, cpu_out + cpu_g, strict=True):
            torch.testing.assert_close(b, a, **_tol(dtype))
        with torch.no_grad():
            for a, b in zip(_run(p, "reference", **kw), _run(p, "cpu", **kw), strict=True):
                torch.testing.assert_close(b, a, **_tol(dtype))


@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_cpu_without_optional_parameters_matches_reference(reset_after):
    """No biases, no gains, no shifts, no h0: the kernel substitutes 1 and 0 as LN does."""
    p = _make((4, 5, 3, 4), torch.float64, reset_after)
    for n in ("bias_ih", "bias_hh", "ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias"):
        p[n] = None
    leaves = [p["x"], p["weight_ih"], p["weight_hh"]]
    res = []
    for backend in ("reference", "cpu"):
        y, hn = lngru(p["x"], p["weight_ih"], p["weight_hh"], reset_after=reset_after,
                      lengths=[5, 3, 1, 0], backend=backend)
        res.append([y, hn, *torch.autograd.grad((y.sum() + (hn ** 2).sum()), leaves)])
    for a, b in zip(*res, strict=True):
        torch.testing.assert_close(b, a, **_tol(torch.float64))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_cpu_inference_path_matches_training_path(reset_after, dtype):
    """No-grad forward (one scratch row) against the training forward; twice bit-equal."""
    p = _make((4, 6, 3, 5), dtype, reset_after)
    kw = dict(lengths=[6, 2, 0, 5], reset_after=reset_after)
    train = [o.detach() for o in _run(p, "cpu", **kw)]
    with torch.no_grad():
        inf, again = _run(p, "cpu", **kw), _run(p, "cpu", **kw)
    for a, b, c in zip(train, inf, again, strict=True):
        torch.testing.assert_close(b, a, **_tol(dtype))
        assert torch.equal(b, c)


def test_cpu_threads_split_rows_like_one_thread():
    """Rows split over several threads give what one thread gives (same code per row)."""
    p = _make((8, 5, 3, 4), torch.float64)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _grads(p, "cpu", lengths=[5, 1, 4, 0, 5, 2, 3, 5])
        torch.set_num_threads(2)
        two = _grads(p, "cpu", lengths=[5, 1, 4, 0, 5, 2, 3, 5])
    finally:
        torch.set_num_threads(before)
    for a, b in zip(one[0] + one[1], two[0] + two[1], strict=True):
        torch.testing.assert_close(b, a, **_tol(torch.float64))


def test_auto_runs_the_fused_kernel_on_cpu(backend_calls):
    p = _make((2, 3, 2, 4), torch.float32)
    _run(p, "auto")
    assert backend_calls == [("lngru", "cpu")]
    name, skipped = dispatch.explain("lngru", "auto", x=p["x"].to(torch.bfloat16))
    assert name == "reference"
    assert skipped["cpu"] == "x is torch.bfloat16; the cpu backend serves float32 and float64."


# --- bad input -------------------------------------------------------------------------

def _ok():
    p = _make((2, 3, 2, 4), torch.float32)
    return p["x"].detach(), {n: p[n].detach() for n in NAMES}


@pytest.mark.parametrize("name", ["ln_ih_weight", "ln_ih_bias", "ln_hh_weight", "ln_hh_bias"])
def test_normalisation_parameter_of_wrong_shape_is_named(name):
    x, w = _ok()
    w[name] = torch.ones(11)
    with pytest.raises(ValueError, match=rf"^lngru: {name} must have shape \(12,\); "
                                         rf"got \(11,\)\.$"):
        lngru(x, *(w[n] for n in NAMES))


def test_recurrent_bias_with_reset_before_is_refused():
    x, w = _ok()
    with pytest.raises(ValueError, match=r"^lngru: reset_after=False has no recurrent bias .*"
                                         r"pass bias_hh=None\.$"):
        lngru(x, *(w[n] for n in NAMES), reset_after=False)


def test_shapes_lengths_state_and_backend_are_checked():
    x, w = _ok()
    args = [w[n] for n in NAMES]
    with pytest.raises(ValueError, match=r"lngru: x has 5 features per step but the weights "
                                         r"expect input_size=2"):
        lngru(torch.randn(2, 3, 5), *args)
    with pytest.raises(ValueError, match=r"lngru: weight_hh must have 3·hidden rows"):
        lngru(x, w["weight_ih"], torch.randn(10, 4))
    with pytest.raises(ValueError, match=r"lngru: lengths must lie in \[0, T\] = \[0, 3\]; "
                                         r"sequence 1 has length 4"):
        lngru(x, *args, lengths=[3, 4])
    with pytest.raises(ValueError, match=r"lngru: h0 must have shape \(batch, hidden\) = "
                                         r"\(2, 4\)"):
        lngru(x, *args, h0=torch.zeros(2, 5))
    with pytest.raises(ValueError, match="backend='cpu' cannot serve this call: x is "
                                         "torch.bfloat16"):
        lngru(x.bfloat16(), *(a.bfloat16() for a in args), backend="cpu")
    with pytest.raises(ValueError, match="lngru"):
        lngru(x, *args, backend="cuda_magic")
    bad = x.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"lngru: x contains 1 NaN/Inf value\(s\), the first "
                                         r"at index \(1, 2, 0\)"):
        lngru(bad, *args, check_finite=True)


@pytest.mark.parametrize("name", ["reverse", "reset_after", "check_finite"])
def test_a_switch_that_is_not_true_or_false_is_refused(name):
    """reverse="False" is a truthy string: it ran the sequences reversed (and
    reset_after="False" the reset_after placement); now one sentence. numpy's bool, 0 and 1
    are taken as the bools they equal."""
    x, w = _ok()
    args = [w[n] for n in NAMES if n != "bias_hh"]
    for bad in ("False", None, [True]):
        with pytest.raises(TypeError, match=f"lngru: {name} must be True or False; got "):
            lngru(x, *args[:3], None, *args[3:], **{name: bad})
    want = lngru(x, *args[:3], None, *args[3:], **{name: False})
    for same in (0, np.bool_(False)):
        got = lngru(x, *args[:3], None, *args[3:], **{name: same})
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


# --- recurrent dropout (state_mask) ----------------------------------------------------

@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_state_mask_scales_only_the_state_fed_to_the_recurrent_weights(reset_after,
                                                                        backend_calls):
    """On the reference: a mask of ones changes nothing; a mask m equals running with
    W_hh' = W_hh · diag(m) (the state seen by the recurrent product is h ⊙ m)."""
    p = _make((3, 4, 2, 5), torch.float64, reset_after)
    kw = dict(lengths=[4, 2, 3], reset_after=reset_after)
    plain = _run(p, "reference", **kw)
    ones = _run(p, "reference", state_mask=torch.ones(3, 5, dtype=torch.float64), **kw)
    mask = torch.tensor([1.0, 0.0, 2.0, 0.0, 1.0], dtype=torch.float64)
    masked = _run(p, "reference", state_mask=mask.expand(3, 5), **kw)
    folded = _run(dict(p, weight_hh=p["weight_hh"] * mask), "reference", **kw)
    for a, b in zip(plain, ones, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-14)
    for a, b in zip(folded, masked, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)
    assert (masked[0] - plain[0]).abs().max() > 1e-3


MASK_GRID = list(itertools.product([torch.float32, torch.float64], [False, True],
                                   [True, False]))


@pytest.mark.parametrize("dtype,reverse,reset_after", MASK_GRID,
                         ids=[f"{str(d)[6:]}-{'rev' if r else 'fwd'}-{_placement(a)}"
                              for d, r, a in MASK_GRID])
def test_cpu_with_state_mask_matches_reference(dtype, reverse, reset_after, backend_calls):
    """The fused kernel with a dropout mask (zeros and 1/keep) against the reference:
    outputs and every gradient; "auto" takes the kernel for it."""
    p = _make((5, 4, 3, 3), dtype, reset_after)
    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(5, 3, generator=g) > 0.3).to(dtype) / 0.7  # (B, H)
    kw = dict(lengths=LENGTHS[5], reverse=reverse, reset_after=reset_after, state_mask=mask)
    ref_out, ref_g = _grads(p, "reference", **kw)
    backend_calls.clear()
    cpu_out, cpu_g = _grads(p, "auto", **kw)
    assert backend_calls == [("lngru", "cpu")]
    for a, b in zip(ref_out + ref_g, cpu_out + cpu_g, strict=True):
        torch.testing.assert_close(b, a, **_tol(dtype))


def test_a_state_mask_that_needs_a_gradient_goes_to_the_reference():
    p = _make((2, 3, 2, 4), torch.float64)
    mask = torch.ones(2, 4, dtype=torch.float64, requires_grad=True)
    name, skipped = dispatch.explain("lngru", "auto", x=p["x"], state_mask=mask)
    assert name == "reference"
    assert skipped["cpu"] == ("state_mask requires grad and the cpu backend gives masks no "
                              "gradient; pass state_mask.detach() (or use "
                              "backend='reference').")
    y, _ = _run(p, "auto", state_mask=mask)
    (g,) = torch.autograd.grad(y.sum(), mask)
    assert g.abs().sum() > 0


def test_gradient_of_a_gradient_through_the_fused_kernel_says_to_use_reference():
    """create_graph=True through the fused backward would drop the second-order term; it is
    refused in one sentence naming the reference backend, which gives it."""
    p = _make((3, 5, 2, 4), torch.float64)

    def grad_penalty(backend):
        y, _ = _run(p, backend)
        gx, = torch.autograd.grad((y ** 2).sum(), p["x"], create_graph=True)
        return torch.autograd.grad((gx ** 2).sum(), p["weight_hh"], allow_unused=True)[0]

    with pytest.raises(RuntimeError, match="LayerNorm-GRU kernel gives first derivatives only"):
        grad_penalty("cpu")
    assert grad_penalty("reference").abs().sum() > 0


# --- huge pre-activations: float32 moments overflow -------------------------------------

def _huge(reset_after, dtype):
    """A tiny case whose pre-activations W_ih x and W_hh h are around 1e20 (float32's
    Σ (v − mean)² overflows there: torch's float32 layer norm gives β alone), one row
    short, gains and shifts not their initial values."""
    p = _make((2, 3, 2, 3), torch.float64, reset_after, seed=4)
    with torch.no_grad():
        p["x"].mul_(1e20)
        p["weight_hh"].mul_(1e20)
    return {k: None if v is None else v.detach().to(dtype).requires_grad_()
            for k, v in p.items()}


@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_huge_pre_activations_in_float32_give_the_float64_result(reset_after, backend,
                                                                  backend_calls):
    """Outputs and every gradient of float32 calls on pre-activations around 1e20 are the
    float64 loop's (autograd of the reference in float64), rounded: not the gates β alone."""
    weights = [torch.randn(2, 3, 3, generator=torch.Generator().manual_seed(9),
                           dtype=torch.float64), torch.linspace(-1, 1, 6).reshape(2, 3)]

    def run(dtype, backend):  # outputs and every gradient of one loss, the same in both dtypes
        p = _huge(reset_after, dtype)
        leaves = [v for v in p.values() if v is not None]
        out = _run(p, backend, lengths=[3, 2], reset_after=reset_after)
        loss = sum((o * w.to(dtype)).sum() for o, w in zip(out, weights, strict=True))
        return [o.detach() for o in out] + list(torch.autograd.grad(loss, leaves))

    want = run(torch.float64, "reference")
    backend_calls.clear()
    got = run(torch.float32, backend)
    ran_only(backend_calls, backend)
    for a, b in zip(got, want, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a.double(), b, rtol=1e-4, atol=1e-5 * b.abs().max())


def test_huge_pre_activations_pass_gradcheck_in_float64():
    """The float64 loop the test above takes as the oracle, on pre-activations around 1e20:
    autograd against finite differences (x and W_hh enter as x / 1e20, W_hh / 1e20, and are
    scaled inside, so that a step of 1e-6 moves them)."""
    p = _huge(True, torch.float64)
    keys = [k for k, v in p.items() if v is not None]
    big = {"x", "weight_hh"}

    def fn(*ts):
        q = {k: t * 1e20 if k in big else t for k, t in zip(keys, ts, strict=True)}
        return _run(q, "reference", lengths=[3, 2])

    leaves = [(p[k] / 1e20 if k in big else p[k]).detach().requires_grad_() for k in keys]
    assert torch.autograd.gradcheck(fn, leaves, fast_mode=True)


# --- a row of equal values: variance 0 ----------------------------------------------------

@pytest.mark.parametrize("value", [370000.1, 290000000000.7])
@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_cpu_row_of_equal_values_normalises_to_zero_in_float64(reset_after, value):
    """W_hh of one value and h0 one-hot: every recurrent product is that value, whose
    normalisation is 0 (torch's float64 layer norm gives 0); the kernel's float64 mean of
    them missed them by an ulp, which normalised moved the outputs by 2e-8 (at 3.7e5) and
    0.012 (at 2.9e11)."""
    p = _make((2, 1, 3, 5), torch.float64, reset_after, seed=5)
    with torch.no_grad():
        p["weight_hh"].fill_(value)
        p["h0"].zero_()[:, 1] = 1.0
        want = _run(p, "reference", reset_after=reset_after)
        got = _run(p, "cpu", reset_after=reset_after)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False], ids=_placement)
def test_stream_kernel_row_of_equal_values_normalises_to_zero_in_float64(reset_after):
    """The one-step kernel (grukit.nn.Stream) shares that normalisation: W_ih of one value
    and one input feature make every input product equal; its steps equal the module's."""
    import grukit.nn as gnn

    torch.manual_seed(0)
    m = gnn.LayerNormGRU(1, 5, reset_after=reset_after, batch_first=True).double()
    with torch.no_grad():
        m.weight_ih_l0.fill_(290000000000.7)
        for name, v in m.named_parameters():
            if name.startswith("ln_"):
                v.add_(0.3 * torch.randn_like(v))
    x = torch.rand(1, 4, 1, dtype=torch.float64) + 0.5
    with torch.no_grad():
        want, h_n = m(x)
    s = gnn.Stream(m)
    ys = np.stack([s.step(x[0, t].numpy()) for t in range(4)])
    assert s._fast is not None, "batch-1 numpy steps should take the fast path"
    np.testing.assert_allclose(ys, want[0].numpy(), rtol=1e-11, atol=1e-11)
    torch.testing.assert_close(s.state, h_n, rtol=1e-11, atol=1e-11)

"""What the Triton kernel tests share: the interpreter switch, inputs, and the comparison
of outputs and every gradient with the reference backend.

With a GPU the kernels run on CUDA. Without one they run on the CPU under Triton's
interpreter: triton reads TRITON_INTERPRET when a kernel is defined, which is when a
``grukit.ops.*.triton`` module is first imported, so each test module turns
``use_interpreter`` into a module fixture that sets it before any test there calls the
backend, and restores it afterwards (other tests never load triton).
"""

import os

import pytest
import torch

from grukit import ops

CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA else "cpu"
needs_cuda = pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")


def use_interpreter():
    if CUDA:
        yield
        return
    before = os.environ.get("TRITON_INTERPRET")
    os.environ["TRITON_INTERPRET"] = "1"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
        if before is None:
            del os.environ["TRITON_INTERPRET"]
        else:
            os.environ["TRITON_INTERPRET"] = before


def make(shape, gates, dtype=torch.float32, seed=0):
    """Inputs of a recurrence with ``gates`` gates, shape (B, T, I, H), requiring grad."""
    g = torch.Generator().manual_seed(seed)
    b, t, i, h = shape

    def r(*s, scale=1.0):
        v = torch.randn(*s, generator=g) * scale
        return v.to(device=DEVICE, dtype=dtype).requires_grad_()

    return dict(x=r(b, t, i), w_ih=r(gates * h, i, scale=0.7), w_hh=r(gates * h, h, scale=0.5),
                b_ih=r(gates * h), b_hh=r(gates * h), h0=r(b, h), c0=r(b, h))


def grads(fn, tensors):
    """fn's outputs and the gradients of a random projection of them w.r.t. tensors."""
    out = list(fn())
    g = torch.Generator().manual_seed(9)
    loss = sum((o * torch.randn(o.shape, generator=g).to(o)).sum() for o in out)
    return [o.detach() for o in out], list(torch.autograd.grad(loss, tensors))


def compare(fn, tensors, backend="triton", scaled=False):
    """fn(backend) against fn("reference"): outputs and gradients w.r.t. tensors.

    scaled: atol relative to the tensor's largest magnitude (2e-5 · max(1, max|ref|)), for
    a library whose own summation order we do not control (cuDNN sums a weight gradient over
    B·T terms its own way: an element that nearly cancels, -0.033 among values up to 4.7,
    came out 3e-5 off on an H200, rounding of its largest terms)."""
    ref_out, ref_g = grads(lambda: fn("reference"), tensors)
    out, got = grads(lambda: fn(backend), tensors)
    names = [f"out{k}" for k in range(len(out))] + [f"grad{k}" for k in range(len(got))]
    for name, a, b in zip(names, ref_out + ref_g, out + got, strict=True):
        atol = 2e-5 * max(1.0, a.abs().max().item()) if scaled else 2e-5
        torch.testing.assert_close(b, a, rtol=1e-4, atol=atol, msg=lambda m, n=name: f"{n}: {m}")


def gru_case(shape, lengths, reset_after, use_h0=True):
    """(fn(backend) -> (y, h_n), the tensors to differentiate) of a GRU on make()'s inputs."""
    p = make(shape, 3)
    b_hh = p["b_hh"] if reset_after else None
    h0 = p["h0"] if use_h0 else None
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"]] + ([b_hh] if reset_after else []) + \
        ([h0] if use_h0 else [])

    def fn(backend):
        return ops.gru(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], b_hh, h0=h0, lengths=lengths,
                       reset_after=reset_after, backend=backend)

    return fn, tensors


def lstm_case(shape, lengths, use_h0=True):
    """(fn(backend) -> (y, h_n, c_n), the tensors to differentiate) of an LSTM."""
    p = make(shape, 4)
    h0 = (p["h0"], p["c0"]) if use_h0 else None
    tensors = [p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"]] + \
        ([p["h0"], p["c0"]] if use_h0 else [])

    def fn(backend):
        y, (h, c) = ops.lstm(p["x"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], h0=h0,
                             lengths=lengths, backend=backend)
        return y, h, c

    return fn, tensors

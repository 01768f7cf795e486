"""Property checks over random shapes and lengths (hypothesis): the fused CPU kernel and the
reference agree, and a padded batch gives each sequence what it gives alone."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from grukit import ops


@st.composite
def batches(draw):
    b = draw(st.integers(1, 5))
    t = draw(st.integers(1, 9))
    i = draw(st.integers(1, 6))
    h = draw(st.integers(1, 9))
    lengths = draw(st.lists(st.integers(0, t), min_size=b, max_size=b))
    return b, t, i, h, lengths, draw(st.booleans()), draw(st.booleans()), draw(st.integers(0, 99))


@settings(max_examples=40, deadline=None)
@given(batches())
def test_cpu_kernel_equals_reference(case):
    b, t, i, h, lengths, reset_after, reverse, seed = case
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=torch.float64)

    x, w_ih, w_hh, b_ih = r(b, t, i), r(3 * h, i), r(3 * h, h), r(3 * h)
    b_hh = r(3 * h) if reset_after else None
    h0 = r(b, h)
    outs = [ops.gru(x, w_ih, w_hh, b_ih, b_hh, h0=h0, lengths=lengths, reset_after=reset_after,
                    reverse=reverse, backend=name) for name in ("reference", "cpu")]
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-10, atol=1e-12)
    y, h_n = outs[1]
    for k, n in enumerate(lengths):
        y1, h1 = ops.gru(x[k:k + 1, :n], w_ih, w_hh, b_ih, b_hh, h0=h0[k:k + 1],
                         reset_after=reset_after, reverse=reverse,
                         backend="cpu" if n else "reference")  # no steps: nothing to fuse
        torch.testing.assert_close(y[k, :n], y1[0], rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(h_n[k], h1[0], rtol=1e-10, atol=1e-12)

"""The LayerNorm-GRU's ONNX graph (a Scan, see ``grukit.export.scan``) in ONNX Runtime at
the edges of float32: pre-activations past 1e19 (whose squares overflow float32), a huge
initial state, zeros, one unit; against the eager module run in float64."""

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")

import grukit.nn as gnn  # noqa: E402
from grukit.export import build_onnx  # noqa: E402

CASES = {"ordinary": {}, "zeros": {"zero": True}, "H1": {"hidden": 1},
         "x-1e20": {"x": 1e20}, "w_hh-1e20": {"w_hh": 1e20}, "w_hh-1e37": {"w_hh": 1e37},
         "x-w_hh-1e30-no_bias": {"x": 1e30, "w_hh": 1e30, "bias": False},
         "h0-1e20": {"h0": 1e20}}


def _module(reset_after, hidden=5, bias=True, w_hh=1.0):
    """Both directions, gains and shifts away from 1 and 0 so that they count."""
    torch.manual_seed(0)
    m = gnn.LayerNormGRU(3, hidden, reset_after=reset_after, bias=bias, batch_first=True,
                         bidirectional=True).eval()
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn_like(p))
            if name.startswith("weight_hh"):
                p.mul_(w_hh)
    return m


@pytest.mark.parametrize("reset_after", [True, False], ids=["reset_after", "reset_before"])
@pytest.mark.parametrize("case", list(CASES))
def test_exported_lngru_equals_the_float64_module_at_any_magnitude(case, reset_after):
    """Outputs and final states in ONNX Runtime are the float64 module's (relative to the
    largest): LayerNormalization squared pre-activations around 1e20 in float32 and gave
    the gates β alone (1.6 off); zeros normalise a row of one value (ε alone), H = 1 with
    reset_before normalises the n row over one value."""
    o = CASES[case]
    hidden = o.get("hidden", 5)
    m = _module(reset_after, hidden, o.get("bias", True), o.get("w_hh", 1.0))
    sess = ort.InferenceSession(build_onnx(m, lengths=True, initial_state=True)
                                .SerializeToString(), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 4, 3, generator=g) * o.get("x", 1.0)
    h0 = torch.randn(2, 3, hidden, generator=g) * o.get("h0", 1.0)
    if o.get("zero"):
        x.zero_()
        h0.zero_()
    lengths = torch.tensor([4, 2, 0])
    got = sess.run(None, {"input": x.numpy(), "h0": h0.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        want = m.double()(x.double(), h0.double(), lengths=lengths)
    for name, a, b in zip(["y", "h_n"], got, want, strict=True):
        assert np.isfinite(a).all(), name
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5,
                                   atol=1e-5 * max(1.0, b.abs().max().item()), err_msg=name)

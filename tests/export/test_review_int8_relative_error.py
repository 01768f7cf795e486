"""``relative_error``, the figure a deployment compares with its tolerance: a NaN or Inf
in the int8 output only, or any difference from an all-zero reference, is Inf (fails both
``rel < tol`` and passes ``rel > tol``), never NaN; equal outputs are 0."""

from __future__ import annotations

import math

import numpy as np
import torch

from grukit import nn as gnn
from grukit.export import relative_error
from grukit.nn.quantized import Int8Stream, quantize_int8


def test_a_nan_int8_output_is_an_infinite_error_not_nan():
    q = quantize_int8(gnn.GRU(2, 8))
    s = Int8Stream(q, w8a8=True)  # an Inf input gives a NaN step (documented)
    x = np.array([[1.0, 2.0], [np.inf, 1.0]], np.float32)
    got = np.stack([s.step(x_t) for x_t in x])
    with torch.no_grad():
        want = q(torch.from_numpy(np.nan_to_num(x, posinf=1e3))[:, None])[0][:, 0].numpy()
    assert np.isnan(got).any() and np.isfinite(want).all()
    report = relative_error(want, got)
    assert report == {"relative": math.inf, "max_abs": math.inf}, report


def test_zero_reference_and_matching_non_finite_values():
    zero = np.zeros((2, 3))
    assert relative_error(zero, zero) == {"relative": 0.0, "max_abs": 0.0}
    assert relative_error(zero, zero + 1e-3)["relative"] == math.inf
    r = np.array([1.0, np.nan, np.inf, 2.0])
    assert relative_error(r, r) == {"relative": 0.0, "max_abs": 0.0}
    a = np.array([1.0, np.nan, np.inf, 2.5])
    rep = relative_error(r, a)  # the equal NaN and Inf count as equal; 0.5 of ‖(1, 2)‖
    np.testing.assert_allclose(rep["relative"], 0.5 / np.hypot(1.0, 2.0), rtol=1e-12)
    assert rep["max_abs"] == 0.5
    assert relative_error(r, -r)["relative"] == math.inf  # an Inf of the other sign
    y = np.random.default_rng(0).standard_normal(50)
    ref = relative_error(y, y * 1.01)  # the plain figure as before
    np.testing.assert_allclose(ref["relative"], 0.01, rtol=1e-9)

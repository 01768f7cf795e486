"""The per-row quantiser on weights at the edges of their dtype: a float64 weight beyond
float32's range is refused for what it is (it holds no NaN or Inf)."""

from __future__ import annotations

import pytest
import torch

from grukit import nn as gnn
from grukit.nn.quantized import quantize_int8
from grukit.ops.gru import quant as gq


def test_a_float64_weight_beyond_float32_range_is_refused_for_its_size():
    w = torch.randn(3, 4, dtype=torch.float64)
    w[1, 2] = 1e39  # finite in float64, Inf in float32
    with pytest.raises(ValueError, match=r"holds 1e\+39, beyond the range of float32") as e:
        gq.quantize_rows(w)
    assert "NaN" not in str(e.value)
    m = gnn.GRU(2, 3).double()
    with torch.no_grad():
        m.weight_hh_l0[0, 0] = -1e300
    with pytest.raises(ValueError, match="beyond the range of float32"):
        quantize_int8(m)
    with pytest.raises(ValueError, match="NaN or Inf"):  # a true Inf still says so
        gq.quantize_rows(torch.tensor([[1.0, float("inf")]], dtype=torch.float64))

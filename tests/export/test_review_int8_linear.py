"""``quantize_int8`` of a float64 model with Dense layers: "auto" takes grukit's int8 Linear
(torch's dynamic one takes float32 only, and the copy failed at its first call), the output
float64 and equal to linear="grukit"'s; linear="torch" is refused in one sentence."""

from __future__ import annotations

import pytest
import torch

from grukit.export import relative_error
from grukit.layers import GRU, Dense
from grukit.models import Sequential
from grukit.nn.quantized import quantize_int8, torch_dynamic_quantization


def _model():
    torch.manual_seed(0)
    m = Sequential([GRU(8, input_shape=(None, 3)), Dense(4, activation="tanh"), Dense(1)])
    m.build()
    return m.double().eval()


def test_auto_on_a_float64_model_gives_float64_int8_outputs():
    m = _model()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    with torch.no_grad():
        y = m(x)
        auto = quantize_int8(m)(x)
        grukit = quantize_int8(m, linear="grukit")(x)
    assert auto.dtype == torch.float64
    torch.testing.assert_close(auto, grukit, rtol=0, atol=0)
    assert 0 < relative_error(y, auto)["relative"] < 0.02


@pytest.mark.skipif(not torch_dynamic_quantization(), reason="torch has no dynamic int8")
def test_torch_linear_on_a_float64_model_is_refused_in_one_sentence():
    with pytest.raises(ValueError, match=r"serves float32 Linear layers; this model's are "
                                         r"torch.float64\. Use linear='grukit'"):
        quantize_int8(_model(), linear="torch")

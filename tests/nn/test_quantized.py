"""grukit.nn.quantized: what quantize_int8 and Int8Stream accept and refuse, each refusal in
one sentence naming the fix."""

import pytest
import torch

from grukit.nn.quantized import quantize_int8


@pytest.mark.parametrize("make", [lambda: torch.nn.GRU(3, 5), lambda: torch.nn.LSTMCell(3, 5),
                                  lambda: torch.nn.Sequential(torch.nn.RNN(3, 5))],
                         ids=["GRU", "LSTMCell", "in-a-Sequential"])
@pytest.mark.parametrize("linear", ["grukit", "auto"])
def test_a_torch_nn_recurrent_module_is_refused_not_left_float(make, linear):
    # it came back as a float copy, its bytes unchanged, with no word that nothing was
    # quantized
    with pytest.raises(TypeError, match=r"quantize_int8: the model holds a torch\.nn\.\w+, "
                                        r"whose weights it cannot quantize; convert it with "
                                        r"grukit\.convert\.from_torch first"):
        quantize_int8(make(), linear=linear)

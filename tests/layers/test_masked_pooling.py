"""GlobalAveragePooling1D over sequence lengths (a masked input)."""

import torch


def test_global_average_of_a_fully_masked_sequence_is_zero_not_nan():
    from grukit.layers import GlobalAveragePooling1D

    x = torch.randn(2, 4, 3)
    y = GlobalAveragePooling1D()(x, torch.tensor([2, 0]))[0]
    torch.testing.assert_close(y[0], x[0, :2].mean(0))
    torch.testing.assert_close(y[1], torch.zeros(3))

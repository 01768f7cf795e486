"""``grukit.ops.reverse_within``: each sequence reversed inside its own length, against a
plain loop; lengths as a tensor, a list or an array; bad lengths named in one sentence."""

import numpy as np
import pytest
import torch

from grukit.ops import reverse_within


def _loop(x, lengths):
    out = x.clone()
    for b, n in enumerate(lengths):
        out[b, :n] = x[b, :n].flip(0)
    return out


@pytest.mark.parametrize("as_", [torch.tensor, list, np.array])
def test_each_sequence_reversed_within_its_length(as_):
    x = torch.randn(4, 6, 3)
    lengths = [6, 0, 3, 1]
    got = reverse_within(x, as_(lengths))
    torch.testing.assert_close(got, _loop(x, lengths), rtol=0, atol=0)
    torch.testing.assert_close(reverse_within(got, as_(lengths)), x, rtol=0, atol=0)


@pytest.mark.parametrize("lengths, match", [
    ([7, 1], r"lengths must lie in \[0, 6\] .*; got \[1, 7\]"),
    ([-1, 2], r"lie in \[0, 6\] .*; got \[-1, 2\]"),
    ([2.5, 1.0], "whole numbers"),
    ([1, 2, 3], r"2 whole numbers.*shape \(3,\)"),
])
def test_bad_lengths_are_named(lengths, match):
    with pytest.raises(ValueError, match=match):
        reverse_within(torch.zeros(2, 6, 1), lengths)

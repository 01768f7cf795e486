"""The int8 one-step kernels (``gru_stream_int8``, ``lstm_stream_int8``, float products and
w8a8) called with an x, a state or an LSTM cell state of other sizes than the packed weights
were made for: refused in one sentence, the state and the packed weights untouched (they read
and wrote past them and returned a number)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_w8a8 import _int8_layers  # the int8 weights of each layer of a module

from grukit import nn as gnn
from grukit.ops.gru import quant as gq
from grukit.ops.lstm import quant as lq

F = np.float32
KERNELS = ["gru-int8", "gru-w8a8", "gru_reset_before-w8a8", "gru_reset_before-int8",
           "lstm-int8", "lstm-w8a8"]


def _kernel(name, states, inp):
    cell, mode = name.split("-")
    w8a8 = mode == "w8a8"
    if cell == "lstm":
        return lq.lstm_stream_int8(states, inp, w8a8=w8a8)
    return gq.gru_stream_int8(states, inp, reset_after=cell == "gru", w8a8=w8a8)


@pytest.mark.parametrize("name", KERNELS)
def test_a_step_of_other_sizes_is_refused_and_writes_nothing(name):
    torch.manual_seed(0)
    inp, hid = 3, 8
    lstm = name.startswith("lstm")
    m = (gnn.LSTM(inp, hid) if lstm
         else gnn.GRU(inp, hid, reset_after=name.startswith("gru-")))
    h, c = np.zeros((1, hid), F), np.zeros((1, hid), F)
    k = _kernel(name, [h, c] if lstm else [h], inp)
    packed = k.pack(_int8_layers(m))
    x = np.linspace(-1, 1, inp).astype(F)
    k.step(x, h, packed, k.extra)  # the right sizes: a step
    good_h, good_packed = h.copy(), packed.copy()
    bad = {"x longer": (np.ones(inp + 2, F), h, k.extra),
           "h narrower": (x, np.zeros((1, hid // 2), F), k.extra),
           "h with a layer more": (x, np.zeros((2, hid), F), k.extra)}
    if lstm:
        bad["c with a layer more"] = (x, h, np.zeros((2, hid), F))
    for what, (xb, hb, extra) in bad.items():
        before = hb.copy()
        with pytest.raises(ValueError, match="disagree in size") as e:
            k.step(xb, hb, packed, extra)
        assert "\n" not in str(e.value), what
        np.testing.assert_array_equal(hb, before, err_msg=what)
    np.testing.assert_array_equal(packed, good_packed)
    np.testing.assert_array_equal(h, good_h)

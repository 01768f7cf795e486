"""Keras layers' True/False settings given as strings are refused in one sentence: "False"
read from a config file is truthy, and ran as True without a word."""

import numpy as np
import pytest

from grukit.layers import (
    GRU,
    LSTM,
    CausalSelfAttention,
    Conv1D,
    Dense,
    Embedding,
    LayerNormalization,
    LayerNormGRU,
    SimpleRNN,
)

CASES = {"Dense-use_bias": (lambda v: Dense(2, use_bias=v), "Dense: use_bias", "use_bias"),
         "Conv1D-use_bias": (lambda v: Conv1D(2, 2, use_bias=v), "Conv1D: use_bias",
                             "use_bias"),
         "Embedding-mask_zero": (lambda v: Embedding(5, 2, mask_zero=v),
                                 r"Embedding: mask_zero", "mask_zero"),
         "LayerNormalization-center": (lambda v: LayerNormalization(center=v),
                                       "LayerNormalization: center", "center"),
         "LayerNormalization-scale": (lambda v: LayerNormalization(scale=v),
                                      "LayerNormalization: scale", "scale")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_string_for_a_switch_is_refused_and_bools_are_taken(case):
    make, what, attr = CASES[case]
    with pytest.raises(TypeError, match=rf"^{what} must be True or False; got 'False'\."):
        make("False")
    assert getattr(make(np.bool_(False)), attr) is False
    assert getattr(make(True), attr) is True


RECURRENT = {f"{cls.__name__}-{k}": (cls, k) for cls in (GRU, LSTM, SimpleRNN, LayerNormGRU)
             for k in ("return_sequences", "return_state", "go_backwards", "stateful")}
RECURRENT |= {f"{cls.__name__}-{k}": (cls, k) for cls in (GRU, LSTM, SimpleRNN)
              for k in ("use_bias", "unroll")}
RECURRENT |= {"GRU-reset_after": (GRU, "reset_after"),
              "LayerNormGRU-reset_after": (LayerNormGRU, "reset_after"),
              "LSTM-unit_forget_bias": (LSTM, "unit_forget_bias")}


@pytest.mark.parametrize("case", sorted(RECURRENT))
def test_a_recurrent_layers_switch_is_a_bool_or_refused_when_made(case):
    """GRU(4, reset_after="False") was taken and built a reset_after=True module (or failed
    at its first call); "False" is refused when the layer is made, and Keras' 0 / 1 (which
    Keras 3 takes) are the bools they equal, in the layer and its config."""
    cls, k = RECURRENT[case]
    for bad in ("False", None, [True]):
        with pytest.raises(TypeError, match=rf"^{cls.__name__}: {k} must be True or False; "
                                            rf"got .*\.$"):
            cls(4, **{k: bad})
    for value, want in ((0, False), (np.bool_(False), False), (1, True)):
        layer = cls(4, **{k: value})
        assert getattr(layer, k) is want
        assert layer.get_config()["config"].get(k, want) is want


def test_causal_self_attention_bias_is_a_bool_or_refused():
    with pytest.raises(TypeError, match=r"^CausalSelfAttention: bias must be True or False; "
                                        r"got 'False'\.$"):
        CausalSelfAttention(8, 2, bias="False")
    assert CausalSelfAttention(8, 2, bias=np.bool_(False)).qkv.bias is None
    assert CausalSelfAttention(8, 2, bias=1).qkv.bias is not None

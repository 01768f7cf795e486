"""Keras layers' True/False settings given as strings are refused in one sentence: "False"
read from a config file is truthy, and ran as True without a word."""

import numpy as np
import pytest

from grukit.layers import Conv1D, Dense, Embedding, LayerNormalization

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

"""--budget equal-params against the networks the tasks really build: each model's count is
the closest its width can come to the GRU's (one unit more or fewer is further off)."""

from __future__ import annotations

import pytest

from grukit import count_params
from grukit.tasks.classify.network import SequenceInput, build_network
from grukit.tasks.compare import sizing, tasks


def _classifier_params(model: str, hidden: int, channels: int, classes: int) -> int:
    """The classify/speech network: recurrence -> attention pooling -> Dense(softmax)."""
    net = build_network([SequenceInput(input_shape=(7, channels + 1))], model, hidden,
                        classes, 0.0)
    net.build()
    return count_params(net)


def _closest(model, width, target, params):
    here = abs(params(model, width) - target)
    assert here <= abs(params(model, width + 1) - target), (model, width)
    if width > 1:
        assert here <= abs(params(model, width - 1) - target), (model, width)


@pytest.mark.parametrize("hidden", [8, 64])
def test_classify_equal_params_counts_the_attention_pooling(hidden):
    """The classifier pools with attention (H·H + 2H), which grows faster than a layer's
    H·(I + H)·gates: sized without it, a minGRU of 444 units had 213,573 parameters
    against the GRU's 19,785 on JapaneseVowels."""
    task = tasks.Task("classify:x", "accuracy", False, 12, 9, 64, pooled=True)
    w = task.widths(sizing.MODELS, "equal-params", hidden)

    def params(m, h):
        return _classifier_params(m, h, 12, 9)

    target = params("gru", hidden)
    for m in sizing.MODELS:
        _closest(m, w[m], target, params)
        assert abs(params(m, w[m]) - target) <= 0.05 * target, m
    assert sizing.count("gru", 12, hidden, 9, keras=True, pooled=True) == target


def test_the_classify_task_sizes_with_its_pooling():
    pytest.importorskip("sktime")
    task = tasks.prepare("classify", None)
    w = task.widths(("gru", "mingru"), "equal-params")
    target = _classifier_params("gru", w["gru"], task.inputs, task.outputs)
    got = _classifier_params("mingru", w["mingru"], task.inputs, task.outputs)
    assert abs(got - target) <= 0.05 * target, (w, got, target)


def test_speech_equal_params_counts_the_pooling_of_both_directions():
    from types import SimpleNamespace

    from grukit.tasks.compare import speech

    task = SimpleNamespace(hidden=32, inputs=39, outputs=10, keras=True, pooled=True)
    models = ("gru", "lstm", "rnn", "mingru", "bigru", "bilstm")
    w = speech.widths(task, models, "equal-params", 32)

    def params(m, h):
        return _classifier_params(m, h, 39, 10)

    target = params("gru", 32)
    for m in models:
        if m.startswith("bi"):  # never wider than the GRU: the upper neighbour is not tried
            assert abs(params(m, w[m]) - target) <= abs(params(m, w[m] - 1) - target), m
        else:
            _closest(m, w[m], target, params)
        assert abs(params(m, w[m]) - target) <= 0.05 * target, m

"""Targets in the form another loss or metric takes are refused in one sentence naming the
form that fits: integer labels given to categorical_crossentropy (Keras refuses them too;
broadcast against the probabilities they gave a wrong loss), one-hot rows given to
sparse_categorical_crossentropy, labels outside the classes. The fitting forms still equal
Keras' values (tests/models/test_losses_keras.py)."""

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential
from grukit.models.training import LOSSES, METRICS

N, T, F, C = 10, 5, 2, 3
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, T, F)).astype(np.float32)
LABELS = RNG.integers(0, C, N)
ONE_HOT = np.eye(C, dtype=np.float32)[LABELS]


def _model(loss, metrics=None):
    torch.manual_seed(0)
    m = Sequential([GRU(4, input_shape=(T, F)), Dense(C, activation="softmax")])
    m.compile(loss=loss, metrics=metrics)
    return m


@pytest.mark.parametrize("y", [LABELS[:, None], LABELS], ids=["N-1", "N"])
def test_categorical_crossentropy_refuses_integer_labels(y):
    m = _model("categorical_crossentropy")
    with pytest.raises(ValueError, match="categorical_crossentropy takes one-hot targets.*"
                                         "sparse_categorical_crossentropy"):
        m.evaluate(X, y)
    with pytest.raises(ValueError, match="one-hot targets"):
        m.fit(X, y, epochs=1, verbose=0)


def test_sparse_categorical_crossentropy_refuses_one_hot_rows():
    m = _model("sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy takes one integer "
                                         "class label.*categorical_crossentropy"):
        m.evaluate(X, ONE_HOT)


@pytest.mark.parametrize("bad", [C, -1])
def test_labels_outside_the_classes_are_named(bad):
    y = LABELS.copy()
    y[3] = bad
    m = _model("sparse_categorical_crossentropy", ["accuracy"])
    with pytest.raises(ValueError, match=f"class label {bad} .* 3 classes"):
        m.evaluate(X, y)


@pytest.mark.parametrize("name,y,form", [
    ("categorical_accuracy", LABELS[:, None], "one-hot targets"),
    ("categorical_accuracy", LABELS, "one-hot targets"),
    ("sparse_categorical_accuracy", ONE_HOT, "one integer class label"),
])
def test_accuracies_refuse_the_other_label_form(name, y, form):
    """categorical_accuracy of (N, 1) labels was the argmax of one column, 0: always 0."""
    p = torch.softmax(torch.tensor(RNG.normal(size=(N, C)), dtype=torch.float32), -1)
    with pytest.raises(ValueError, match=f"{name} takes {form}"):
        METRICS[name](p, torch.as_tensor(y))


def test_the_fitting_forms_still_give_the_same_loss():
    p = torch.softmax(torch.tensor(RNG.normal(size=(N, T, C)), dtype=torch.float32), -1)
    y = torch.as_tensor(RNG.integers(0, C, (N, T)))
    sparse = LOSSES["sparse_categorical_crossentropy"]
    dense = LOSSES["categorical_crossentropy"]
    want = float(dense(p, torch.nn.functional.one_hot(y, C)))
    assert float(sparse(p, y)) == pytest.approx(want, rel=1e-6)
    assert float(sparse(p, y[..., None])) == pytest.approx(want, rel=1e-6)
    acc = float((p.argmax(-1) == y).float().mean())
    assert float(METRICS["sparse_categorical_accuracy"](p, y[..., None])) == acc
    assert float(METRICS["categorical_accuracy"](p, torch.nn.functional.one_hot(y, C))) == acc


def test_accuracy_refuses_targets_of_neither_form():
    p = torch.softmax(torch.tensor(RNG.normal(size=(N, C)), dtype=torch.float32), -1)
    with pytest.raises(ValueError, match="accuracy takes integer class labels"):
        METRICS["accuracy"](p, torch.as_tensor(np.eye(C + 1)[LABELS]))  # 4 columns for 3
    with pytest.raises(ValueError, match="accuracy takes one integer class label"):
        METRICS["accuracy"](p, torch.as_tensor(np.r_[LABELS, 0][:, None]))  # 11 for 10


@pytest.mark.parametrize("name", ["mse", "mae", "huber", "binary_crossentropy", "poisson"])
def test_targets_of_the_outputs_rank_in_another_shape_are_refused(name):
    """y (N, F, T) for per-step outputs (N, T, F) holds as many values but is no reshape of
    them; it was read as one, a wrong loss (Keras refuses it)."""
    p = torch.rand(3, 4, 2)
    with pytest.raises(ValueError, match=r"targets of this batch have shape \(3, 2, 4\) but "
                                         r"the model's output has shape \(3, 4, 2\)"):
        LOSSES[name](p, torch.rand(3, 2, 4))
    want = float(LOSSES[name](p, p.flip(0)))  # of other ranks, the same values still fit
    assert float(LOSSES[name](p, p.flip(0).reshape(3, 8))) == pytest.approx(want, rel=1e-6)
    assert float(LOSSES[name](p[..., :1], p.flip(0)[..., 0])) == pytest.approx(
        float(LOSSES[name](p[..., :1], p.flip(0)[..., :1])), rel=1e-6)


@pytest.mark.parametrize("kw,message", [
    (dict(loss={"out": "mse"}), "one output, so one loss; got a dict of 1"),
    (dict(loss=["mse", "mae"]), "one output, so one loss; got a list of 2"),
    (dict(metrics={"out": "mae"}), "metrics must be a name, a function or a list"),
    (dict(metrics=[None]), "metrics must be names .* got None"),
])
def test_compile_refuses_per_output_forms_of_several_outputs(kw, message):
    """A dict or two losses raised 'unhashable type', a None metric failed at evaluate."""
    m = Sequential([GRU(4, input_shape=(T, F)), Dense(C, activation="softmax")])
    with pytest.raises(ValueError, match=message):
        m.compile(**kw)


def test_compile_takes_keras_lists_for_one_output():
    m = _model("sparse_categorical_crossentropy", ["accuracy"])
    want = m.evaluate(X, LABELS, return_dict=True)
    m.compile(loss=["sparse_categorical_crossentropy"], metrics=[["accuracy"]])
    assert m.evaluate(X, LABELS, return_dict=True) == want


@pytest.mark.parametrize("name", ["sparse_categorical_crossentropy", "accuracy",
                                  "sparse_categorical_accuracy"])
def test_labels_that_are_no_whole_numbers_are_refused(name):
    """0.9999999 (a label from a computation) was cut to class 0."""
    p = torch.softmax(torch.tensor(RNG.normal(size=(N, C)), dtype=torch.float32), -1)
    y = torch.as_tensor(LABELS, dtype=torch.float32)
    fn = LOSSES.get(name) or METRICS[name]
    assert float(fn(p, y)) == pytest.approx(float(fn(p, torch.as_tensor(LABELS))))
    y[4] = 0.9999
    with pytest.raises(ValueError, match=f"{name} takes whole-number class labels; got 0.999"):
        fn(p, y)


@pytest.mark.parametrize("labels,bad", [([1, 2, 1, 2], "2.0"), ([-1, 1, 1, -1], "-1.0"),
                                        ([0, 1, 1.0000001, 0], "1.00000011")])
def test_binary_crossentropy_refuses_targets_outside_0_1(labels, bad):
    p = torch.rand(4, 1)
    with pytest.raises(ValueError, match=f"binary_crossentropy takes targets in \\[0, 1\\] .*"
                                         f"got {bad}[0-9]*\\. Map the two classes"):
        LOSSES["binary_crossentropy"](p, torch.tensor(labels, dtype=torch.float32))
    soft = torch.tensor([0.0, 0.3, 1.0, 0.9])  # soft targets still fit
    assert float(LOSSES["binary_crossentropy"](p, soft)) > 0

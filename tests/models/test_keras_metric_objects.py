"""A Keras metric object given to compile (``keras.metrics.AUC()``) gives Keras' value on
the data at hand: called as a function it went on from everything it saw before (a second
evaluate's AUC mixed in the first's samples, val_AUC the training batches'), a silently
wrong number. It is logged under its Keras name, on the training batches (reset each
epoch, as Keras) and on the validation data."""

import os

import numpy as np
import pytest
import torch

from grukit.layers import GRU, Dense
from grukit.models import Sequential

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")

N, T, F = 24, 4, 2
RNG = np.random.default_rng(0)
X = RNG.normal(size=(N, T, F)).astype(np.float32)
Y = RNG.integers(0, 2, N)


def _pair():
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(3),
                            keras.layers.Dense(1, activation="sigmoid")])
    ref.set_weights([RNG.normal(0, 0.5, w.shape).astype("float32") for w in ref.get_weights()])
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(1, activation="sigmoid")])
    model.set_weights(ref.get_weights())
    return ref, model


def _metrics():
    return [keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="bin_acc")]



def _evaluates_as_keras(ref, model, X, y, w, rel):
    """The grukit model's evaluate gives Keras' names and values (to ``rel``)."""
    want = ref.evaluate(X, y, sample_weight=w, return_dict=True, verbose=0)
    got = model.evaluate(X, y, sample_weight=w, return_dict=True)
    assert set(got) == set(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=rel), name

def test_evaluate_twice_equals_keras():
    ref, model = _pair()
    ref.compile(loss="binary_crossentropy", metrics=_metrics())
    model.compile(loss="binary_crossentropy", metrics=_metrics())
    for rows in (slice(None), slice(0, 10)):
        want = ref.evaluate(X[rows], Y[rows], return_dict=True, verbose=0)
        got = model.evaluate(X[rows], Y[rows], return_dict=True)
        for name in ("auc", "bin_acc"):
            assert got[name] == pytest.approx(want[name], rel=1e-5), name


def _fit_both(lr: float, **kw):
    """Keras' history and grukit's, SGD at ``lr``, the AUC object in both."""
    ref, model = _pair()
    ref.compile(optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy",
                metrics=[keras.metrics.AUC(name="auc")])
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=lr),
                  loss="binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    kw = dict(shuffle=False, verbose=0) | kw
    return ref.fit(X, Y, **kw).history, model.fit(X, Y, **kw).history


def test_fit_logs_the_validation_value_keras_logs():
    want, got = _fit_both(0.0, epochs=2, batch_size=5, validation_split=0.5)
    for name in ("auc", "val_auc"):  # the training value: over the epoch's batches
        assert got[name] == pytest.approx(want[name], rel=1e-5), name


def test_the_training_value_is_each_epochs_own_as_keras():
    """Trained, the model changes: each epoch's training AUC covers that epoch's batches."""
    want, got = _fit_both(0.5, epochs=3, batch_size=6)
    assert got["auc"] == pytest.approx(want["auc"], rel=1e-4)
    assert len(set(got["auc"])) == 3


NAMES = ["auc", "precision", "recall", "f1_score", "AUC", "Precision", "true_positives",
         "false_negatives", "r2_score", "root_mean_squared_error", "binary_io_u"]


def test_keras_metric_names_give_keras_values_binary():
    """Keras' metric names that grukit has no form of its own for ("auc", "precision",
    "recall", "f1_score", their class names, ...) are Keras' objects with their defaults
    (200 thresholds, a threshold of 0.5): the values Keras logs in fit (training and
    validation, SGD at a rate that moves the weights) and evaluate; they were refused."""
    ref, model = _pair()
    ref.compile(optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy",
                metrics=NAMES)
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.5),
                  loss="binary_crossentropy", metrics=NAMES)
    y = Y[:, None].astype("float32")  # (N, 1): Keras' F1Score takes 2-D labels only
    kw = dict(epochs=2, batch_size=6, shuffle=False, verbose=0, validation_split=0.25)
    want, got = ref.fit(X, y, **kw).history, model.fit(X, y, **kw).history
    assert set(got) == set(want)
    # Keras' history logs a count's (true_positives') training value as the validation's:
    # the tensor it logs is the state that validation resets; those are checked below
    counts = {"true_positives", "false_negatives"}
    for name in set(want) - counts:
        assert got[name] == pytest.approx(np.ravel(want[name]).tolist() if np.ndim(
            want[name][0]) == 0 else [float(np.ravel(v)[0]) for v in want[name]],
            rel=1e-4, abs=1e-6), name
    kw = dict(epochs=1, batch_size=6, shuffle=False, verbose=0)
    want, got = ref.fit(X, y, **kw).history, model.fit(X, y, **kw).history
    for name in counts:
        assert got[name] == pytest.approx(want[name]), name
    want = ref.evaluate(X, y, return_dict=True, verbose=0)
    got = model.evaluate(X, y, return_dict=True)
    for name in NAMES:
        assert got[name] == pytest.approx(float(np.ravel(want[name])[0]), rel=1e-5), name


def test_keras_metric_names_give_keras_values_multiclass_and_weighted():
    rng = np.random.default_rng(1)
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, N)]
    w = rng.uniform(0, 2, N).astype("float32")
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(3),
                            keras.layers.Dense(3, activation="softmax")])
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(3, activation="softmax")])
    model.set_weights(ref.get_weights())
    names = ["auc", "precision", "recall"]
    for m in (ref, model):
        m.compile(loss="categorical_crossentropy", metrics=names, weighted_metrics=["auc"])
    _evaluates_as_keras(ref, model, X, y, w, rel=1e-5)


def test_keras_metric_names_that_need_arguments_are_refused_in_one_sentence():
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(1, activation="sigmoid")])
    with pytest.raises(ValueError, match=r"MeanIoU.*num_classes.*keras\.metrics\.MeanIoU"):
        model.compile(loss="binary_crossentropy", metrics=["mean_io_u"])
    with pytest.raises(ValueError, match=r"'mean'.*not a metric of \(y_true, y_pred\)"):
        model.compile(loss="binary_crossentropy", metrics=["mean"])
    with pytest.raises(ValueError, match="unknown metric 'aucc'"):
        model.compile(loss="binary_crossentropy", metrics=["aucc"])


def test_a_per_class_f1_score_is_refused_in_one_sentence():
    """Keras' "f1_score" of several classes is one value per class (average=None), which
    grukit's logs (one number a metric) cannot hold: refused, naming the average to give."""
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", metrics=["f1_score"])
    y = np.eye(3, dtype="float32")[np.arange(N) % 3]
    with pytest.raises(ValueError, match=r"f1_score.*3 values.*average='macro'"):
        model.evaluate(X, y)


def test_keras_metric_names_survive_save_and_load(tmp_path):
    from grukit.models import load_model

    _, model = _pair()
    model.compile(loss="binary_crossentropy", metrics=["auc", "precision"],
                  weighted_metrics=["recall"])
    want = model.evaluate(X, Y, return_dict=True)
    model.save(tmp_path / "m.safetensors")
    back = load_model(tmp_path / "m.safetensors")
    assert back.evaluate(X, Y, return_dict=True) == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("labels", ["binary", "sparse", "onehot"])
def test_accuracy_spelled_in_any_case_is_keras_shape_reading_accuracy(labels):
    """Keras' compile reads "Accuracy", "ACC" (any case of "accuracy" and "acc") as
    "accuracy", picking binary, sparse or categorical accuracy from the shapes; grukit took
    "Accuracy" as Keras' Accuracy object (y_true == y_pred exactly): 0.0 where Keras gives
    0.69, a silently wrong number."""
    rng = np.random.default_rng(2)
    units = 1 if labels == "binary" else 3
    y = {"binary": rng.integers(0, 2, (N, 1)).astype("float32"),
         "sparse": rng.integers(0, 3, N),
         "onehot": np.eye(3, dtype="float32")[rng.integers(0, 3, N)]}[labels]
    loss = {"binary": "binary_crossentropy", "sparse": "sparse_categorical_crossentropy",
            "onehot": "categorical_crossentropy"}[labels]
    act = "sigmoid" if units == 1 else "softmax"
    ref = keras.Sequential([keras.Input((T, F)), keras.layers.GRU(3),
                            keras.layers.Dense(units, activation=act)])
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(units, activation=act)])
    model.set_weights(ref.get_weights())
    names = dict(metrics=["Accuracy", "ACC"], weighted_metrics=["Acc"])
    ref.compile(loss=loss, **names)
    model.compile(loss=loss, **names)
    w = rng.uniform(0, 2, N).astype("float32")
    _evaluates_as_keras(ref, model, X, y, w, rel=1e-6)


def test_a_keras_metric_that_cannot_take_the_targets_is_told_in_one_sentence():
    """Keras' own errors for targets a metric does not take (integer labels for
    Precision of 3 classes, top-5 accuracy of 3 classes) came from deep inside Keras or
    torch ('The size of tensor a (24) must match ...'); told in one sentence naming the
    metric and both shapes, in evaluate and in fit."""
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(3, activation="softmax")])
    y = np.arange(N) % 3
    for name in ("precision", "top_k_categorical_accuracy"):
        model.compile(loss="sparse_categorical_crossentropy", metrics=[name])
        with pytest.raises(ValueError, match=rf"the Keras metric '{name}' .* cannot take "
                                             rf"targets of shape \(24,\) with outputs of "
                                             rf"shape \(24, 3\)"):
            model.evaluate(X, y)
        with pytest.raises(ValueError, match=rf"the Keras metric '{name}'"):
            model.fit(X, y, epochs=1, verbose=0)


def test_keras_metric_names_without_keras_are_refused_naming_keras(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "keras", None)  # import keras fails, as uninstalled
    model = Sequential([GRU(3, input_shape=(T, F)), Dense(1, activation="sigmoid")])
    for kw in ({"metrics": ["auc"]}, {"weighted_metrics": ["precision"]}):
        with pytest.raises(ValueError, match=r"unknown metric .*install keras for Keras' "
                                             r"other metric names"):
            model.compile(loss="binary_crossentropy", **kw)
    model.compile(loss="binary_crossentropy", metrics=["accuracy", "Acc"])  # grukit's own


def test_a_metric_named_twice_is_logged_twice_under_keras_names():
    """metrics=["mae", "mae"]: Keras logs "mae" and "mae_1"; the second was silently left
    out."""
    ref, model = _pair()
    names = ["mae", "mae", "auc", "auc", "auc"]
    ref.compile(loss="binary_crossentropy", metrics=names)
    model.compile(loss="binary_crossentropy", metrics=names)
    want = ref.evaluate(X, Y, return_dict=True, verbose=0)
    got = model.evaluate(X, Y, return_dict=True)
    assert set(got) == set(want) == {"loss", "mae", "mae_1", "auc", "auc_1", "auc_2"}
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-5), name
    assert model.metrics_names == ["loss", "mae", "mae_1", "auc", "auc_1", "auc_2"]


def test_renamed_metrics_are_logged_on_the_training_batches_as_keras():
    """"Accuracy" and a second "mae" ("mae_1") were logged for validation only: fit's
    training logs took a built-in metric by its name."""
    ref, model = _pair()
    y = Y[:, None].astype("float32")
    names = ["Accuracy", "mae", "mae"]
    ref.compile(optimizer=keras.optimizers.SGD(0.1), loss="binary_crossentropy",
                metrics=names)
    model.compile(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                  loss="binary_crossentropy", metrics=names)
    kw = dict(epochs=2, batch_size=6, shuffle=False, verbose=0, validation_split=0.25)
    want, got = ref.fit(X, y, **kw).history, model.fit(X, y, **kw).history
    assert set(got) == set(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], rel=1e-5), name
